package tasks

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
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
	key   string
	raced bool
	txns  int
}

func (r *racingStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	r.txns++
	if !r.raced {
		r.raced = true
		// Around the view's handover, as another process would write.
		it, err := state.Get[state.Task](ctx, r.Store, r.key)
		if err != nil {
			return 0, err
		}
		t := it.Value
		t.Task.StartedBy = "raced"
		t.Task.Version++
		b, _ := state.Encode(t)
		if _, err := r.Store.Txn(ctx, []store.Cond{{Key: r.key, ModRevision: it.ModRevision}}, []store.Op{store.Put(r.key, b)}); err != nil {
			return 0, err
		}
	}
	return r.Store.Txn(ctx, conds, ops)
}

// newReportHarness holds instance i1 of cluster c with tasks t1 and t2
// on it, PROVISIONING, holding 256 CPU, 128 MiB and a port each.
func newReportHarness(t *testing.T) (*harness, *racingStore) {
	t.Helper()
	race := &racingStore{key: state.TaskKey("c", "t1"), raced: true}
	h := newHarness(t, func(st store.Store) store.Store { race.Store = st; return race })
	inst := state.ContainerInstance{ID: "i1", Cluster: "c", Status: "ACTIVE",
		Registered: state.Resources{CPU: 4096, MemoryMiB: 8192},
		Used:       state.Resources{CPU: 512, MemoryMiB: 256, Ports: []int{8080, 9090}}}
	h.put(state.ContainerInstanceKey("c", "i1"), inst)
	h.put(state.TaskDefKey("web", 1), state.TaskDef{TaskDefinition: ecstypes.TaskDefinition{Family: "web", Revision: 1,
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1"}}}})
	for _, id := range []string{"t1", "t2"} {
		h.put(state.TaskKey("c", id), state.Task{ID: id, Cluster: "c", InstanceID: "i1", Family: "web", Revision: 1,
			Holds: state.Resources{CPU: 256, MemoryMiB: 128, Ports: []int{map[string]int{"t1": 8080, "t2": 9090}[id]}},
			Task: ecstypes.Task{LastStatus: "PROVISIONING", DesiredStatus: "RUNNING", Version: 1,
				Containers: []ecstypes.Container{{Name: "app", LastStatus: "PENDING"}}}})
		h.put(state.InstanceTaskKey("i1", id), state.IndexEntry{Cluster: "c", DesiredStatus: "RUNNING"})
	}
	return h, race
}

func running(id string) Report {
	return Report{TaskID: id, LastStatus: core.TaskRunning, StartedAt: time.Unix(1700000000, 0),
		Containers: []ContainerReport{{Name: "app", LastStatus: core.TaskRunning, RuntimeID: "rt-" + id}}}
}

// Reports of several tasks are applied from the view in one transaction; a
// report that changes nothing writes nothing; a STOPPED task gives back
// what it held and leaves the instance's index; a report of a task of
// another instance is ignored.
func TestApplyReportsFromView(t *testing.T) {
	h, _ := newReportHarness(t)
	ctx := h.ctx
	for _, cluster := range []string{"c", ""} { // "": an older agent, found through the index
		rev := h.revision()
		if err := h.m.ApplyReports(ctx, "i1", cluster, []Report{running("t1"), running("t2")}); err != nil {
			t.Fatal(err)
		}
		want := rev + 1
		if cluster == "" {
			want = rev // the same again: nothing to write
		}
		if got := h.revision(); got != want {
			t.Fatalf("cluster %q: revision %d after %d, want %d (one transaction for both tasks, none for a no-op)", cluster, got, rev, want)
		}
	}
	for _, id := range []string{"t1", "t2"} {
		tk := h.task("c", id).Value.Task
		if tk.LastStatus != "RUNNING" || tk.StartedAt.IsZero() || tk.Containers[0].RuntimeId != "rt-"+id || tk.Version != 2 {
			t.Fatalf("%s: %+v", id, tk)
		}
	}

	// Another instance cannot report this instance's tasks.
	rev := h.revision()
	stop := Report{TaskID: "t1", LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeEssentialContainerExited,
		StoppedReason: "Essential container in task exited",
		Containers:    []ContainerReport{{Name: "app", LastStatus: core.TaskStopped, ExitCode: new(int32(1))}}}
	if err := h.m.ApplyReports(ctx, "i2", "c", []Report{stop}); err != nil {
		t.Fatal(err)
	}
	if h.revision() != rev {
		t.Fatal("a report from another instance was applied")
	}

	if err := h.m.ApplyReports(ctx, "i1", "c", []Report{stop}); err != nil {
		t.Fatal(err)
	}
	got := h.task("c", "t1").Value
	if got.Task.LastStatus != "STOPPED" || !got.Released || got.Task.DesiredStatus != "STOPPED" || *got.Task.Containers[0].ExitCode != 1 {
		t.Fatalf("stopped task: %+v", got)
	}
	if u := h.instance("c", "i1").Used; u.CPU != 256 || u.MemoryMiB != 128 || !slices.Equal(u.Ports, []int{9090}) {
		t.Fatalf("instance used after the release: %+v", u)
	}
	if _, found := h.index("i1", "t1"); found {
		t.Fatal("the stopped task is still in the instance's index")
	}
	// The view still holds what it handed out unchanged: Apply copied.
	if err := h.view.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := h.view.Task("c", "t1"); v.Value.Task.Containers[0].LastStatus != "STOPPED" {
		t.Fatalf("view after the stop: %+v", v.Value.Task.Containers)
	}
}

// A write between the report's read and its commit is not lost: the
// commit's condition fails and the report is applied again on top of it.
func TestApplyReportsKeepsConcurrentWrite(t *testing.T) {
	h, race := newReportHarness(t)
	race.raced, race.txns = false, 0
	if err := h.m.ApplyReports(h.ctx, "i1", "c", []Report{running("t1")}); err != nil {
		t.Fatal(err)
	}
	if race.txns != 2 {
		t.Fatalf("%d transactions, want 2 (a conflict, then the retry)", race.txns)
	}
	tk := h.task("c", "t1").Value.Task
	if tk.StartedBy != "raced" || tk.LastStatus != "RUNNING" || tk.Version != 3 {
		t.Fatalf("task after the race: startedBy %q, lastStatus %s, version %d", tk.StartedBy, tk.LastStatus, tk.Version)
	}
}

// A view that lacks what the store holds (it applied the newest revision
// only in part) does not make a report miss a task: what the view lacks is
// read from the store.
func TestApplyReportsViewBehindFallsBackToStore(t *testing.T) {
	h, _ := newReportHarness(t)
	ctx := h.ctx
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
	for {
		rev, err := empty.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rev > h.revision() {
			break
		}
		if _, err := empty.Txn(ctx, nil, []store.Op{store.Put("other/key", []byte("{}"))}); err != nil {
			t.Fatal(err)
		}
	}
	m := New(Config{Store: h.raw, View: behind, Clock: h.clock})

	if err := m.ApplyReports(ctx, "i1", "c", []Report{running("t1")}); err != nil {
		t.Fatal(err)
	}
	if tk := h.task("c", "t1").Value.Task; tk.LastStatus != "RUNNING" {
		t.Fatalf("report with the view behind was not applied: %s", tk.LastStatus)
	}
	stop := Report{TaskID: "t1", LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeEssentialContainerExited}
	if err := m.ApplyReports(ctx, "i1", "c", []Report{stop}); err != nil {
		t.Fatal(err)
	}
	if u := h.instance("c", "i1").Used; u.CPU != 256 {
		t.Fatalf("release with the view behind: %+v", u)
	}
}
