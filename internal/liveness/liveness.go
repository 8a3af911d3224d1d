// Package liveness tracks which host agents are connected: an agent is
// connected while it has been heard from within the timeout. It is kept in
// memory on the control plane; after a restart every agent counts as
// disconnected until it polls again, which it does within seconds.
package liveness

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Tracker remembers when each agent was last heard from. Reading it takes
// no lock: placement asks about every instance of a cluster on every call,
// while thousands of long polls open and close.
type Tracker struct {
	clock   core.Clock
	timeout time.Duration
	started int64 // when the tracker was made, Unix nanoseconds

	mu  sync.Mutex
	all map[string]*agent // every agent heard from; entries are never removed
	// snap is a read-only copy of all, replaced (by Reader) after agents
	// were added: lookups in it take no lock.
	snap  atomic.Pointer[map[string]*agent]
	dirty atomic.Bool // all holds agents snap lacks
	// remote holds the agents other control-plane servers said were
	// connected to them, with when this tracker learnt it (Unix
	// nanoseconds); replaced whole, read without a lock.
	remote atomic.Pointer[map[string]int64]
}

// agent is what the Tracker knows of one agent.
type agent struct {
	open atomic.Int32 // long polls in progress
	last atomic.Int64 // when last heard from, Unix nanoseconds
}

// New returns a Tracker that considers an agent gone after timeout of silence.
func New(clock core.Clock, timeout time.Duration) *Tracker {
	t := &Tracker{clock: clock, timeout: timeout, all: map[string]*agent{}, started: clock.Now().UnixNano()}
	t.snap.Store(&map[string]*agent{})
	t.remote.Store(&map[string]int64{})
	return t
}

// HeardElsewhere records that another control-plane server reports the
// agents ids connected to it now: they count as connected here too, until
// the timeout passes without another such word.
func (t *Tracker) HeardElsewhere(ids []string) {
	if len(ids) == 0 {
		return
	}
	now := t.clock.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.remote.Load()
	m := make(map[string]int64, len(old)+len(ids))
	since := now - int64(t.timeout)
	for id, at := range old {
		if at >= since {
			m[id] = at
		}
	}
	for _, id := range ids {
		m[id] = now
	}
	t.remote.Store(&m)
}

// Local returns the agents connected to this server itself (not those
// only heard of from other servers), in no order.
func (t *Tracker) Local() []string {
	r := t.Reader()
	var ids []string
	for id, a := range r.snap {
		if a.open.Load() > 0 || a.last.Load() >= r.since {
			ids = append(ids, id)
		}
	}
	return ids
}

func (t *Tracker) agent(id string) *agent {
	if a := (*t.snap.Load())[id]; a != nil {
		return a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.all[id]
	if a == nil {
		a = new(agent)
		t.all[id] = a
		t.dirty.Store(true)
	}
	return a
}

// lookup returns agent id, or nil if it was never heard from.
func (t *Tracker) lookup(snap map[string]*agent, id string) *agent {
	if a := snap[id]; a != nil {
		return a
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.all[id]
}

// Touch records that agent id was heard from now.
func (t *Tracker) Touch(id string) {
	t.agent(id).last.Store(t.clock.Now().UnixNano())
}

// Hold marks a long poll of agent id as open until the returned func is
// called; an agent with an open poll is connected.
func (t *Tracker) Hold(id string) (release func()) {
	a := t.agent(id)
	a.last.Store(t.clock.Now().UnixNano())
	a.open.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			// last first: a reader that sees the poll closed sees when.
			a.last.Store(t.clock.Now().UnixNano())
			a.open.Add(-1)
		})
	}
}

// Connected reports whether agent id is connected.
func (t *Tracker) Connected(id string) bool { return t.Reader().Connected(id) }

// Reader returns a reader of the Tracker as of now: the clock is read once
// for all the questions asked of it. Asking about many agents this way
// costs one lock-free map lookup each.
func (t *Tracker) Reader() Reader {
	if t.dirty.Load() {
		t.mu.Lock()
		if t.dirty.Load() {
			m := make(map[string]*agent, len(t.all))
			for id, a := range t.all {
				m[id] = a
			}
			t.snap.Store(&m)
			t.dirty.Store(false)
		}
		t.mu.Unlock()
	}
	return Reader{t: t, snap: *t.snap.Load(), remote: *t.remote.Load(), since: t.clock.Now().Add(-t.timeout).UnixNano()}
}

// Reader answers whether agents are connected, as of when it was made.
type Reader struct {
	t      *Tracker
	snap   map[string]*agent
	remote map[string]int64
	since  int64 // heard from at or after this: connected
}

// Connected reports whether agent id is connected.
func (r Reader) Connected(id string) bool {
	if a := r.t.lookup(r.snap, id); a != nil && (a.open.Load() > 0 || a.last.Load() >= r.since) {
		return true
	}
	at, ok := r.remote[id]
	return ok && at >= r.since
}

// Lost reports whether agent id is gone: not connected, and silent for
// longer than the timeout since the tracker was made as well, so that
// every agent is not lost at once after a restart of the control plane
// (none of them was heard from by this tracker yet).
func (r Reader) Lost(id string) bool {
	return !r.Connected(id) && r.t.started < r.since
}
