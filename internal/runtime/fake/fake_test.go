package fake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/fake"
	"github.com/minato-project/minato/internal/runtime/runtimetest"
)

const testImage = "minato-testapp:test"

// TestConformance runs the suite against the fake, which emulates the test
// image's program on loopback sockets.
func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		r := fake.New()
		r.UseTestapp()
		r.AddImage(testImage)
		return r
	}, testImage)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func newFake(t *testing.T) (*fake.Runtime, time.Time) {
	r := fake.New()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.Now = func() time.Time { return now }
	r.AddImage("app:1")
	return r, now
}

func spec(name string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:   name,
		Labels: map[string]string{runtime.LabelTask: "t1", runtime.LabelContainer: name},
		Def:    ecstypes.ContainerDefinition{Name: name, Image: "app:1"},
	}
}

func mustStart(t *testing.T, r *fake.Runtime, s runtime.ContainerSpec) string {
	t.Helper()
	id, err := r.CreateContainer(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func next(t *testing.T, evs <-chan runtime.Event) runtime.Event {
	t.Helper()
	select {
	case ev := <-evs:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return runtime.Event{}
	}
}

func TestInjectedExitOOMAndHealth(t *testing.T) {
	r, now := newFake(t)
	evs, _ := r.Events(ctx(t))
	a := mustStart(t, r, spec("a"))
	if ev := next(t, evs); ev.Type != runtime.EventStart || ev.ContainerID != a || !ev.Time.Equal(now) || ev.Labels[runtime.LabelTask] != "t1" {
		t.Fatalf("start event %+v", ev)
	}
	if err := r.SetHealth(a, runtime.HealthUnhealthy); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, evs); ev.Type != runtime.EventHealth {
		t.Fatalf("health event %+v", ev)
	}
	if err := r.Exit(a, 2); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, evs); ev.Type != runtime.EventDie {
		t.Fatalf("die event %+v", ev)
	}
	st, _ := r.Inspect(ctx(t), a)
	if st.Running || *st.ExitCode != 2 || st.Health != runtime.HealthUnhealthy || !st.StartedAt.Equal(now) || !st.FinishedAt.Equal(now) {
		t.Fatalf("after Exit: %+v", st)
	}
	if err := r.Exit(a, 3); err == nil {
		t.Fatal("Exit of a stopped container must fail")
	}

	b := mustStart(t, r, spec("b"))
	next(t, evs)
	if err := r.OOMKill(b); err != nil {
		t.Fatal(err)
	}
	if e1, e2 := next(t, evs), next(t, evs); e1.Type != runtime.EventOOM || e2.Type != runtime.EventDie {
		t.Fatalf("OOM events %v %v", e1.Type, e2.Type)
	}
	st, _ = r.Inspect(ctx(t), b)
	if !st.OOMKilled || *st.ExitCode != 137 {
		t.Fatalf("after OOMKill: %+v", st)
	}
	// An exited container starts again.
	if err := r.StartContainer(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	if st, _ = r.Inspect(ctx(t), b); !st.Running || st.ExitCode != nil || st.OOMKilled {
		t.Fatalf("restarted: %+v", st)
	}
	if got, ok := r.Spec(b); !ok || got.Name != "b" {
		t.Fatalf("Spec = %+v %v", got, ok)
	}
}

func TestPulls(t *testing.T) {
	r, _ := newFake(t)
	err := r.EnsureImage(ctx(t), "nope:1", nil)
	if !errors.Is(err, runtime.ErrImageNotFound) || !strings.Contains(err.Error(), "nope:1") {
		t.Fatalf("no Pull: %v", err)
	}
	var gotAuth *runtime.RegistryAuth
	r.Pull = func(_ context.Context, ref string, auth *runtime.RegistryAuth) error {
		gotAuth = auth
		if ref == "private:1" {
			return errors.New("denied: not authorized")
		}
		return nil
	}
	err = r.EnsureImage(ctx(t), "private:1", &runtime.RegistryAuth{Username: "u"})
	if !errors.Is(err, runtime.ErrImageNotFound) || !strings.Contains(err.Error(), "denied") || gotAuth.Username != "u" {
		t.Fatalf("failed pull: %v", err)
	}
	if _, err := r.CreateContainer(ctx(t), runtime.ContainerSpec{Name: "x", Def: ecstypes.ContainerDefinition{Image: "public:1"}}); !errors.Is(err, runtime.ErrImageNotFound) {
		t.Fatalf("create before pull: %v", err)
	}
	if err := r.EnsureImage(ctx(t), "public:1", nil); err != nil {
		t.Fatal(err)
	}
	id, err := r.CreateContainer(ctx(t), runtime.ContainerSpec{Name: "x", Def: ecstypes.ContainerDefinition{Image: "public:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveImage(ctx(t), "public:1"); err == nil {
		t.Fatal("removing an image in use must fail")
	}
	imgs, _ := r.ListImages(ctx(t))
	if len(imgs) != 2 || !imgs[1].InUse || imgs[1].Tags[0] != "public:1" {
		t.Fatalf("images %+v", imgs)
	}
	_ = r.RemoveContainer(ctx(t), id)
	if err := r.RemoveImage(ctx(t), "public:1"); err != nil {
		t.Fatal(err)
	}
}

func TestDelayAndCancel(t *testing.T) {
	r, _ := newFake(t)
	r.Delay = func(op string) time.Duration {
		if op == "Start" {
			return 100 * time.Millisecond
		}
		return 0
	}
	id, _ := r.CreateContainer(ctx(t), spec("slow"))
	start := time.Now()
	if err := r.StartContainer(ctx(t), id); err != nil || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("delayed start: %v after %v", err, time.Since(start))
	}
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := r.StartContainer(short, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled during the delay: %v", err)
	}
}

func TestEventsEnd(t *testing.T) {
	r, _ := newFake(t)
	evs, errs := r.Events(ctx(t))
	r.FailEvents(errors.New("daemon restarted"))
	if _, ok := <-evs; ok {
		t.Fatal("stream must close")
	}
	if err := <-errs; err == nil || err.Error() != "daemon restarted" {
		t.Fatalf("error %v", err)
	}
}

func TestPortsWithoutLoopback(t *testing.T) {
	r, _ := newFake(t)
	s := spec("web")
	p := int32(80)
	s.Def.PortMappings = []ecstypes.PortMapping{{ContainerPort: &p}}
	id := mustStart(t, r, s)
	st, _ := r.Inspect(ctx(t), id)
	if len(st.Ports) != 1 || st.Ports[0].HostPort == 0 || st.Ports[0].ContainerPort != 80 || st.Ports[0].Protocol != "tcp" {
		t.Fatalf("ports %+v", st.Ports)
	}
	tn, err := r.CreateTaskNetwork(ctx(t), runtime.TaskNetworkSpec{Name: "pause"})
	if err != nil || tn.IPv4 == "" || tn.SubnetCIDR != "10.77.0.0/16" {
		t.Fatalf("task network %+v %v", tn, err)
	}
	again, err := r.CreateTaskNetwork(ctx(t), runtime.TaskNetworkSpec{Name: "pause"})
	if err != nil || again != tn {
		t.Fatalf("the same pause container again: %+v %v", again, err)
	}
	start := time.Now()
	if err := r.StopContainer(ctx(t), tn.ContainerID, 5*time.Second); err != nil || time.Since(start) > time.Second {
		t.Fatalf("the pause container stops at once: %v", err)
	}
}
