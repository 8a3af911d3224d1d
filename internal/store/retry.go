package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// maxConflictRetries bounds RetryConflicts: a read-modify-write that loses
// this many races in a row reports the conflict. The API layer answers an
// ErrConflict that survives as a throttling error, which clients retry.
const maxConflictRetries = 50

// Backoff between lost races: the first waits about conflictBackoffBase,
// each later one up to twice as long, never over conflictBackoffMax. Every
// wait is drawn from [d/2, d) so that the losers of one race do not meet
// again at the same moment. Fifty lost races wait about a second in all.
const (
	conflictBackoffBase = 250 * time.Microsecond
	conflictBackoffMax  = 25 * time.Millisecond
)

// RetryConflicts runs a read-modify-write f again while its Txn loses a
// compare-and-swap race (ErrConflict), until it commits, fails for another
// reason, ctx ends, or it has lost too many races in a row. Between tries
// it waits a little, longer after each lost race, with jitter: a retry at
// once would meet the winner's successors and lose again.
func RetryConflicts(ctx context.Context, f func() error) error {
	return retryConflicts(ctx, f, conflictBackoff)
}

// retryConflicts is RetryConflicts with the wait after the attempt-th lost
// race (0 for the first) given by backoff.
func retryConflicts(ctx context.Context, f func() error, backoff func(attempt int) time.Duration) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if !errors.Is(err, ErrConflict) || attempt >= maxConflictRetries {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d := backoff(attempt); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
}

// conflictBackoff is the wait after the attempt-th lost race.
func conflictBackoff(attempt int) time.Duration {
	d := conflictBackoffMax
	if attempt < 16 && conflictBackoffBase<<attempt < conflictBackoffMax {
		d = conflictBackoffBase << attempt
	}
	return d/2 + rand.N(d/2)
}
