// Command testapp is the entrypoint of minato's test image: one static
// binary, built FROM scratch, that can play every part a test needs of a
// container (a web server with a health endpoint, a process that exits with
// a given code, a log writer, a sleeper, a health-check probe, a pause).
//
// Usage:
//
//	testapp [--ignore-sigterm] [MODE ARGS...]
//
//	serve                       HTTP on $PORT (default 8080); the default mode
//	exit CODE [after DURATION]  exit with CODE, at once or after DURATION
//	print N [exit CODE]         print N numbered lines to stdout, then sleep
//	                            until stopped (or exit with CODE)
//	lines N RATE [end LINE] [exit CODE]
//	                            print "line I t=UNIXNANO" for I in 1..N at RATE
//	                            lines a second (0: as fast as it can) to
//	                            stdout, then LINE if given, then sleep until
//	                            stopped (or exit with CODE)
//	sleep DURATION              sleep, then exit 0
//	health URL [within DURATION]
//	                            exit 0 if URL answers 200 (retrying for up to
//	                            DURATION), else 1: a CMD health check for an
//	                            image that has no shell or curl
//	pause                       block until stopped
//
// HTTP endpoints in serve mode:
//
//	/health     200, or 500 once /fail was hit or when HEALTH=fail
//	/fail       make /health answer 500 from now on (/recover undoes it)
//	/           hostname, addresses, arguments and task metadata as JSON
//	/env        the environment as a JSON object
//	/sleep?ms=N answer after N milliseconds
//	/hold?ms=N  answer "released" at the next /release ("timed out" after
//	            N milliseconds, default 60000)
//	/release    release every /hold request
//	/inflight   the number of /sleep and /hold requests being answered
//	/exit?code=N
//	            exit with code N right after answering
//	/file?path=P
//	            GET: the file's content; POST/PUT: write the body to it
//	/fetch?url=U
//	            GET U from inside the container and report its status
//	/burn?ms=N  keep one core busy for N milliseconds, then answer
//
// BURN_CPU=true keeps one core busy for as long as the server runs.
//
// SIGTERM makes testapp exit 0 at once, unless --ignore-sigterm is given or
// IGNORE_SIGTERM=true is set, in which case it waits for SIGKILL (for
// stop-timeout tests).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	ignoreTerm := os.Getenv("IGNORE_SIGTERM") == "true"
	if len(args) > 0 && args[0] == "--ignore-sigterm" {
		ignoreTerm = true
		args = args[1:]
	}
	handleSignals(ignoreTerm)
	os.Exit(run(args))
}

// handleSignals makes SIGTERM and SIGINT exit 0, or ignores them. A Go
// program that is PID 1 in a container gets no default action for SIGTERM
// from the kernel, so the handler is needed either way.
func handleSignals(ignore bool) {
	if ignore {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
		fmt.Println("testapp: ignoring SIGTERM")
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-ch
		fmt.Printf("testapp: got %v, exiting\n", s)
		os.Exit(0)
	}()
}

func run(args []string) int {
	mode := "serve"
	if len(args) > 0 {
		mode, args = args[0], args[1:]
	}
	switch mode {
	case "serve":
		return serve()
	case "exit":
		return exitMode(args)
	case "print":
		return printMode(args)
	case "lines":
		return linesMode(args)
	case "sleep":
		d, err := duration(args, 0)
		if err != nil {
			return usage(err)
		}
		time.Sleep(d)
		return 0
	case "health":
		return healthMode(args)
	case "pause":
		select {}
	default:
		if f, ok := extraModes[mode]; ok {
			return f(args)
		}
		return usage(fmt.Errorf("unknown mode %q", mode))
	}
}

func usage(err error) int {
	fmt.Fprintf(os.Stderr, "testapp: %v\nmodes: serve | exit CODE [after DURATION] | print N [exit CODE] | sleep DURATION | health URL [within DURATION] | pause\n", err)
	return 2
}

func duration(args []string, i int) (time.Duration, error) {
	if len(args) <= i {
		return 0, fmt.Errorf("missing duration")
	}
	return time.ParseDuration(args[i])
}

func exitMode(args []string) int {
	if len(args) < 1 {
		return usage(fmt.Errorf("exit: missing code"))
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		return usage(err)
	}
	if len(args) >= 3 && args[1] == "after" {
		d, err := duration(args, 2)
		if err != nil {
			return usage(err)
		}
		fmt.Printf("testapp: exiting with %d in %v\n", code, d)
		time.Sleep(d)
	}
	fmt.Printf("testapp: exit %d\n", code)
	return code
}

func printMode(args []string) int {
	if len(args) < 1 {
		return usage(fmt.Errorf("print: missing count"))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return usage(err)
	}
	for i := 1; i <= n; i++ {
		fmt.Printf("line %d\n", i)
	}
	if len(args) >= 3 && args[1] == "exit" {
		code, err := strconv.Atoi(args[2])
		if err != nil {
			return usage(err)
		}
		return code
	}
	select {}
}

func healthMode(args []string) int {
	if len(args) < 1 {
		return usage(fmt.Errorf("health: missing URL"))
	}
	var within time.Duration
	if len(args) >= 3 && args[1] == "within" {
		d, err := duration(args, 2)
		if err != nil {
			return usage(err)
		}
		within = d
	}
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return 0
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "testapp: health %s: %v\n", args[0], err)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func serve() int {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	var failing atomic.Bool
	failing.Store(os.Getenv("HEALTH") == "fail")
	mux := http.NewServeMux()
	if os.Getenv("BURN_CPU") == "true" {
		go burn(time.Duration(1<<63 - 1))
	}
	mux.HandleFunc("/burn", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		burn(time.Duration(ms) * time.Millisecond)
		fmt.Fprintln(w, "burnt")
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		failing.Store(true)
		fmt.Fprintln(w, "failing")
	})
	mux.HandleFunc("/recover", func(w http.ResponseWriter, r *http.Request) {
		failing.Store(false)
		fmt.Fprintln(w, "recovered")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, environ())
	})
	var inflight atomic.Int64 // /sleep and /hold requests being answered
	var held gate
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "slept %dms\n", ms)
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms <= 0 {
			ms = 60000
		}
		select {
		case <-held.wait():
			fmt.Fprintln(w, "released")
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprintln(w, "timed out")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
		held.release()
		fmt.Fprintln(w, "released")
	})
	mux.HandleFunc("/inflight", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", inflight.Load())
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(w, "exiting with %d\n", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			os.Exit(code)
		}()
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err := os.WriteFile(path, body, 0o644); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "written")
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		writeJSON(w, map[string]any{"status": resp.StatusCode, "body": string(body)})
	})
	// Any other path describes the container and the request, so that a
	// test can tell which task a load balancer rule reached.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, info(r))
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("testapp: serving on :%s\n", port)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintf(os.Stderr, "testapp: %v\n", err)
		return 1
	}
	return 0
}

// gate holds /hold requests until the next /release.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

func (g *gate) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}

func info(r *http.Request) map[string]any {
	host, _ := os.Hostname()
	env := environ()
	task := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(k, "ECS_") || strings.HasPrefix(k, "MINATO_") || strings.HasPrefix(k, "AWS_") && !strings.Contains(k, "SECRET") {
			task[k] = v
		}
	}
	return map[string]any{
		"hostname":   host,
		"addresses":  addresses(),
		"pid":        os.Getpid(),
		"args":       os.Args,
		"task":       task,
		"remoteAddr": r.RemoteAddr,
		"host":       r.Host,
		"path":       r.URL.Path,
		"headers":    r.Header,
		"time":       time.Now().UTC().Format(time.RFC3339Nano),
	}
}

func addresses() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
			out = append(out, ipn.IP.String())
		}
	}
	sort.Strings(out)
	return out
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// linesMode prints numbered, timestamped lines at a steady rate: the
// log tests' and benchmarks' chatty container.
func linesMode(args []string) int {
	if len(args) < 2 {
		return usage(fmt.Errorf("lines: want N RATE [end LINE] [exit CODE]"))
	}
	n, err1 := strconv.Atoi(args[0])
	rate, err2 := strconv.ParseFloat(args[1], 64)
	if err1 != nil || err2 != nil || n < 0 || rate < 0 {
		return usage(fmt.Errorf("lines: bad N or RATE"))
	}
	start := time.Now()
	buf := make([]byte, 0, 64)
	for i := 1; i <= n; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i-1) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		buf = append(buf[:0], "line "...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, " t="...)
		buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
		buf = append(buf, '\n')
		os.Stdout.Write(buf)
	}
	if len(args) >= 4 && args[2] == "end" {
		fmt.Println(args[3])
		args = append(args[:2], args[4:]...)
	}
	if len(args) >= 4 && args[2] == "exit" {
		code, err := strconv.Atoi(args[3])
		if err != nil {
			return usage(err)
		}
		return code
	}
	select {}
}

// burn keeps one core busy for d.
func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		for i := range 100_000 {
			x += i
		}
	}
	_ = x
}
