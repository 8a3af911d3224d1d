package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// What happens when the disk fills up or a page goes bad.
//
// A commit that fails (ENOSPC, EIO, a failed fsync) is answered with its
// error: nothing of it was acknowledged. bbolt rolls the transaction back
// and usually stays usable, but not always (a failed remap leaves it with
// no map; after a failed fsync the kernel's copy of the file may differ
// from the disk's), so the store does not trust it: it marks itself failed
// and, before the next commit, reopens the file from disk, verifies it as
// Open does and makes a probe commit. Only when all three succeed does it
// write again; until then every write fails fast with the cause, and the
// next attempt waits a backoff (at most maxRetryWait), so a full disk costs
// one verification per backoff, not one per write. Once space returns, the
// next write or Ready recovers the store by itself.
//
// If the reopened file is at a revision later than the last one published
// (the failed commit did reach the disk), the watch history restarts there
// and every watcher ends with store.ErrCompacted and relists. If it is at
// an earlier one, acknowledged writes were lost: that, and a file that no
// longer verifies, is damage (ErrDamaged), which no retry repairs; reads go
// on where they can, writes are refused until the file is restored.
//
// bbolt panics when it meets a bad page, and a bad page can point outside
// the mapped file, which faults. Every bbolt call runs under guard, which
// makes both an error; one that happens marks the store failed, so that
// the next write or Ready verifies the file.

// DefaultStuckAfter is Options.StuckAfter's default.
const DefaultStuckAfter = time.Minute

// Recovery attempts after a failure wait minRetryWait, doubling up to
// maxRetryWait.
const (
	minRetryWait = 100 * time.Millisecond
	maxRetryWait = 10 * time.Second
	// A failure after a quiet resetRetryWait starts the backoff afresh;
	// one sooner (a disk that fills again and again) keeps it.
	resetRetryWait = time.Minute
	// DefaultReadyHold is Options.ReadyHold's default.
	DefaultReadyHold = 10 * time.Second
	// closeWait bounds how long a reopen waits for bbolt to close the old
	// file: a panic mid-commit can leave bbolt's writer lock held.
	closeWait = 5 * time.Second
)

// ErrDamaged matches the error of a store whose file is damaged: Open
// refuses it, and a running store refuses writes once it finds it.
var ErrDamaged = errors.New("store/bolt: state file is damaged")

// DamagedError says which file is damaged, how, and what to do.
type DamagedError struct {
	Path string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("store/bolt: %s is damaged (%v); minato will not use it: stop minato, move the file aside "+
		"and restore the latest backup in its place (made with `minato backup`; see docs/operations.md)", e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrDamaged) hold.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// panicError is a panic of bbolt (or a fault in its map), caught by guard.
type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprintf("bbolt panicked: %v", p.v) }

// guard runs fn and returns a panic in it, or a memory fault (a read of a
// bad page outside the mapped file), as a *panicError.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v}
		}
	}()
	return fn()
}

// health is the store's failure state.
type health struct {
	mu       sync.Mutex
	failed   error // non-nil: writes wait for a recovery
	final    bool  // failed is damage, or bbolt is wedged: no recovery is tried
	wait     time.Duration
	nextTry  time.Time
	lastFail time.Time
	lastErr  error
	// commitFailed: the last commit failed; the next one that succeeds
	// clears it. A recovery's probe does not: a full disk may still take
	// a probe and refuse a real write.
	commitFailed atomic.Bool

	recoverMu sync.Mutex // one recovery at a time
	// commitStart is when the running commit began (Unix nanoseconds), 0
	// when none runs.
	commitStart atomic.Int64
	// abandoned: bbolt did not close the old file within closeWait.
	abandoned atomic.Bool
}

// fail records err as the reason writes must wait for a recovery.
func (s *Store) fail(err error) {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return
	}
	now := time.Now()
	if now.Sub(h.lastFail) > resetRetryWait {
		h.wait = 0
	}
	h.failed, h.nextTry, h.lastFail, h.lastErr = err, now.Add(h.wait), now, err
}

// failure returns the recorded failure, nil when there is none, and
// whether it is final.
func (s *Store) failure() (err error, final bool) {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed, h.final
}

// unavailable is the error of a write refused because of err.
func unavailable(err error, final bool) error {
	if final {
		return err
	}
	return fmt.Errorf("store/bolt: state store unavailable, retrying: %w", err)
}

// writable returns nil when a commit may run: the store has not failed, or
// a recovery has just succeeded.
func (s *Store) writable() error {
	if err, _ := s.failure(); err == nil {
		return nil
	}
	return s.recover()
}

// recover reopens, verifies and probes the file after a failure, unless
// the failure is damage or the backoff has not passed.
func (s *Store) recover() error {
	h := &s.health
	h.recoverMu.Lock()
	defer h.recoverMu.Unlock()
	h.mu.Lock()
	failed, final, early := h.failed, h.final, time.Now().Before(h.nextTry)
	h.mu.Unlock()
	if failed == nil {
		return nil
	}
	if final || early {
		return unavailable(failed, final)
	}
	err := s.reopen()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Success or not, the next failure waits longer (fail resets the wait
	// after a quiet spell): each recovery reads the whole file.
	h.wait = min(max(2*h.wait, minRetryWait), maxRetryWait)
	if err == nil {
		h.failed, h.final = nil, false
		return nil
	}
	h.failed, h.final = err, errors.Is(err, ErrDamaged) || h.abandoned.Load()
	h.nextTry = time.Now().Add(h.wait)
	return unavailable(h.failed, h.final)
}

// reopen closes bbolt, opens and verifies the file again, makes a probe
// commit and reconciles the watch history with the file's revision.
func (s *Store) reopen() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db != nil {
		s.file.Close()
		s.file = nil
		if err := closeDB(s.db, s.opts.closeWait); err != nil {
			// bbolt's writer lock is held by a transaction a panic left
			// open: no write can ever run. Reads still work on it.
			s.health.abandoned.Store(true)
			return fmt.Errorf("store/bolt: after a failure: %w; restart minato", err)
		}
		s.db = nil
	}
	db, file, rev, err := openDB(s.path, s.opts)
	if err != nil {
		return err
	}
	s.db, s.file = db, file
	last := s.hub.last()
	if rev < last {
		return &DamagedError{Path: s.path, Err: fmt.Errorf(
			"reopened at revision %d, but revision %d was acknowledged: the disk lost acknowledged writes", rev, last)}
	}
	if err := s.probe(); err != nil {
		return err
	}
	if rev > last {
		s.hub.rebase(rev)
	}
	return nil
}

// probe commits a write outside the records (meta/probe) to learn whether
// the file takes writes. It does not change the store revision.
func (s *Store) probe() error {
	return guard(func() error {
		return s.db.Update(func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			n := uint64(0)
			if v := meta.Get(keyProbe); len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
			return meta.Put(keyProbe, u64(n+1))
		})
	})
}

var keyProbe = []byte("probe")

// closeDB closes db, giving up after wait (0: closeWait).
func closeDB(db *bbolt.DB, wait time.Duration) error {
	if wait <= 0 {
		wait = closeWait
	}
	done := make(chan error, 1)
	go func() { done <- guard(db.Close) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("bbolt did not close %s within %v", db.Path(), wait)
	}
}

// view runs fn in a guarded read transaction.
func (s *Store) view(fn func(*bbolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return unavailable(s.failure())
	}
	err := guard(func() error { return s.db.View(fn) })
	var p *panicError
	if errors.As(err, &p) {
		s.fail(err)
	}
	return err
}

// update runs fn in a guarded write transaction (in a bbolt batch if
// batch) and marks the store failed if the commit fails. A failed cond is
// not a failure: apply reports it in its request.
func (s *Store) update(batch bool, fn func(*bbolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil || s.file == nil {
		return unavailable(s.failure())
	}
	s.health.commitStart.Store(time.Now().UnixNano())
	defer s.health.commitStart.Store(0)
	// (bbolt runs a batch's commit in a goroutine of its own, outside
	// this guard; commitBatch is only used by benchmarks.)
	checked := func(tx *bbolt.Tx) error {
		if err := checkFreelistPage(s.file, tx.DB().Info().PageSize); err != nil {
			return &DamagedError{Path: s.path, Err: err}
		}
		return fn(tx)
	}
	err := guard(func() error {
		if batch {
			return s.db.Batch(checked)
		}
		return s.db.Update(checked)
	})
	if err != nil {
		s.health.commitFailed.Store(true)
		s.fail(err)
		return err
	}
	s.health.commitFailed.Store(false)
	return nil
}

// Ready returns nil when the store can serve writes: it has not failed, or
// a recovery now succeeds (Ready tries one when the backoff allows), a
// read transaction works, and the last commit did not fail (or failed more
// than Options.ReadyHold ago, which an idle store needs to become ready
// again). It is cheap when the store is healthy: one read of the revision.
func (s *Store) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if err := s.writable(); err != nil {
		return err
	}
	if _, err := s.revision(); err != nil {
		return err
	}
	if s.health.commitFailed.Load() {
		h := &s.health
		h.mu.Lock()
		ago, err := time.Since(h.lastFail), h.lastErr
		h.mu.Unlock()
		if ago < s.opts.ReadyHold {
			return fmt.Errorf("store/bolt: the last write failed %v ago: %w", ago.Round(time.Millisecond), err)
		}
	}
	return nil
}

// Live returns an error when the store is wedged, so that only a restart
// helps: a commit has run for longer than Options.StuckAfter (an fsync
// that does not return), or bbolt could not be closed for a reopen. A
// store that is merely failed is live: it recovers by itself.
func (s *Store) Live() error {
	if start := s.health.commitStart.Load(); start != 0 {
		if d := time.Since(time.Unix(0, start)); d > s.opts.StuckAfter {
			return fmt.Errorf("store/bolt: a commit has been running for %v", d.Round(time.Second))
		}
	}
	if s.health.abandoned.Load() {
		return errors.New("store/bolt: bbolt is wedged (a failed transaction holds its writer lock): restart minato")
	}
	return nil
}
