// Package shape is the small runtime that the generated AWS wire types
// (internal/model/*types) depend on: the Timestamp shape, validation errors,
// and the descriptions of operations and errors taken from the AWS models.
package shape

import (
	"encoding/json"
	"strconv"
	"strings"
)

// ValidationError is the first problem a generated Validate method found.
// Path names the member in wire (JSON) spelling from the top of the
// validated value, e.g. "containerDefinitions[0].name". Reason says what is
// wrong in a few words (Error gives "path: reason"); Value and Constraint
// are the parts of the message AWS's services answer with (see Message).
type ValidationError struct {
	Path   string
	Reason string
	// Value is the offending value as AWS's message quotes it: "null" for
	// an absent member, 'abc' for a string (truncated), or "" when the value
	// is withheld (sensitive members, lists, maps, blobs).
	Value string
	// Constraint is the broken rule in AWS's words, e.g. "Member must have
	// length less than or equal to 1024"; "" for errors made by hand.
	Constraint string
}

func (e *ValidationError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Required reports a required member that is absent.
func Required(path string) *ValidationError {
	return &ValidationError{Path: path, Reason: "is required", Value: "null", Constraint: "Member must not be null"}
}

// InvalidEnum reports a value outside an enum's allowed set.
func InvalidEnum[T ~string](path string, v T, allowed []T) *ValidationError {
	var b strings.Builder
	for i, a := range allowed {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(a))
	}
	set := "[" + b.String() + "]"
	short := truncate(string(v))
	return &ValidationError{Path: path, Reason: "value " + strconv.Quote(short) + " is not one of " + set,
		Value: "'" + short + "'", Constraint: "Member must satisfy enum value set: " + set}
}

// Prefix puts prefix in front of the path of a *ValidationError returned by
// a nested Validate; other errors pass through unchanged.
func Prefix(err error, prefix string) error {
	ve, ok := err.(*ValidationError)
	if !ok {
		return err
	}
	p := prefix
	switch {
	case ve.Path == "":
	case strings.HasPrefix(ve.Path, "["):
		p += ve.Path
	default:
		p += "." + ve.Path
	}
	c := *ve
	c.Path = p
	return &c
}

// Index is the path of element i of list name: "name[i]".
func Index(name string, i int) string {
	return name + "[" + strconv.Itoa(i) + "]"
}

// Key is the path of the value at key k of map name: "name[k]".
func Key[K ~string](name string, k K) string {
	return name + "[" + string(k) + "]"
}

// Document is a "document" shape: arbitrary JSON kept as is.
type Document = json.RawMessage

// Operation describes one operation of an AWS service model.
type Operation struct {
	Name   string
	Input  string // input shape name, "" if none
	Output string // output shape name, "" if none
	// ResultWrapper is the element that wraps the output members in a
	// query-protocol response ("GetCallerIdentityResult"), "" if none.
	ResultWrapper string
	// Errors are the shape names of the exceptions the operation may return.
	Errors []string
	// Pagination, from paginators-1.json; all empty if not paginated.
	// InputToken and OutputToken are comma-joined when a paginator names
	// several.
	InputToken  string
	OutputToken string
	LimitKey    string
}

// Paginated reports whether the model has a paginator for the operation.
func (o Operation) Paginated() bool { return o.InputToken != "" }

// ErrorInfo describes one exception shape of an AWS service model.
type ErrorInfo struct {
	Name string // shape name, e.g. "ClusterNotFoundException"
	// Code is the wire error code: the model's error.code when it has one
	// (query services, e.g. "ListenerNotFound"), else the shape name.
	Code string
	// HTTPStatusCode is the model's status, or 400 (500 for a fault) when the
	// model names none.
	HTTPStatusCode int
	// Fault is true for server-side errors ("fault" in the model, or
	// senderFault false in a query model's error block).
	Fault bool
}

// ResponseMetadata ends every query-protocol XML response.
type ResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}
