package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/exec"
	rpprof "runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// debugServer is every measured process's loopback side door: pprof, CPU
// profiles written to a file the driver names, and role statistics.
type debugServer struct {
	URL   string
	srv   *http.Server
	stats atomic.Pointer[statsFunc]

	mu      sync.Mutex
	profile *os.File
}

type statsFunc struct{ f func() any }

func startDebugServer() (*debugServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &debugServer{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("POST /bench/cpuprofile/start", d.startProfile)
	mux.HandleFunc("POST /bench/cpuprofile/stop", d.stopProfile)
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		var v any = map[string]any{}
		if s := d.stats.Load(); s != nil {
			v = s.f()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go d.srv.Serve(ln)
	return d, nil
}

func (d *debugServer) Close() error {
	d.mu.Lock()
	if d.profile != nil {
		rpprof.StopCPUProfile()
		d.profile.Close()
		d.profile = nil
	}
	d.mu.Unlock()
	return d.srv.Close()
}

func (d *debugServer) startProfile(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.profile != nil {
		http.Error(w, "a CPU profile is already running", http.StatusConflict)
		return
	}
	f, err := os.Create(r.URL.Query().Get("path"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		f.Close()
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	d.profile = f
}

func (d *debugServer) stopProfile(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.profile == nil {
		http.Error(w, "no CPU profile is running", http.StatusConflict)
		return
	}
	rpprof.StopCPUProfile()
	err := d.profile.Close()
	d.profile = nil
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

var debugHTTP = &http.Client{Timeout: 5 * time.Minute}

func debugCall(method, u string) ([]byte, error) {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := debugHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// StartCPUProfile starts a CPU profile inside the process behind debugURL,
// written to path when StopCPUProfile is called.
func StartCPUProfile(debugURL, path string) error {
	_, err := debugCall(http.MethodPost, debugURL+"/bench/cpuprofile/start?path="+url.QueryEscape(path))
	return err
}

// StopCPUProfile ends the CPU profile StartCPUProfile started.
func StopCPUProfile(debugURL string) error {
	_, err := debugCall(http.MethodPost, debugURL+"/bench/cpuprofile/stop")
	return err
}

// SaveHeapProfile writes the heap profile of the process behind debugURL
// (after a GC) to path.
func SaveHeapProfile(debugURL, path string) error {
	b, err := debugCall(http.MethodGet, debugURL+"/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// fetchStats decodes the role statistics of the process behind debugURL.
func fetchStats(debugURL string, v any) error {
	b, err := debugCall(http.MethodGet, debugURL+"/bench/stats")
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// PprofTop returns `go tool pprof -top` of a profile: the n entries with the
// most flat time (cum false) or cumulative time (cum true). sampleIndex
// picks a heap profile's sample ("inuse_space", "alloc_space"); "" is the
// profile's default.
func PprofTop(ctx context.Context, path string, n int, cum bool, sampleIndex string) (string, error) {
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}
	if cum {
		args = append(args, "-cum")
	}
	if sampleIndex != "" {
		args = append(args, "-sample_index="+sampleIndex)
	}
	args = append(args, path)
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %v: %s", err, out)
	}
	return string(out), nil
}

// inProcessDebug is the debug server of a process that runs every role
// itself (procs=1): started once, shared.
var (
	inProcessOnce  sync.Once
	inProcessDebug *debugServer
	inProcessErr   error
)

func sharedDebugServer() (*debugServer, error) {
	inProcessOnce.Do(func() {
		inProcessDebug, inProcessErr = startDebugServer()
	})
	return inProcessDebug, inProcessErr
}
