// Package storetest is the conformance suite every store.Store engine runs.
// It tests only the contract written in package store, so that the embedded
// bolt engine and an etcd engine are interchangeable.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
)

// Compactor is implemented by engines that can drop watch history before a
// revision on demand, as etcd's Compact does: afterwards a watch from
// afterRev < rev-1 ends with store.ErrCompacted while one from afterRev >=
// rev works. When the store under test has it, Run uses it to test
// ErrCompacted; otherwise that one subtest is skipped.
type Compactor interface {
	Compact(ctx context.Context, rev int64) error
}

// wait bounds every wait for a watch event or a channel close.
const wait = 5 * time.Second

// Run runs the suite. open must return a new, empty store for each call; Run
// closes it when the subtest ends (a second Close must not panic).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetRevisions", testPutGetRevisions},
		{"RevisionsIncrease", testRevisionsIncrease},
		{"TxnSharesOneRevision", testTxnSharesOneRevision},
		{"DeleteAndRecreate", testDeleteAndRecreate},
		{"DeleteMissing", testDeleteMissing},
		{"List", testList},
		{"ListPagination", testListPagination},
		{"TxnConds", testTxnConds},
		{"TxnConflictIsAtomic", testTxnConflictIsAtomic},
		{"TxnCondOnly", testTxnCondOnly},
		{"WatchEvents", testWatchEvents},
		{"WatchRevisionEnds", testWatchRevisionEnds},
		{"WatchReplay", testWatchReplay},
		{"WatchFromNow", testWatchFromNow},
		{"WatchCompacted", testWatchCompacted},
		{"WatchCancel", testWatchCancel},
		{"WatchClose", testWatchClose},
		{"WatchLagging", testWatchLagging},
		{"ConcurrentCAS", testConcurrentCAS},
		{"ConcurrentWritersWatchOrder", testConcurrentWritersWatchOrder},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

// --- helpers ---

func txn(t *testing.T, s store.Store, conds []store.Cond, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), conds, ops)
	if err != nil {
		t.Fatalf("Txn(%v, %v): %v", conds, ops, err)
	}
	return rev
}

func put(t *testing.T, s store.Store, key, value string) int64 {
	t.Helper()
	return txn(t, s, nil, store.Put(key, []byte(value)))
}

func get(t *testing.T, s store.Store, key string) store.KV {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return kv
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func wantNotFound(t *testing.T, s store.Store, key string) {
	t.Helper()
	if kv, err := s.Get(context.Background(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", key, kv, err)
	}
}

func wantKV(t *testing.T, got store.KV, key, value string, create, mod int64) {
	t.Helper()
	if got.Key != key || string(got.Value) != value || got.CreateRevision != create || got.ModRevision != mod {
		t.Fatalf("got {%q %q create=%d mod=%d}, want {%q %q create=%d mod=%d}",
			got.Key, got.Value, got.CreateRevision, got.ModRevision, key, value, create, mod)
	}
}

func watch(t *testing.T, ctx context.Context, s store.Store, prefix string, after int64) store.Watcher {
	t.Helper()
	w, err := s.Watch(ctx, prefix, after)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, after, err)
	}
	return w
}

func timeAfter() <-chan time.Time { return time.After(wait) }

// recv reads n events from w.
func recv(t *testing.T, w store.Watcher, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(evs) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch closed after %d of %d events, Err = %v", len(evs), n, w.Err())
			}
			evs = append(evs, ev)
		case <-timer.C:
			t.Fatalf("timed out after %d of %d events", len(evs), n)
		}
	}
	return evs
}

// noEvent checks that w delivers nothing for a short while.
func noEvent(t *testing.T, w store.Watcher) {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		t.Fatalf("unexpected event %+v (open=%v)", ev, ok)
	case <-time.After(50 * time.Millisecond):
	}
}

// closed drains w until its channel closes and returns Err.
func closed(t *testing.T, w store.Watcher) error {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return w.Err()
			}
		case <-timer.C:
			t.Fatal("watch channel not closed")
		}
	}
}

type ev struct {
	typ      store.EventType
	key, val string
	create   int64
	mod      int64
}

func wantEvents(t *testing.T, got []store.Event, want []ev) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.KV.Key != w.key || string(g.KV.Value) != w.val ||
			(w.create != anyCreate && g.KV.CreateRevision != w.create) || g.KV.ModRevision != w.mod {
			t.Fatalf("event %d = {type=%d %q %q create=%d mod=%d}, want {type=%d %q %q create=%d mod=%d}",
				i, g.Type, g.KV.Key, g.KV.Value, g.KV.CreateRevision, g.KV.ModRevision,
				w.typ, w.key, w.val, w.create, w.mod)
		}
		if w.typ == store.EventDelete && g.KV.Value != nil {
			t.Fatalf("event %d: delete carries value %q", i, g.KV.Value)
		}
		// Within the list, the last event of each revision is marked.
		if i+1 < len(want) {
			if last := want[i+1].mod != w.mod; g.Last != last {
				t.Fatalf("event %d (revision %d): Last = %v, want %v", i, w.mod, g.Last, last)
			}
		}
	}
}

// --- records and revisions ---

func testGetMissing(t *testing.T, s store.Store) {
	wantNotFound(t, s, "missing")
	put(t, s, "a/b", "x")
	for _, k := range []string{"a", "a/", "a/bc", "A/b"} {
		wantNotFound(t, s, k)
	}
}

func testPutGetRevisions(t *testing.T, s store.Store) {
	start := revision(t, s)
	r1 := put(t, s, "k", "v1")
	if r1 <= start {
		t.Fatalf("first write at revision %d, store was at %d", r1, start)
	}
	wantKV(t, get(t, s, "k"), "k", "v1", r1, r1)
	if got := revision(t, s); got != r1 {
		t.Fatalf("Revision = %d, want %d", got, r1)
	}
	r2 := put(t, s, "k", "v2")
	if r2 <= r1 {
		t.Fatalf("update at revision %d, not after %d", r2, r1)
	}
	wantKV(t, get(t, s, "k"), "k", "v2", r1, r2) // create revision stays
	// The caller's slice is not retained.
	buf := []byte("v3")
	r3 := txn(t, s, nil, store.Put("k", buf))
	buf[0] = 'X'
	wantKV(t, get(t, s, "k"), "k", "v3", r1, r3)
	// Nor is a returned value shared with the store.
	kv := get(t, s, "k")
	kv.Value[0] = 'Y'
	wantKV(t, get(t, s, "k"), "k", "v3", r1, r3)
	// Empty values round-trip.
	r4 := put(t, s, "empty", "")
	wantKV(t, get(t, s, "empty"), "empty", "", r4, r4)
}

func testRevisionsIncrease(t *testing.T, s store.Store) {
	prev := revision(t, s)
	for i := range 10 {
		rev := put(t, s, fmt.Sprintf("k%d", i%3), strconv.Itoa(i))
		if rev <= prev {
			t.Fatalf("txn %d at revision %d, not after %d", i, rev, prev)
		}
		prev = rev
	}
	if got := revision(t, s); got != prev {
		t.Fatalf("Revision = %d, want last txn's %d", got, prev)
	}
}

func testTxnSharesOneRevision(t *testing.T, s store.Store) {
	r0 := put(t, s, "b", "old")
	rev := txn(t, s, nil, store.Put("a", []byte("1")), store.Put("b", []byte("2")), store.Put("c", []byte("3")))
	if rev <= r0 {
		t.Fatalf("txn at %d, not after %d", rev, r0)
	}
	wantKV(t, get(t, s, "a"), "a", "1", rev, rev)
	wantKV(t, get(t, s, "b"), "b", "2", r0, rev)
	wantKV(t, get(t, s, "c"), "c", "3", rev, rev)
	if got := revision(t, s); got != rev {
		t.Fatalf("Revision = %d, want %d", got, rev)
	}
}

func testDeleteAndRecreate(t *testing.T, s store.Store) {
	r1 := put(t, s, "k", "a")
	r2 := txn(t, s, nil, store.Delete("k"))
	if r2 <= r1 {
		t.Fatalf("delete at %d, not after %d", r2, r1)
	}
	wantNotFound(t, s, "k")
	r3 := put(t, s, "k", "b")
	wantKV(t, get(t, s, "k"), "k", "b", r3, r3) // a new life: new create revision
}

func testDeleteMissing(t *testing.T, s store.Store) {
	r1 := put(t, s, "other", "x")
	rev, err := s.Txn(context.Background(), nil, []store.Op{store.Delete("nope")})
	if err != nil {
		t.Fatalf("delete of missing key: %v", err)
	}
	if rev < r1 {
		t.Fatalf("delete of missing key returned revision %d, below %d", rev, r1)
	}
	wantNotFound(t, s, "nope")
	wantKV(t, get(t, s, "other"), "other", "x", r1, r1)
}

// --- listing ---

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	revs := map[string]int64{}
	for _, k := range []string{"p/c", "p/a", "p0", "p", "o/z", "p/b/1", "p/", "q/a"} {
		revs[k] = put(t, s, k, "v-"+k)
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"p/", []string{"p/", "p/a", "p/b/1", "p/c"}},
		{"p/b", []string{"p/b/1"}},
		{"p", []string{"p", "p/", "p/a", "p/b/1", "p/c", "p0"}},
		{"", []string{"o/z", "p", "p/", "p/a", "p/b/1", "p/c", "p0", "q/a"}},
		{"zz", nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("prefix=%q", tc.prefix), func(t *testing.T) {
			t.Helper()
			kvs, rev, err := s.List(ctx, tc.prefix, store.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := revision(t, s); rev != want {
				t.Fatalf("List revision %d, want %d", rev, want)
			}
			if len(kvs) != len(tc.want) {
				t.Fatalf("List(%q) = %d records %v, want %v", tc.prefix, len(kvs), kvs, tc.want)
			}
			for i, k := range tc.want {
				wantKV(t, kvs[i], k, "v-"+k, revs[k], revs[k])
			}
		})
	}
}

func testListPagination(t *testing.T, s store.Store) {
	ctx := context.Background()
	var all []string
	for i := range 10 {
		k := fmt.Sprintf("n/%02d", i)
		all = append(all, k)
		put(t, s, k, k)
	}
	put(t, s, "m", "before")
	put(t, s, "o", "after")
	cases := []struct {
		name  string
		after string
		limit int
		want  []string
	}{
		{"limit", "", 3, all[:3]},
		{"after", "n/04", 0, all[5:]},
		{"after and limit", "n/04", 2, all[5:7]},
		{"after not a key", "n/045", 2, all[5:7]},
		{"after before prefix", "a", 2, all[:2]},
		{"after past prefix", "n/99", 0, nil},
		{"after last", "n/09", 5, nil},
		{"limit above count", "", 100, all},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kvs, _, err := s.List(ctx, "n/", store.ListOptions{After: tc.after, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, kv := range kvs {
				got = append(got, kv.Key)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("walk", func(t *testing.T) {
		var got []string
		pages, after := 0, ""
		for {
			kvs, rev, err := s.List(ctx, "n/", store.ListOptions{After: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if rev != revision(t, s) {
				t.Fatalf("page revision %d, store at %d", rev, revision(t, s))
			}
			if len(kvs) > 3 {
				t.Fatalf("page of %d records, limit 3", len(kvs))
			}
			if len(kvs) == 0 {
				break
			}
			pages++
			for _, kv := range kvs {
				got = append(got, kv.Key)
			}
			after = kvs[len(kvs)-1].Key
		}
		if fmt.Sprint(got) != fmt.Sprint(all) || pages != 4 {
			t.Fatalf("walked %d pages: %v, want 4 pages: %v", pages, got, all)
		}
	})
}

// --- transactions ---

func testTxnConds(t *testing.T, s store.Store) {
	ctx := context.Background()
	rA := put(t, s, "a", "a0")
	rB := put(t, s, "b", "b0")
	cases := []struct {
		name  string
		conds []store.Cond
		ok    bool
	}{
		{"MustNotExist on missing", []store.Cond{store.MustNotExist("zz")}, true},
		{"MustNotExist on existing", []store.Cond{store.MustNotExist("a")}, false},
		{"MustBeAt current", []store.Cond{store.MustBeAt("a", rA)}, true},
		{"MustBeAt stale", []store.Cond{store.MustBeAt("b", rA)}, false},
		{"MustBeAt future", []store.Cond{store.MustBeAt("b", rB+100)}, false},
		{"MustBeAt missing", []store.Cond{store.MustBeAt("zz", rA)}, false},
		{"all hold", []store.Cond{store.MustBeAt("a", rA), store.MustBeAt("b", rB), store.MustNotExist("zz")}, true},
		{"last fails", []store.Cond{store.MustBeAt("a", rA), store.MustBeAt("b", rB), store.MustNotExist("b")}, false},
		{"first fails", []store.Cond{store.MustNotExist("a"), store.MustBeAt("b", rB)}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := revision(t, s)
			key := fmt.Sprintf("out%d", i)
			rev, err := s.Txn(ctx, tc.conds, []store.Op{store.Put(key, []byte("w"))})
			if !tc.ok {
				if !errors.Is(err, store.ErrConflict) {
					t.Fatalf("Txn = %d, %v; want ErrConflict", rev, err)
				}
				wantNotFound(t, s, key)
				if got := revision(t, s); got != before {
					t.Fatalf("failed Txn moved revision %d -> %d", before, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Txn: %v", err)
			}
			if rev <= before {
				t.Fatalf("Txn at %d, not after %d", rev, before)
			}
			wantKV(t, get(t, s, key), key, "w", rev, rev)
		})
	}
	// The keys the conds looked at are untouched.
	wantKV(t, get(t, s, "a"), "a", "a0", rA, rA)
	wantKV(t, get(t, s, "b"), "b", "b0", rB, rB)
}

func testTxnConflictIsAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	rX := put(t, s, "x", "x0")
	rY := put(t, s, "y", "y0")
	before := revision(t, s)
	w := watch(t, ctx, s, "", before)
	ops := []store.Op{
		store.Put("new1", []byte("n")),
		store.Put("x", []byte("x1")),
		store.Delete("y"),
		store.Put("new2", []byte("n")),
	}
	for _, conds := range [][]store.Cond{
		{store.MustNotExist("new1"), store.MustNotExist("x")},                       // x exists
		{store.MustBeAt("x", rX), store.MustBeAt("y", rY-1)},                        // y stale
		{store.MustNotExist("new2"), store.MustBeAt("new1", rX)},                    // new1 missing
		{store.MustBeAt("x", rX), store.MustBeAt("y", rY), store.MustNotExist("y")}, // contradiction
	} {
		if rev, err := s.Txn(ctx, conds, ops); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Txn(%v) = %d, %v; want ErrConflict", conds, rev, err)
		}
	}
	wantNotFound(t, s, "new1")
	wantNotFound(t, s, "new2")
	wantKV(t, get(t, s, "x"), "x", "x0", rX, rX)
	wantKV(t, get(t, s, "y"), "y", "y0", rY, rY)
	if got := revision(t, s); got != before {
		t.Fatalf("failed Txns moved revision %d -> %d", before, got)
	}
	noEvent(t, w) // and nothing was published
}

func testTxnCondOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := put(t, s, "k", "v")
	rev, err := s.Txn(ctx, []store.Cond{store.MustBeAt("k", r), store.MustNotExist("j")}, nil)
	if err != nil {
		t.Fatalf("cond-only Txn that holds: %v", err)
	}
	if rev != r {
		t.Fatalf("cond-only Txn returned %d, want the current revision %d", rev, r)
	}
	if _, err := s.Txn(ctx, []store.Cond{store.MustBeAt("k", r-1)}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cond-only Txn that fails: %v, want ErrConflict", err)
	}
	if _, err := s.Txn(ctx, []store.Cond{store.MustNotExist("k")}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cond-only MustNotExist on existing key: %v, want ErrConflict", err)
	}
	if got := revision(t, s); got != r {
		t.Fatalf("cond-only Txns moved revision %d -> %d", r, got)
	}
	wantKV(t, get(t, s, "k"), "k", "v", r, r)
}
