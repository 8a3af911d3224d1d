// Package liveness tracks which host agents are connected: an agent is
// connected while it has been heard from within the timeout. It is kept in
// memory on the control plane; after a restart every agent counts as
// disconnected until it polls again, which it does within seconds.
package liveness

import (
	"sync"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Tracker remembers when each agent was last heard from.
type Tracker struct {
	clock   core.Clock
	timeout time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	open map[string]int // long polls in progress
}

// New returns a Tracker that considers an agent gone after timeout of silence.
func New(clock core.Clock, timeout time.Duration) *Tracker {
	return &Tracker{clock: clock, timeout: timeout, last: map[string]time.Time{}, open: map[string]int{}}
}

// Touch records that agent id was heard from now.
func (t *Tracker) Touch(id string) {
	t.mu.Lock()
	t.last[id] = t.clock.Now()
	t.mu.Unlock()
}

// Hold marks a long poll of agent id as open until the returned func is
// called; an agent with an open poll is connected.
func (t *Tracker) Hold(id string) (release func()) {
	t.mu.Lock()
	t.open[id]++
	t.last[id] = t.clock.Now()
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.open[id]--
		if t.open[id] <= 0 {
			delete(t.open, id)
		}
		t.last[id] = t.clock.Now()
		t.mu.Unlock()
	}
}

// Connected reports whether agent id is connected.
func (t *Tracker) Connected(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open[id] > 0 {
		return true
	}
	last, ok := t.last[id]
	return ok && t.clock.Now().Sub(last) <= t.timeout
}
