package logrepl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/store"
)

// DefaultRetention is how long a batch stays in the shared store.
const DefaultRetention = 15 * time.Minute

// Config configures a Replicator.
type Config struct {
	Store  store.Store     // the shared store (etcd)
	Logs   *logstore.Store // this server's log store
	Origin string          // this server's name, unique among the servers
	// Dir holds the list of imported batches (the logstore's directory).
	Dir string
	// Retention is how long batches stay in the store (DefaultRetention).
	Retention time.Duration
	// Legacy, when set, is a store that held batches before Store did
	// (etcd's state prefix, before they moved beside it): its batches are
	// expired as Store's are, and never imported.
	Legacy store.Store
	Clock  core.Clock
	Logger *slog.Logger
}

// Replicator writes this server's batches to the shared store and imports
// the others'.
type Replicator struct {
	cfg Config
	n   atomic.Uint64

	mu    sync.Mutex
	seen  map[string]bool // imported keys still in the store
	lines int             // lines in the applied file
	f     *os.File
}

// New opens the list of imported batches in cfg.Dir and hooks the
// replicator into cfg.Logs: from now on every Append is written to the
// store first.
func New(cfg Config) (*Replicator, error) {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Replicator{cfg: cfg, seen: map[string]bool{}}
	r.n.Store(uint64(cfg.Clock.Now().UnixNano()))
	if err := r.loadApplied(); err != nil {
		return nil, err
	}
	cfg.Logs.SetReplicate(r.put)
	return r, nil
}

func (r *Replicator) appliedPath() string { return filepath.Join(r.cfg.Dir, "replicated.keys") }

func (r *Replicator) loadApplied() error {
	if err := os.MkdirAll(r.cfg.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(r.appliedPath(), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := sc.Text(); strings.HasPrefix(k, Prefix) {
			r.seen[k] = true
			r.lines++
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return err
	}
	r.f = f
	return nil
}

// Close closes the list of imported batches.
func (r *Replicator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// put writes a batch to the store, in chunks, each durable before it
// returns (the logstore's Append hook).
func (r *Replicator) put(group, stream string, evs []logstore.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms := r.cfg.Clock.Now().UnixMilli()
	n := r.n.Add(1)
	for i, c := range Chunks(evs, MaxChunkBytes) {
		v, err := encode(Batch{Origin: r.cfg.Origin, Group: group, Stream: stream, Events: c})
		if err != nil {
			return err
		}
		if _, err := r.cfg.Store.Txn(ctx, nil, []store.Op{store.Put(Key(ms, r.cfg.Origin, n, i), v)}); err != nil {
			return fmt.Errorf("replicate log events: %w", err)
		}
	}
	return nil
}

// Run imports the other servers' batches and expires old ones until ctx
// ends.
func (r *Replicator) Run(ctx context.Context) error {
	go r.expireLoop(ctx)
	backoff := 100 * time.Millisecond
	for {
		err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.cfg.Logger.Warn("log replication: watch ended; listing again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// follow lists the batches, imports those not yet imported, and follows
// the watch.
func (r *Replicator) follow(ctx context.Context) error {
	kvs, rev, err := r.cfg.Store.List(ctx, Prefix, store.ListOptions{})
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		live[kv.Key] = true
		if err := r.importKV(kv); err != nil {
			return err
		}
	}
	r.forgetExcept(live)
	w, err := r.cfg.Store.Watch(ctx, Prefix, rev)
	if err != nil {
		return err
	}
	for ev := range w.Events() {
		switch ev.Type {
		case store.EventPut:
			if err := r.importKV(ev.KV); err != nil {
				return err
			}
		case store.EventDelete:
			r.mu.Lock()
			delete(r.seen, ev.KV.Key)
			r.mu.Unlock()
		}
	}
	if err := w.Err(); err != nil {
		return err
	}
	return errors.New("watch closed")
}

// importKV stores one chunk of another server's batch, once.
func (r *Replicator) importKV(kv store.KV) error {
	r.mu.Lock()
	seen := r.seen[kv.Key]
	r.mu.Unlock()
	if seen {
		return nil
	}
	b, err := decode(kv.Value)
	if err != nil {
		r.cfg.Logger.Warn("log replication: bad batch skipped", "key", kv.Key, "err", err)
		return r.markApplied(kv.Key)
	}
	if b.Origin == r.cfg.Origin {
		// Written here already (or refused to its client, who resends).
		r.mu.Lock()
		r.seen[kv.Key] = true
		r.mu.Unlock()
		return nil
	}
	{
		err := r.cfg.Logs.EnsureLocal(b.Group, b.Stream)
		if errors.Is(err, logstore.ErrGroupNotFound) || errors.Is(err, logstore.ErrStreamNotFound) {
			// Deleted since, on some server: its events go with it.
			return r.markApplied(kv.Key)
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", kv.Key, err)
		}
		_, err = r.cfg.Logs.AppendLocal(b.Group, b.Stream, b.Events)
		if errors.Is(err, logstore.ErrGroupNotFound) || errors.Is(err, logstore.ErrStreamNotFound) {
			return r.markApplied(kv.Key)
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", kv.Key, err)
		}
	}
	return r.markApplied(kv.Key)
}

// markApplied records a key as imported, durably, so that a restart does
// not import it again.
func (r *Replicator) markApplied(key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[key] = true
	if r.f == nil {
		return errors.New("log replication closed")
	}
	if _, err := r.f.WriteString(key + "\n"); err != nil {
		return err
	}
	r.lines++
	return r.f.Sync()
}

// forgetExcept drops the imported keys that are no longer in the store and
// rewrites the list when it has grown well past them.
func (r *Replicator) forgetExcept(live map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.seen {
		if !live[k] {
			delete(r.seen, k)
		}
	}
	if r.lines > 2*len(r.seen)+1000 && r.f != nil {
		if err := r.rewrite(); err != nil {
			r.cfg.Logger.Warn("log replication: rewrite imported list", "err", err)
		}
	}
}

// rewrite replaces the applied file with the live keys. Called with mu.
func (r *Replicator) rewrite() error {
	tmp := r.appliedPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for k := range r.seen {
		w.WriteString(k + "\n")
	}
	if err := errors.Join(w.Flush(), f.Sync()); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, r.appliedPath()); err != nil {
		f.Close()
		return err
	}
	r.f.Close()
	if _, err := f.Seek(0, 2); err != nil {
		f.Close()
		return err
	}
	r.f, r.lines = f, len(r.seen)
	return nil
}

func (r *Replicator) expireLoop(ctx context.Context) {
	every := min(r.cfg.Retention/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Expire(ctx, r.cfg.Clock.Now()); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("log replication: expire", "err", err)
			}
		}
	}
}

// Expire removes the batches older than the retention at now (any server
// may: deleting is idempotent). It returns how many it removed.
func (r *Replicator) Expire(ctx context.Context, now time.Time) (int, error) {
	n, err := r.expire(ctx, r.cfg.Store, now)
	if r.cfg.Legacy != nil && err == nil {
		var m int
		m, err = r.expire(ctx, r.cfg.Legacy, now)
		n += m
	}
	return n, err
}

func (r *Replicator) expire(ctx context.Context, st store.Store, now time.Time) (int, error) {
	total := 0
	for {
		kvs, _, err := st.List(ctx, Prefix, store.ListOptions{Limit: 64})
		if err != nil {
			return total, err
		}
		var ops []store.Op
		for _, kv := range kvs {
			if !Expired(kv.Key, now, r.cfg.Retention) {
				break
			}
			ops = append(ops, store.Delete(kv.Key))
		}
		if len(ops) == 0 {
			return total, nil
		}
		if _, err := st.Txn(ctx, nil, ops); err != nil {
			return total, err
		}
		total += len(ops)
		if len(ops) < len(kvs) {
			return total, nil
		}
	}
}
