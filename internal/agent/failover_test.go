package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/minato-project/minato/internal/agentproto"
)

// TestClientMovesToAnotherServer: a server that is gone, or answers with
// a server error, sends the agent to the next one; the next request goes
// there.
func TestClientMovesToAnotherServer(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"store unavailable"}`, http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	hits := 0
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write([]byte(`{}`))
	}))
	defer good.Close()

	c, err := newClient(gone.URL+", "+failing.URL+","+good.URL+"/", "tok", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := c.report(ctx, agentproto.Report{}); err == nil {
			break
		}
	}
	if hits != 1 {
		t.Fatalf("the good server had %d requests, want 1 (after moving past the others)", hits)
	}
	if err := c.report(ctx, agentproto.Report{}); err != nil || hits != 2 {
		t.Fatalf("the next request: %v, %d hits; want it on the good server", err, hits)
	}
	if got, _ := c.server(); got != good.URL {
		t.Fatalf("server in use %s, want %s", got, good.URL)
	}
}
