package agentserver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// instanceTasksRoot is the prefix of every instance's task index
// (state.InstanceTasksPrefix without the instance).
var instanceTasksRoot = strings.TrimSuffix(state.InstanceTasksPrefix(""), "/")

// doorbells let long polls wait for a change of their instance's task
// index without a store watch each: one watch on the whole index rings
// the doorbell of the instance a change concerns, so that a commit wakes
// only the polls it concerns.
type doorbells struct {
	st store.Store

	mu sync.Mutex
	// floor: every index change after this revision has been, or will be,
	// rung; -1 until the watch first runs.
	floor   int64
	once    sync.Once
	stopped bool // the store closed: nothing will ring again
	bells   map[string]*bell
}

// bell is one instance's doorbell.
type bell struct {
	rev  int64         // the newest revision of a change of the instance's index seen
	ring chan struct{} // closed by the next change; nil until someone waits
}

func newDoorbells(st store.Store) *doorbells {
	return &doorbells{st: st, floor: -1, bells: map[string]*bell{}}
}

// start starts following the index, once; the goroutine ends when the
// store closes.
func (d *doorbells) start() {
	d.once.Do(func() { go d.run(context.Background()) })
}

// run follows the index until the store closes, listening again from the
// current revision whenever the watch ends (it fell behind the store's
// history, or failed); each restart rings every doorbell, and the polls
// that wait for a revision before the new floor answer.
func (d *doorbells) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := d.st.Revision(ctx)
		var w store.Watcher
		if err == nil {
			w, err = d.st.Watch(ctx, instanceTasksRoot, rev)
		}
		if err == nil {
			d.restart(rev)
			backoff = 50 * time.Millisecond
			for ev := range w.Events() {
				id, _, ok := strings.Cut(strings.TrimPrefix(ev.KV.Key, instanceTasksRoot), "/")
				if ok {
					d.ringOne(id, ev.KV.ModRevision)
				}
			}
			err = w.Err()
		}
		if errors.Is(err, store.ErrClosed) {
			d.stop()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	d.stop()
}

// ready reports whether the watch has run (wait can answer).
func (d *doorbells) ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.floor >= 0 || d.stopped
}

func (d *doorbells) restart(rev int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.floor = rev
	for _, b := range d.bells {
		b.wake()
	}
}

func (d *doorbells) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	for _, b := range d.bells {
		b.wake()
	}
}

// ringOne records a change of instance id's index at rev.
func (d *doorbells) ringOne(id string, rev int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bells[id]
	if b == nil {
		b = &bell{}
		d.bells[id] = b
	}
	b.rev = max(b.rev, rev)
	b.wake()
}

func (b *bell) wake() {
	if b.ring != nil {
		close(b.ring)
		b.ring = nil
	}
}

// wait returns once instance id's index has changed after revision since,
// or nothing can tell (the change may have come before the watch started,
// or the store closed), or ctx ends. A change committed before wait is
// called is not missed: it has been rung already, or it will ring. It
// returns false, at once, when the watch has not run yet: the caller is to
// wait some other way.
func (d *doorbells) wait(ctx context.Context, id string, since int64) bool {
	for {
		d.mu.Lock()
		if d.floor < 0 && !d.stopped {
			d.mu.Unlock()
			return false
		}
		if d.stopped || since < d.floor {
			d.mu.Unlock()
			return true
		}
		b := d.bells[id]
		if b == nil {
			b = &bell{}
			d.bells[id] = b
		}
		if b.rev > since {
			d.mu.Unlock()
			return true
		}
		if b.ring == nil {
			b.ring = make(chan struct{})
		}
		ring := b.ring
		d.mu.Unlock()
		select {
		case <-ring:
		case <-ctx.Done():
			return true
		}
	}
}
