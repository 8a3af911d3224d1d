package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/docker"
	"github.com/minato-project/minato/internal/runtime/fake"
	"github.com/minato-project/minato/internal/testutil/minicluster"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

// occupier is a runtime that, before it creates the first container with
// a host port, listens on that port itself: the port placement chose is
// then taken when the container starts, as when a program on the host
// took it in the meantime.
type occupier struct {
	rt.Runtime
	mu    sync.Mutex
	taken int
	l     net.Listener
}

func (o *occupier) CreateContainer(ctx context.Context, spec rt.ContainerSpec) (string, error) {
	o.mu.Lock()
	if o.taken == 0 && len(spec.PortBindings) > 0 {
		port := spec.PortBindings[0].HostPort
		l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
		if err != nil && !errors.Is(err, syscall.EADDRINUSE) { // in use: taken all the same
			o.mu.Unlock()
			return "", fmt.Errorf("test: taking host port %d: %w", port, err)
		}
		o.taken, o.l = port, l
	}
	o.mu.Unlock()
	return o.Runtime.CreateContainer(ctx, spec)
}

func (o *occupier) takenPort() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.taken
}

func (o *occupier) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.l != nil {
		o.l.Close()
	}
}

// startAgent runs an agent with cfg against h until the test ends. Run's
// result arrives on done; ready receives the instance ID once registered.
func startAgent(t *testing.T, h *minicluster.Cluster, cfg agent.Config) (done <-chan error, ready <-chan string) {
	t.Helper()
	readyc := make(chan string, 1)
	donec := make(chan error, 1)
	stopped := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Server, cfg.DataDir = h.URL(), t.TempDir()
	if cfg.Token == "" {
		cfg.Token = minicluster.Token
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.StopTimeout, cfg.CleanupWait = time.Second, time.Minute
	cfg.Ready = func(id string) { readyc <- id }
	go func() {
		donec <- agent.Run(ctx, cfg)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(time.Minute):
			t.Error("the agent did not stop")
		}
	})
	return donec, readyc
}

func waitReady(t *testing.T, ready <-chan string, done <-chan error) string {
	t.Helper()
	select {
	case id := <-ready:
		return id
	case err := <-done:
		t.Fatalf("agent: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the agent did not register")
	}
	return ""
}

// testPortMove runs a bridge task with a dynamic port whose chosen host
// port is taken on the host when its container starts: the task still
// reaches RUNNING, on another port of the range, DescribeTasks shows the
// port it really binds, and the instance's ports account for that one.
func testPortMove(t *testing.T, runtime rt.Runtime, image string) {
	h := minicluster.New(t, minicluster.Options{})
	occ := &occupier{Runtime: runtime}
	t.Cleanup(occ.close)
	from := 61000 + rand.IntN(4000)
	dyn := [2]int{from, from + 99}
	done, ready := startAgent(t, h, agent.Config{Runtime: occ, DynamicPorts: dyn})
	instanceID := waitReady(t, ready, done)
	if _, ok := runtime.(*docker.Runtime); ok {
		dc := testimage.RequireDocker(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := testimage.RemoveLabelled(ctx, dc, rt.LabelInstance, instanceID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	h.Register("web", image, func(cd *ecstypes.ContainerDefinition) {
		cd.Command = []string{"serve"}
		cd.PortMappings = []ecstypes.PortMapping{{ContainerPort: new(int32(8080))}}
	})
	out, err := h.ECS.RunTask(context.Background(), call, &ecstypes.RunTaskRequest{TaskDefinition: "web"})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	arn := out.Tasks[0].TaskArn

	var task ecstypes.Task
	h.Eventually(2*time.Minute, "the task to run", func() (bool, string) {
		task = h.Task(arn)
		if task.LastStatus == "STOPPED" {
			t.Fatalf("the task stopped: %s %s", task.StopCode, task.StoppedReason)
		}
		return task.LastStatus == "RUNNING", task.LastStatus
	})
	taken := occ.takenPort()
	if taken < dyn[0] || taken > dyn[1] {
		t.Fatalf("the port taken, %d, is not of the dynamic range %v", taken, dyn)
	}
	bs := task.Containers[0].NetworkBindings
	if len(bs) != 1 || bs[0].HostPort == nil {
		t.Fatalf("network bindings %+v", bs)
	}
	hp := int(*bs[0].HostPort)
	if hp == taken || hp < dyn[0] || hp > dyn[1] {
		t.Fatalf("the task binds host port %d; want another than the taken %d, in %v", hp, taken, dyn)
	}
	getHealth(t, hp)

	ports := func() []string {
		d, err := h.ECS.DescribeContainerInstances(context.Background(), call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: []string{instanceID}})
		if err != nil || len(d.ContainerInstances) != 1 {
			t.Fatalf("DescribeContainerInstances: %v %+v", err, d)
		}
		for _, r := range d.ContainerInstances[0].RemainingResources {
			if r.Name == "PORTS" {
				return r.StringSetValue
			}
		}
		return nil
	}
	if p := ports(); !slices.Contains(p, strconv.Itoa(hp)) || slices.Contains(p, strconv.Itoa(taken)) {
		t.Fatalf("the instance's used ports %v: want %d and not %d", p, hp, taken)
	}
	if _, err := h.ECS.StopTask(context.Background(), call, &ecstypes.StopTaskRequest{Task: arn}); err != nil {
		t.Fatal(err)
	}
	h.Eventually(2*time.Minute, "the task to stop", func() (bool, string) {
		task = h.Task(arn)
		return task.LastStatus == "STOPPED", task.LastStatus
	})
	if p := ports(); slices.Contains(p, strconv.Itoa(hp)) || slices.Contains(p, strconv.Itoa(taken)) {
		t.Fatalf("the stopped task's ports are still used: %v", p)
	}
}

func getHealth(t *testing.T, port int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /health on host port %d: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTakenHostPortMovesOnFakeRuntime(t *testing.T) {
	r := fake.New()
	r.UseTestapp()
	r.AddImage("testapp:1")
	testPortMove(t, r, "testapp:1")
}

func TestTakenHostPortMovesOnDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs containers on Docker")
	}
	image := testimage.Build(t, "")
	r, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	testPortMove(t, r, image)
}

// The control plane moves only a task's dynamic host ports, of a task
// that is not stopping, on the instance it is assigned to.
func TestMovePortsRefusals(t *testing.T) {
	h := minicluster.New(t, minicluster.Options{})
	r := fake.New()
	r.AddImage("app:1")
	done, ready := startAgent(t, h, agent.Config{Runtime: r, DynamicPorts: [2]int{61000, 61009}})
	instanceID := waitReady(t, ready, done)
	h.Register("web", "app:1", func(cd *ecstypes.ContainerDefinition) {
		cd.PortMappings = []ecstypes.PortMapping{{ContainerPort: new(int32(80)), HostPort: new(int32(8080))}, {ContainerPort: new(int32(81))}}
	})
	out, err := h.ECS.RunTask(context.Background(), call, &ecstypes.RunTaskRequest{TaskDefinition: "web"})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	arn := out.Tasks[0].TaskArn
	task := h.WaitTask(arn, "RUNNING")
	taskID := arn[strings.LastIndex(arn, "/")+1:]
	dynamic := int(*task.Containers[0].NetworkBindings[1].HostPort)

	move := func(token, task, container string, busy ...int) (int, string) {
		b, _ := json.Marshal(agentproto.MovePortsRequest{Cluster: "default", InstanceID: instanceID, TaskID: task, Container: container, Busy: busy})
		req, _ := http.NewRequest(http.MethodPost, h.URL()+agentproto.PathPorts, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name      string
		token     string
		task      string
		container string
		busy      []int
		code      int
		says      string
	}{
		{"a wrong token", "wrong", taskID, "app", []int{dynamic}, http.StatusUnauthorized, "token"},
		{"a task not on the instance", minicluster.Token, "nosuchtask", "app", []int{dynamic}, http.StatusNotFound, "not assigned"},
		{"a container the task lacks", minicluster.Token, taskID, "nosuch", []int{dynamic}, http.StatusBadRequest, "no container"},
		{"a static port", minicluster.Token, taskID, "app", []int{8080}, http.StatusConflict, "not a dynamic host port"},
		{"a port not the task's", minicluster.Token, taskID, "app", []int{61009 + 1}, http.StatusConflict, "not a dynamic host port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := move(tt.token, tt.task, tt.container, tt.busy...)
			if code != tt.code || !strings.Contains(body, tt.says) {
				t.Fatalf("move = %d %s, want %d saying %q", code, body, tt.code, tt.says)
			}
		})
	}
	if _, err := h.ECS.StopTask(context.Background(), call, &ecstypes.StopTaskRequest{Task: arn}); err != nil {
		t.Fatal(err)
	}
	if code, body := move(minicluster.Token, taskID, "app", dynamic); code != http.StatusConflict && code != http.StatusNotFound {
		t.Fatalf("moving a stopping task's port = %d %s, want 409 or 404", code, body)
	}
}
