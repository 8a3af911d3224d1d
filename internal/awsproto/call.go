package awsproto

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/shape"
)

// Handler serves one operation. It returns the output value to encode (a
// struct or pointer to one; nil for an empty reply) or an error. Errors that
// carry a *core.Error become that AWS error; any other error is a 500 whose
// text is logged and never sent to the client.
type Handler func(ctx context.Context, c *Call) (any, error)

// JSONHandler serves one operation of a JSONService.
type JSONHandler = Handler

// QueryHandler serves one action of a QueryService.
type QueryHandler = Handler

// Protocol is the wire protocol a request arrived in.
type Protocol int

const (
	// ProtocolJSON is AWS JSON 1.1 (X-Amz-Target routing).
	ProtocolJSON Protocol = iota + 1
	// ProtocolQuery is the AWS Query protocol (Action=...&Version=...).
	ProtocolQuery
	// ProtocolCBOR is Smithy RPC v2 CBOR (cbor.go).
	ProtocolCBOR
)

// Call is one authenticated API request as a Handler sees it.
type Call struct {
	Protocol  Protocol
	Operation string // JSON operation or Query action, e.g. "ListClusters"
	Service   string // signing name from the SigV4 credential scope, e.g. "ecs"
	Region    string // region from the SigV4 credential scope
	Principal Principal
	RequestID string
	Body      []byte     // the raw request body
	Form      url.Values // Query protocol parameters (URL query and form body); nil for JSON
	Header    http.Header
	Host      string // the request's Host (what the client called)
	TLS       bool   // the request came over TLS
}

// Decode decodes the request parameters into v, a pointer to a struct.
// For JSON requests an empty body decodes as {} and unknown fields are
// ignored; malformed JSON or a type mismatch is a SerializationException.
// For Query requests the form is decoded with DecodeForm; a value that does
// not parse is a ValidationError.
func (c *Call) Decode(v any) error {
	switch c.Protocol {
	case ProtocolQuery:
		return decodeQuery(c.Form, v)
	case ProtocolCBOR:
		return decodeCBOR(c.Body, v)
	}
	return decodeJSON(c.Body, v)
}

type callKey struct{}

// CallFromContext returns the Call a Handler's context belongs to.
func CallFromContext(ctx context.Context) (*Call, bool) {
	c, ok := ctx.Value(callKey{}).(*Call)
	return c, ok
}

// Op adapts a typed operation to a Handler: it decodes the request into a new
// In, checks it against the AWS model when In has a generated Validate
// method (see checkInput), calls f and returns its output. It works for both
// protocols.
func Op[In, Out any](f func(ctx context.Context, c *Call, in *In) (*Out, error)) Handler {
	return func(ctx context.Context, c *Call) (any, error) {
		in := new(In)
		if err := c.Decode(in); err != nil {
			return nil, err
		}
		if err := checkInput(c.Protocol, in); err != nil {
			return nil, err
		}
		out, err := f(ctx, c, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return nil, nil
		}
		return out, nil
	}
}

// checkInput runs the model's checks on a decoded input (required members,
// enum values, lengths, value ranges, patterns: the generated Validate), so
// that every operation of every service refuses what AWS refuses before any
// handler spends time or memory on it. A *shape.ValidationError becomes the
// service's own validation error: the code the generated input type names
// (ValidationErrorCode), else the protocol's usual one, with AWS's message
// ("1 validation error detected: Value ... at '...' failed to satisfy
// constraint: ..."). Any other error from Validate passes through.
func checkInput(p Protocol, in any) error {
	v, ok := in.(interface{ Validate() error })
	if !ok {
		return nil
	}
	err := v.Validate()
	var ve *shape.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return err
	}
	code := "ValidationException"
	if p == ProtocolQuery {
		code = "ValidationError"
	}
	if named, ok := in.(interface{ ValidationErrorCode() string }); ok {
		code = named.ValidationErrorCode()
	}
	return &core.Error{Kind: core.KindInvalid, Code: code, Message: ve.Message()}
}

// isNil reports whether v is nil or a nil pointer, map or slice.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
