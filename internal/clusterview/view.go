package clusterview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// maxBatch bounds how many watch events are applied under one lock hold.
const maxBatch = 1024

// ErrStopped is returned by WaitFor once Run has ended.
var ErrStopped = errors.New("clusterview: view stopped")

// View is the in-memory view of a store's container instances and tasks.
// Create it with New and feed it with Run; its methods are safe for
// concurrent use.
type View struct {
	st       store.Store
	log      *slog.Logger
	progress Progress // nil: every revision of the store is under the watch

	mu  sync.RWMutex
	idx *index
	// rev is the revision of the last watch event applied; whole says that
	// every change of rev is applied (its writer handed it over, or it is
	// the revision of a listing).
	rev    int64
	whole  bool
	synced bool // the first listing is applied
	// pending holds transactions writers committed through Store at
	// revisions the watch has not reached yet.
	pending map[int64][]change
	waitc   chan struct{} // closed and replaced whenever rev moves or Run ends
	err     error         // why Run ended

	cur     atomic.Int64 // rev once synced, -1 before: WaitFor's fast path
	started atomic.Bool
	stats   stats
	attrs   attrInterner
}

type stats struct {
	listings, events, decoded, handedOver, decodeErrors atomic.Int64
}

// Stats are counters of the view's work, for tests and diagnostics.
type Stats struct {
	Listings     int64 // full listings (the first, and one per compaction)
	Events       int64 // watch events seen
	Decoded      int64 // records decoded
	HandedOver   int64 // transactions writers handed over through Store
	DecodeErrors int64 // records that did not decode (left out of the view)
	Revision     int64 // the view's revision; -1 before the first listing
}

// New returns a view of st. It is empty, and WaitFor blocks, until Run has
// listed the store.
func New(st store.Store, log *slog.Logger) *View {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &View{st: st, log: log, idx: newIndex(), pending: map[int64][]change{}, waitc: make(chan struct{})}
	v.cur.Store(-1)
	return v
}

// Progress is a store whose watch can report how far it has delivered
// (store/etcd). With it, the view follows only the store's own prefix and
// learns from progress reports that revisions written elsewhere on the
// same etcd (log batches, internal/logrepl) hold nothing for it, instead
// of receiving them.
type Progress interface {
	WatchProgress(ctx context.Context, prefix string, afterRev int64) (store.Watcher, error)
	RequestProgress(ctx context.Context) error
}

// SetProgress makes the view watch through p (the engine under its
// store) and ask it for progress while a WaitFor waits. Call it before
// Run.
func (v *View) SetProgress(p Progress) { v.progress = p }

// progressEvery: a WaitFor that waits asks for a progress report at once
// and again after each progressEvery.
const progressEvery = 20 * time.Millisecond

// Stats returns the view's counters.
func (v *View) Stats() Stats {
	return Stats{
		Listings: v.stats.listings.Load(), Events: v.stats.events.Load(), Decoded: v.stats.decoded.Load(),
		HandedOver: v.stats.handedOver.Load(), DecodeErrors: v.stats.decodeErrors.Load(), Revision: v.cur.Load(),
	}
}

// Revision returns the view's revision: every change at it and below is
// applied. It is -1 before the first listing.
func (v *View) Revision() int64 { return v.cur.Load() }

// Run feeds the view until ctx ends or the store closes: it lists the
// records, follows the watch, and lists again whenever the watch ends with
// store.ErrCompacted. Other errors are retried with a backoff. It returns
// nil when ctx ends and store.ErrClosed when the store closes; afterwards
// WaitFor returns ErrStopped. Run may be called once.
func (v *View) Run(ctx context.Context) error {
	if !v.started.CompareAndSwap(false, true) {
		return errors.New("clusterview: Run called twice")
	}
	backoff := 50 * time.Millisecond
	for {
		err := v.follow(ctx)
		switch {
		case ctx.Err() != nil:
			v.stop(ErrStopped)
			return nil
		case errors.Is(err, store.ErrClosed):
			v.stop(fmt.Errorf("%w: %w", ErrStopped, err))
			return err
		case errors.Is(err, store.ErrCompacted):
			v.log.Info("cluster view fell behind the store's watch history; listing again")
			continue
		}
		v.log.Warn("cluster view: watch failed; listing again", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			v.stop(ErrStopped)
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// stop ends the view: waiters get err.
func (v *View) stop(err error) {
	v.mu.Lock()
	v.err = err
	v.pending = map[int64][]change{}
	close(v.waitc)
	v.waitc = make(chan struct{})
	v.mu.Unlock()
}

// follow lists the records and follows the watch until it ends.
func (v *View) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Instances first: the tasks, listed at a revision as new or newer,
	// then hold every task placed on the instances listed, as placement
	// needs. The watch starts at the older listing; the events between the
	// two are replays the view skips.
	insts, rev, err := v.st.List(ctx, state.AllContainerInstancesPrefix(), store.ListOptions{})
	if err != nil {
		return err
	}
	tasks, _, err := v.st.List(ctx, state.AllTasksPrefix(), store.ListOptions{})
	if err != nil {
		return err
	}
	var w store.Watcher
	if v.progress != nil {
		w, err = v.progress.WatchProgress(ctx, "", rev)
	} else {
		w, err = v.st.Watch(ctx, "", rev)
	}
	if err != nil {
		return err
	}
	v.stats.listings.Add(1)
	changes := make([]change, 0, len(insts)+len(tasks))
	for _, kvs := range [][]store.KV{insts, tasks} {
		for _, kv := range kvs {
			if ch, ok := v.decode(kv.Key, kv.Value, kv.ModRevision, false); ok {
				changes = append(changes, ch)
			}
		}
	}
	insts, tasks = nil, nil
	v.reset(rev, changes)
	changes = nil

	batch := make([]store.Event, 0, maxBatch)
	for {
		var ev store.Event
		var ok bool
		select {
		case ev, ok = <-w.Events():
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			if err := w.Err(); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			return errors.New("clusterview: watch ended")
		}
		batch = append(batch[:0], ev)
	drain:
		for len(batch) < maxBatch {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					break drain // the next receive reports why
				}
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		v.applyEvents(batch)
	}
}

// reset replaces the view with a listing at revision rev.
func (v *View) reset(rev int64, changes []change) {
	idx := newIndex()
	for i := range changes {
		idx.apply(&changes[i])
	}
	idx.finish()
	v.mu.Lock()
	v.idx = idx
	v.rev, v.whole, v.synced = rev, true, true
	for r := range v.pending {
		if r <= rev {
			delete(v.pending, r)
		}
	}
	v.publish()
	v.mu.Unlock()
}

// publish makes the newest revision the view holds whole visible to
// WaitFor: v.rev once all its changes are applied, else the one before
// (the watch delivers a revision's changes together, but not always in
// one receive). Called with v.mu held.
func (v *View) publish() {
	done := v.rev
	if !v.whole {
		done--
	}
	if v.cur.Load() == done {
		return
	}
	v.cur.Store(done)
	close(v.waitc)
	v.waitc = make(chan struct{})
}

// decode turns a record into a change. A record that does not decode is
// logged and left out (a delete of its key).
func (v *View) decode(key string, value []byte, rev int64, del bool) (change, bool) {
	kind, cl, id := parseKey(key)
	if kind == kindNone {
		return change{}, false
	}
	ch := change{rev: rev, kind: kind, cluster: cl, id: id, key: key, del: del}
	if del {
		return ch, true
	}
	v.stats.decoded.Add(1)
	var err error
	switch kind {
	case kindTask:
		ch.task = new(state.Task)
		err = json.Unmarshal(value, ch.task)
	case kindInstance:
		ch.inst = new(state.ContainerInstance)
		err = json.Unmarshal(value, ch.inst)
	}
	if err == nil && ch.inst != nil {
		ch.attrs = v.attrs.intern(ch.inst.Attributes)
		ch.inst.Attributes = ch.attrs.attrs
	}
	if err != nil {
		v.stats.decodeErrors.Add(1)
		v.log.Warn("cluster view: record does not decode; left out", "key", key, "err", err)
		ch.del, ch.task, ch.inst, ch.attrs = true, nil, nil, nil
	}
	return ch, true
}

// applyEvents applies a batch of watch events in order. Records are decoded
// before the lock is taken, except those of revisions a writer handed over.
func (v *View) applyEvents(evs []store.Event) {
	v.stats.events.Add(int64(len(evs)))
	changes := make([]*change, len(evs))
	v.mu.RLock()
	rev, whole := v.rev, v.whole
	need := make([]bool, len(evs))
	for i, ev := range evs {
		r := ev.KV.ModRevision
		_, handed := v.pending[r]
		need[i] = ev.Type != store.EventProgress && ((r > rev && !handed) || (r == rev && !whole))
	}
	v.mu.RUnlock()
	for i, ev := range evs {
		if need[i] {
			if ch, ok := v.decode(ev.KV.Key, ev.KV.Value, ev.KV.ModRevision, ev.Type == store.EventDelete); ok {
				changes[i] = &ch
			}
		}
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	for i, ev := range evs {
		r := ev.KV.ModRevision
		if r < v.rev || (r == v.rev && v.whole) {
			continue
		}
		if ev.Type == store.EventProgress {
			// Every change up to r is delivered: r is whole.
			v.rev, v.whole = r, true
			continue
		}
		if r > v.rev {
			v.rev, v.whole = r, false
			if chs, ok := v.pending[r]; ok {
				delete(v.pending, r)
				v.applyChanges(chs)
				v.whole = true
				continue
			}
		}
		ch := changes[i]
		if ch == nil && !need[i] && ev.Type != store.EventProgress {
			// Decoding was skipped for a handed-over revision the view
			// no longer holds (a listing dropped it): decode now.
			if c, ok := v.decode(ev.KV.Key, ev.KV.Value, r, ev.Type == store.EventDelete); ok {
				ch = &c
			}
		}
		if ch != nil {
			v.idx.apply(ch)
		}
		if ev.Last {
			v.whole = true // every change of r is applied
		}
	}
	v.idx.finish()
	for r := range v.pending {
		if r < v.rev {
			delete(v.pending, r) // cannot happen; do not leak if it does
		}
	}
	v.publish()
}

func (v *View) applyChanges(chs []change) {
	for i := range chs {
		v.idx.apply(&chs[i])
	}
}

// committed takes a transaction a writer committed at rev through Store.
func (v *View) committed(rev int64, ops []store.Op) {
	if !v.started.Load() {
		return // nobody would ever take it from pending
	}
	hasPut := false
	for _, op := range ops {
		hasPut = hasPut || op.Kind == store.OpPut
	}
	if !hasPut {
		// A Txn without a put may not create a revision of its own: it
		// cannot stand for the revision it returns.
		return
	}
	var chs []change
	for _, op := range ops {
		if ch, ok := v.decode(op.Key, op.Value, rev, op.Kind == store.OpDelete); ok {
			chs = append(chs, ch)
		}
	}
	if len(chs) == 0 {
		return
	}
	v.stats.handedOver.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.err != nil || rev < v.rev || (rev == v.rev && v.whole):
		// Stopped, or the watch already applied every change of rev.
	case rev == v.rev:
		v.applyChanges(chs)
		v.idx.finish()
		v.whole = true
		v.publish()
	default:
		v.pending[rev] = chs
	}
}

// WaitFor waits until the view has applied the changes of revision rev
// (and of every revision before it), or ctx ends, or the view stops. It
// returns at once when the view is that far.
func (v *View) WaitFor(ctx context.Context, rev int64) error {
	if cur := v.cur.Load(); cur >= 0 && cur >= rev {
		return nil
	}
	var tick <-chan time.Time
	if v.progress != nil {
		// The revision may be one written outside the view's prefix:
		// no event of it will come, a progress report will.
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		tick = t.C
		v.requestProgress(ctx)
	}
	for {
		v.mu.RLock()
		ok := v.synced && (v.rev > rev || (v.rev == rev && v.whole))
		ch, err := v.waitc, v.err
		v.mu.RUnlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-tick:
			v.requestProgress(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (v *View) requestProgress(ctx context.Context) {
	if err := v.progress.RequestProgress(ctx); err != nil && ctx.Err() == nil {
		v.log.Debug("cluster view: request progress", "err", err)
	}
}

// Sync waits until the view has applied every change committed to the
// store before the call: read-your-writes for whoever wrote before.
func (v *View) Sync(ctx context.Context) error {
	rev, err := v.st.Revision(ctx)
	if err != nil {
		return err
	}
	return v.WaitFor(ctx, rev)
}

// Store returns the view's store as every writer must use it: its Txn
// hands every committed transaction that writes instance or task records
// over to the view, so that once such a Txn has returned, a WaitFor for its
// revision sees it whole. Whoever builds the view hands this store to every
// writer once; constructors take it as given.
func (v *View) Store() store.Store { return v.Wrap(v.st) }

// Wrap returns st, which must be the view's store or a store in front of
// it (a test's fault injector, say), with its Txn handing committed
// transactions over to the view as Store's does. Wrapping a store Wrap
// returned returns it. The wrapper keeps the optional methods of the
// engine that callers look for (Compact).
func (v *View) Wrap(st store.Store) store.Store {
	switch w := st.(type) {
	case *wrapped:
		if w.v == v {
			return w
		}
	case *compacting:
		if w.v == v {
			return w
		}
	}
	w := &wrapped{Store: st, v: v}
	if c, ok := st.(compactor); ok {
		return &compacting{wrapped: w, c: c}
	}
	return w
}

type wrapped struct {
	store.Store
	v *View
}

func (w *wrapped) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	rev, err := w.Store.Txn(ctx, conds, ops)
	if err == nil {
		w.v.committed(rev, ops)
	}
	return rev, err
}

// compactor is an engine that drops watch history on demand (bolt, etcd;
// storetest.Compactor).
type compactor interface {
	Compact(ctx context.Context, rev int64) error
}

// compacting is the wrapper of an engine that has Compact.
type compacting struct {
	*wrapped
	c compactor
}

func (w *compacting) Compact(ctx context.Context, rev int64) error { return w.c.Compact(ctx, rev) }
