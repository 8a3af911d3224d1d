// Package paging encodes the opaque nextToken that AWS list operations
// return, and bounds maxResults the way the AWS APIs do.
package paging

import (
	"encoding/base64"
	"encoding/json"
)

type token struct {
	After string `json:"a"`
}

// Encode returns the nextToken that resumes a listing after key.
func Encode(after string) string {
	b, _ := json.Marshal(token{After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the key a nextToken resumes after. An empty token is the
// start of the listing. ok is false for a token minato did not issue.
func Decode(tok string) (after string, ok bool) {
	if tok == "" {
		return "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	var t token
	if err := json.Unmarshal(b, &t); err != nil || t.After == "" {
		return "", false
	}
	return t.After, true
}

// Limit returns the page size for a maxResults parameter: def when it is
// absent, and ok false when it is outside [1, max].
func Limit(maxResults *int32, def, max int) (n int, ok bool) {
	if maxResults == nil {
		return def, true
	}
	m := int(*maxResults)
	if m < 1 || m > max {
		return 0, false
	}
	return m, true
}
