package leader

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func openBolt(t *testing.T) store.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFenceRefusesTheWritesOfAnEndedTerm(t *testing.T) {
	ctx := context.Background()
	raw := openBolt(t)
	st := Fence(raw)
	rev, err := raw.Txn(ctx, nil, []store.Op{store.Put("election/a", []byte("a"))})
	if err != nil {
		t.Fatal(err)
	}
	term := WithFence(ctx, store.MustBeAt("election/a", rev))

	if _, err := st.Txn(term, nil, []store.Op{store.Put("k", []byte("1"))}); err != nil {
		t.Fatalf("write while the fence holds: %v", err)
	}
	// A conflict of the caller's own condition stays a conflict.
	if _, err := st.Txn(term, []store.Cond{store.MustNotExist("k")}, []store.Op{store.Put("k", []byte("2"))}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("own condition failed: got %v, want ErrConflict", err)
	}
	// The term ends: its key goes (lease expired), another is created.
	if _, err := raw.Txn(ctx, nil, []store.Op{store.Delete("election/a"), store.Put("election/b", []byte("b"))}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Txn(term, nil, []store.Op{store.Put("k", []byte("3"))})
	if !errors.Is(err, ErrDeposed) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("write after the term: got %v, want ErrDeposed and no conflict", err)
	}
	if kv, _ := raw.Get(ctx, "k"); string(kv.Value) != "1" {
		t.Fatalf("k = %q, want the term's write only", kv.Value)
	}
	// A context without a fence writes as before.
	if _, err := st.Txn(ctx, nil, []store.Op{store.Put("k", []byte("4"))}); err != nil {
		t.Fatal(err)
	}
	// A recreated key is another term: the old fence does not hold.
	if _, err := raw.Txn(ctx, nil, []store.Op{store.Put("election/a", []byte("a"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(term, nil, []store.Op{store.Put("k", []byte("5"))}); !errors.Is(err, ErrDeposed) {
		t.Fatalf("write with the fence of a recreated key: got %v, want ErrDeposed", err)
	}
}

func TestFenceKeepsCompact(t *testing.T) {
	if _, ok := Fence(openBolt(t)).(compactor); !ok {
		t.Fatal("Fence dropped the engine's Compact")
	}
}

// fakeElector hands out the terms a test pushes.
type fakeElector struct{ terms chan *fakeTerm }

func (e fakeElector) Campaign(ctx context.Context) (Term, error) {
	select {
	case t := <-e.terms:
		return t, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type fakeTerm struct {
	lost     chan struct{}
	fence    store.Cond
	resigned atomic.Bool
}

func (t *fakeTerm) Lost() <-chan struct{}            { return t.lost }
func (t *fakeTerm) Fence() (store.Cond, bool)        { return t.fence, true }
func (t *fakeTerm) Resign(ctx context.Context) error { t.resigned.Store(true); return nil }

func TestRunnerRunsTheLoopsForEachTermOnly(t *testing.T) {
	e := fakeElector{terms: make(chan *fakeTerm)}
	r := &Runner{Elector: e}
	type event struct {
		loop  string
		start bool
		fence store.Cond
	}
	events := make(chan event, 16)
	for _, name := range []string{"services", "pool"} {
		r.Add(name, func(ctx context.Context) {
			c, _ := FenceOf(ctx)
			events <- event{name, true, c}
			<-ctx.Done()
			events <- event{name, false, c}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	next := func() event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no loop started or stopped")
			return event{}
		}
	}
	if r.Leading() {
		t.Fatal("leading before any term")
	}
	t1 := &fakeTerm{lost: make(chan struct{}), fence: store.MustBeAt("election/1", 7)}
	e.terms <- t1
	for range 2 {
		if ev := next(); !ev.start || ev.fence != t1.fence {
			t.Fatalf("term 1: %+v, want a start with its fence", ev)
		}
	}
	if !r.Leading() {
		t.Fatal("not leading during a term")
	}
	close(t1.lost)
	for range 2 {
		if ev := next(); ev.start {
			t.Fatalf("after the term was lost: %+v, want a stop", ev)
		}
	}
	t2 := &fakeTerm{lost: make(chan struct{}), fence: store.MustBeAt("election/2", 9)}
	e.terms <- t2
	for range 2 {
		if ev := next(); !ev.start || ev.fence != t2.fence {
			t.Fatalf("term 2: %+v, want a start with its fence", ev)
		}
	}
	cancel()
	wg.Wait()
	for range 2 {
		if ev := next(); ev.start {
			t.Fatalf("after shutdown: %+v, want a stop", ev)
		}
	}
	if !t2.resigned.Load() {
		t.Fatal("shutdown did not resign the term")
	}
	if r.Terms() != 2 || r.Leading() {
		t.Fatalf("terms %d leading %v, want 2 and false", r.Terms(), r.Leading())
	}
}

func TestAlwaysLeadsWithoutFence(t *testing.T) {
	r := &Runner{Elector: Always{}}
	got := make(chan bool, 1)
	r.Add("x", func(ctx context.Context) {
		_, fenced := FenceOf(ctx)
		got <- fenced
		<-ctx.Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	if <-got {
		t.Fatal("a server alone carries a fence")
	}
	cancel()
	<-done
}
