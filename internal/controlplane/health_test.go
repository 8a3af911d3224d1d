package controlplane

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func get(h http.HandlerFunc) (int, string) {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/", nil))
	return rec.Code, rec.Body.String()
}

func TestReadiness(t *testing.T) {
	var serving atomic.Bool
	storeErr := errors.New("write state.db: no space left on device")
	var failing atomic.Bool
	h := readinessHandler(&serving, []check{
		{"store", func(context.Context) error {
			if failing.Load() {
				return storeErr
			}
			return nil
		}},
		{"logs", func(context.Context) error { return nil }},
	})
	if code, _ := get(h); code != 503 {
		t.Fatalf("not serving yet: %d, want 503", code)
	}
	serving.Store(true)
	if code, body := get(h); code != 200 || body != "store: ok\nlogs: ok\n" {
		t.Fatalf("healthy: %d %q", code, body)
	}
	failing.Store(true)
	if code, body := get(h); code != 503 || body != "store: "+storeErr.Error()+"\nlogs: ok\n" {
		t.Fatalf("store failing: %d %q", code, body)
	}
}

func TestLiveness(t *testing.T) {
	var serving atomic.Bool
	var wedged error
	h := livenessHandler(&serving, func() error { return wedged })
	if code, _ := get(h); code != 503 {
		t.Fatalf("not serving yet: %d", code)
	}
	serving.Store(true)
	if code, body := get(h); code != 200 || body != "ok\n" {
		t.Fatalf("live: %d %q", code, body)
	}
	wedged = errors.New("a commit has been running for 2m0s")
	if code, body := get(h); code != 503 || !strings.Contains(body, "2m0s") {
		t.Fatalf("wedged: %d %q", code, body)
	}
}

// TestRunCheckGivesUp: a check that does not answer is reported when the
// probe's context ends, not waited for.
func TestRunCheckGivesUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	block := make(chan struct{})
	defer close(block)
	err := runCheck(ctx, func(context.Context) error { <-block; return nil })
	if err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("runCheck of a hanging check = %v", err)
	}
}

func TestLocalAgentCheck(t *testing.T) {
	connected := map[string]bool{}
	a := &localAgent{connected: func(id string) bool { return connected[id] }}
	if err := a.check(context.Background()); err != nil {
		t.Fatalf("no local agent: %v", err)
	}
	a.set("i-123")
	if err := a.check(context.Background()); err == nil || !strings.Contains(err.Error(), "i-123") {
		t.Fatalf("local agent not connected: %v", err)
	}
	connected["i-123"] = true
	if err := a.check(context.Background()); err != nil {
		t.Fatalf("local agent connected: %v", err)
	}
}

func TestDirWritable(t *testing.T) {
	dir := t.TempDir()
	if err := dirWritable(dir)(context.Background()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the probe left %d files", len(entries))
	}
	if err := dirWritable(filepath.Join(dir, "missing"))(context.Background()); err == nil {
		t.Fatal("a missing directory is writable")
	}
}
