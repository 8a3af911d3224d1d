package clusterview

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// testStore is a bolt store whose watches the test can hold back (gate)
// and end with store.ErrCompacted (compact).
type testStore struct {
	*bolt.Store
	mu   sync.Mutex
	gate chan struct{} // when set, new watches pass on one event per send on it
	kill chan struct{} // closed: running watches end with ErrCompacted
}

func openTestStore(t *testing.T) *testStore {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testStore{Store: st, kill: make(chan struct{})}
}

func (s *testStore) Watch(ctx context.Context, prefix string, after int64) (store.Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := s.Store.Watch(ctx, prefix, after)
	if err != nil {
		cancel()
		return nil, err
	}
	s.mu.Lock()
	kill, gate := s.kill, s.gate
	s.mu.Unlock()
	tw := &testWatcher{out: make(chan store.Event)}
	go func() {
		defer cancel()
		defer close(tw.out)
		for {
			select {
			case <-kill:
				tw.setErr(store.ErrCompacted)
				return
			case ev, ok := <-w.Events():
				if !ok {
					tw.setErr(w.Err())
					return
				}
				if gate != nil {
					select {
					case <-gate:
					case <-kill:
						tw.setErr(store.ErrCompacted)
						return
					case <-ctx.Done():
						return
					}
				}
				select {
				case tw.out <- ev:
				case <-kill:
					tw.setErr(store.ErrCompacted)
					return
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return tw, nil
}

// compact ends the running watches with ErrCompacted.
func (s *testStore) compact() {
	s.mu.Lock()
	close(s.kill)
	s.kill = make(chan struct{})
	s.mu.Unlock()
}

type testWatcher struct {
	out chan store.Event
	mu  sync.Mutex
	err error
}

func (w *testWatcher) Events() <-chan store.Event { return w.out }
func (w *testWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
func (w *testWatcher) setErr(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

// start runs a view of st until the test ends.
func start(t *testing.T, st store.Store) *View {
	t.Helper()
	v := New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

func commit(t *testing.T, st store.Store, ops ...store.Op) int64 {
	t.Helper()
	rev, err := st.Txn(context.Background(), nil, ops)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func put(t *testing.T, key string, v any) store.Op {
	t.Helper()
	b, err := state.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return store.Put(key, b)
}

func waitFor(t *testing.T, v *View, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.WaitFor(ctx, rev); err != nil {
		t.Fatalf("WaitFor(%d): %v", rev, err)
	}
}

// settled waits until cond holds. A transaction committed around the
// view, as another node's would be, can be seen in part when WaitFor
// returns: its watch events carry no transaction boundary.
func settled(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("the view never showed %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestListThenWatch(t *testing.T) {
	st := openTestStore(t)
	commit(t, st, put(t, state.ContainerInstanceKey("c", "i1"), instance("i1", "ACTIVE", 1000)),
		put(t, state.TaskKey("c", "t1"), task("t1", "i1", "web", "d1", "RUNNING", "RUNNING", "service:web")))
	v := start(t, st)
	rev := commit(t, st, put(t, state.TaskKey("c", "t2"), task("t2", "i1", "web", "d1", "PENDING", "RUNNING", "service:web")),
		put(t, state.ServiceKey("c", "web"), map[string]string{"not": "indexed"}),
		put(t, state.TaskKey("other", "t3"), task("t3", "", "", "", "STOPPED", "STOPPED", "")))
	waitFor(t, v, rev)
	want := ClusterCounts{Instances: 1, RunningTasks: 1, PendingTasks: 1, NotStoppedTasks: 2}
	settled(t, "the whole transaction", func() bool { return v.ClusterCounts("c") == want })
	if got := v.ClusterCounts("c"); got != want {
		t.Fatalf("cluster counts %+v", got)
	}
	if got := v.ClusterCounts("other"); got != (ClusterCounts{}) {
		t.Fatalf("other cluster counts %+v", got)
	}
	sc := v.ServiceCounts("c", "web")
	if sc.Counts != (Counts{Running: 1, Pending: 1}) || sc.ByDeployment["d1"] != (Counts{1, 1}) {
		t.Fatalf("service counts %+v", sc)
	}
	it := v.InstanceTasks("c", "i1")
	if it.Running != 1 || it.Pending != 1 || it.NotStopped != 2 || !slices.Equal(it.Groups, []string{"service:web", "service:web"}) {
		t.Fatalf("instance tasks %+v", it)
	}
	if ids, more := v.ListTasks("c", TaskFilter{DesiredStatus: core.TaskRunning}, "", 1); !slices.Equal(ids, []string{"t1"}) || !more {
		t.Fatalf("first page %v %v", ids, more)
	}
	if ids, more := v.ListTasks("c", TaskFilter{DesiredStatus: core.TaskRunning}, "t1", 1); !slices.Equal(ids, []string{"t2"}) || more {
		t.Fatalf("second page %v %v", ids, more)
	}
	if ids, _ := v.ListTasks("c", TaskFilter{InstanceID: "i1", ServiceName: "web"}, "", 0); !slices.Equal(ids, []string{"t1", "t2"}) {
		t.Fatalf("by instance %v", ids)
	}
	if ids, _ := v.ListTasks("c", TaskFilter{InstanceID: "nope"}, "", 0); len(ids) != 0 {
		t.Fatalf("by missing instance %v", ids)
	}
	h := v.Hosts("c")
	if h.Len() != 1 {
		t.Fatalf("hosts %d", h.Len())
	}
	rec, ok := h.Record("i1")
	if !ok || rec.Key != state.ContainerInstanceKey("c", "i1") || rec.ModRevision == 0 || rec.Value.ID != "i1" {
		t.Fatalf("record %+v %v", rec, ok)
	}
	if o := h.Only([]string{"nope", "i1", "i1"}); o.Len() != 1 || o.Instances()[0].ID != "i1" {
		t.Fatalf("Only: %+v", o)
	}
	if o := h.Only([]string{}); o.Len() != 0 {
		t.Fatalf("Only of nothing: %+v", o)
	}
	if tasks := v.ServiceTasks("c", "web", time.Now()); len(tasks) != 2 {
		t.Fatalf("service tasks %d", len(tasks))
	}

	// Deletes take records out of every sum.
	rev = commit(t, st, store.Delete(state.TaskKey("c", "t1")), store.Delete(state.ContainerInstanceKey("c", "i1")))
	waitFor(t, v, rev)
	settled(t, "both deletes", func() bool { return v.ClusterCounts("c") == (ClusterCounts{PendingTasks: 1, NotStoppedTasks: 1}) })
	if got := v.ClusterCounts("c"); got != (ClusterCounts{PendingTasks: 1, NotStoppedTasks: 1}) {
		t.Fatalf("cluster counts after deletes %+v", got)
	}
	if _, ok := v.Instance("c", "i1"); ok || v.Hosts("c").Len() != 0 {
		t.Fatal("deleted instance still listed")
	}
	if it := v.InstanceTasks("c", "i1"); it.NotStopped != 1 {
		t.Fatalf("tasks of a deleted instance %+v", it)
	}
	if _, ok := h.Record("i1"); !ok {
		t.Fatal("a Hosts read before the delete changed")
	}
}

// What a reader gets is its own: changing it changes nothing in the view.
func TestReadsAreCopies(t *testing.T) {
	st := openTestStore(t)
	v := start(t, st)
	// Through the view's store, as the API writes: a transaction written
	// around the view can be seen in part when WaitFor returns (its watch
	// events carry no transaction boundary).
	rev := commit(t, v.Store(), put(t, state.ContainerInstanceKey("c", "i1"), instance("i1", "ACTIVE", 1000)),
		put(t, state.TaskKey("c", "t1"), task("t1", "i1", "web", "d1", "RUNNING", "RUNNING", "g")))
	waitFor(t, v, rev)
	tk, _ := v.Task("c", "t1")
	tk.Value.Task.LastStatus = "STOPPED"
	in, _ := v.Instance("c", "i1")
	in.Record.Status = "INACTIVE"
	in.Tasks.Groups[0] = "changed"
	sc := v.ServiceCounts("c", "web")
	sc.ByDeployment["d1"] = Counts{}
	insts := v.Hosts("c").Instances()
	insts[0].CPU = 0
	tk2, _ := v.Task("c", "t1")
	in2, _ := v.Instance("c", "i1")
	if tk2.Value.Task.LastStatus != "RUNNING" || in2.Record.Status != "ACTIVE" || in2.Tasks.Groups[0] != "g" ||
		v.ServiceCounts("c", "web").ByDeployment["d1"] != (Counts{Running: 1}) || v.Hosts("c").Instances()[0].CPU != 1000 {
		t.Fatal("a reader changed the view")
	}
}

// A transaction committed through Store is seen whole once the watch
// reaches its revision, even when the watch has delivered only part of it.
func TestHandedOverTransactionIsWhole(t *testing.T) {
	st := openTestStore(t)
	v := start(t, st)
	waitFor(t, v, 0)
	st.mu.Lock()
	st.gate = make(chan struct{})
	gate := st.gate
	st.mu.Unlock()
	st.compact() // restart the watch with the gate in place
	for v.Stats().Listings < 2 {
		time.Sleep(time.Millisecond)
	}
	rev := commit(t, v.Store(),
		put(t, state.TaskKey("c", "t1"), task("t1", "i1", "", "", "PENDING", "RUNNING", "g")),
		put(t, state.TaskKey("c", "t2"), task("t2", "i1", "", "", "PENDING", "RUNNING", "g")),
		put(t, state.ContainerInstanceKey("c", "i1"), instance("i1", "ACTIVE", 1000)))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := v.WaitFor(ctx, rev); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor before the watch got there: %v", err)
	}
	gate <- struct{}{} // one event of three
	waitFor(t, v, rev)
	if got := v.ClusterCounts("c"); got != (ClusterCounts{Instances: 1, PendingTasks: 2, NotStoppedTasks: 2}) {
		t.Fatalf("after the first event of the revision: %+v", got)
	}
	if s := v.Stats(); s.HandedOver != 1 {
		t.Fatalf("stats %+v", s)
	}
	close(gate)
}

// A transaction another writer committed straight to the store (another
// node's, with etcd) is applied whole before WaitFor reports its revision:
// the watch's Last marks where a revision ends.
func TestWatchedTransactionIsWhole(t *testing.T) {
	st := openTestStore(t)
	v := start(t, st)
	waitFor(t, v, 0)
	st.mu.Lock()
	st.gate = make(chan struct{})
	gate := st.gate
	st.mu.Unlock()
	st.compact() // restart the watch with the gate in place
	for v.Stats().Listings < 2 {
		time.Sleep(time.Millisecond)
	}
	events := v.Stats().Events
	rev := commit(t, st, // not through the view's store: nothing is handed over
		put(t, state.TaskKey("c", "t1"), task("t1", "i1", "", "", "PENDING", "RUNNING", "g")),
		put(t, state.TaskKey("c", "t2"), task("t2", "i1", "", "", "PENDING", "RUNNING", "g")),
		put(t, state.ContainerInstanceKey("c", "i1"), instance("i1", "ACTIVE", 1000)))
	gate <- struct{}{} // one event of three
	for v.Stats().Events < events+1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := v.WaitFor(ctx, rev); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor with one event of the revision applied: %v", err)
	}
	if got := v.Revision(); got >= rev {
		t.Fatalf("Revision() = %d with half of revision %d applied", got, rev)
	}
	gate <- struct{}{}
	gate <- struct{}{}
	waitFor(t, v, rev)
	if got := v.ClusterCounts("c"); got != (ClusterCounts{Instances: 1, PendingTasks: 2, NotStoppedTasks: 2}) {
		t.Fatalf("after the revision: %+v", got)
	}
	close(gate)
}

// When the watch ends with ErrCompacted the view lists again and holds
// what changed meanwhile, deletes included.
func TestCompactedWatchListsAgain(t *testing.T) {
	st := openTestStore(t)
	commit(t, st, put(t, state.TaskKey("c", "gone"), task("gone", "i1", "web", "d1", "RUNNING", "RUNNING", "g")),
		put(t, state.ContainerInstanceKey("c", "i1"), instance("i1", "ACTIVE", 1000)))
	v := start(t, st)
	waitFor(t, v, 1)
	// End the watch; its successor is gated shut and delivers nothing.
	st.mu.Lock()
	st.gate = make(chan struct{})
	st.mu.Unlock()
	st.compact()
	for v.Stats().Listings < 2 {
		time.Sleep(time.Millisecond)
	}
	rev := commit(t, st, store.Delete(state.TaskKey("c", "gone")),
		put(t, state.TaskKey("c", "new"), task("new", "i1", "web", "d2", "PENDING", "RUNNING", "g")))
	rev2 := commit(t, st, put(t, state.ContainerInstanceKey("c", "i1"), instance("i1", "DRAINING", 1000)))
	st.mu.Lock()
	st.gate = nil
	st.mu.Unlock()
	st.compact()
	waitFor(t, v, rev2)
	if v.Stats().Listings < 3 {
		t.Fatalf("stats %+v", v.Stats())
	}
	if _, ok := v.Task("c", "gone"); ok {
		t.Fatal("a task deleted while the watch was down is still there")
	}
	sc := v.ServiceCounts("c", "web")
	if sc.Counts != (Counts{Pending: 1}) || len(sc.ByDeployment) != 1 {
		t.Fatalf("service counts %+v (rev %d)", sc, rev)
	}
	if in, _ := v.Instance("c", "i1"); in.Record.Status != "DRAINING" {
		t.Fatalf("instance %+v", in.Record)
	}
	// And it follows the new watch.
	rev3 := commit(t, st, put(t, state.TaskKey("c", "later"), task("later", "", "", "", "RUNNING", "RUNNING", "")))
	waitFor(t, v, rev3)
	if got := v.ClusterCounts("c").RunningTasks; got != 1 {
		t.Fatalf("running tasks %d", got)
	}
}

func TestWaitFor(t *testing.T) {
	st := openTestStore(t)
	v := New(st, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.WaitFor(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor before the first listing: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- v.Run(runCtx) }()
	waitFor(t, v, 0)
	if err := v.Run(runCtx); err == nil {
		t.Fatal("second Run did not fail")
	}
	cur := v.Revision()
	woke := make(chan error)
	go func() { woke <- v.WaitFor(context.Background(), cur+2) }()
	commit(t, st, store.Put("unrelated/a", []byte("1")))
	select {
	case err := <-woke:
		t.Fatalf("WaitFor returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	commit(t, st, store.Put("unrelated/b", []byte("2")))
	if err := <-woke; err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after its ctx ended: %v", err)
	}
	if err := v.WaitFor(context.Background(), v.Revision()+1); !errors.Is(err, ErrStopped) {
		t.Fatalf("WaitFor after Run ended: %v", err)
	}
}

// Run ends when the store closes, and so do the waits.
func TestStoreClose(t *testing.T) {
	st := openTestStore(t)
	v := New(st, nil)
	done := make(chan error)
	go func() { done <- v.Run(context.Background()) }()
	waitFor(t, v, 0)
	woke := make(chan error)
	go func() { woke <- v.WaitFor(context.Background(), 100) }()
	st.Close()
	if err := <-done; !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Run: %v", err)
	}
	if err := <-woke; !errors.Is(err, ErrStopped) {
		t.Fatalf("WaitFor: %v", err)
	}
}

// Many writers through Store and readers at once: every reader after a
// write sees it (run with -race).
func TestReadYourWritesConcurrently(t *testing.T) {
	st := openTestStore(t)
	v := start(t, st)
	vst := v.Store()
	if vst != v.Wrap(vst) {
		t.Fatal("wrapping twice wraps again")
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				id := fmt.Sprintf("t%d-%d", w, i)
				inst := fmt.Sprintf("i%d", w)
				rev := commit(t, vst, put(t, state.TaskKey("c", id), task(id, inst, "web", "d", "PENDING", "RUNNING", "g")),
					put(t, state.ContainerInstanceKey("c", inst), instance(inst, "ACTIVE", i)))
				if err := v.WaitFor(context.Background(), rev); err != nil {
					t.Error(err)
					return
				}
				if _, ok := v.Task("c", id); !ok {
					t.Errorf("task %s not seen after its write", id)
				}
				if in, ok := v.Instance("c", inst); !ok || in.ModRevision < rev || in.Tasks.Pending != int32(i+1) {
					t.Errorf("instance %s after rev %d: %+v", inst, rev, in)
				}
			}
		})
	}
	wg.Wait()
	if got := v.ServiceCounts("c", "web").Pending; got != 200 {
		t.Fatalf("pending %d", got)
	}
}
