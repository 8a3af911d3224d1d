package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/runtime"
)

// UseTestapp makes r run every container as test/testapp would (Testapp
// and TestappProbe) on real loopback sockets: the same definitions then
// behave alike on the fake and on Docker with the test image.
func (r *Runtime) UseTestapp() {
	r.Loopback = true
	r.Program = func(runtime.ContainerSpec) Program { return Testapp }
	r.HealthProbe = TestappProbe
}

// Testapp is a Program that imitates test/testapp: its modes (serve, exit
// CODE [after D], sleep D, print N [exit CODE], health URL [within D],
// pause), --ignore-sigterm and IGNORE_SIGTERM, and in serve mode
// /health (HEALTH=fail, /fail, /recover), /, /env, /sleep and /exit.
func Testapp(p *Process) int {
	args := p.Args()
	env := p.Env()
	term := p.Term()
	if len(args) > 0 && args[0] == "--ignore-sigterm" || env["IGNORE_SIGTERM"] == "true" {
		term = nil // a nil channel never fires
		if len(args) > 0 && args[0] == "--ignore-sigterm" {
			args = args[1:]
		}
	}
	mode := "serve"
	if len(args) > 0 {
		mode, args = args[0], args[1:]
	}
	wait := func(d time.Duration, code int) int {
		var after <-chan time.Time
		if d >= 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			after = t.C
		}
		select {
		case <-after:
			return code
		case <-term:
			return 0
		case <-p.Done():
			return 137
		}
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch mode {
	case "serve":
		return serve(p, env, term)
	case "exit":
		code, err := strconv.Atoi(arg(0))
		if err != nil {
			return 2
		}
		d := time.Duration(0)
		if arg(1) == "after" {
			if d, err = time.ParseDuration(arg(2)); err != nil {
				return 2
			}
		}
		return wait(d, code)
	case "sleep":
		d, err := time.ParseDuration(arg(0))
		if err != nil {
			return 2
		}
		return wait(d, 0)
	case "print":
		if arg(1) == "exit" {
			code, err := strconv.Atoi(arg(2))
			if err != nil {
				return 2
			}
			return code
		}
		return wait(-1, 0)
	case "pause":
		return wait(-1, 0)
	case "health":
		within := time.Duration(0)
		if arg(1) == "within" {
			within, _ = time.ParseDuration(arg(2))
		}
		deadline := time.Now().Add(within)
		for {
			ctx, cancel := context.WithTimeout(p.Context(), 2*time.Second)
			ok := probeURL(ctx, p, arg(0))
			cancel()
			if ok {
				return 0
			}
			if time.Now().After(deadline) || p.Context().Err() != nil {
				return 1
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return 2
}

func serve(p *Process, env map[string]string, term <-chan struct{}) int {
	port, err := strconv.Atoi(env["PORT"])
	if err != nil {
		port = 8080
	}
	l, err := p.Listen(port)
	if err != nil {
		return 1
	}
	var failing atomic.Bool
	failing.Store(env["HEALTH"] == "fail")
	exitc := make(chan int, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { failing.Store(true); fmt.Fprintln(w, "failing") })
	mux.HandleFunc("/recover", func(w http.ResponseWriter, r *http.Request) { failing.Store(false); fmt.Fprintln(w, "recovered") })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(env) })
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprintf(w, "slept %dms\n", ms)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(w, "exiting with %d\n", code)
		select {
		case exitc <- code:
		default:
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hostname": p.Spec.Def.Hostname, "container": p.ID, "args": p.Args(), "remoteAddr": r.RemoteAddr,
		})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	select {
	case <-term:
		return 0
	case <-p.Done():
		return 137
	case code := <-exitc:
		time.Sleep(50 * time.Millisecond) // let the answer go out
		return code
	}
}

// TestappProbe runs a health-check command the way the test image would:
// it GETs the first http:// URL in the command (["CMD", "/testapp",
// "health", URL] or a CMD-SHELL curl line) inside the container's network,
// and passes on 200. A command without a URL fails, as a command the
// image lacks would.
func TestappProbe(ctx context.Context, p *Process, test []string) bool {
	for _, part := range test {
		for _, f := range strings.Fields(part) {
			if strings.HasPrefix(f, "http://") {
				return probeURL(ctx, p, f)
			}
		}
	}
	return false
}

// probeURL GETs raw from inside p's network namespace: localhost ports map
// to the sockets bound there.
func probeURL(ctx context.Context, p *Process, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	if host == "localhost" || net.ParseIP(host).IsLoopback() {
		n, _ := strconv.Atoi(port)
		addr := p.Resolve(n)
		if addr == "" {
			return false
		}
		u.Host = addr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
