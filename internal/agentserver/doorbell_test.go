package agentserver

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// waitAsync runs d.wait in a goroutine; the channel closes when it returns.
func waitAsync(d *doorbells, ctx context.Context, id string, since int64) <-chan struct{} {
	done := make(chan struct{})
	go func() { d.wait(ctx, id, since); close(done) }()
	return done
}

func returned(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestDoorbells(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(key string) int64 {
		t.Helper()
		rev, err := st.Txn(ctx, nil, []store.Op{store.Put(key, []byte(`{}`))})
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	if got := instanceTasksRoot + "i1/t1"; got != state.InstanceTaskKey("i1", "t1") {
		t.Fatalf("index root %q does not make instance keys (%q)", instanceTasksRoot, state.InstanceTaskKey("i1", "t1"))
	}

	d := newDoorbells(st)
	if d.wait(ctx, "i1", 0) {
		t.Fatal("wait handled a poll before the watch ran")
	}
	before := put(state.InstanceTaskKey("i1", "t0"))
	d.start()
	for !d.ready() {
		runtime.Gosched()
	}
	// A revision from before the watch: nothing can tell, answer at once.
	if !d.wait(ctx, "i1", before-1) {
		t.Fatal("wait did not handle a poll once the watch ran")
	}

	cur, err := st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i1 := waitAsync(d, ctx, "i1", cur)
	// Another instance's change rings its own doorbell only.
	d.wait(ctx, "i2", put(state.InstanceTaskKey("i2", "t1"))-1)
	put("ecs/tasks/c/t1") // not the index
	if returned(i1) {
		t.Fatal("i1's poll answered for another instance's change")
	}
	// Its own change, also one under a longer ID that shares its prefix.
	d.wait(ctx, "i10", put(state.InstanceTaskKey("i10", "t1"))-1)
	if returned(i1) {
		t.Fatal("i1's poll answered for i10's change")
	}
	changed := put(state.InstanceTaskKey("i1", "t2"))
	<-i1
	// A change already rung answers at once; an older agent revision too.
	d.wait(ctx, "i1", changed-1)
	d.wait(ctx, "i1", cur)

	// A restart of the watch (it fell behind) answers the polls that wait
	// for a revision before it, and only those.
	old, recent := waitAsync(d, ctx, "i1", changed), waitAsync(d, ctx, "i1", changed+100)
	d.restart(changed + 1)
	<-old
	if returned(recent) {
		t.Fatal("a poll newer than the restart answered")
	}
	// An ended poll returns.
	cctx, cancel := context.WithCancel(ctx)
	ended := waitAsync(d, cctx, "i3", changed+100)
	cancel()
	<-ended
	// The store closing answers every poll.
	st.Close()
	<-recent
	if !d.wait(ctx, "i9", changed+100) {
		t.Fatal("wait after the store closed was not handled")
	}
}
