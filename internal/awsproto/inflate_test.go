package awsproto

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestInflate(t *testing.T) {
	h := http.Header{"Content-Encoding": {"gzip"}}
	out, werr := inflate(h, gz(t, []byte(`{"a":1}`)), 1024)
	if werr != nil || string(out) != `{"a":1}` {
		t.Fatalf("inflate = %q %v", out, werr)
	}
	if out, werr := inflate(http.Header{}, []byte("plain"), 1024); werr != nil || string(out) != "plain" {
		t.Errorf("no coding: %q %v", out, werr)
	}
	if _, werr := inflate(h, []byte("not gzip"), 1024); werr == nil || werr.status != 400 {
		t.Errorf("bad gzip: %v", werr)
	}
	// A small body that inflates past the limit is refused, not inflated.
	if _, werr := inflate(h, gz(t, make([]byte, 1<<20)), 4096); werr == nil || werr.status != http.StatusRequestEntityTooLarge {
		t.Errorf("bomb: %v", werr)
	}
}
