package awsproto

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/store"
)

// wireError is an error in the shape both protocols can write. Errors raised
// by this package itself (authentication, routing, decoding) are wireErrors;
// a *core.Error from a handler becomes one in toWire.
type wireError struct {
	status    int
	jsonCode  string // __type in JSON replies
	queryCode string // <Code> in Query replies
	message   string
}

func (e *wireError) Error() string { return e.jsonCode + ": " + e.message }

// code returns the code for protocol p.
func (e *wireError) code(p Protocol) string {
	if p == ProtocolQuery {
		return e.queryCode
	}
	return e.jsonCode
}

// sender reports whether the error is the caller's fault (Query <Type>).
func (e *wireError) sender() bool { return e.status < 500 }

func newWireError(status int, code, msg string) *wireError {
	return &wireError{status: status, jsonCode: code, queryCode: code, message: msg}
}

// Messages AWS sends for the authentication failures. The codes and statuses
// are in the constructors below; see the package tests for where each was
// checked.
const (
	msgMissingAuth    = "Request is missing Authentication Token"
	msgInvalidTokenJS = "The security token included in the request is invalid."
	msgInvalidTokenQ  = "The security token included in the request is invalid"
	msgSignature      = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInternal = "We encountered an internal error. Please try again."
)

// errMissingAuth: no Authorization header and no presigned query parameters.
// JSON services answer 400 MissingAuthenticationTokenException, Query
// services 403 MissingAuthenticationToken.
func errMissingAuth(p Protocol) *wireError {
	status := http.StatusBadRequest
	if p == ProtocolQuery {
		status = http.StatusForbidden
	}
	return &wireError{status: status, jsonCode: "MissingAuthenticationTokenException",
		queryCode: "MissingAuthenticationToken", message: msgMissingAuth}
}

// errIncomplete: the Authorization header or presigned parameters are
// malformed (400 IncompleteSignatureException / IncompleteSignature).
func errIncomplete(msg string) *wireError {
	return &wireError{status: http.StatusBadRequest, jsonCode: "IncompleteSignatureException",
		queryCode: "IncompleteSignature", message: msg}
}

// errUnknownKey: the access key ID is not known (400
// UnrecognizedClientException / 403 InvalidClientTokenId).
func errUnknownKey(p Protocol) *wireError {
	if p == ProtocolQuery {
		return &wireError{status: http.StatusForbidden, jsonCode: "UnrecognizedClientException",
			queryCode: "InvalidClientTokenId", message: msgInvalidTokenQ}
	}
	return &wireError{status: http.StatusBadRequest, jsonCode: "UnrecognizedClientException",
		queryCode: "InvalidClientTokenId", message: msgInvalidTokenJS}
}

// errSignature: the signature does not verify, is expired or not yet valid,
// or is scoped wrongly (400 InvalidSignatureException / 403
// SignatureDoesNotMatch). msg "" means the standard mismatch message.
func errSignature(p Protocol, msg string) *wireError {
	if msg == "" {
		msg = msgSignature
	}
	status := http.StatusBadRequest
	if p == ProtocolQuery {
		status = http.StatusForbidden
	}
	return &wireError{status: status, jsonCode: "InvalidSignatureException",
		queryCode: "SignatureDoesNotMatch", message: msg}
}

// errWrongService: the credential scope names another service than the one
// the request is for.
func errWrongService(p Protocol, svc string) *wireError {
	return errSignature(p, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", svc))
}

// errTooLarge: the body is over Config.MaxBodyBytes.
func errTooLarge(limit int64) *wireError {
	return &wireError{status: http.StatusRequestEntityTooLarge, jsonCode: "RequestEntityTooLargeException",
		queryCode: "RequestEntityTooLarge",
		message:   "Request body is larger than the limit of " + formatBytes(limit)}
}

// toWire turns any error a handler or the pipeline returned into a
// wireError. internal reports that err is not a client error and must be
// logged; internalCode is the code for errors that carry no AWS code.
func toWire(err error, p Protocol, internalCode string) (we *wireError, internal bool) {
	we, internal = wireErrorOf(err, internalCode)
	if len(we.message) > maxMessageBytes {
		c := *we
		c.message = clip(we.message, maxMessageBytes)
		we = &c
	}
	return we, internal
}

// maxMessageBytes caps the message of an error reply. Messages quote what
// the caller sent (an operation name, a parameter value), and a caller that
// sent a megabyte of it must not get a megabyte back, nor make the server
// write one. AWS's own messages are far shorter.
const maxMessageBytes = 1024

// maxLoggedBytes caps what the caller sent in a log line (an operation name).
const maxLoggedBytes = 256

// clip shortens s to at most n bytes, cut at a character boundary and
// ending in an ellipsis, if it is longer.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

func wireErrorOf(err error, internalCode string) (we *wireError, internal bool) {
	var w *wireError
	if errors.As(err, &w) {
		return w, w.status >= 500
	}
	if ce, ok := core.AsError(err); ok {
		status := ce.Status
		if status == 0 {
			status = statusForKind(ce.Kind)
		}
		code := ce.Code
		if code == "" {
			code = internalCode
		}
		return newWireError(status, code, ce.Message), status >= 500
	}
	if errors.Is(err, store.ErrConflict) {
		return errContended(), false
	}
	if errors.Is(err, store.ErrUnavailable) {
		return errUnavailable(), false
	}
	if internalCode == "" {
		internalCode = "InternalFailure"
	}
	return newWireError(http.StatusInternalServerError, internalCode, msgInternal), true
}

// errContended answers a write that lost its compare-and-swap race more
// often than the handler retries it (store.RetryConflicts): too many
// writers of one record at once. It is the throttling error, HTTP 400,
// which every AWS SDK retries with backoff; the request changed nothing.
func errContended() *wireError {
	return &wireError{status: http.StatusBadRequest, jsonCode: "ThrottlingException", queryCode: "Throttling",
		message: "Rate exceeded: too many concurrent changes to the same resource; retry the request."}
}

// errUnavailable answers a request the server cannot serve now because
// its store cannot (a server cut off from the majority of the servers):
// AWS's common ServiceUnavailable, HTTP 503, which every AWS SDK retries,
// and which tells a client to try another server. It is not logged as a
// fault of minato's: /readyz and the store's own log say why.
func errUnavailable() *wireError {
	return newWireError(http.StatusServiceUnavailable, "ServiceUnavailable",
		"The server cannot reach a majority of the control plane now; retry, or use another server.")
}

// statusForKind is the HTTP status AWS uses for each error kind.
func statusForKind(k core.Kind) int {
	switch k {
	case core.KindInternal:
		return http.StatusInternalServerError
	case core.KindUnavailable:
		return http.StatusServiceUnavailable
	case core.KindInvalid, core.KindNotFound, core.KindConflict, core.KindAuth, core.KindThrottled:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
