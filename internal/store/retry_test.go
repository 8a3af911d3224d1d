package store

import (
	"context"
	"errors"
	"testing"
)

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
	if err := RetryConflicts(ctx, func() error { calls++; return ErrConflict }); !errors.Is(err, ErrConflict) || calls != maxConflictRetries+1 {
		t.Fatalf("endless conflicts: %v after %d calls", err, calls)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls = 0
	if err := RetryConflicts(cctx, func() error { calls++; return ErrConflict }); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("a cancelled context stops it: %v after %d calls", err, calls)
	}
}
