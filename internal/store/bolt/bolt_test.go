package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/storetest"
)

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{}) })
}

// TestConformanceCommitModes runs the suite on the commit paths kept for
// benchmarks: they reach the watch sequencer out of revision order.
func TestConformanceCommitModes(t *testing.T) {
	for _, m := range []struct {
		name string
		mode commitMode
	}{{"batch", commitBatch}, {"update", commitUpdate}} {
		t.Run(m.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s := openTest(t, Options{mode: m.mode})
				s.db.MaxBatchDelay = time.Millisecond // bbolt's 10ms default only slows the suite
				return s
			})
		})
	}
}

func put(t *testing.T, s store.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), nil, []store.Op{store.Put(key, []byte(value))})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return rev
}

// watchEnd reads w until it closes and returns the events and Err.
func watchEnd(t *testing.T, w store.Watcher) ([]store.Event, error) {
	t.Helper()
	var evs []store.Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return evs, w.Err()
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("watch still open after %d events", len(evs))
		}
	}
}

func recvN(t *testing.T, w store.Watcher, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	timeout := time.After(5 * time.Second)
	for len(evs) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch closed after %d of %d events: %v", len(evs), n, w.Err())
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(evs), n)
		}
	}
	return evs
}

func wantRevs(t *testing.T, evs []store.Event, from, to int64) {
	t.Helper()
	if int64(len(evs)) != to-from+1 {
		t.Fatalf("got %d events, want revisions %d..%d", len(evs), from, to)
	}
	for i, ev := range evs {
		if ev.KV.ModRevision != from+int64(i) {
			t.Fatalf("event %d at revision %d, want %d", i, ev.KV.ModRevision, from+int64(i))
		}
	}
}

// TestRestart: data and revision survive a reopen; watch history does not.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1 := put(t, s, "a", "1")
	r2 := put(t, s, "b", "2")
	r3, err := s.Txn(ctx, nil, []store.Op{store.Delete("a")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, Options{})
	if rev, err := s.Revision(ctx); err != nil || rev != r3 {
		t.Fatalf("Revision after reopen = %d, %v; want %d", rev, err, r3)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted key after reopen: %v", err)
	}
	if kv, err := s.Get(ctx, "b"); err != nil || string(kv.Value) != "2" || kv.CreateRevision != r2 || kv.ModRevision != r2 {
		t.Fatalf("Get(b) after reopen = %+v, %v", kv, err)
	}
	for _, after := range []int64{0, r1, r3 - 1} {
		w, err := s.Watch(ctx, "", after)
		if err != nil {
			t.Fatal(err)
		}
		if evs, err := watchEnd(t, w); len(evs) != 0 || !errors.Is(err, store.ErrCompacted) {
			t.Fatalf("Watch(after=%d) after restart: %d events, Err %v; want ErrCompacted", after, len(evs), err)
		}
	}
	now, err := s.Watch(ctx, "", r3)
	if err != nil {
		t.Fatal(err)
	}
	later, err := s.Watch(ctx, "", r3+3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if rev := put(t, s, "c", strconv.Itoa(i)); rev != r3+1+int64(i) {
			t.Fatalf("write %d after reopen at revision %d, want %d", i, rev, r3+1+int64(i))
		}
	}
	wantRevs(t, recvN(t, now, 5), r3+1, r3+5)
	wantRevs(t, recvN(t, later, 2), r3+4, r3+5)
}

func openAt(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestHistoryRing: only the last Options.History events can be replayed.
func TestHistoryRing(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{History: 8})
	for i := range 20 {
		put(t, s, fmt.Sprintf("k%d", i%3), strconv.Itoa(i))
	}
	// Revisions 1..12 were evicted; 13..20 are kept.
	cases := []struct {
		after     int64
		compacted bool
	}{{0, true}, {11, true}, {12, false}, {19, false}, {20, false}}
	for _, tc := range cases {
		w, err := s.Watch(ctx, "", tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if tc.compacted {
			if evs, err := watchEnd(t, w); len(evs) != 0 || !errors.Is(err, store.ErrCompacted) {
				t.Fatalf("Watch(after=%d): %d events, Err %v; want ErrCompacted", tc.after, len(evs), err)
			}
			continue
		}
		wantRevs(t, recvN(t, w, int(20-tc.after)), tc.after+1, 20)
	}
}

// TestHistoryBytes: the ring also drops the oldest events to stay within
// Options.HistoryBytes.
func TestHistoryBytes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{History: 1000, HistoryBytes: 10 << 10})
	big := strings.Repeat("v", 1000)
	for range 20 {
		put(t, s, "k", big)
	}
	// Each event costs a bit over 1 KiB, so 9 fit: 12..20 are kept.
	w, err := s.Watch(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := watchEnd(t, w); len(evs) != 0 || !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("Watch(after=10): %d events, Err %v; want ErrCompacted", len(evs), err)
	}
	w, err = s.Watch(ctx, "", 11)
	if err != nil {
		t.Fatal(err)
	}
	evs := recvN(t, w, 9)
	wantRevs(t, evs, 12, 20)
	if string(evs[8].KV.Value) != big {
		t.Fatal("replayed value differs")
	}
	// An event bigger than the whole budget is still delivered live.
	huge := strings.Repeat("h", 20<<10)
	rev := put(t, s, "k", huge)
	if ev := recvN(t, w, 1)[0]; ev.KV.ModRevision != rev || string(ev.KV.Value) != huge {
		t.Fatalf("huge event: revision %d, %d bytes", ev.KV.ModRevision, len(ev.KV.Value))
	}
}

// TestSlowWatcher: a watcher that stops reading is ended with ErrCompacted
// once it is History events behind, and writers never wait for it.
func TestSlowWatcher(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{History: 16, WatchBuffer: 2})
	slow, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			if _, err := s.Txn(ctx, nil, []store.Op{store.Put("k", []byte(strconv.Itoa(i)))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writers blocked by a watcher that does not read")
	}
	evs, err := watchEnd(t, slow)
	if !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("slow watcher ended with %v after %d events, want ErrCompacted", err, len(evs))
	}
	if len(evs) > 0 {
		wantRevs(t, evs, 1, int64(len(evs))) // what it got is in order, no gaps
	}
	if len(evs) >= 100-16 {
		t.Fatalf("slow watcher got %d events, more than it could have buffered", len(evs))
	}
	// Other watches still work.
	w, err := s.Watch(ctx, "", 90)
	if err != nil {
		t.Fatal(err)
	}
	wantRevs(t, recvN(t, w, 10), 91, 100)
}

func TestCompactBeyondRevision(t *testing.T) {
	s := openTest(t, Options{})
	rev := put(t, s, "k", "v")
	if err := s.Compact(context.Background(), rev+1); err == nil {
		t.Fatal("Compact beyond the current revision succeeded")
	}
	if err := s.Compact(context.Background(), rev); err != nil {
		t.Fatalf("Compact(current): %v", err)
	}
}

// TestInvalidTxn: requests bbolt would refuse fail alone, before commit, and
// do not disturb the store.
func TestInvalidTxn(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	rev := put(t, s, "k", "v")
	cases := []struct {
		name  string
		conds []store.Cond
		ops   []store.Op
	}{
		{"empty key put", nil, []store.Op{store.Put("ok", nil), store.Put("", []byte("x"))}},
		{"empty key delete", nil, []store.Op{store.Delete("")}},
		{"key too long", nil, []store.Op{store.Put(strings.Repeat("k", bbolt.MaxKeySize+1), nil)}},
		{"unknown op", nil, []store.Op{{Kind: 99, Key: "k"}}},
		{"zero op", nil, []store.Op{{Key: "k"}}},
		{"negative cond", []store.Cond{store.MustBeAt("k", -1)}, []store.Op{store.Put("k", nil)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Txn(ctx, tc.conds, tc.ops)
			if err == nil || errors.Is(err, store.ErrConflict) {
				t.Fatalf("Txn = %v, want a validation error", err)
			}
		})
	}
	if got, _ := s.Revision(ctx); got != rev {
		t.Fatalf("invalid Txns moved revision %d -> %d", rev, got)
	}
	if _, err := s.Get(ctx, "ok"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("part of an invalid Txn was written: %v", err)
	}
	if got := put(t, s, "k", "w"); got != rev+1 {
		t.Fatalf("store unusable after invalid Txns: revision %d", got)
	}
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path, Options{})
	t.Run("locked by another Store", func(t *testing.T) {
		start := time.Now()
		s2, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
		if err == nil {
			s2.Close()
			t.Fatal("second Open of a locked file succeeded")
		}
		if !errors.Is(err, bberrors.ErrTimeout) {
			t.Fatalf("second Open: %v, want a lock timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Open waited %v for the lock", d)
		}
	})
	t.Run("close twice", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("foreign format", func(t *testing.T) {
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, u64(99)) })
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if s, err := Open(path, Options{}); err == nil {
			s.Close()
			t.Fatal("Open accepted an unknown format version")
		}
	})
}
