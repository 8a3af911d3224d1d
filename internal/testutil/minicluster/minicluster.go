// Package minicluster runs a whole minato control plane in one process for
// tests: the ECS API and the agent server on a real bbolt store, the
// service controller, and agents on fake runtimes. It needs no Docker and
// no network beyond loopback.
package minicluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/agentserver"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/controller"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime/fake"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/tasks"
)

// Call is the request context tests use for API calls.
var Call = &awsproto.Call{Region: "us-east-1", Principal: awsproto.Principal{AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"}}

// Token is the agent join token of every Cluster.
const Token = "tok"

// Cluster is a running in-process control plane.
type Cluster struct {
	t     testing.TB
	ECS   *ecsapi.API
	Store store.Store
	url   string
	ctx   context.Context
}

// Options tune a Cluster.
type Options struct {
	// Controller runs the service controller.
	Controller bool
	// StablePeriod of the service controller (default 200 ms).
	StablePeriod time.Duration
	// Logger receives the control plane's log (default: discarded); the
	// agents' log is discarded.
	Logger *slog.Logger
}

// New starts a control plane; it stops when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := core.SystemClock{}
	agents := liveness.New(clock, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	view := clusterview.New(st, nil)
	viewDone := make(chan struct{})
	go func() { view.Run(ctx); close(viewDone) }()
	vst := view.Store()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	domain := tasks.New(tasks.Config{Store: vst, View: view, Clock: clock, Agents: agents, Logger: log.With("component", "tasks")})
	api := ecsapi.New(ecsapi.Config{Store: vst, View: view, Clock: clock, Agents: agents, Logger: log.With("component", "ecs"), Tasks: domain})
	if err := api.EnsureDefaultCluster(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := agentserver.New(agentserver.Config{Store: vst, View: view, Tasks: domain, Agents: agents, Clock: clock, Token: Token, Logger: log.With("component", "agentserver"),
		Scope: arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, PollTimeout: 2 * time.Second})
	hs := httptest.NewServer(srv.Handler())
	done := make(chan struct{})
	if opts.Controller {
		sp := opts.StablePeriod
		if sp == 0 {
			sp = 200 * time.Millisecond
		}
		c := &controller.Services{Store: vst, Tasks: domain, View: view, Clock: clock, Connected: agents.Connected, Logger: log.With("component", "services"),
			Interval: 200 * time.Millisecond, StablePeriod: sp}
		go func() { c.Run(ctx); close(done) }()
	} else {
		close(done)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		<-viewDone
		hs.Close()
		st.Close()
	})
	return &Cluster{t: t, ECS: api, Store: vst, url: hs.URL, ctx: ctx}
}

// URL is where agents reach the control plane (agent.Config.Server).
func (c *Cluster) URL() string { return c.url }

// AddAgent starts an agent on a new fake runtime that has images and
// returns the runtime. The agent stops when the test ends.
func (c *Cluster) AddAgent(az string, images ...string) *fake.Runtime {
	c.t.Helper()
	rt := fake.New()
	for _, img := range images {
		rt.AddImage(img)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(c.ctx)
	go func() {
		done <- agent.Run(ctx, agent.Config{
			Server: c.url, Token: Token, DataDir: c.t.TempDir(), Runtime: rt, AvailabilityZone: az,
			StopTimeout: time.Second, CleanupWait: time.Minute, Logger: slog.New(slog.DiscardHandler),
			Ready: func(id string) { ready <- id },
		})
	}()
	c.t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-ready:
	case err := <-done:
		c.t.Fatalf("agent: %v", err)
	case <-time.After(10 * time.Second):
		c.t.Fatal("agent did not register")
	}
	return rt
}

// Register registers a one-container task definition.
func (c *Cluster) Register(family, image string, mutate func(*ecstypes.ContainerDefinition)) {
	c.t.Helper()
	mem := int32(64)
	cd := ecstypes.ContainerDefinition{Name: "app", Image: image, Memory: &mem}
	if mutate != nil {
		mutate(&cd)
	}
	if _, err := c.ECS.RegisterTaskDefinition(context.Background(), Call, &ecstypes.RegisterTaskDefinitionRequest{
		Family: family, ContainerDefinitions: []ecstypes.ContainerDefinition{cd}}); err != nil {
		c.t.Fatal(err)
	}
}

// Task describes one task.
func (c *Cluster) Task(arn string) ecstypes.Task {
	c.t.Helper()
	out, err := c.ECS.DescribeTasks(context.Background(), Call, &ecstypes.DescribeTasksRequest{Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		c.t.Fatalf("DescribeTasks: %v %+v", err, out)
	}
	return out.Tasks[0]
}

// Service describes one service.
func (c *Cluster) Service(name string) ecstypes.Service {
	c.t.Helper()
	out, err := c.ECS.DescribeServices(context.Background(), Call, &ecstypes.DescribeServicesRequest{Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		c.t.Fatalf("DescribeServices: %v %+v", err, out)
	}
	return out.Services[0]
}

// Eventually polls cond until it holds or timeout passes.
func (c *Cluster) Eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, st := cond()
		if ok {
			return
		}
		last = st
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("timed out waiting for %s: %s", what, last)
}

// WaitTask waits for a task to reach status.
func (c *Cluster) WaitTask(arn, status string) ecstypes.Task {
	c.t.Helper()
	var task ecstypes.Task
	c.Eventually(15*time.Second, fmt.Sprintf("task %s to be %s", arn, status), func() (bool, string) {
		task = c.Task(arn)
		return task.LastStatus == status, task.LastStatus + " " + task.StoppedReason
	})
	return task
}
