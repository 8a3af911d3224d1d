// Package bolt is minato's embedded state-store engine: it implements
// store.Store on a single bbolt file, for a single control-plane node.
//
// Records live in the "kv" bucket as key -> createRev|modRev|value (two
// big-endian uint64s, then the value); the store revision lives in the
// "meta" bucket. Every Txn is fsync'd before it returns. Concurrent Txns are
// group-committed: one goroutine applies every Txn queued while the previous
// commit was syncing, in one bbolt transaction, so a lone writer pays one
// fsync and many writers share one.
//
// Watch history is kept in memory only (a ring of recent events), so after a
// restart a watch can start at the current revision or later, not before.
//
// A damaged file must not take the process down, and a full disk must not
// need a restart (health.go): Open verifies the whole file first
// (verify.go) and refuses a damaged one with ErrDamaged; every bbolt call
// runs under a guard that turns bbolt's panics on bad pages into errors;
// and after a failed commit the store reopens and re-verifies the file
// before it writes again.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/store"
	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

var _ store.Store = (*Store)(nil)

var (
	bucketKV   = []byte("kv")
	bucketMeta = []byte("meta")
	keyRev     = []byte("rev")
	keyFormat  = []byte("format")
)

// formatVersion is the record encoding written to meta/format.
const formatVersion = 1

// recordHeader is the size of createRev|modRev in front of each value.
const recordHeader = 16

// Defaults for Options fields left zero.
const (
	DefaultHistory      = 10000
	DefaultHistoryBytes = 64 << 20
	DefaultWatchBuffer  = 128
	DefaultLockTimeout  = time.Second
	maxGroup            = 1024 // Txns per group commit
)

// commitMode selects how Txns reach bbolt. Only tests and benchmarks change it.
type commitMode int

const (
	commitGroup  commitMode = iota // one committer goroutine, natural group commit
	commitBatch                    // bbolt DB.Batch
	commitUpdate                   // one bbolt DB.Update per Txn
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// History is how many recent events are kept in memory for watches that
	// start in the past and for watchers that lag. A watcher more than
	// History events behind is ended with store.ErrCompacted. Default
	// DefaultHistory.
	History int
	// HistoryBytes bounds the memory of that history (keys, values and a
	// fixed per-event overhead); the oldest events go first. Default
	// DefaultHistoryBytes.
	HistoryBytes int
	// WatchBuffer is the capacity of each watcher's channel. Default
	// DefaultWatchBuffer.
	WatchBuffer int
	// LockTimeout is how long Open waits for another process to release the
	// file lock. Default DefaultLockTimeout. (bbolt polls the lock every
	// 50ms and gives up when less than that is left, so 50ms or less fails
	// at once.)
	LockTimeout time.Duration
	// StuckAfter is how long one commit may run before Live reports the
	// store wedged. Default DefaultStuckAfter.
	StuckAfter time.Duration
	// ReadyHold is how long after a failed commit Ready reports it when no
	// commit has succeeded since. Default DefaultReadyHold.
	ReadyHold time.Duration

	mode commitMode
	// closeWait replaces the package's closeWait (tests).
	closeWait time.Duration
}

// Store is a store.Store on one bbolt file. Create it with Open.
type Store struct {
	path string
	opts Options
	mode commitMode
	hub  *hub

	// mu guards closed; every operation holds it for reading, so Close
	// waits for them.
	mu     sync.RWMutex
	closed bool

	// dbMu guards db: reads and commits hold it for reading; a reopen
	// (health.go) swaps db holding it for writing. db is nil after a
	// reopen that failed.
	dbMu sync.RWMutex
	db   *bbolt.DB
	file *os.File // the same file, read-only, for checks outside bbolt's map

	health health

	queue chan *txnReq // commitGroup only
	done  chan struct{}
	wg    sync.WaitGroup // committer
}

// Open opens or creates the store file at path. An existing file is
// verified first; a damaged one is refused with an error that matches
// ErrDamaged and says what to do.
func Open(path string, opts Options) (*Store, error) {
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.HistoryBytes <= 0 {
		opts.HistoryBytes = DefaultHistoryBytes
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = DefaultWatchBuffer
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.StuckAfter <= 0 {
		opts.StuckAfter = DefaultStuckAfter
	}
	if opts.ReadyHold <= 0 {
		opts.ReadyHold = DefaultReadyHold
	}
	db, file, rev, err := openDB(path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{
		path: path,
		opts: opts,
		db:   db,
		file: file,
		mode: opts.mode,
		hub:  newHub(rev, opts.History, opts.HistoryBytes, opts.WatchBuffer),
		done: make(chan struct{}),
	}
	if s.mode == commitGroup {
		s.queue = make(chan *txnReq, maxGroup)
		s.wg.Add(1)
		go s.committer()
	}
	return s, nil
}

// openDB opens the bbolt file, verifies it and creates the buckets of a new
// one. It returns the store revision and a read-only handle of the file.
func openDB(path string, opts Options) (*bbolt.DB, *os.File, int64, error) {
	var db *bbolt.DB
	err := guard(func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
		return err
	})
	var p *panicError
	switch {
	case errors.As(err, &p), errors.Is(err, bberrors.ErrInvalid), errors.Is(err, bberrors.ErrChecksum):
		// Both meta pages are bad, or bbolt panicked on a bad freelist.
		return nil, nil, 0, &DamagedError{Path: path, Err: err}
	case err != nil:
		return nil, nil, 0, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		closeDB(db, opts.closeWait)
		return nil, nil, 0, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	fail := func(err error) (*bbolt.DB, *os.File, int64, error) {
		f.Close()
		closeDB(db, opts.closeWait)
		var d *DamagedError
		if errors.As(err, &d) {
			return nil, nil, 0, err
		}
		if errors.As(err, &p) {
			return nil, nil, 0, &DamagedError{Path: path, Err: err}
		}
		return nil, nil, 0, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	if err := verifyStructure(db, f); err != nil {
		return fail(err)
	}
	rev, err := initBuckets(db)
	if err != nil {
		return fail(err)
	}
	if _, err := checkRecords(db); err != nil {
		return fail(err)
	}
	return db, f, rev, nil
}

// initBuckets reads the revision, first creating the buckets when they are
// missing (a new file). An existing file is only read, so that a store
// reopened on a full disk opens.
func initBuckets(db *bbolt.DB) (int64, error) {
	var rev int64
	fresh := false
	err := guard(func() error {
		return db.View(func(tx *bbolt.Tx) error {
			kv, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
			switch {
			case kv == nil && meta == nil:
				fresh = true
				return nil
			case kv == nil || meta == nil:
				return &DamagedError{Path: db.Path(), Err: errors.New("a bucket is missing")}
			}
			if err := checkFormat(meta); err != nil {
				return err
			}
			var err error
			rev, err = readRev(meta)
			return err
		})
	})
	if err != nil || !fresh {
		return rev, err
	}
	err = guard(func() error {
		return db.Update(func(tx *bbolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bucketKV); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if meta.Get(keyFormat) == nil {
				if err := meta.Put(keyFormat, u64(formatVersion)); err != nil {
					return err
				}
			}
			if err := checkFormat(meta); err != nil {
				return err
			}
			rev, err = readRev(meta)
			return err
		})
	})
	return rev, err
}

func checkFormat(meta *bbolt.Bucket) error {
	if v := meta.Get(keyFormat); len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion {
		return fmt.Errorf("unsupported format %x", v)
	}
	return nil
}

// verifyStructure checks the structure of db's file with verifyFile,
// through a file handle of its own, not bbolt's map. It makes the file safe
// for bbolt to read. The error matches ErrDamaged when the file is.
func verifyStructure(db *bbolt.DB, f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := verifyFile(f, st.Size(), db.Info().PageSize); err != nil {
		return &DamagedError{Path: db.Path(), Err: err}
	}
	return nil
}

// checkRecords decodes every record of a file in the known format and
// checks its revisions against the store's. It returns the number of
// records; the error matches ErrDamaged.
func checkRecords(db *bbolt.DB) (n int, err error) {
	err = guard(func() error {
		return db.View(func(tx *bbolt.Tx) error {
			kv, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
			if kv == nil || meta == nil {
				return errors.New("a bucket is missing")
			}
			rev, err := readRev(meta)
			if err != nil {
				return err
			}
			return kv.ForEach(func(k, v []byte) error {
				if len(v) < recordHeader {
					return fmt.Errorf("record %q: %d bytes", k, len(v))
				}
				create, mod := int64(binary.BigEndian.Uint64(v[0:8])), int64(binary.BigEndian.Uint64(v[8:16]))
				if create < 1 || create > mod || mod > rev {
					return fmt.Errorf("record %q: created at revision %d, changed at %d, store at %d", k, create, mod, rev)
				}
				n++
				return nil
			})
		})
	})
	if err != nil {
		return n, &DamagedError{Path: db.Path(), Err: err}
	}
	return n, nil
}

// Get returns the record at key, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := ctx.Err(); err != nil {
		return store.KV{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.KV{}, store.ErrClosed
	}
	var kv store.KV
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketKV).Get([]byte(key))
		if v == nil {
			return store.ErrNotFound
		}
		var err error
		kv, err = decode(key, v)
		return err
	})
	return kv, err
}

// List returns the records under prefix in key order and the revision the
// listing reflects.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, 0, store.ErrClosed
	}
	var (
		out []store.KV
		rev int64
	)
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		if rev, err = readRev(tx.Bucket(bucketMeta)); err != nil {
			return err
		}
		p := []byte(prefix)
		seek := p
		if opts.After >= prefix {
			seek = []byte(opts.After)
		}
		c := tx.Bucket(bucketKV).Cursor()
		for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if opts.After != "" && string(k) <= opts.After {
				continue
			}
			if opts.Limit > 0 && len(out) == opts.Limit {
				break
			}
			kv, err := decode(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// Revision returns the current store revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.revision()
}

func (s *Store) revision() (int64, error) {
	var rev int64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		rev, err = readRev(tx.Bucket(bucketMeta))
		return err
	})
	return rev, err
}

// Txn checks conds and, if all hold, applies ops atomically at one new
// revision, returning after the write is fsync'd. A Txn that changes nothing
// (conds only, or deletes of missing keys) returns the current revision
// without creating a new one. Ops apply in order; a key may appear twice.
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := validate(conds, ops); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	req := &txnReq{conds: conds, ops: ops}
	var err error
	switch {
	case len(ops) == 0:
		// Nothing to write: check the conds in a read transaction.
		err = s.view(func(tx *bbolt.Tx) error {
			kv, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
			rev, err := readRev(meta)
			if err != nil {
				return err
			}
			req.rev, req.conflict = rev, !condsHold(kv, conds)
			return nil
		})
	case s.mode == commitGroup:
		req.done = make(chan error, 1)
		s.queue <- req
		err = <-req.done
	default:
		// The commit paths kept for benchmarks: each Txn commits alone.
		if err = s.writable(); err == nil {
			err = s.update(s.mode == commitBatch, func(tx *bbolt.Tx) error { return s.apply(tx, req) })
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store/bolt: txn: %w", err)
	}
	if req.conflict {
		return 0, store.ErrConflict
	}
	return req.rev, nil
}

// Close closes the store. In-flight calls finish first; later calls return
// store.ErrClosed, and every watcher's channel closes with Err() ==
// store.ErrClosed. Closing twice returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait() // committer
	s.hub.close()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return nil
	}
	if s.file != nil {
		s.file.Close()
	}
	if s.health.abandoned.Load() {
		return errors.New("store/bolt: close: bbolt is wedged; the file stays locked until the process exits")
	}
	err := closeDB(s.db, s.opts.closeWait)
	s.db = nil
	if err != nil {
		return fmt.Errorf("store/bolt: close: %w", err)
	}
	return nil
}

// txnReq is one Txn on its way through a commit.
type txnReq struct {
	conds []store.Cond
	ops   []store.Op
	done  chan error // commitGroup: the committer's answer

	// Results, reset by every apply (DB.Batch may apply a request twice).
	rev      int64
	conflict bool
}

// committer is the commitGroup writer: it takes every queued Txn, applies
// them in one bbolt transaction and answers each after the commit.
func (s *Store) committer() {
	defer s.wg.Done()
	group := make([]*txnReq, 0, maxGroup)
	for {
		group = group[:0]
		select {
		case <-s.done:
			return
		case r := <-s.queue:
			group = append(group, r)
		}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-s.queue:
				group = append(group, r)
			default:
				break drain
			}
		}
		err := s.writable()
		if err == nil {
			err = s.update(false, func(tx *bbolt.Tx) error {
				for _, r := range group {
					if err := s.apply(tx, r); err != nil {
						return err
					}
				}
				return nil
			})
		}
		for _, r := range group {
			r.done <- err
		}
	}
}

// apply runs one Txn inside a write transaction. A failed cond is not an
// error (it must not abort the other Txns of a group); it sets r.conflict.
// The events are published after the bbolt transaction commits.
func (s *Store) apply(tx *bbolt.Tx, r *txnReq) error {
	r.rev, r.conflict = 0, false
	kv, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
	cur, err := readRev(meta)
	if err != nil {
		return err
	}
	if !condsHold(kv, r.conds) {
		r.conflict = true
		return nil
	}
	rev := cur + 1
	var events []store.Event
	for _, op := range r.ops {
		k := []byte(op.Key)
		old := kv.Get(k)
		switch op.Kind {
		case store.OpPut:
			create := rev
			if old != nil {
				create = int64(binary.BigEndian.Uint64(old[:8]))
			}
			if err := kv.Put(k, encode(create, rev, op.Value)); err != nil {
				return err
			}
			val := append([]byte{}, op.Value...)
			events = append(events, store.Event{Type: store.EventPut, KV: store.KV{
				Key: op.Key, Value: val, CreateRevision: create, ModRevision: rev,
			}})
		case store.OpDelete:
			if old == nil {
				continue
			}
			if err := kv.Delete(k); err != nil {
				return err
			}
			// Like etcd, a delete event carries only key and revision.
			events = append(events, store.Event{Type: store.EventDelete, KV: store.KV{
				Key: op.Key, ModRevision: rev,
			}})
		}
	}
	if len(events) == 0 {
		r.rev = cur // nothing changed: no new revision, like etcd
		return nil
	}
	if err := meta.Put(keyRev, u64(uint64(rev))); err != nil {
		return err
	}
	r.rev = rev
	tx.OnCommit(func() { s.hub.publish(rev, events) })
	return nil
}

func condsHold(kv *bbolt.Bucket, conds []store.Cond) bool {
	for _, c := range conds {
		v := kv.Get([]byte(c.Key))
		if c.ModRevision == 0 {
			if v != nil {
				return false
			}
			continue
		}
		if v == nil || int64(binary.BigEndian.Uint64(v[8:16])) != c.ModRevision {
			return false
		}
	}
	return true
}

// validate rejects what bbolt would refuse mid-commit, so that one bad Txn
// never fails a whole group.
func validate(conds []store.Cond, ops []store.Op) error {
	for _, c := range conds {
		if c.ModRevision < 0 {
			return fmt.Errorf("store/bolt: cond on %q: negative revision %d", c.Key, c.ModRevision)
		}
	}
	for _, op := range ops {
		switch {
		case op.Key == "":
			return errors.New("store/bolt: empty key")
		case len(op.Key) > bbolt.MaxKeySize:
			return fmt.Errorf("store/bolt: key of %d bytes exceeds %d", len(op.Key), bbolt.MaxKeySize)
		case op.Kind == store.OpPut && len(op.Value) > bbolt.MaxValueSize-recordHeader:
			return fmt.Errorf("store/bolt: value of %d bytes for %q is too large", len(op.Value), op.Key)
		case op.Kind != store.OpPut && op.Kind != store.OpDelete:
			return fmt.Errorf("store/bolt: op on %q: unknown kind %d", op.Key, op.Kind)
		}
	}
	return nil
}

func encode(create, mod int64, value []byte) []byte {
	b := make([]byte, recordHeader+len(value))
	binary.BigEndian.PutUint64(b[0:8], uint64(create))
	binary.BigEndian.PutUint64(b[8:16], uint64(mod))
	copy(b[recordHeader:], value)
	return b
}

// decode copies a record out of bbolt's memory.
func decode(key string, v []byte) (store.KV, error) {
	if len(v) < recordHeader {
		return store.KV{}, fmt.Errorf("store/bolt: corrupt record %q: %d bytes", key, len(v))
	}
	return store.KV{
		Key:            key,
		Value:          append([]byte{}, v[recordHeader:]...),
		CreateRevision: int64(binary.BigEndian.Uint64(v[0:8])),
		ModRevision:    int64(binary.BigEndian.Uint64(v[8:16])),
	}, nil
}

func readRev(meta *bbolt.Bucket) (int64, error) {
	v := meta.Get(keyRev)
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	return 0, fmt.Errorf("store/bolt: corrupt revision: %d bytes", len(v))
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}
