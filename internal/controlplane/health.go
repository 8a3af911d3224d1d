package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// The node's two health endpoints, for load balancers, orchestrators and
// operators:
//
//	GET /healthz  liveness: the process serves requests and nothing is
//	              wedged. 503 means only a restart helps. A full disk does
//	              not fail it: the store recovers by itself once space
//	              returns, and a restart would not bring space back.
//	GET /readyz   readiness: the node can serve writes now. One line per
//	              check, "name: ok" or "name: why not"; 503 if any fails.

// readyTimeout bounds each readiness check: a check that hangs reports so
// instead of hanging the probe.
const readyTimeout = 5 * time.Second

// check is one readiness check.
type check struct {
	name string
	fn   func(ctx context.Context) error
}

// livenessHandler answers /healthz: 503 while starting or stopping, or
// when wedged reports why; "ok" otherwise.
func livenessHandler(serving *atomic.Bool, wedged func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !serving.Load() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		if err := wedged(); err != nil {
			http.Error(w, "wedged: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}
}

// readinessHandler answers /readyz by running every check.
func readinessHandler(serving *atomic.Bool, checks []check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !serving.Load() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		var b strings.Builder
		code := http.StatusOK
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			err := runCheck(ctx, c.fn)
			cancel()
			if err != nil {
				code = http.StatusServiceUnavailable
				fmt.Fprintf(&b, "%s: %v\n", c.name, err)
				continue
			}
			fmt.Fprintf(&b, "%s: ok\n", c.name)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		w.Write([]byte(b.String()))
	}
}

// runCheck runs fn, giving up when ctx ends.
func runCheck(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %v", readyTimeout)
	}
}

// dirWritable reports whether a file can be written and synced in dir: the
// log store's one requirement to take events.
func dirWritable(dir string) func(context.Context) error {
	return func(context.Context) error {
		f, err := os.CreateTemp(dir, ".readyz-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		if _, err := f.Write([]byte("ok\n")); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

// localAgent is the readiness of the agent `minato up` runs in the node's
// process: none until it registered, then connected or not.
type localAgent struct {
	id        atomic.Pointer[string]
	connected func(id string) bool
}

func (a *localAgent) set(id string) { a.id.Store(&id) }

func (a *localAgent) check(context.Context) error {
	id := a.id.Load()
	if id == nil || a.connected(*id) {
		return nil
	}
	return fmt.Errorf("the local agent (container instance %s) is not connected", *id)
}
