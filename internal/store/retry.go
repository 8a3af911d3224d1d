package store

import (
	"context"
	"errors"
)

// maxConflictRetries bounds RetryConflicts: a read-modify-write that loses
// this many races in a row reports the conflict.
const maxConflictRetries = 50

// RetryConflicts runs a read-modify-write f again while its Txn loses a
// compare-and-swap race (ErrConflict), until it commits, fails for another
// reason, ctx ends, or it has lost too many races in a row.
func RetryConflicts(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if !errors.Is(err, ErrConflict) || attempt >= maxConflictRetries {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
