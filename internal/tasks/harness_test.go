package tasks

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/testutil/fakeclock"
)

// harness is the task domain over a real bbolt store and a running cluster
// view, with a fake clock and predictable IDs: tests drive the domain and
// read back what it committed, as Nomad's scheduler Harness does over real
// state.
type harness struct {
	t      *testing.T
	ctx    context.Context
	raw    store.Store // the bbolt store itself
	view   *clusterview.View
	m      *Manager
	clock  *fakeclock.Clock
	agents *liveness.Tracker
}

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// seqIDs makes IDs 0000...0001, 0000...0002, ...
type seqIDs struct {
	mu sync.Mutex
	n  int
}

func (s *seqIDs) NewID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return fmt.Sprintf("%032x", s.n)
}

// newHarness returns a domain over a new store; st, when not nil, wraps
// the store as the domain sees it (to race it).
func newHarness(t *testing.T, wrap func(store.Store) store.Store) *harness {
	t.Helper()
	raw, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	view := clusterview.New(raw, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { view.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; raw.Close() })
	if err := view.Sync(ctx); err != nil { // as the node waits before serving
		t.Fatal(err)
	}
	clock := fakeclock.New(t0)
	agents := liveness.New(clock, time.Minute)
	// As in the node, the domain writes through the view, so a write is
	// in the view before the call returns.
	st := store.Store(raw)
	if wrap != nil {
		st = wrap(raw)
	}
	st = view.Wrap(st)
	m := New(Config{Store: st, View: view, Clock: clock, IDs: &seqIDs{}, Agents: agents})
	return &harness{t: t, ctx: context.Background(), raw: raw, view: view, m: m, clock: clock, agents: agents}
}

// put writes a record through the view's store, as a writer does.
func (h *harness) put(key string, v any) {
	h.t.Helper()
	b, err := state.Encode(v)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.view.Store().Txn(h.ctx, nil, []store.Op{store.Put(key, b)}); err != nil {
		h.t.Fatal(err)
	}
}

// addInstance registers a connected container instance of cluster c with
// cpu units and memory MiB, in zone az.
func (h *harness) addInstance(c, id string, cpu, mem int, az string) state.ContainerInstance {
	h.t.Helper()
	ci := state.ContainerInstance{ID: id, Cluster: c, Status: "ACTIVE", EC2InstanceID: "mi-" + id,
		Registered:   state.Resources{CPU: cpu, MemoryMiB: mem, Ports: []int{22}},
		DynamicPorts: [2]int{32768, 32800},
		Attributes: []ecstypes.Attribute{{Name: "ecs.availability-zone", Value: az}, {Name: "ecs.cpu-architecture", Value: "x86_64"},
			{Name: "ecs.os-type", Value: "linux"}},
		RegisteredAt: t0, Version: 1}
	h.put(state.ContainerInstanceKey(c, id), ci)
	h.agents.Touch(id)
	return ci
}

// addTaskDef stores a task definition of one container (cpu units, memory
// MiB, and port mappings) and returns it.
func (h *harness) addTaskDef(family string, rev int32, cpu, mem int32, ports ...ecstypes.PortMapping) ecstypes.TaskDefinition {
	h.t.Helper()
	td := ecstypes.TaskDefinition{Family: family, Revision: rev, NetworkMode: ecstypes.NetworkModeBridge, Status: "ACTIVE",
		Compatibilities:      []ecstypes.Compatibility{ecstypes.CompatibilityEc2},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1", Cpu: cpu, Memory: &mem, PortMappings: ports}}}
	h.put(state.TaskDefKey(family, rev), state.TaskDef{TaskDefinition: td})
	return td
}

func (h *harness) task(c, id string) state.Item[state.Task] {
	h.t.Helper()
	it, err := state.Get[state.Task](h.ctx, h.raw, state.TaskKey(c, id))
	if err != nil {
		h.t.Fatal(err)
	}
	return it
}

func (h *harness) instance(c, id string) state.ContainerInstance {
	h.t.Helper()
	it, err := state.Get[state.ContainerInstance](h.ctx, h.raw, state.ContainerInstanceKey(c, id))
	if err != nil {
		h.t.Fatal(err)
	}
	return it.Value
}

// index returns the instance's task index entry of a task; found is false
// when there is none.
func (h *harness) index(instanceID, taskID string) (state.IndexEntry, bool) {
	h.t.Helper()
	it, err := state.Get[state.IndexEntry](h.ctx, h.raw, state.InstanceTaskKey(instanceID, taskID))
	if state.IsNotFound(err) {
		return state.IndexEntry{}, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return it.Value, true
}

func (h *harness) revision() int64 {
	h.t.Helper()
	rev, err := h.raw.Revision(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return rev
}

// errCode is the AWS error code of err ("" when it has none).
func errCode(err error) string {
	if e, ok := core.AsError(err); ok {
		return e.Code
	}
	return ""
}
