package docker_test

import (
	"context"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/docker"
	"github.com/minato-project/minato/internal/runtime/runtimetest"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

// env is one test's Docker: a runtime whose task network and pause image
// carry test names, and a cleanup that removes them and every container
// labelled for the run.
type env struct {
	cli   *client.Client
	run   string
	net   string
	pause string
	image string // the test image, once a test has built it (testimage.Build)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cli := testimage.RequireDocker(t)
	run := "docker-" + time.Now().Format("150405.000000")
	e := &env{cli: cli, run: run, net: "minato-test-" + run, pause: "minato-test/pause:" + run}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := testimage.RemoveLabelled(ctx, cli, runtimetest.LabelRun, runtimetest.RunID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := cli.NetworkRemove(ctx, e.net); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove network %s: %v", e.net, err)
		}
		if _, err := cli.ImageRemove(ctx, e.pause, image.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove image %s: %v", e.pause, err)
		}
	})
	return e
}

func (e *env) runtime(t *testing.T) *docker.Runtime {
	t.Helper()
	r, err := docker.New(docker.WithClient(e.cli), docker.WithTaskNetwork(e.net, ""), docker.WithPauseImage(e.pause))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	img := testimage.Build(t, "")
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime { return e.runtime(t) }, img)
}

// TestTaskNetworkConcurrent creates task networks from many goroutines and
// two runtimes at once: one network results, and every pause container is
// on it.
func TestTaskNetworkConcurrent(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rts := []*docker.Runtime{e.runtime(t), e.runtime(t)}
	const n = 4
	type res struct {
		tn  runtime.TaskNetwork
		err error
	}
	out := make(chan res, n)
	for i := range n {
		go func() {
			tn, err := rts[i%2].CreateTaskNetwork(ctx, runtime.TaskNetworkSpec{
				Name:   e.run + "-pause-" + string(rune('a'+i)),
				Labels: map[string]string{runtimetest.LabelRun: runtimetest.RunID, runtime.LabelTask: e.run},
			})
			out <- res{tn, err}
		}()
	}
	subnets := map[string]bool{}
	ips := map[string]bool{}
	for range n {
		r := <-out
		if r.err != nil {
			t.Fatalf("CreateTaskNetwork: %v", r.err)
		}
		subnets[r.tn.SubnetCIDR] = true
		ips[r.tn.IPv4] = true
		if r.tn.Gateway == "" || r.tn.MAC == "" {
			t.Errorf("task network %+v lacks gateway or MAC", r.tn)
		}
	}
	if len(subnets) != 1 || len(ips) != n {
		t.Fatalf("subnets %v, addresses %v: want one subnet and %d addresses", subnets, ips, n)
	}
	nets, err := e.cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, nw := range nets {
		if nw.Name == e.net {
			count++
			if nw.Labels[runtime.LabelManaged] != "true" {
				t.Errorf("network labels %v", nw.Labels)
			}
		}
	}
	if count != 1 {
		t.Fatalf("%d networks named %s, want 1", count, e.net)
	}
	// Asking again for an existing pause container reuses it.
	tn, err := rts[0].CreateTaskNetwork(ctx, runtime.TaskNetworkSpec{Name: e.run + "-pause-a", Labels: map[string]string{runtimetest.LabelRun: runtimetest.RunID}})
	if err != nil || !ips[tn.IPv4] {
		t.Fatalf("CreateTaskNetwork again: %+v, %v", tn, err)
	}
}

// TestPauseImage builds the pause image and checks its shape, and that its
// container ignores SIGTERM yet stops at once (its stop signal is SIGKILL).
func TestPauseImage(t *testing.T) {
	e := newEnv(t)
	rt := e.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tn, err := rt.CreateTaskNetwork(ctx, runtime.TaskNetworkSpec{Name: e.run + "-pause", Labels: map[string]string{runtimetest.LabelRun: runtimetest.RunID}, Hostname: "pausehost"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.cli.ImageInspect(ctx, e.pause)
	if err != nil {
		t.Fatal(err)
	}
	if ep := img.Config.Entrypoint; len(ep) != 1 || ep[0] != "/pause" {
		t.Fatalf("entrypoint %q", ep)
	}
	if img.Config.Labels[runtime.LabelManaged] != "true" || len(img.Config.Labels["minato.pause.sha256"]) != 64 {
		t.Fatalf("labels %v", img.Config.Labels)
	}
	if img.Size > 4096 {
		t.Errorf("pause image is %d bytes, want a few hundred", img.Size)
	}
	c, err := e.cli.ContainerInspect(ctx, tn.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Config.Hostname != "pausehost" || c.Config.StopSignal != "SIGKILL" || !c.HostConfig.ReadonlyRootfs {
		t.Fatalf("pause config: hostname %q stop signal %q", c.Config.Hostname, c.Config.StopSignal)
	}
	// Still running a moment later: pause(2) does not return by itself.
	time.Sleep(300 * time.Millisecond)
	if err := e.cli.ContainerKill(ctx, tn.ContainerID, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	st, err := rt.Inspect(ctx, tn.ContainerID)
	if err != nil || !st.Running {
		t.Fatalf("after SIGTERM the pause container should still run: %+v %v", st, err)
	}
	start := time.Now()
	if err := rt.StopContainer(ctx, tn.ContainerID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping the pause container took %v", d)
	}
	// A second build with the same program reuses the image.
	before := img.ID
	if _, err := rt.CreateTaskNetwork(ctx, runtime.TaskNetworkSpec{Name: e.run + "-pause2", Labels: map[string]string{runtimetest.LabelRun: runtimetest.RunID}}); err != nil {
		t.Fatal(err)
	}
	if img, err := e.cli.ImageInspect(ctx, e.pause); err != nil || img.ID != before {
		t.Fatalf("pause image rebuilt: %v %v", img.ID, err)
	}
}
