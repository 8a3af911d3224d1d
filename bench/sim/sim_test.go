package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/testutil"
)

// TestMain lets the test binary play the simulator's child processes.
func TestMain(m *testing.M) {
	harness.ChildMain()
	os.Exit(m.Run())
}

// runSim runs the simulator with args and decodes its result.
func runSim(t *testing.T, args ...string) Result {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	args = append(args, "-out", out, "-dir", t.TempDir(), "-settle", "0s")
	if err := run(ctx, args, &log, &log); err != nil {
		t.Fatalf("sim %v: %v\n%s", args, err, log.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, b)
	}
	if res.Error != "" {
		t.Fatalf("result has an error: %s", res.Error)
	}
	return res
}

// A smoke test, not a benchmark: 20 hosts in child processes, 100 tasks.
func TestPlacementSmoke(t *testing.T) {
	res := runSim(t, "-scenario", "placement", "-hosts", "20", "-tasks", "100")
	p := res.Placement
	if p == nil {
		t.Fatal("no placement result")
	}
	if p.Placed != 100 || p.ErrorsCalls != 0 || !p.Converged || p.Latency.Count != 10 {
		t.Errorf("placed %d, failed calls %d, converged %v, %d latencies", p.Placed, p.ErrorsCalls, p.Converged, p.Latency.Count)
	}
	if p.PlacementsPerSec <= 0 || p.Latency.P99Ms <= 0 || p.Startup.Hosts != 20 || p.CPRSSAfterMiB <= 0 {
		t.Errorf("implausible figures: %+v", p)
	}
	if p.Profiles.CPU == "" || p.Profiles.CPUTop == "" || p.Profiles.Error != "" {
		t.Errorf("profiles: %+v", p.Profiles)
	}
	if p.Pure == nil || p.Pure.Tasks != 100 || p.Pure.PlacementsPerSec <= 0 {
		t.Errorf("pure scheduler: %+v", p.Pure)
	}
}

// The mixed load and a ramp step, everything in this process.
func TestMixedSmoke(t *testing.T) {
	testutil.SkipShort(t, "a timed simulation of several seconds")
	res := runSim(t, "-scenario", "mixed", "-procs", "1", "-hosts", "20", "-tasks", "100",
		"-duration", "2s", "-rate", "40", "-ramp", "20", "-ramp-step", "1s", "-profile=false")
	m := res.Mixed
	if m == nil {
		t.Fatal("no mixed result")
	}
	if m.Stored != 101 {
		t.Errorf("stored %d tasks, want 101", m.Stored)
	}
	for _, op := range mixedOps {
		if s := m.Ops[op]; s.Count == 0 || s.Errors != 0 {
			t.Errorf("%s: %+v", op, s)
		}
	}
	if len(m.Ramp) != 1 || m.Ramp[0].Sent == 0 {
		t.Errorf("ramp: %+v", m.Ramp)
	}
}
