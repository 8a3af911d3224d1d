// Package minicluster runs a whole minato control plane in one process for
// tests: the node `minato server` runs (controlplane.New), on a temporary
// data directory and a loopback port, with agents on fake runtimes. It
// needs no Docker and no network beyond loopback.
package minicluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime/fake"
	"github.com/minato-project/minato/internal/store"
)

// Call is the request context tests use for API calls.
var Call = &awsproto.Call{Region: "us-east-1", Principal: awsproto.Principal{AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"}}

// Token is the agent join token of every Cluster.
const Token = "tok"

// ECS is the node's ECS API as tests call it, in process: the operations
// take the request context of Call. (An interface, so that nothing outside
// internal/api imports the API packages.)
type ECS interface {
	CreateCluster(ctx context.Context, c *awsproto.Call, in *ecstypes.CreateClusterRequest) (*ecstypes.CreateClusterResponse, error)
	CreateService(ctx context.Context, c *awsproto.Call, in *ecstypes.CreateServiceRequest) (*ecstypes.CreateServiceResponse, error)
	UpdateService(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateServiceRequest) (*ecstypes.UpdateServiceResponse, error)
	DeleteService(ctx context.Context, c *awsproto.Call, in *ecstypes.DeleteServiceRequest) (*ecstypes.DeleteServiceResponse, error)
	DescribeServices(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeServicesRequest) (*ecstypes.DescribeServicesResponse, error)
	RegisterTaskDefinition(ctx context.Context, c *awsproto.Call, in *ecstypes.RegisterTaskDefinitionRequest) (*ecstypes.RegisterTaskDefinitionResponse, error)
	RunTask(ctx context.Context, c *awsproto.Call, in *ecstypes.RunTaskRequest) (*ecstypes.RunTaskResponse, error)
	StopTask(ctx context.Context, c *awsproto.Call, in *ecstypes.StopTaskRequest) (*ecstypes.StopTaskResponse, error)
	ListTasks(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTasksRequest) (*ecstypes.ListTasksResponse, error)
	DescribeTasks(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeTasksRequest) (*ecstypes.DescribeTasksResponse, error)
	ListContainerInstances(ctx context.Context, c *awsproto.Call, in *ecstypes.ListContainerInstancesRequest) (*ecstypes.ListContainerInstancesResponse, error)
	DescribeContainerInstances(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeContainerInstancesRequest) (*ecstypes.DescribeContainerInstancesResponse, error)
	UpdateContainerInstancesState(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateContainerInstancesStateRequest) (*ecstypes.UpdateContainerInstancesStateResponse, error)
}

// Cluster is a running in-process control plane.
type Cluster struct {
	t   testing.TB
	ECS ECS
	// Store is the store every writer of the node uses (the cluster
	// view's).
	Store store.Store
	// Node is the whole node, for tests that need another of its parts.
	Node *controlplane.Node
	url  string
	ctx  context.Context
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
	// AgentTimeout is how long after its last poll an agent still counts
	// as connected (default a minute); a Fargate pool host is lost once
	// it is past.
	AgentTimeout time.Duration
	// FargateCPUOvercommit is the node's (default: the node's default).
	FargateCPUOvercommit float64
}

// New starts a control plane; it stops when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	sp := opts.StablePeriod
	if sp == 0 {
		sp = 200 * time.Millisecond
	}
	agentTimeout := opts.AgentTimeout
	if agentTimeout == 0 {
		agentTimeout = time.Minute
	}
	node, err := controlplane.New(context.Background(), controlplane.Config{
		DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", Region: "us-east-1", AccountID: "000000000000",
		AgentToken: Token, Logger: opts.Logger,
		AgentPollTimeout: 2 * time.Second, AgentTimeout: agentTimeout,
		ServiceInterval: 200 * time.Millisecond, StablePeriod: sp, NoControllers: !opts.Controller,
		FargateCPUOvercommit: opts.FargateCPUOvercommit,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan controlplane.Info, 1)
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx, func(info controlplane.Info) { ready <- info }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control plane: %v", err)
		}
		if err := node.Close(); err != nil {
			t.Errorf("closing the control plane: %v", err)
		}
	})
	var info controlplane.Info
	select {
	case info = <-ready:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("control plane: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("control plane not ready after a minute")
	}
	return &Cluster{t: t, ECS: node.ECS, Store: node.Store, Node: node, url: info.APIURL, ctx: ctx}
}

// URL is where agents reach the control plane (agent.Config.Server).
func (c *Cluster) URL() string { return c.url }

// AddAgent starts an agent of the default cluster on a new fake runtime
// that has images and returns the runtime. The agent stops when the test
// ends.
func (c *Cluster) AddAgent(az string, images ...string) *fake.Runtime {
	c.t.Helper()
	return c.StartAgent(AgentOptions{AZ: az, Images: images}).Runtime
}

// AgentOptions say how StartAgent runs an agent.
type AgentOptions struct {
	AZ      string
	Cluster string // default "default"
	// Fargate offers the host to the Fargate pool.
	Fargate bool
	Images  []string
	// CPUs and MemoryMiB size the fake host (default: the fake's).
	CPUs      int
	MemoryMiB int64
}

// Agent is an agent StartAgent started.
type Agent struct {
	Runtime    *fake.Runtime
	InstanceID string
	stop       func()
}

// Stop stops the agent at once, as a host that is lost: it answers and
// reports nothing more, and its containers stay as they were.
func (a *Agent) Stop() { a.stop() }

// StartAgent starts an agent on a new fake runtime and waits until it
// registered. It stops when the test ends, if Stop did not stop it.
func (c *Cluster) StartAgent(o AgentOptions) *Agent {
	c.t.Helper()
	rt := fake.New()
	for _, img := range o.Images {
		rt.AddImage(img)
	}
	if o.CPUs > 0 {
		rt.Host.CPUs = o.CPUs
	}
	if o.MemoryMiB > 0 {
		rt.Host.MemoryMiB = o.MemoryMiB
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(c.ctx)
	go func() {
		done <- agent.Run(ctx, agent.Config{
			Server: c.url, Token: Token, DataDir: c.t.TempDir(), Runtime: rt, AvailabilityZone: o.AZ, Cluster: o.Cluster, Fargate: o.Fargate,
			StopTimeout: time.Second, CleanupWait: time.Minute, Logger: slog.New(slog.DiscardHandler),
			Ready: func(id string) { ready <- id },
		})
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	c.t.Cleanup(stop)
	a := &Agent{Runtime: rt, stop: stop}
	select {
	case a.InstanceID = <-ready:
	case err := <-done:
		c.t.Fatalf("agent: %v", err)
	case <-time.After(10 * time.Second):
		c.t.Fatal("agent did not register")
	}
	return a
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
