package bolt

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/minato-project/minato/internal/store"
)

// scanChunk bounds how many ring entries a watcher copies per lock hold.
const scanChunk = 256

// eventOverhead is what one ring entry costs besides its key and value.
const eventOverhead = 64

// Watch streams every change under prefix with a revision greater than
// afterRev. History is in memory only: afterRev must be at least the revision
// the store had when opened (and not older than what the ring of
// Options.History events still holds), or the watcher ends at once with
// store.ErrCompacted. A watcher more than Options.History events behind the
// writers ends with store.ErrCompacted; writers never wait for watchers.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64) (store.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	w, err := s.hub.watch(ctx, prefix, afterRev)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Compact drops the kept watch history before rev, like etcd's compaction:
// afterwards a Watch needs afterRev >= rev-1, and a running watcher that has
// not yet read up to rev ends with store.ErrCompacted. bolt keeps no old
// versions, so nothing on disk changes; Compact only bounds watch replay (and
// lets the conformance suite test store.ErrCompacted).
func (s *Store) Compact(ctx context.Context, rev int64) error {
	cur, err := s.Revision(ctx)
	if err != nil {
		return err
	}
	if rev > cur {
		return fmt.Errorf("store/bolt: compact %d: beyond current revision %d", rev, cur)
	}
	s.hub.compact(rev - 1)
	return nil
}

// hub keeps recent events in a ring, in revision order, and feeds watchers
// from it. Each watcher has a cursor into the ring and its own goroutine, so
// a slow watcher only loses its place (ErrCompacted) and never blocks
// publish.
type hub struct {
	mu  sync.Mutex
	buf []store.Event // ring; event seq n lives at buf[n%len(buf)]
	// start and end are the seqs of the oldest kept event and of the next.
	start, end uint64
	// bytes is the size of the kept events; at most maxBytes.
	bytes, maxBytes int
	// compacted: every event with a revision above it is in the ring or not
	// yet published, so a watch needs afterRev >= compacted.
	compacted int64
	// next is the revision publish expects next; commits that finish out of
	// order wait in pending, so the ring is always in revision order.
	next    int64
	pending map[int64][]store.Event
	changed chan struct{} // closed and replaced by every publish
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup // watcher goroutines
	bufSize int
}

func newHub(rev int64, history, maxBytes, bufSize int) *hub {
	return &hub{
		buf:       make([]store.Event, history),
		maxBytes:  maxBytes,
		compacted: rev,
		next:      rev + 1,
		pending:   make(map[int64][]store.Event),
		changed:   make(chan struct{}),
		done:      make(chan struct{}),
		bufSize:   bufSize,
	}
}

// publish hands the events of committed revision rev to the watchers. Every
// committed revision is published exactly once, in any order.
func (h *hub) publish(rev int64, events []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || rev < h.next {
		return
	}
	if rev != h.next {
		h.pending[rev] = events
		return
	}
	for {
		for _, ev := range events {
			h.append(ev)
		}
		h.next++
		var ok bool
		if events, ok = h.pending[h.next]; !ok {
			break
		}
		delete(h.pending, h.next)
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// last returns the newest revision committed to the hub, published or
// waiting in pending.
func (h *hub) last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := h.next - 1
	for rev := range h.pending {
		last = max(last, rev)
	}
	return last
}

// rebase restarts the history at rev, after the store was reopened at a
// revision the hub did not see committed (a commit reported as failed had
// reached the disk): every kept event goes, every watcher ends with
// store.ErrCompacted and relists, and a watch needs afterRev >= rev.
func (h *hub) rebase(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.start < h.end {
		h.evict()
	}
	// Skip one sequence number: every watcher's cursor is now behind
	// start, so its next fill reports ErrCompacted.
	h.end++
	h.start = h.end
	h.compacted, h.next = rev, rev+1
	clear(h.pending)
	close(h.changed)
	h.changed = make(chan struct{})
}

func eventSize(ev store.Event) int { return eventOverhead + len(ev.KV.Key) + len(ev.KV.Value) }

// append adds ev to the ring, evicting the oldest events to make room.
func (h *hub) append(ev store.Event) {
	n := uint64(len(h.buf))
	size := eventSize(ev)
	for h.start < h.end && (h.end-h.start == n || h.bytes+size > h.maxBytes) {
		h.evict()
	}
	h.buf[h.end%n] = ev
	h.end++
	h.bytes += size
}

func (h *hub) evict() {
	i := h.start % uint64(len(h.buf))
	h.compacted = max(h.compacted, h.buf[i].KV.ModRevision)
	h.bytes -= eventSize(h.buf[i])
	h.buf[i] = store.Event{}
	h.start++
}

// compact drops the events at and below rev.
func (h *hub) compact(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.start < h.end && h.buf[h.start%uint64(len(h.buf))].KV.ModRevision <= rev {
		h.evict()
	}
	h.compacted = max(h.compacted, rev)
}

func (h *hub) watch(ctx context.Context, prefix string, afterRev int64) (*watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, store.ErrClosed
	}
	w := &watcher{h: h, prefix: prefix, after: afterRev, out: make(chan store.Event, h.bufSize)}
	if afterRev < h.compacted {
		w.finish(store.ErrCompacted)
		return w, nil
	}
	n := uint64(len(h.buf))
	i := sort.Search(int(h.end-h.start), func(i int) bool {
		return h.buf[(h.start+uint64(i))%n].KV.ModRevision > afterRev
	})
	w.cursor = h.start + uint64(i)
	h.wg.Add(1)
	go w.run(ctx)
	return w, nil
}

// close ends every watcher with store.ErrClosed and waits for them.
func (h *hub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// watcher is one open Watch.
type watcher struct {
	h      *hub
	prefix string
	after  int64
	cursor uint64 // seq of the next ring entry to look at; guarded by h.mu
	out    chan store.Event

	mu  sync.Mutex
	err error
}

func (w *watcher) Events() <-chan store.Event { return w.out }

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watcher) finish(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	close(w.out)
}

func (w *watcher) run(ctx context.Context) {
	defer w.h.wg.Done()
	var batch []store.Event
	for {
		if ctx.Err() != nil {
			w.finish(nil)
			return
		}
		var (
			wait <-chan struct{}
			err  error
		)
		batch, wait, err = w.fill(batch[:0])
		if err != nil {
			w.finish(err)
			return
		}
		if wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
				w.finish(nil)
				return
			case <-w.h.done:
				w.finish(store.ErrClosed)
				return
			}
			continue
		}
		for _, ev := range batch {
			// Ring values are shared by every watcher; hand out a copy.
			if ev.KV.Value != nil {
				ev.KV.Value = append([]byte{}, ev.KV.Value...)
			}
			select {
			case w.out <- ev:
			case <-ctx.Done():
				w.finish(nil)
				return
			case <-w.h.done:
				w.finish(store.ErrClosed)
				return
			}
		}
	}
}

// fill appends to batch the matching events from the watcher's cursor on. It
// returns a channel to wait on when the watcher has seen every event, or
// ErrCompacted when the ring has moved past the cursor.
func (w *watcher) fill(batch []store.Event) ([]store.Event, <-chan struct{}, error) {
	h := w.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return batch, nil, store.ErrClosed
	}
	if w.cursor < h.start {
		return batch, nil, store.ErrCompacted
	}
	if w.cursor == h.end {
		return batch, h.changed, nil
	}
	n := uint64(len(h.buf))
	from := len(batch)
	var rev int64
	// Whole revisions only (a revision is published whole, under h.mu):
	// past scanChunk, the scan goes on to the end of the revision it is in.
	for i := 0; w.cursor < h.end; i++ {
		ev := h.buf[w.cursor%n]
		if i >= scanChunk && ev.KV.ModRevision != rev {
			break
		}
		rev = ev.KV.ModRevision
		w.cursor++
		if ev.KV.ModRevision > w.after && strings.HasPrefix(ev.KV.Key, w.prefix) {
			ev.Last = false
			batch = append(batch, ev)
		}
	}
	markLast(batch[from:])
	return batch, nil, nil
}

// markLast sets Last on the last event of each revision in evs, which
// holds whole revisions in order.
func markLast(evs []store.Event) {
	for i := range evs {
		evs[i].Last = i == len(evs)-1 || evs[i+1].KV.ModRevision != evs[i].KV.ModRevision
	}
}
