package ecs

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/tasks"
)

// benchInstances is the number of container instances of the RunTask
// benchmarks: the 5,000 hosts of the scale goal.
const benchInstances = 5000

// benchCapabilities are as many capability attributes as a minato agent
// registers.
var benchCapabilities = func() []ecstypes.Attribute {
	var out []ecstypes.Attribute
	for _, v := range []string{"17", "18", "19", "21", "24", "29", "41"} {
		out = append(out, ecstypes.Attribute{Name: "com.amazonaws.ecs.capability.docker-remote-api.1." + v})
	}
	for _, d := range []string{"awslogs", "json-file", "none", "syslog", "journald", "fluentd", "gelf"} {
		out = append(out, ecstypes.Attribute{Name: "com.amazonaws.ecs.capability.logging-driver." + d})
	}
	for _, c := range []string{"com.amazonaws.ecs.capability.task-iam-role", "com.amazonaws.ecs.capability.task-iam-role-network-host",
		"com.amazonaws.ecs.capability.ecr-auth", "com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager",
		"ecs.capability.execution-role-awslogs", "ecs.capability.execution-role-ecr-pull", "ecs.capability.task-eni",
		"ecs.capability.container-health-check", "ecs.capability.container-ordering",
		"ecs.capability.secrets.asm.environment-variables", "ecs.capability.secrets.ssm.environment-variables",
		"ecs.capability.docker-plugin.local"} {
		out = append(out, ecstypes.Attribute{Name: c})
	}
	return out
}()

// newBenchAPI returns an API over a real bbolt store holding benchInstances
// connected container instances in three zones and stored tasks spread
// over them (RUNNING, as agents would have reported them), and a request
// that runs 10 tasks of the family.
func newBenchAPI(b *testing.B, stored int) (*API, *ecstypes.RunTaskRequest) {
	b.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	clock := core.ClockFunc(func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) })
	a := New(Config{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err := a.EnsureDefaultCluster(ctx); err != nil {
		b.Fatal(err)
	}
	td, err := a.RegisterTaskDefinition(ctx, call, simpleTD("web"))
	if err != nil {
		b.Fatal(err)
	}
	insts := make([]state.ContainerInstance, benchInstances)
	for i := range insts {
		id := ciID(i)
		insts[i] = state.ContainerInstance{
			ID: id, Cluster: "default", EC2InstanceID: "mi-" + id[15:], Status: instanceActive, AgentVersion: "0.1.0",
			Registered:   state.Resources{CPU: 1 << 20, MemoryMiB: 1 << 24, Ports: []int{22, 2375, 2376}},
			DynamicPorts: [2]int{32768, 60999},
			Attributes: append([]ecstypes.Attribute{
				{Name: "ecs.os-type", Value: "linux"}, {Name: "ecs.os-family", Value: "LINUX"},
				{Name: "ecs.cpu-architecture", Value: "x86_64"},
				{Name: "ecs.availability-zone", Value: fmt.Sprintf("us-east-1%c", 'a'+i%3)},
			}, benchCapabilities...),
			RegisteredAt: ciRegisteredAt, Version: 1,
		}
		a.agents.Touch(id)
	}
	// Written through the API's store, which hands them to the view: a
	// view fed by the watch alone may see a big transaction in part for a
	// moment (see package clusterview).
	var ops []store.Op
	flush := func() {
		if _, err := a.store.Txn(ctx, nil, ops); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	l := tasks.Launch{Cluster: "default", TaskDefinition: *td.TaskDefinition, LaunchType: ecstypes.LaunchTypeEc2, Group: "family:web"}
	for i := range stored {
		ci := &insts[i%benchInstances]
		t := tasks.NewRecord(l, scheduler.Placement{InstanceID: ci.ID, CPU: 0, Memory: 64}, *ci, clock.Now(), a.ids)
		t.Task.LastStatus = "RUNNING"
		ci.Used.MemoryMiB += 64
		ops = append(ops, put(b, state.TaskKey("default", t.ID), t))
		if len(ops) == 1000 {
			flush()
		}
	}
	for _, ci := range insts {
		ops = append(ops, put(b, state.ContainerInstanceKey("default", ci.ID), ci))
		if len(ops) == 1000 {
			flush()
		}
	}
	flush()
	return a, &ecstypes.RunTaskRequest{TaskDefinition: "web", Count: new(int32(10))}
}

// BenchmarkViewListing builds a cluster view of 5,000 instances and 10k or
// 50k tasks from the store, as at start and after a compaction, and
// reports the heap the view holds.
func BenchmarkViewListing(b *testing.B) {
	for _, stored := range []int{10000, 50000} {
		b.Run(fmt.Sprintf("stored=%dk", stored/1000), func(b *testing.B) {
			a, _ := newBenchAPI(b, stored)
			st := a.View().Store()
			var heap uint64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				v := clusterview.New(st, nil)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { v.Run(ctx); close(done) }()
				if err := v.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(v)
				cancel()
				<-done
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
			b.ReportMetric(float64(heap)/float64(stored), "heap-B/task")
		})
	}
}

func put(b *testing.B, key string, v any) store.Op {
	bs, err := state.Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	return store.Put(key, bs)
}

// BenchmarkRunTask places 10 tasks per op through RunTask on 5,000
// instances with 1k, 10k and 50k tasks already stored. The cost per op must
// not grow with the tasks stored.
func BenchmarkRunTask(b *testing.B) {
	for _, stored := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("stored=%dk", stored/1000), func(b *testing.B) {
			a, req := newBenchAPI(b, stored)
			ctx := context.Background()
			// One call first, so that setup (the view's initial listing)
			// is not timed.
			if out, err := a.RunTask(ctx, call, req); err != nil || len(out.Tasks) != 10 {
				b.Fatalf("RunTask: %v, %d tasks, first failure %+v", err, len(out.Tasks), out.Failures[:1])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				out, err := a.RunTask(ctx, call, req)
				if err != nil || len(out.Tasks) != 10 {
					b.Fatalf("RunTask: %v, %d tasks", err, len(out.Tasks))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*10), "µs/task")
		})
	}
}
