// Package arn builds and parses Amazon Resource Names the way minato uses
// them: arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE.
package arn

import (
	"errors"
	"strings"
)

// ARN is a parsed Amazon Resource Name.
type ARN struct {
	Partition string
	Service   string
	Region    string
	AccountID string
	Resource  string // everything after the fifth colon, e.g. "cluster/default"
}

// String formats the ARN.
func (a ARN) String() string {
	p := a.Partition
	if p == "" {
		p = "aws"
	}
	return "arn:" + p + ":" + a.Service + ":" + a.Region + ":" + a.AccountID + ":" + a.Resource
}

// ErrMalformed is returned by Parse for a string that is not an ARN.
var ErrMalformed = errors.New("malformed ARN")

// Parse splits s into its parts. It checks only the ARN's shape, not whether
// the service or resource exist.
func Parse(s string) (ARN, error) {
	if !strings.HasPrefix(s, "arn:") {
		return ARN{}, ErrMalformed
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return ARN{}, ErrMalformed
	}
	return ARN{Partition: parts[1], Service: parts[2], Region: parts[3], AccountID: parts[4], Resource: parts[5]}, nil
}

// IsARN reports whether s looks like an ARN.
func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// Scope is the region and account that ARNs of one request are built in.
type Scope struct {
	Region    string
	AccountID string
}

// New returns the ARN of resource in service within the scope.
func (s Scope) New(service, resource string) string {
	return ARN{Service: service, Region: s.Region, AccountID: s.AccountID, Resource: resource}.String()
}
