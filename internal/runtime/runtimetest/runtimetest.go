// Package runtimetest is the conformance suite every runtime.Runtime must
// pass: the Docker runtime against a real engine and the fake in memory.
// The containers it runs are test/testapp's modes (serve, exit, health,
// ...), so a runtime under test must run that program: Docker runs the
// test image, the fake emulates it.
package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
)

// LabelRun is put on every container the suite creates, with the value
// RunID, so a cleanup can find what a run left behind (and only that).
const LabelRun = "minato.test"

// RunID is unique to this test process.
var RunID = "rtt-" + randHex(4)

// Run runs the suite. newRuntime returns the runtime under test for one
// subtest; image is the test image (test/testapp as entrypoint), already
// available to the runtime.
func Run(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime, image string) {
	s := &suite{newRuntime: newRuntime, image: image, run: RunID}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Info", s.testInfo},
		{"Lifecycle", s.testLifecycle},
		{"ExitCode", s.testExitCode},
		{"StopTimeoutKills", s.testStopTimeoutKills},
		{"ListByLabels", s.testListByLabels},
		{"EventsStartDie", s.testEvents},
		{"HealthHealthy", s.testHealthy},
		{"HealthUnhealthy", s.testUnhealthy},
		{"MissingImage", s.testMissingImage},
		{"BridgeDynamicPort", s.testBridgePort},
		{"HostPortInUse", s.testPortInUse},
		{"AwsvpcSharedLocalhost", s.testAwsvpc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newRuntime func(t *testing.T) runtime.Runtime
	image      string
	run        string
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// task is one test task: a unique ID, the runtime, and cleanup of all the
// containers created through it.
type task struct {
	t  *testing.T
	s  *suite
	rt runtime.Runtime
	id string
}

func (s *suite) newTask(t *testing.T, rt runtime.Runtime) *task {
	return &task{t: t, s: s, rt: rt, id: s.run + "-" + randHex(4)}
}

func (tk *task) labels(container string) map[string]string {
	return map[string]string{
		runtime.LabelManaged:   "true",
		runtime.LabelCluster:   "conformance",
		runtime.LabelTask:      tk.id,
		runtime.LabelContainer: container,
		LabelRun:               tk.s.run,
	}
}

// spec returns a container spec running the test image with args.
func (tk *task) spec(name string, args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:   tk.id + "-" + name,
		Labels: tk.labels(name),
		Def: ecstypes.ContainerDefinition{
			Name:    name,
			Image:   tk.s.image,
			Command: args,
		},
	}
}

// create creates a container and removes it when the test ends.
func (tk *task) create(spec runtime.ContainerSpec) string {
	tk.t.Helper()
	ctx := ctxFor(tk.t, 30*time.Second)
	id, err := tk.rt.CreateContainer(ctx, spec)
	if err != nil {
		tk.t.Fatalf("CreateContainer(%s): %v", spec.Name, err)
	}
	tk.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tk.rt.RemoveContainer(ctx, id); err != nil {
			tk.t.Errorf("cleanup: RemoveContainer(%s): %v", spec.Name, err)
		}
	})
	return id
}

func (tk *task) start(id string) {
	tk.t.Helper()
	if err := tk.rt.StartContainer(ctxFor(tk.t, 30*time.Second), id); err != nil {
		tk.t.Fatalf("StartContainer: %v", err)
	}
}

func (tk *task) run(spec runtime.ContainerSpec) string {
	tk.t.Helper()
	id := tk.create(spec)
	tk.start(id)
	return id
}

func (tk *task) inspect(id string) runtime.ContainerState {
	tk.t.Helper()
	st, err := tk.rt.Inspect(ctxFor(tk.t, 10*time.Second), id)
	if err != nil {
		tk.t.Fatalf("Inspect: %v", err)
	}
	return st
}

// waitFor polls Inspect until cond holds.
func (tk *task) waitFor(id, what string, timeout time.Duration, cond func(runtime.ContainerState) bool) runtime.ContainerState {
	tk.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := tk.inspect(id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			tk.t.Fatalf("container %s: not %s after %v; state %+v", id, what, timeout, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func exited(st runtime.ContainerState) bool { return st.ExitCode != nil && !st.Running }

func (s *suite) testInfo(t *testing.T) {
	rt := s.newRuntime(t)
	info, err := rt.Info(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.CPUs < 1 || info.MemoryMiB < 1 || info.OS != "linux" || info.Arch == "" || info.Version == "" {
		t.Fatalf("Info = %+v", info)
	}
}

func (s *suite) testLifecycle(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	if err := rt.EnsureImage(ctxFor(t, time.Minute), s.image, nil); err != nil {
		t.Fatalf("EnsureImage(%s): %v", s.image, err)
	}
	spec := tk.spec("web", "serve")
	id := tk.create(spec)

	st := tk.inspect(id)
	if st.ID != id || st.Name != spec.Name || !st.Created || st.Running || st.ExitCode != nil {
		t.Fatalf("created: %+v", st)
	}
	if st.Image != s.image || st.Labels[runtime.LabelTask] != tk.id || st.Labels[runtime.LabelManaged] != "true" {
		t.Fatalf("created: image %q labels %v", st.Image, st.Labels)
	}
	if st.Health != runtime.HealthUnknown {
		t.Fatalf("health without a check = %q, want UNKNOWN", st.Health)
	}

	tk.start(id)
	st = tk.waitFor(id, "running", 10*time.Second, func(st runtime.ContainerState) bool { return st.Running })
	if st.Created || st.StartedAt.IsZero() || st.ExitCode != nil {
		t.Fatalf("running: %+v", st)
	}

	// A process that is PID 1 gets no default action for SIGTERM: a signal
	// that arrives before the app installed its handler is lost. Give it
	// the moment any real app needs.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := rt.StopContainer(ctxFor(t, 30*time.Second), id, 10*time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping a container that exits on SIGTERM took %v", d)
	}
	st = tk.inspect(id)
	if st.Running || st.ExitCode == nil || *st.ExitCode != 0 || st.FinishedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Fatalf("stopped: %+v (exit %v)", st, deref(st.ExitCode))
	}
	if err := rt.StopContainer(ctxFor(t, 10*time.Second), id, time.Second); err != nil {
		t.Fatalf("stopping a stopped container: %v", err)
	}
	if err := rt.RemoveContainer(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	if _, err := rt.Inspect(ctxFor(t, 10*time.Second), id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Inspect after remove: %v, want ErrNotFound", err)
	}
	if err := rt.RemoveContainer(ctxFor(t, 10*time.Second), id); err != nil {
		t.Fatalf("removing a removed container: %v", err)
	}
	if err := rt.StartContainer(ctxFor(t, 10*time.Second), id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("StartContainer after remove: %v, want ErrNotFound", err)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func (s *suite) testExitCode(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	now := tk.run(tk.spec("now", "exit", "3"))
	later := tk.run(tk.spec("later", "exit", "42", "after", "300ms"))
	st := tk.waitFor(now, "exited", 20*time.Second, exited)
	if *st.ExitCode != 3 || st.OOMKilled {
		t.Fatalf("exit 3: %+v (exit %v)", st, deref(st.ExitCode))
	}
	st = tk.waitFor(later, "exited", 20*time.Second, exited)
	if *st.ExitCode != 42 {
		t.Fatalf("exit 42 after 300ms: exit %v", deref(st.ExitCode))
	}
	if ran := st.FinishedAt.Sub(st.StartedAt); ran < 250*time.Millisecond {
		t.Fatalf("exit after 300ms: ran %v", ran)
	}
}

func (s *suite) testStopTimeoutKills(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	id := tk.run(tk.spec("stubborn", "--ignore-sigterm", "serve"))
	tk.waitFor(id, "running", 10*time.Second, func(st runtime.ContainerState) bool { return st.Running })
	time.Sleep(300 * time.Millisecond) // let it install its signal handling
	start := time.Now()
	if err := rt.StopContainer(ctxFor(t, 30*time.Second), id, time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	took := time.Since(start)
	if took < 900*time.Millisecond || took > 10*time.Second {
		t.Errorf("stop with a 1s timeout of a SIGTERM-ignoring container took %v", took)
	}
	st := tk.inspect(id)
	if st.Running || st.ExitCode == nil || *st.ExitCode != 137 {
		t.Fatalf("killed container: running %v exit %v, want exit 137", st.Running, deref(st.ExitCode))
	}
}

func (s *suite) testListByLabels(t *testing.T) {
	rt := s.newRuntime(t)
	a, b := s.newTask(t, rt), s.newTask(t, rt)
	a1 := a.create(a.spec("one", "serve"))
	a2 := a.create(a.spec("two", "serve"))
	b.create(b.spec("one", "serve"))

	got, err := rt.List(ctxFor(t, 10*time.Second), map[string]string{runtime.LabelTask: a.id})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, st := range got {
		ids[st.ID] = true
	}
	if len(got) != 2 || !ids[a1] || !ids[a2] {
		t.Fatalf("List(task a) = %d containers %v, want %s and %s", len(got), ids, a1, a2)
	}
	got, err = rt.List(ctxFor(t, 10*time.Second), map[string]string{runtime.LabelTask: a.id, runtime.LabelContainer: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != a2 || !got[0].Created {
		t.Fatalf("List(task a, container two) = %+v", got)
	}
	got, err = rt.List(ctxFor(t, 10*time.Second), map[string]string{runtime.LabelTask: "no-such-task-" + randHex(4)})
	if err != nil || len(got) != 0 {
		t.Fatalf("List(unknown task) = %v, %v", got, err)
	}
}

func (s *suite) testEvents(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, errs := rt.Events(ctx)
	time.Sleep(200 * time.Millisecond) // the subscription is live before anything happens
	id := tk.run(tk.spec("brief", "exit", "5", "after", "200ms"))
	tk.waitFor(id, "exited", 20*time.Second, exited)
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	var seen []runtime.EventType
	want := []runtime.EventType{runtime.EventStart, runtime.EventDie, runtime.EventRemove}
	for len(seen) < len(want) {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("event stream ended after %v: %v", seen, <-errs)
			}
			if ev.ContainerID != id {
				continue
			}
			if ev.Labels[runtime.LabelTask] != tk.id || ev.Time.IsZero() {
				t.Fatalf("event %+v: want task label %s and a time", ev, tk.id)
			}
			seen = append(seen, ev.Type)
		case <-ctx.Done():
			t.Fatalf("events for %s: saw %v, want %v", id, seen, want)
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", seen, want)
	}
	cancel()
	for range evs {
	}
	if err := <-errs; err == nil {
		t.Fatal("after ctx ended the error channel carried nil")
	}
}

// healthSpec runs the test app with a health check that is the app's own
// probe mode (the image has no shell or curl).
func (tk *task) healthSpec(name string, env ...ecstypes.KeyValuePair) runtime.ContainerSpec {
	spec := tk.spec(name, "serve")
	spec.Def.Environment = env
	one, two := int32(1), int32(2)
	spec.Def.HealthCheck = &ecstypes.HealthCheck{
		Command:  []string{"CMD", "/testapp", "health", "http://127.0.0.1:8080/health"},
		Interval: &one,
		Timeout:  &two,
		Retries:  &two,
	}
	return spec
}

func (s *suite) testHealthy(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	evs, _ := rt.Events(ctx)
	id := tk.run(tk.healthSpec("healthy"))
	tk.waitFor(id, "healthy", 30*time.Second, func(st runtime.ContainerState) bool { return st.Health == runtime.HealthHealthy })
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("event stream ended before a health event")
			}
			if ev.ContainerID == id && ev.Type == runtime.EventHealth {
				return
			}
		case <-ctx.Done():
			t.Fatal("no health event for a container that became healthy")
		}
	}
}

func (s *suite) testUnhealthy(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	id := tk.run(tk.healthSpec("unhealthy", ecstypes.KeyValuePair{Name: "HEALTH", Value: "fail"}))
	st := tk.waitFor(id, "unhealthy", 30*time.Second, func(st runtime.ContainerState) bool { return st.Health != runtime.HealthUnknown })
	if st.Health != runtime.HealthUnhealthy {
		t.Fatalf("health = %s, want UNHEALTHY", st.Health)
	}
}

// MissingImage names a registry on a closed loopback port, so the pull
// fails at once on any machine.
const MissingImage = "127.0.0.1:1/minato-conformance/missing:1"

func (s *suite) testMissingImage(t *testing.T) {
	rt := s.newRuntime(t)
	err := rt.EnsureImage(ctxFor(t, time.Minute), MissingImage, &runtime.RegistryAuth{Username: "u", Password: "p"})
	if !errors.Is(err, runtime.ErrImageNotFound) {
		t.Fatalf("EnsureImage(%s) = %v, want ErrImageNotFound", MissingImage, err)
	}
	if strings.TrimSpace(err.Error()) == "" {
		t.Fatal("the error has no text to show after CannotPullContainerError")
	}
	tk := s.newTask(t, rt)
	spec := tk.spec("noimage", "serve")
	spec.Def.Image = MissingImage
	_, err = rt.CreateContainer(ctxFor(t, 10*time.Second), spec)
	if !errors.Is(err, runtime.ErrImageNotFound) {
		t.Fatalf("CreateContainer with a missing image = %v, want ErrImageNotFound", err)
	}
}

func (s *suite) testBridgePort(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	spec := tk.spec("web", "serve")
	port := int32(8080)
	spec.NetworkMode = ecstypes.NetworkModeBridge
	spec.Def.PortMappings = []ecstypes.PortMapping{{ContainerPort: &port, Protocol: ecstypes.TransportProtocolTcp}}
	spec.PortBindings = []runtime.PortBinding{{ContainerPort: 8080, HostPort: 0, Protocol: "tcp"}}
	id := tk.run(spec)
	st := tk.waitFor(id, "running with a bound port", 10*time.Second, func(st runtime.ContainerState) bool {
		return st.Running && len(st.Ports) > 0
	})
	bound := 0
	for _, p := range st.Ports {
		if p.ContainerPort == 8080 && p.Protocol == "tcp" && !strings.Contains(p.HostIP, ":") {
			bound = p.HostPort
			break
		}
	}
	if bound == 0 {
		t.Fatalf("no IPv4 binding for 8080/tcp in %+v", st.Ports)
	}
	body := getOK(t, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(bound))+"/health", 15*time.Second)
	if !strings.Contains(body, "ok") {
		t.Fatalf("GET /health = %q", body)
	}
}

// testPortInUse: a container whose host port another program holds does
// not start, says which port, and stays created until it is removed.
func (s *suite) testPortInUse(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	spec := tk.spec("web", "serve")
	port := int32(8080)
	spec.NetworkMode = ecstypes.NetworkModeBridge
	spec.Def.PortMappings = []ecstypes.PortMapping{{ContainerPort: &port, Protocol: ecstypes.TransportProtocolTcp}}
	spec.PortBindings = []runtime.PortBinding{{ContainerPort: 8080, HostPort: taken, Protocol: "tcp"}}
	id := tk.create(spec)
	err = rt.StartContainer(ctxFor(t, 30*time.Second), id)
	var pe *runtime.PortInUseError
	if !errors.Is(err, runtime.ErrPortInUse) || !errors.As(err, &pe) || pe.HostPort != taken {
		t.Fatalf("StartContainer with host port %d taken = %v, want a PortInUseError for it", taken, err)
	}
	if st := tk.inspect(id); st.Running {
		t.Fatalf("the container runs although its port is taken: %+v", st)
	}
}

// getOK GETs url until it answers 200, and returns the body.
func getOK(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *suite) testAwsvpc(t *testing.T) {
	rt := s.newRuntime(t)
	tk := s.newTask(t, rt)
	ctx := ctxFor(t, time.Minute)
	lbl := tk.labels("~internal~ecs~pause")
	lbl[runtime.LabelPause] = "true"
	tn, err := rt.CreateTaskNetwork(ctx, runtime.TaskNetworkSpec{Name: tk.id + "-pause", Labels: lbl, Hostname: "task-" + tk.id})
	if tn.ContainerID != "" {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := rt.RemoveContainer(ctx, tn.ContainerID); err != nil {
				t.Errorf("cleanup: remove pause container: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("CreateTaskNetwork: %v", err)
	}
	if net.ParseIP(tn.IPv4).To4() == nil || tn.SubnetCIDR == "" {
		t.Fatalf("task network = %+v", tn)
	}
	pause := tk.inspect(tn.ContainerID)
	if !pause.Running || pause.Labels[runtime.LabelPause] != "true" || pause.IPv4 != tn.IPv4 {
		t.Fatalf("pause container: %+v", pause)
	}

	web := tk.spec("web", "serve")
	web.NetworkMode, web.NetworkContainerID = ecstypes.NetworkModeAwsvpc, tn.ContainerID
	webID := tk.run(web)
	probe := tk.spec("probe", "health", "http://127.0.0.1:8080/health", "within", "15s")
	probe.NetworkMode, probe.NetworkContainerID = ecstypes.NetworkModeAwsvpc, tn.ContainerID
	probeID := tk.run(probe)

	st := tk.waitFor(probeID, "exited", 30*time.Second, exited)
	if *st.ExitCode != 0 {
		t.Fatalf("a container could not reach its task sibling on localhost: exit %d", *st.ExitCode)
	}
	if st := tk.inspect(webID); st.IPv4 != tn.IPv4 {
		t.Fatalf("awsvpc container IPv4 = %q, want the task's %q", st.IPv4, tn.IPv4)
	}
	getOK(t, "http://"+net.JoinHostPort(tn.IPv4, "8080")+"/health", 15*time.Second)
}
