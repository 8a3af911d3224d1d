package tasks

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// benchInstances is the number of container instances of the placement
// benchmarks: the 5,000 hosts of the scale goal.
const benchInstances = 5000

// newBenchManager returns a domain over a real bbolt store holding
// benchInstances connected container instances in three zones and stored
// RUNNING tasks spread over them, and the task definition they run.
func newBenchManager(b *testing.B, stored int) (*Manager, ecstypes.TaskDefinition) {
	b.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	view := clusterview.New(st, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { view.Run(runCtx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; st.Close() })
	clock := core.ClockFunc(func() time.Time { return t0 })
	agents := liveness.New(clock, time.Hour)
	m := New(Config{Store: view.Store(), View: view, Clock: clock, Agents: agents})
	mem := int32(64)
	td := ecstypes.TaskDefinition{Family: "web", Revision: 1, NetworkMode: ecstypes.NetworkModeBridge, Status: "ACTIVE",
		Compatibilities:      []ecstypes.Compatibility{ecstypes.CompatibilityEc2},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1", Memory: &mem}}}
	var ops []store.Op
	flush := func() {
		if _, err := m.store.Txn(ctx, nil, ops); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	put := func(key string, v any) {
		bs, err := state.Encode(v)
		if err != nil {
			b.Fatal(err)
		}
		ops = append(ops, store.Put(key, bs))
		if len(ops) == 1000 {
			flush()
		}
	}
	put(state.TaskDefKey("web", 1), state.TaskDef{TaskDefinition: td})
	insts := make([]state.ContainerInstance, benchInstances)
	for i := range insts {
		id := fmt.Sprintf("%032x", i)
		insts[i] = state.ContainerInstance{ID: id, Cluster: "default", EC2InstanceID: "mi-" + id[15:], Status: "ACTIVE", AgentVersion: "0.1.0",
			Registered: state.Resources{CPU: 1 << 20, MemoryMiB: 1 << 24, Ports: []int{22, 2375, 2376}}, DynamicPorts: [2]int{32768, 60999},
			Attributes: []ecstypes.Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "ecs.cpu-architecture", Value: "x86_64"},
				{Name: "ecs.availability-zone", Value: fmt.Sprintf("us-east-1%c", 'a'+i%3)}},
			RegisteredAt: t0, Version: 1}
		agents.Touch(id)
	}
	l := Launch{Cluster: "default", TaskDefinition: td, LaunchType: ecstypes.LaunchTypeEc2, Group: "family:web"}
	for i := range stored {
		ci := &insts[i%benchInstances]
		t := NewRecord(l, scheduler.Placement{InstanceID: ci.ID, Memory: 64}, *ci, t0, m.ids)
		t.Task.LastStatus = core.TaskRunning.String()
		ci.Used.MemoryMiB += 64
		put(state.TaskKey("default", t.ID), t)
	}
	for _, ci := range insts {
		put(state.ContainerInstanceKey("default", ci.ID), ci)
	}
	flush()
	return m, td
}

// BenchmarkPlacementRead is the read side of one placement of 10 tasks
// (RunTask's defaults) without the commit: "snapshot" reads the cluster
// view into the scheduler's input; "place" also runs the scheduler (the
// proposal).
func BenchmarkPlacementRead(b *testing.B) {
	for _, stored := range []int{1000, 10000, 50000} {
		m, td := newBenchManager(b, stored)
		req, err := scheduler.RequestFor(&td, nil, "family:web", ecstypes.LaunchTypeEc2)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("snapshot/stored=%dk", stored/1000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if insts, _, err := m.snapshot(context.Background(), "default", nil, false); err != nil || len(insts) != benchInstances {
					b.Fatal(err, len(insts))
				}
			}
		})
		l := Launch{Cluster: "default", TaskDefinition: td, Count: 10, LaunchType: ecstypes.LaunchTypeEc2, Group: "family:web"}
		b.Run(fmt.Sprintf("place/stored=%dk", stored/1000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, _, err := m.propose(context.Background(), l, req, scheduler.RunTaskDefaultStrategies(), nil)
				if err != nil || len(res.Placements) != 10 {
					b.Fatal(err, res.Failures)
				}
			}
		})
	}
}
