package harness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/agent"
	minatort "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/fake"
)

// Zones are the Availability Zones simulated hosts are spread over.
var Zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// InstanceType is the ecs.instance-type attribute of simulated host i:
// even hosts are m5.xlarge, odd ones t3.xlarge, so a memberOf on
// "attribute:ecs.instance-type =~ m5.*" admits half of the fleet.
func InstanceType(i int) string {
	if i%2 == 0 {
		return "m5.xlarge"
	}
	return "t3.xlarge"
}

// FleetConfig describes a fleet of simulated hosts.
type FleetConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	Hosts  int    `json:"hosts"`
	// CPUs and MemoryMiB of every host (default 4 and 16384: an m5.xlarge).
	CPUs      int   `json:"cpus,omitempty"`
	MemoryMiB int64 `json:"memoryMiB,omitempty"`
	// Images present on every host.
	Images []string `json:"images"`
	// DataDir holds one directory per agent.
	DataDir string `json:"dataDir"`
	// RegisterConcurrency bounds how many agents register at once
	// (default 256).
	RegisterConcurrency int `json:"registerConcurrency,omitempty"`
	// RegisterTimeout bounds the whole start (default 10 minutes).
	RegisterTimeout time.Duration `json:"registerTimeout,omitempty"`
}

// FleetReady says how the fleet started.
type FleetReady struct {
	Hosts        int     `json:"hosts"`
	StartSeconds float64 `json:"startSeconds"`
}

// FleetStats is a fleet's state now.
type FleetStats struct {
	Hosts      int   `json:"hosts"`
	Registered int64 `json:"registered"`
	// Running is how many simulated containers run now; Started counts
	// every start.
	Running int64 `json:"running"`
	Started int64 `json:"started"`
	// AgentExits counts agents whose Run returned before the fleet stopped.
	AgentExits int64 `json:"agentExits"`
	Goroutines int   `json:"goroutines"`
	// Warnings are the agents' warning and error log messages, counted.
	Warnings map[string]int64 `json:"warnings,omitempty"`
}

// Fleet is a set of simulated hosts running in this process: each is the
// real agent (agent.Run) on its own fake runtime, talking the agent
// protocol to the control plane over loopback HTTP.
type Fleet struct {
	cfg        FleetConfig
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	ready      FleetReady
	registered atomic.Int64
	running    atomic.Int64
	started    atomic.Int64
	exits      atomic.Int64
	warn       *countingHandler
}

// StartFleet starts cfg.Hosts agents and returns once every one has
// registered. Host i is in zone Zones[i%3] with ecs.instance-type
// InstanceType(i).
func StartFleet(ctx context.Context, cfg FleetConfig) (*Fleet, error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 4
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 16384
	}
	if cfg.RegisterConcurrency == 0 {
		cfg.RegisterConcurrency = 256
	}
	if cfg.RegisterTimeout == 0 {
		cfg.RegisterTimeout = 10 * time.Minute
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &Fleet{cfg: cfg, cancel: cancel, warn: newCountingHandler(os.Stderr, 20)}
	log := slog.New(f.warn)
	start := time.Now()
	sem := make(chan struct{}, cfg.RegisterConcurrency)
	failed := make(chan error, 1)
	for i := range cfg.Hosts {
		select {
		case sem <- struct{}{}:
		case err := <-failed:
			f.Stop()
			return nil, err
		case <-ctx.Done():
			f.Stop()
			return nil, ctx.Err()
		}
		rt := fake.New()
		rt.Host = minatort.HostInfo{CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB, OS: "linux", Arch: "x86_64", Version: "fake"}
		for _, img := range cfg.Images {
			rt.AddImage(img)
		}
		rt.Program = func(minatort.ContainerSpec) fake.Program { return f.program }
		var once sync.Once
		release := func() { once.Do(func() { <-sem }) }
		f.wg.Go(func() {
			err := agent.Run(ctx, agent.Config{
				Server: cfg.Server, Token: cfg.Token,
				DataDir:          filepath.Join(cfg.DataDir, strconv.Itoa(i)),
				Runtime:          rt,
				AvailabilityZone: Zones[i%len(Zones)],
				Attributes:       map[string]string{"ecs.instance-type": InstanceType(i)},
				StopTimeout:      time.Second,
				CleanupWait:      time.Minute,
				Logger:           log,
				Ready: func(string) {
					f.registered.Add(1)
					release()
				},
			})
			release()
			if ctx.Err() == nil {
				f.exits.Add(1)
				if err != nil {
					select {
					case failed <- fmt.Errorf("agent %d: %w", i, err):
					default:
					}
				}
			}
		})
	}
	deadline := time.NewTimer(cfg.RegisterTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f.registered.Load() < int64(cfg.Hosts) {
		select {
		case err := <-failed:
			f.Stop()
			return nil, err
		case <-deadline.C:
			n := f.registered.Load()
			f.Stop()
			return nil, fmt.Errorf("only %d of %d agents registered within %v", n, cfg.Hosts, cfg.RegisterTimeout)
		case <-ctx.Done():
			f.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	f.ready = FleetReady{Hosts: cfg.Hosts, StartSeconds: time.Since(start).Seconds()}
	return f, nil
}

// program is what every simulated container does: run until stopped,
// counted.
func (f *Fleet) program(p *fake.Process) int {
	f.running.Add(1)
	f.started.Add(1)
	defer f.running.Add(-1)
	return fake.Sleep(p)
}

// Ready says how the fleet started.
func (f *Fleet) Ready() FleetReady { return f.ready }

// Stats returns the fleet's state now.
func (f *Fleet) Stats() FleetStats {
	return FleetStats{
		Hosts: f.cfg.Hosts, Registered: f.registered.Load(), Running: f.running.Load(), Started: f.started.Load(),
		AgentExits: f.exits.Load(), Goroutines: runtime.NumGoroutine(), Warnings: f.warn.counts(),
	}
}

// Stop stops every agent and waits for them. Simulated containers keep
// "running" in their fake runtimes, as real ones would.
func (f *Fleet) Stop() {
	f.cancel()
	f.wg.Wait()
}

// countingHandler counts warning and error records by message and prints
// the first few.
type countingHandler struct {
	mu      sync.Mutex
	n       map[string]int64
	printed int
	limit   int
	inner   slog.Handler
}

func newCountingHandler(w *os.File, limit int) *countingHandler {
	return &countingHandler{n: map[string]int64{}, limit: limit, inner: slog.NewTextHandler(w, nil)}
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	p := h.printed < h.limit
	h.printed++
	h.mu.Unlock()
	if p {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) counts() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int64, len(h.n))
	for k, v := range h.n {
		out[k] = v
	}
	return out
}
