// Command sim is minato's scale simulator. It starts the real control plane
// (a controlplane node: bbolt store, AWS API listener with SigV4, agent server,
// service controller) and a fleet of simulated hosts — the real agent code,
// each on its own fake runtime, registering, long-polling and reporting
// over the real agent protocol on loopback HTTP, but starting no
// containers — and drives workloads through the real API with the AWS SDK
// for Go v2. It prints throughput and latency and writes a JSON result.
//
// By default the control plane and the fleet each run in a child process of
// this binary (-procs 3), so that the control plane's RSS, CPU time and
// profiles are its own; -procs 1 runs everything in this process.
//
// Scenarios (-scenario):
//
//	placement  RunTask bursts (count 10): -tasks tasks onto -hosts hosts, half
//	           with a memberOf constraint; placements/s, RunTask latency,
//	           time until every task runs; then the pure scheduler's rate
//	mixed      -tasks tasks stored (a service with half, RunTask the rest),
//	           then an open-loop mix of RunTask, DescribeTasks, ListTasks and
//	           UpdateService at -rate req/s for -duration; then a RunTask
//	           ramp to find the highest rate sustained without errors
//	service    -services services with -tasks tasks between them; time
//	           until every service runs its desired count
//	memory     RSS of one agent process idle and with 100 tasks, and of the
//	           control plane with -tasks tasks stored
//	hosts      start -hosts hosts and stay idle for -duration: start time,
//	           RSS and CPU of the control plane and of the fleet
//	scale      placement and mixed at each size of -sizes (fractions of
//	           the full size): time, CPU and memory per task
//
// -store etcd runs the control plane on the etcd engine (an embedded
// single-member etcd, fsync on, with leader election) instead of bbolt.
//
// Every scenario writes its result to -out (default
// $TMPDIR/minato-bench/<scenario>.json) and, with -profile, CPU and heap
// profiles of the control plane next to it with their top entries.
// bench/README.md lists the commands behind docs/BENCHMARKS.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
)

func main() {
	harness.ChildMain()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

// options are the simulator's flags.
type options struct {
	scenario    string
	hosts       int
	tasks       int
	services    int
	duration    time.Duration
	out         string
	dir         string
	keep        bool
	procs       int
	concurrency int
	constrained float64
	rate        float64
	ramp        string
	rampStep    time.Duration
	rampCount   int
	sizes       string
	scale       float64
	profile     bool
	settle      time.Duration
	cpLog       string
	store       string
	timeout     time.Duration
	noPure      bool
	label       string
}

// defaults per scenario for -hosts and -tasks left at 0.
var scenarioDefaults = map[string][2]int{
	"placement": {5000, 50000},
	"mixed":     {1000, 10000},
	"service":   {1000, 5000},
	"memory":    {1000, 10000},
	"hosts":     {5000, 0},
	"scale":     {0, 0},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "placement", "placement, mixed, service, memory, hosts or scale")
	fs.IntVar(&o.hosts, "hosts", 0, "simulated hosts (0: the scenario's default)")
	fs.IntVar(&o.tasks, "tasks", 0, "tasks to place (placement), to store (mixed, memory) or to run in services (0: the scenario's default)")
	fs.IntVar(&o.services, "services", 5, "services (service scenario)")
	fs.DurationVar(&o.duration, "duration", 0, "mixed: length of the mixed load (default 60s); hosts: idle time (default 60s); placement: cap on the RunTask phase (default none)")
	fs.StringVar(&o.out, "out", "", "JSON result path (default $TMPDIR/minato-bench/<scenario>.json)")
	fs.StringVar(&o.dir, "dir", "", "work directory for data dirs and logs (default a new temp dir, removed afterwards unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory")
	fs.IntVar(&o.procs, "procs", 3, "3: control plane and fleet in child processes; 1: everything in this process")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent RunTask callers (placement, seeding)")
	fs.Float64Var(&o.constrained, "constrained", 0.5, "fraction of RunTask calls with a memberOf constraint (placement)")
	fs.Float64Var(&o.rate, "rate", 100, "mixed: requests/s of the mixed load, spread evenly over the four operations")
	fs.StringVar(&o.ramp, "ramp", "25,50,100,200,400,800", "mixed: RunTask rates (calls/s) of the ramp; empty: no ramp")
	fs.DurationVar(&o.rampStep, "ramp-step", 10*time.Second, "mixed: length of each ramp step")
	fs.IntVar(&o.rampCount, "ramp-count", 1, "mixed: tasks per RunTask call in the ramp")
	fs.StringVar(&o.sizes, "sizes", "0.01,0.1", "scale: fractions of the full size to run")
	fs.Float64Var(&o.scale, "scale", 1, "placement, mixed: multiply the default hosts and tasks by this")
	fs.BoolVar(&o.profile, "profile", true, "take CPU and heap profiles of the control plane")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "idle time before reading RSS")
	fs.StringVar(&o.store, "store", "bolt", "the control plane's state store: bolt (state.db) or etcd (an embedded single-member etcd, as minato server --cluster-init runs)")
	fs.StringVar(&o.cpLog, "cp-log", "", "control plane log level (debug, info, warn, error, off; default warn)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up waiting for tasks to run after this")
	fs.BoolVar(&o.noPure, "no-pure", false, "placement: skip the pure scheduler rate")
	fs.StringVar(&o.label, "label", "", "a label stored in the result (e.g. which tree was measured)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	harness.RaiseNoFile()
	def, ok := scenarioDefaults[o.scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if o.hosts == 0 {
		o.hosts = max(1, int(float64(def[0])*o.scale))
	}
	if o.tasks == 0 {
		o.tasks = int(float64(def[1]) * o.scale)
	}
	if o.out == "" {
		o.out = filepath.Join(os.TempDir(), "minato-bench", o.scenario+".json")
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "minato-sim-")
		if err != nil {
			return err
		}
		o.dir = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	}
	s := &sim{o: o, stdout: stdout, res: &Result{
		Scenario: o.scenario, Started: time.Now().UTC(), Machine: harness.ThisMachine(),
		Command: "go run ./bench/sim " + strings.Join(args, " "), Options: o.export(),
		Label: o.label, Revision: gitRevision(),
	}}
	s.logf("sim: scenario %s, work dir %s, result %s", o.scenario, o.dir, o.out)
	var err error
	switch o.scenario {
	case "placement":
		s.res.Placement, err = s.placement(ctx, "placement", o.hosts, o.tasks)
	case "mixed":
		s.res.Mixed, err = s.mixed(ctx, "mixed", o.hosts, o.tasks, o.duration, true)
	case "service":
		s.res.Service, err = s.service(ctx)
	case "memory":
		s.res.Memory, err = s.memory(ctx)
	case "hosts":
		s.res.Hosts, err = s.idleHosts(ctx)
	case "scale":
		s.res.Scale, err = s.scaleRuns(ctx)
	}
	s.res.Seconds = harness.Round(time.Since(s.res.Started).Seconds(), 1)
	if err != nil {
		s.res.Error = err.Error()
	}
	if werr := writeJSON(o.out, s.res); werr != nil && err == nil {
		err = werr
	}
	s.logf("sim: result written to %s", o.out)
	return err
}

func (o options) export() map[string]string {
	return map[string]string{
		"hosts": strconv.Itoa(o.hosts), "tasks": strconv.Itoa(o.tasks), "services": strconv.Itoa(o.services),
		"duration": o.duration.String(), "procs": strconv.Itoa(o.procs), "concurrency": strconv.Itoa(o.concurrency),
		"constrained": fmt.Sprint(o.constrained), "rate": fmt.Sprint(o.rate), "ramp": o.ramp,
		"rampStep": o.rampStep.String(), "rampCount": strconv.Itoa(o.rampCount), "sizes": o.sizes,
		"scale": fmt.Sprint(o.scale), "settle": o.settle.String(), "store": o.store,
	}
}

// gitRevision describes the working directory's git revision ("" outside
// a git checkout), with "+dirty" when tracked files changed.
func gitRevision() string {
	rev, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	out := strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		out += "+dirty"
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// sim is one run of the simulator.
type sim struct {
	o      options
	stdout io.Writer
	res    *Result
}

func (s *sim) logf(format string, args ...any) {
	fmt.Fprintf(s.stdout, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// profileDir is where profiles of this run go.
func (s *sim) profileDir() string {
	base := strings.TrimSuffix(s.o.out, filepath.Ext(s.o.out))
	return base + "-profiles"
}
