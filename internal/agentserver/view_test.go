package agentserver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

type viewFixture struct {
	srv  *Server
	st   store.Store
	view *clusterview.View
}

func newViewFixture(t *testing.T) *viewFixture {
	t.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	view := clusterview.New(st, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { view.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })

	inst := state.ContainerInstance{ID: "i1", Cluster: "c", Status: "ACTIVE",
		Registered: state.Resources{CPU: 4096, MemoryMiB: 8192},
		Used:       state.Resources{CPU: 512, MemoryMiB: 256, Ports: []int{8080, 9090}}}
	put := func(key string, v any) {
		b, err := state.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := view.Store().Txn(ctx, nil, []store.Op{store.Put(key, b)}); err != nil {
			t.Fatal(err)
		}
	}
	put(state.ContainerInstanceKey("c", "i1"), inst)
	put(state.TaskDefKey("web", 1), state.TaskDef{TaskDefinition: ecstypes.TaskDefinition{Family: "web", Revision: 1,
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1"}}}})
	for _, id := range []string{"t1", "t2"} {
		put(state.TaskKey("c", id), state.Task{ID: id, Cluster: "c", InstanceID: "i1", Family: "web", Revision: 1,
			Holds: state.Resources{CPU: 256, MemoryMiB: 128, Ports: []int{map[string]int{"t1": 8080, "t2": 9090}[id]}},
			Task: ecstypes.Task{LastStatus: "PROVISIONING", DesiredStatus: "RUNNING", Version: 1,
				Containers: []ecstypes.Container{{Name: "app", LastStatus: "PENDING"}}}})
		put(state.InstanceTaskKey("i1", id), state.IndexEntry{Cluster: "c", DesiredStatus: "RUNNING"})
	}
	srv := New(Config{Store: st, View: view, Agents: liveness.New(core.SystemClock{}, time.Minute), Token: "tok"})
	return &viewFixture{srv: srv, st: st, view: view}
}

// apply hands a report to the server's task domain, as the report path
// does.
func (f *viewFixture) apply(ctx context.Context, rep agentproto.Report) error {
	return f.srv.cfg.Tasks.ApplyReports(ctx, rep.InstanceID, rep.Cluster, reportsOf(rep.Tasks))
}

func (f *viewFixture) revision(t *testing.T) int64 {
	t.Helper()
	rev, err := f.st.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func running(id string) agentproto.TaskReport {
	return agentproto.TaskReport{TaskID: id, LastStatus: core.TaskRunning, StartedAt: time.Unix(1700000000, 0),
		Containers: []agentproto.ContainerReport{{Name: "app", LastStatus: core.TaskRunning, RuntimeID: "rt-" + id}}}
}

// Poll answers read the tasks from the view once it is as new as the
// instance's index.
func TestAssignmentsFromView(t *testing.T) {
	ctx := context.Background()
	f := newViewFixture(t)
	if err := f.apply(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{running("t1")}}); err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.assignments(ctx, "c", "i1")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Tasks) != 2 || resp.Tasks[0].TaskID != "t1" || resp.Tasks[0].LastStatus != core.TaskRunning ||
		resp.Tasks[1].LastStatus != core.TaskProvisioning || resp.Tasks[0].Definition.ContainerDefinitions[0].Image != "app:1" {
		t.Fatalf("assignments: %+v", resp.Tasks)
	}
	stop := agentproto.TaskReport{TaskID: "t2", LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeTaskFailedToStart}
	if err := f.apply(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{stop}}); err != nil {
		t.Fatal(err)
	}
	resp, err = f.srv.assignments(ctx, "c", "i1")
	if err != nil || len(resp.Tasks) != 1 || resp.Tasks[0].TaskID != "t1" {
		t.Fatalf("assignments after t2 stopped: %+v %v", resp.Tasks, err)
	}
}

// A poll of an instance the view does not hold is answered 404, so that the
// agent registers again.
func TestAssignmentsUnknownInstance(t *testing.T) {
	f := newViewFixture(t)
	_, err := f.srv.assignments(context.Background(), "c", "nowhere")
	if he, ok := err.(*httpError); !ok || he.status != 404 {
		t.Fatalf("unknown instance: %v", err)
	}
	resp, err := f.srv.assignments(context.Background(), "c", "i1")
	if err != nil || resp.InstanceStatus != "ACTIVE" {
		t.Fatalf("known instance: %+v %v", resp, err)
	}
}

// A view that lacks what the store holds (it applied the newest revision
// only in part) does not make a poll answer miss a task: what the view
// lacks is read from the store. (The task domain's reports do the same:
// see tasks.TestApplyReportsViewBehindFallsBackToStore.)
func TestViewBehindFallsBackToStore(t *testing.T) {
	ctx := context.Background()
	f := newViewFixture(t)
	empty, err := bolt.Open(filepath.Join(t.TempDir(), "empty.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	behind := clusterview.New(empty, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { behind.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; empty.Close() })
	// The view's revision must reach the store's, as a view that lags by
	// part of one revision does.
	for f.revision(t) >= mustRev(t, empty) {
		if _, err := empty.Txn(ctx, nil, []store.Op{store.Put("other/key", []byte("{}"))}); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(Config{Store: f.st, View: behind, Agents: liveness.New(core.SystemClock{}, time.Minute), Token: "tok"})

	resp, err := srv.assignments(ctx, "c", "i1")
	if err != nil || resp.InstanceStatus != "ACTIVE" || len(resp.Tasks) != 2 {
		t.Fatalf("assignments with the view behind: %+v %v", resp, err)
	}
}

func mustRev(t *testing.T, st store.Store) int64 {
	t.Helper()
	rev, err := st.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}
