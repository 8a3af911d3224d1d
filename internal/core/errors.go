// Package core holds what every part of minato shares and that depends on
// nothing else of minato's: error kinds, the clock, ID generators and
// the task status order.
package core

import (
	"errors"
	"fmt"
)

// Kind classifies an error independent of any wire protocol.
type Kind int

const (
	// KindInternal is a fault of minato's, not the caller's (HTTP 500).
	KindInternal Kind = iota
	// KindInvalid: the request is malformed or breaks a rule (HTTP 400).
	KindInvalid
	// KindNotFound: the named resource does not exist (HTTP 400, as AWS does).
	KindNotFound
	// KindConflict: the resource exists, or its state forbids the change (HTTP 400).
	KindConflict
	// KindAuth: the caller could not be authenticated (HTTP 400 or 403).
	KindAuth
	// KindThrottled: the server sheds load (HTTP 400 with a throttling code).
	KindThrottled
	// KindUnavailable: the server cannot answer now (HTTP 503).
	KindUnavailable
)

// Error is an error with a kind and the AWS error code the API reports for
// it. Domain packages construct these; internal/awsproto is the one place
// that turns them into wire errors.
type Error struct {
	Kind    Kind
	Code    string // AWS exception name, e.g. "ClusterNotFoundException"
	Message string
	Status  int // optional HTTP status override; 0 means by Kind
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error of the given kind and AWS code.
func Errorf(kind Kind, code, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsKind reports whether err carries the given kind.
func IsKind(err error, k Kind) bool {
	e, ok := AsError(err)
	return ok && e.Kind == k
}
