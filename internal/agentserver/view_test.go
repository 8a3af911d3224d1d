package agentserver

import (
	"context"
	"path/filepath"
	"slices"
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

// racingStore makes a competing write of the task record right before the
// first Txn it is asked for, as a concurrent writer would between the
// report's read and its commit.
type racingStore struct {
	store.Store
	raw   store.Store // writes around the view's handover, as another process would
	key   string
	raced bool
	txns  int
}

func (r *racingStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	r.txns++
	if !r.raced {
		r.raced = true
		it, err := state.Get[state.Task](ctx, r.raw, r.key)
		if err != nil {
			return 0, err
		}
		t := it.Value
		t.Task.StartedBy = "raced"
		t.Task.Version++
		b, _ := state.Encode(t)
		if _, err := r.raw.Txn(ctx, []store.Cond{{Key: r.key, ModRevision: it.ModRevision}}, []store.Op{store.Put(r.key, b)}); err != nil {
			return 0, err
		}
	}
	return r.Store.Txn(ctx, conds, ops)
}

type viewFixture struct {
	srv  *Server
	st   store.Store
	view *clusterview.View
	race *racingStore
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
	race := &racingStore{Store: st, raw: st, key: state.TaskKey("c", "t1"), raced: true}
	srv := New(Config{Store: race, View: view, Agents: liveness.New(core.SystemClock{}, time.Minute), Token: "tok"})
	return &viewFixture{srv: srv, st: st, view: view, race: race}
}

func (f *viewFixture) task(t *testing.T, id string) state.Item[state.Task] {
	t.Helper()
	it, err := state.Get[state.Task](context.Background(), f.st, state.TaskKey("c", id))
	if err != nil {
		t.Fatal(err)
	}
	return it
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

// Reports of several tasks are applied from the view in one transaction; a
// report that changes nothing writes nothing; a STOPPED task gives back
// what it held and leaves the instance's index; a report of a task of
// another instance is ignored.
func TestApplyReportsFromView(t *testing.T) {
	ctx := context.Background()
	f := newViewFixture(t)
	for _, cluster := range []string{"c", ""} { // "": an older agent, found through the index
		rev := f.revision(t)
		rep := agentproto.Report{InstanceID: "i1", Cluster: cluster, Tasks: []agentproto.TaskReport{running("t1"), running("t2")}}
		if err := f.srv.applyReports(ctx, rep); err != nil {
			t.Fatal(err)
		}
		want := rev + 1
		if cluster == "" {
			want = rev // the same again: nothing to write
		}
		if got := f.revision(t); got != want {
			t.Fatalf("cluster %q: revision %d after %d, want %d (one transaction for both tasks, none for a no-op)", cluster, got, rev, want)
		}
	}
	for _, id := range []string{"t1", "t2"} {
		tk := f.task(t, id).Value.Task
		if tk.LastStatus != "RUNNING" || tk.StartedAt.IsZero() || tk.Containers[0].RuntimeId != "rt-"+id || tk.Version != 2 {
			t.Fatalf("%s: %+v", id, tk)
		}
	}

	// Another instance cannot report this instance's tasks.
	rev := f.revision(t)
	stop := agentproto.TaskReport{TaskID: "t1", LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeEssentialContainerExited,
		StoppedReason: "Essential container in task exited",
		Containers:    []agentproto.ContainerReport{{Name: "app", LastStatus: core.TaskStopped, ExitCode: new(int32(1))}}}
	if err := f.srv.applyReports(ctx, agentproto.Report{InstanceID: "i2", Cluster: "c", Tasks: []agentproto.TaskReport{stop}}); err != nil {
		t.Fatal(err)
	}
	if f.revision(t) != rev {
		t.Fatal("a report from another instance was applied")
	}

	if err := f.srv.applyReports(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{stop}}); err != nil {
		t.Fatal(err)
	}
	got := f.task(t, "t1").Value
	if got.Task.LastStatus != "STOPPED" || !got.Released || got.Task.DesiredStatus != "STOPPED" || *got.Task.Containers[0].ExitCode != 1 {
		t.Fatalf("stopped task: %+v", got)
	}
	inst, err := state.Get[state.ContainerInstance](ctx, f.st, state.ContainerInstanceKey("c", "i1"))
	if err != nil {
		t.Fatal(err)
	}
	if u := inst.Value.Used; u.CPU != 256 || u.MemoryMiB != 128 || !slices.Equal(u.Ports, []int{9090}) {
		t.Fatalf("instance used after the release: %+v", u)
	}
	if _, err := f.st.Get(ctx, state.InstanceTaskKey("i1", "t1")); !state.IsNotFound(err) {
		t.Fatalf("index entry of the stopped task: %v", err)
	}
	// The view still holds what it handed out unchanged: Apply copied.
	if err := f.view.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.view.Task("c", "t1"); v.Value.Task.Containers[0].LastStatus != "STOPPED" {
		t.Fatalf("view after the stop: %+v", v.Value.Task.Containers)
	}
}

// A write between the report's read and its commit is not lost: the
// commit's condition fails and the report is applied again on top of it.
func TestApplyReportsKeepsConcurrentWrite(t *testing.T) {
	ctx := context.Background()
	f := newViewFixture(t)
	f.race.raced, f.race.txns = false, 0
	if err := f.srv.applyReports(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{running("t1")}}); err != nil {
		t.Fatal(err)
	}
	if f.race.txns != 2 {
		t.Fatalf("%d transactions, want 2 (a conflict, then the retry)", f.race.txns)
	}
	tk := f.task(t, "t1").Value.Task
	if tk.StartedBy != "raced" || tk.LastStatus != "RUNNING" || tk.Version != 3 {
		t.Fatalf("task after the race: startedBy %q, lastStatus %s, version %d", tk.StartedBy, tk.LastStatus, tk.Version)
	}
}

// Poll answers read the tasks from the view once it is as new as the
// instance's index.
func TestAssignmentsFromView(t *testing.T) {
	ctx := context.Background()
	f := newViewFixture(t)
	if err := f.srv.applyReports(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{running("t1")}}); err != nil {
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
	if err := f.srv.applyReports(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{stop}}); err != nil {
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
// only in part) does not make a report or a poll answer miss a task: what
// the view lacks is read from the store.
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
	if err := srv.applyReports(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{running("t1")}}); err != nil {
		t.Fatal(err)
	}
	if tk := f.task(t, "t1").Value.Task; tk.LastStatus != "RUNNING" {
		t.Fatalf("report with the view behind was not applied: %s", tk.LastStatus)
	}
	stop := agentproto.TaskReport{TaskID: "t1", LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeEssentialContainerExited}
	if err := srv.applyReports(ctx, agentproto.Report{InstanceID: "i1", Cluster: "c", Tasks: []agentproto.TaskReport{stop}}); err != nil {
		t.Fatal(err)
	}
	inst, err := state.Get[state.ContainerInstance](ctx, f.st, state.ContainerInstanceKey("c", "i1"))
	if err != nil || inst.Value.Used.CPU != 256 {
		t.Fatalf("release with the view behind: %+v %v", inst.Value.Used, err)
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
