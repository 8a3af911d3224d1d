package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// decodeJSON decodes an AWS JSON request body into v. An empty body is {};
// unknown fields are ignored, as AWS does.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return newWireError(http.StatusBadRequest, "SerializationException", jsonErrorMessage(err))
	}
	return nil
}

// jsonErrorMessage describes a decoding error without Go type names.
func jsonErrorMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("Malformed JSON at byte offset %d.", syn.Offset)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			return fmt.Sprintf("Unexpected JSON %s for the request.", typ.Value)
		}
		return fmt.Sprintf("Unexpected JSON %s for field %s.", typ.Value, where)
	default:
		return "The request body could not be deserialized."
	}
}

func jsonContentType(version string) string { return "application/x-amz-json-" + version }

// writeJSONResult writes out as the JSON reply; nil is {}.
func writeJSONResult(w http.ResponseWriter, version string, out any) error {
	body := []byte("{}")
	if !isNil(out) {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		body = b
	}
	writeBody(w, jsonContentType(version), http.StatusOK, body)
	return nil
}

// jsonError is the body of a JSON error reply.
type jsonError struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

func writeJSONError(w http.ResponseWriter, we *wireError, version string) {
	code := we.code(ProtocolJSON)
	body, _ := json.Marshal(jsonError{Type: code, Message: we.message})
	w.Header().Set("x-amzn-ErrorType", code)
	writeBody(w, jsonContentType(version), we.status, body)
}

func writeBody(w http.ResponseWriter, contentType string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
