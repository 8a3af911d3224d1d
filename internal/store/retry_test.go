package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func noWait(int) time.Duration { return 0 }

func TestRetryConflicts(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := RetryConflicts(ctx, func() error {
		calls++
		if calls < 3 {
			return ErrConflict
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("commits on the third try: %v after %d calls", err, calls)
	}

	other := errors.New("boom")
	calls = 0
	if err := RetryConflicts(ctx, func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("another error is returned at once: %v after %d calls", err, calls)
	}

	calls = 0
	if err := retryConflicts(ctx, func() error { calls++; return ErrConflict }, noWait); !errors.Is(err, ErrConflict) || calls != maxConflictRetries+1 {
		t.Fatalf("endless conflicts: %v after %d calls", err, calls)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls = 0
	if err := RetryConflicts(cctx, func() error { calls++; return ErrConflict }); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("a cancelled context stops it: %v after %d calls", err, calls)
	}
}

// A context that ends during a backoff ends the wait at once.
func TestRetryConflictsCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retryConflicts(ctx, func() error {
		calls++
		cancel()
		return ErrConflict
	}, func(int) time.Duration { return time.Hour })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("got %v after %d calls", err, calls)
	}
}

// The wait after a lost race grows with the number lost, stays within
// bounds, and varies from caller to caller.
func TestConflictBackoff(t *testing.T) {
	prevMax := time.Duration(0)
	for attempt := range maxConflictRetries + 1 {
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 200 {
			d := conflictBackoff(attempt)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < conflictBackoffBase/2 || hi > conflictBackoffMax {
			t.Fatalf("attempt %d: waits in [%v, %v], want within [%v, %v]", attempt, lo, hi, conflictBackoffBase/2, conflictBackoffMax)
		}
		if lo == hi {
			t.Fatalf("attempt %d: every wait is %v: no jitter", attempt, lo)
		}
		if hi < prevMax/2 {
			t.Fatalf("attempt %d: waits at most %v, after %v before", attempt, hi, prevMax)
		}
		prevMax = max(prevMax, hi)
	}
	if prevMax < conflictBackoffMax/2 {
		t.Fatalf("the longest wait is %v; it should reach about %v", prevMax, conflictBackoffMax)
	}
}

// Serial runs the functions of one key one at a time, and those of
// different keys at the same time.
func TestSerial(t *testing.T) {
	var s Serial
	ctx := context.Background()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			err := s.Do(ctx, "k", func() error {
				n := inside.Add(1)
				defer inside.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d functions of one key ran at once", most.Load())
	}

	// While "a" is held, "b" runs.
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Do(ctx, "a", func() error { close(held); <-release; return nil })
	}()
	<-held
	if err := s.Do(ctx, "b", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	// A waiter for "a" gives up when its context ends.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if err := s.Do(cctx, "a", func() error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("a cancelled waiter: %v, ran %v", err, ran)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	left := len(s.keys)
	s.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d keys are still kept after every Do returned", left)
	}
}
