package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/minato-project/minato/internal/store"
)

// anyCreate in an expected delete event means "do not check CreateRevision":
// the contract does not say what a delete event carries there.
const anyCreate = -1

func testWatchEvents(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r0 := put(t, s, "w/a", "a0")
	w := watch(t, ctx, s, "w/", r0)
	r1 := put(t, s, "w/b", "b1")
	r2 := txn(t, s, nil, store.Put("other/x", []byte("x")), store.Put("w/a", []byte("a1")))
	r3 := txn(t, s, nil, store.Delete("w/b"))
	r4 := txn(t, s, nil, store.Put("w/c", []byte("c")), store.Delete("other/x"), store.Put("w/d", []byte("d")))
	txn(t, s, nil, store.Delete("w/missing"))
	txn(t, s, nil, store.Put("x/w/", []byte("not under w/")))
	wantEvents(t, recv(t, w, 5), []ev{
		{store.EventPut, "w/b", "b1", r1, r1},
		{store.EventPut, "w/a", "a1", r0, r2},
		{store.EventDelete, "w/b", "", anyCreate, r3},
		{store.EventPut, "w/c", "c", r4, r4},
		{store.EventPut, "w/d", "d", r4, r4},
	})
	noEvent(t, w)
}

// testWatchRevisionEnds checks Last: the last event of each revision that
// the watch delivers carries it, also when the transaction's last write is
// outside the watched prefix, and in a replay as in a live watch.
func testWatchRevisionEnds(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r0, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check := func(got []store.Event, want []bool) {
		t.Helper()
		for i, g := range got {
			if g.Last != want[i] {
				t.Fatalf("event %d (%q at %d): Last = %v, want %v", i, g.KV.Key, g.KV.ModRevision, g.Last, want[i])
			}
		}
	}
	live := watch(t, ctx, s, "e/", r0)
	txn(t, s, nil, store.Put("e/a", []byte("1")), store.Put("e/b", []byte("1")), store.Put("e/c", []byte("1")))
	txn(t, s, nil, store.Put("e/d", []byte("1")), store.Put("other/e", []byte("1")))
	txn(t, s, nil, store.Put("other/f", []byte("1")), store.Delete("e/a"))
	put(t, s, "e/g", "1")
	want := []bool{false, false, true, true, true, true}
	check(recv(t, live, 6), want)
	replay := watch(t, ctx, s, "e/", r0)
	check(recv(t, replay, 6), want)
	all := watch(t, ctx, s, "", r0)
	check(recv(t, all, 8), []bool{false, false, true, false, true, false, true, true})
}

func testWatchReplay(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := revision(t, s)
	var revs []int64
	for i := range 5 {
		revs = append(revs, txn(t, s, nil,
			store.Put(fmt.Sprintf("r/%d", i), []byte(strconv.Itoa(i))),
			store.Put(fmt.Sprintf("s/%d", i), nil)))
	}
	cases := []struct {
		name  string
		after int64
		from  int // index of the first revision expected
	}{
		{"from start", start, 0},
		{"from middle", revs[1], 2},
		{"from last", revs[4], 5},
	}
	var live []ev // written by earlier cases, replayed by later ones
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := watch(t, ctx, s, "r/", tc.after)
			var want []ev
			for i := tc.from; i < 5; i++ {
				want = append(want, ev{store.EventPut, fmt.Sprintf("r/%d", i), strconv.Itoa(i), revs[i], revs[i]})
			}
			want = append(want, live...)
			wantEvents(t, recv(t, w, len(want)), want)
			// Replay hands over to live events with no gap and no repeat.
			k := "r/live-" + tc.name
			rev := put(t, s, k, "live")
			live = append(live, ev{store.EventPut, k, "live", rev, rev})
			wantEvents(t, recv(t, w, 1), live[len(live)-1:])
			noEvent(t, w)
		})
	}
}

func testWatchFromNow(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ra := put(t, s, "n/a", "1")
	put(t, s, "n/b", "2")
	now := revision(t, s)
	w := watch(t, ctx, s, "n/", now)
	// A watch from a revision not reached yet waits for it.
	future := watch(t, ctx, s, "n/", now+1)
	noEvent(t, w)
	noEvent(t, future)
	r := put(t, s, "n/a", "3")
	r2 := put(t, s, "n/c", "4")
	want := []ev{{store.EventPut, "n/a", "3", ra, r}, {store.EventPut, "n/c", "4", r2, r2}}
	wantEvents(t, recv(t, w, 2), want)
	if r == now+1 { // revisions need not be consecutive; usually they are
		want = want[1:]
	}
	wantEvents(t, recv(t, future, len(want)), want)
	noEvent(t, future)
}

func testWatchCompacted(t *testing.T, s store.Store) {
	c, ok := s.(Compactor)
	if !ok {
		t.Skip("engine does not implement storetest.Compactor")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var revs []int64
	for i := range 4 {
		revs = append(revs, put(t, s, "c/k", strconv.Itoa(i)))
	}
	if err := c.Compact(ctx, revs[2]); err != nil {
		t.Fatalf("Compact(%d): %v", revs[2], err)
	}
	w := watch(t, ctx, s, "c/", revs[0])
	select {
	case e, open := <-w.Events():
		if open {
			t.Fatalf("watch from compacted revision %d delivered %+v", revs[0], e)
		}
	case <-timeAfter():
		t.Fatal("watch from a compacted revision did not end")
	}
	if err := w.Err(); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("Err = %v, want ErrCompacted", err)
	}
	// From a kept revision the watch works.
	w2 := watch(t, ctx, s, "c/", revs[2])
	wantEvents(t, recv(t, w2, 1), []ev{{store.EventPut, "c/k", "3", revs[0], revs[3]}})
}

func testWatchCancel(t *testing.T, s store.Store) {
	cases := []struct {
		name    string
		pending int // events written and not read before cancel
	}{
		{"idle", 0},
		{"with unread events", 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			prefix := "x/" + tc.name + "/"
			w := watch(t, ctx, s, prefix, revision(t, s))
			r := put(t, s, prefix+"first", "1")
			wantEvents(t, recv(t, w, 1), []ev{{store.EventPut, prefix + "first", "1", r, r}})
			for i := range tc.pending {
				put(t, s, fmt.Sprintf("%s%d", prefix, i), "v")
			}
			cancel()
			if err := closed(t, w); err != nil {
				t.Fatalf("Err after cancel = %v, want nil", err)
			}
			if _, err := s.Revision(context.Background()); err != nil {
				t.Fatalf("store unusable after a watch ended: %v", err)
			}
		})
	}
}

func testWatchClose(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle := watch(t, ctx, s, "idle/", revision(t, s))
	busy := watch(t, ctx, s, "", revision(t, s))
	for i := range 10 {
		put(t, s, fmt.Sprintf("b/%d", i), "v")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, w := range map[string]store.Watcher{"idle": idle, "busy": busy} {
		if err := closed(t, w); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("%s watcher: Err after Close = %v, want ErrClosed", name, err)
		}
	}
}

// testWatchLagging writes a burst to a watcher that does not read. An engine
// may buffer it all or end the watcher with ErrCompacted, but what it delivers
// is exactly the start of the real sequence, and writers are not held up.
func testWatchLagging(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const txns, ops = 20, 100
	w := watch(t, ctx, s, "lag/", revision(t, s))
	var want []ev
	for i := range txns {
		var o []store.Op
		for j := range ops {
			o = append(o, store.Put(fmt.Sprintf("lag/%02d/%03d", i, j), []byte{byte(j)}))
		}
		rev := txn(t, s, nil, o...)
		for j := range ops {
			want = append(want, ev{store.EventPut, fmt.Sprintf("lag/%02d/%03d", i, j), string([]byte{byte(j)}), rev, rev})
		}
	}
	var got []store.Event
	timer := timeAfter()
	for len(got) < len(want) {
		select {
		case e, open := <-w.Events():
			if !open {
				if err := w.Err(); !errors.Is(err, store.ErrCompacted) {
					t.Fatalf("lagging watch ended after %d events with Err = %v, want ErrCompacted", len(got), err)
				}
				wantEvents(t, got, want[:len(got)])
				return
			}
			got = append(got, e)
		case <-timer:
			t.Fatalf("lagging watch stalled after %d of %d events", len(got), len(want))
		}
	}
	wantEvents(t, got, want)
}

// --- concurrency ---

func testConcurrentCAS(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const workers, incs = 8, 50
	r0 := txn(t, s, []store.Cond{store.MustNotExist("counter")}, store.Put("counter", []byte("0")))
	w := watch(t, ctx, s, "counter", r0)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for done := 0; done < incs; {
				kv, err := s.Get(ctx, "counter")
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(kv.Value))
				if err != nil {
					errs <- err
					return
				}
				_, err = s.Txn(ctx, []store.Cond{store.MustBeAt("counter", kv.ModRevision)},
					[]store.Op{store.Put("counter", []byte(strconv.Itoa(n+1)))})
				switch {
				case err == nil:
					done++
				case !errors.Is(err, store.ErrConflict):
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kv := get(t, s, "counter")
	if string(kv.Value) != strconv.Itoa(workers*incs) {
		t.Fatalf("counter = %s after %d acknowledged increments", kv.Value, workers*incs)
	}
	if kv.CreateRevision != r0 {
		t.Fatalf("counter CreateRevision = %d, want %d", kv.CreateRevision, r0)
	}
	// Every increment is one put event, in order: no update was lost or merged.
	evs := recv(t, w, workers*incs)
	prev := r0
	for i, e := range evs {
		if string(e.KV.Value) != strconv.Itoa(i+1) || e.KV.ModRevision <= prev {
			t.Fatalf("event %d: value %s at revision %d after %d; want value %d", i, e.KV.Value, e.KV.ModRevision, prev, i+1)
		}
		prev = e.KV.ModRevision
	}
	if prev != kv.ModRevision {
		t.Fatalf("last event at %d, counter at %d", prev, kv.ModRevision)
	}
	noEvent(t, w)
}

func testConcurrentWritersWatchOrder(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const workers, puts = 8, 25
	w := watch(t, ctx, s, "cw/", revision(t, s))
	var (
		mu    sync.Mutex
		acked = map[string]int64{}
		wg    sync.WaitGroup
	)
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for i := range puts {
				k := fmt.Sprintf("cw/%d/%02d", g, i)
				rev, err := s.Txn(ctx, nil, []store.Op{store.Put(k, []byte(k))})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked[k] = rev
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, rev := range acked {
		if seen[rev] {
			t.Fatalf("two Txns acknowledged at revision %d", rev)
		}
		seen[rev] = true
	}
	prev := int64(0)
	for i, e := range recv(t, w, workers*puts) {
		if e.KV.ModRevision <= prev {
			t.Fatalf("event %d at revision %d after %d: out of order", i, e.KV.ModRevision, prev)
		}
		prev = e.KV.ModRevision
		if rev, ok := acked[e.KV.Key]; !ok || rev != e.KV.ModRevision || string(e.KV.Value) != e.KV.Key {
			t.Fatalf("event %d %q at %d; acknowledged at %d (%v)", i, e.KV.Key, e.KV.ModRevision, rev, ok)
		}
		delete(acked, e.KV.Key)
	}
	if len(acked) != 0 {
		t.Fatalf("%d acknowledged writes never seen by the watch", len(acked))
	}
	noEvent(t, w)
}

func testClosed(t *testing.T, s store.Store) {
	put(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	_, errGet := s.Get(ctx, "k")
	_, _, errList := s.List(ctx, "", store.ListOptions{})
	_, errTxn := s.Txn(ctx, nil, []store.Op{store.Put("k", []byte("w"))})
	_, errCond := s.Txn(ctx, []store.Cond{store.MustNotExist("j")}, nil)
	_, errWatch := s.Watch(ctx, "", 0)
	_, errRev := s.Revision(ctx)
	for name, err := range map[string]error{
		"Get": errGet, "List": errList, "Txn": errTxn, "cond-only Txn": errCond,
		"Watch": errWatch, "Revision": errRev,
	} {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
