package awsproto

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
)

// inflate undoes the request's Content-Encoding: gzip (what the AWS SDKs'
// request compression sends), inflating at most limit bytes; any other
// coding, or none, leaves body as it is. A body that is not gzip, or
// inflates past the limit, is refused.
func inflate(h http.Header, body []byte, limit int64) ([]byte, *wireError) {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	if enc == "" || !strings.Contains(enc, "gzip") {
		return body, nil
	}
	if len(body) == 0 {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, newWireError(http.StatusBadRequest, "SerializationException", "The request body is not valid gzip.")
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, newWireError(http.StatusBadRequest, "SerializationException", "The request body is not valid gzip.")
	}
	if int64(len(out)) > limit {
		return nil, errTooLarge(limit)
	}
	return out, nil
}
