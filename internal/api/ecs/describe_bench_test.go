package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/tasks"
)

// Benchmarks of DescribeTasks with 100 tasks (ECS's maximum per call), the
// tasks RUNNING as an agent reported them. bench/README.md lists them
// with the other benchmarks.

var describeBenchCall = &awsproto.Call{Region: "us-east-1",
	Principal: awsproto.Principal{AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"}}

// describeBenchCapabilities are what an agent offers that the benchmark's
// task definition requires (a port mapping, awslogs).
var describeBenchCapabilities = []ecstypes.Attribute{
	{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.17"}, {Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
	{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.19"}, {Name: "com.amazonaws.ecs.capability.docker-remote-api.1.21"},
	{Name: "com.amazonaws.ecs.capability.logging-driver.awslogs"}, {Name: "com.amazonaws.ecs.capability.logging-driver.json-file"},
}

// describeBenchTasks returns an API over a real bbolt store with 100
// RUNNING tasks of a one-container web task definition (a dynamic host
// port, awslogs, environment) on 10 container instances, and their ARNs.
func describeBenchTasks(b *testing.B) (*API, []string) {
	b.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	agents := liveness.New(core.SystemClock{}, time.Hour)
	a := New(Config{Store: st, Agents: agents, Logger: slog.New(slog.DiscardHandler)})
	if err := a.EnsureDefaultCluster(ctx); err != nil {
		b.Fatal(err)
	}
	mem, port, zero := int32(256), int32(8080), int32(0)
	if _, err := a.RegisterTaskDefinition(ctx, describeBenchCall, &ecstypes.RegisterTaskDefinitionRequest{
		Family: "web", ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: "app", Image: "registry.example.com/web:1.4.2", Memory: &mem, Cpu: 256, Essential: new(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: &port, HostPort: &zero, Protocol: ecstypes.TransportProtocolTcp}},
			Environment:  []ecstypes.KeyValuePair{{Name: "APP_ENV", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"}},
			LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}},
		}},
	}); err != nil {
		b.Fatal(err)
	}
	var ops []store.Op
	for i := range 10 {
		id := fmt.Sprintf("%032x", i+1)
		ci := state.ContainerInstance{
			ID: id, Cluster: "default", EC2InstanceID: "mi-" + id[15:], Status: "ACTIVE", AgentVersion: "0.1.0",
			Registered:   state.Resources{CPU: 4096, MemoryMiB: 16384, Ports: []int{22, 2375, 2376, 51678, 51679}},
			DynamicPorts: [2]int{49153, 65535},
			Attributes: append([]ecstypes.Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "ecs.cpu-architecture", Value: "x86_64"},
				{Name: "ecs.availability-zone", Value: fmt.Sprintf("us-east-1%c", 'a'+i%3)}}, describeBenchCapabilities...),
			RegisteredAt: time.Now().UTC(), Version: 1,
		}
		bs, err := state.Encode(ci)
		if err != nil {
			b.Fatal(err)
		}
		ops = append(ops, store.Put(state.ContainerInstanceKey("default", id), bs))
		agents.Touch(id)
	}
	if _, err := st.Txn(ctx, nil, ops); err != nil {
		b.Fatal(err)
	}
	var arns []string
	deadline := time.Now().Add(10 * time.Second)
	for len(arns) < 100 {
		out, err := a.RunTask(ctx, describeBenchCall, &ecstypes.RunTaskRequest{TaskDefinition: "web", Count: new(int32(10))})
		if err != nil || len(out.Tasks) == 0 {
			if time.Now().After(deadline) { // the instances may take a moment to be seen
				b.Fatalf("RunTask: %v %+v", err, out)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, t := range out.Tasks {
			arns = append(arns, t.TaskArn)
		}
	}
	// Make them RUNNING as their agent would report it.
	now := time.Now()
	for i, ref := range arns {
		_, id, _ := taskRef(ref)
		it, err := state.Get[state.Task](ctx, a.store, state.TaskKey("default", id))
		if err != nil {
			b.Fatal(err)
		}
		t := it.Value
		hp := int32(49153 + i)
		tasks.Apply(&t, tasks.Report{
			TaskID: id, LastStatus: core.TaskRunning, HealthStatus: ecstypes.HealthStatusUnknown,
			PullStartedAt: now, PullStoppedAt: now, StartedAt: now,
			Containers: []tasks.ContainerReport{{Name: "app", RuntimeID: fmt.Sprintf("%064x", i),
				ImageDigest: "sha256:" + fmt.Sprintf("%064x", 7), LastStatus: core.TaskRunning,
				NetworkBindings: []ecstypes.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: &port, HostPort: &hp, Protocol: ecstypes.TransportProtocolTcp}}}},
		}, now)
		bs, err := state.Encode(t)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.store.Txn(ctx, []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}, []store.Op{store.Put(it.Key, bs)}); err != nil {
			b.Fatal(err)
		}
	}
	return a, arns
}

// BenchmarkDescribeTasks100 is the DescribeTasks operation for 100 tasks:
// read them from the store, render them for the caller and encode the
// reply as the protocol server does (encoding/json).
func BenchmarkDescribeTasks100(b *testing.B) {
	a, arns := describeBenchTasks(b)
	ctx := context.Background()
	req := &ecstypes.DescribeTasksRequest{Cluster: "default", Tasks: arns}
	var n int
	b.ReportAllocs()
	for b.Loop() {
		out, err := a.DescribeTasks(ctx, describeBenchCall, req)
		if err != nil || len(out.Tasks) != 100 {
			b.Fatalf("DescribeTasks: %v, %d tasks", err, len(out.Tasks))
		}
		body, err := json.Marshal(out)
		if err != nil {
			b.Fatal(err)
		}
		n = len(body)
	}
	b.ReportMetric(float64(n), "reply-bytes")
}

// BenchmarkDescribeTasksEncode100 is only the JSON encoding of a
// DescribeTasks reply with 100 RUNNING tasks.
func BenchmarkDescribeTasksEncode100(b *testing.B) {
	a, arns := describeBenchTasks(b)
	out, err := a.DescribeTasks(context.Background(), describeBenchCall, &ecstypes.DescribeTasksRequest{Cluster: "default", Tasks: arns})
	if err != nil || len(out.Tasks) != 100 || out.Tasks[0].LastStatus != "RUNNING" {
		b.Fatalf("DescribeTasks: %v %+v", err, out)
	}
	body, err := json.Marshal(out)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(body)), "reply-bytes")
}
