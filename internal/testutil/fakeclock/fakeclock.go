// Package fakeclock is a core.TimerClock for tests: its time moves only
// when the test sets or advances it, and the functions given to its
// AfterFunc run when it reaches their time. A test that checks when
// something is decided then never waits for the wall clock.
package fakeclock

import (
	"slices"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Clock is a fake clock. Its zero value is not usable; call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

var _ core.TimerClock = (*Clock)(nil)

// New returns a clock that reads t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and runs, each in its own
// goroutine, the functions whose time has come.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.fire()
	c.mu.Unlock()
}

// AfterFunc calls f once the clock has advanced by d (at once when d <= 0).
func (c *Clock) AfterFunc(d time.Duration, f func()) core.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.fire()
	return t
}

// Pending is how many AfterFunc calls have not run or been stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// fire runs the due timers; c.mu is held.
func (c *Clock) fire() {
	c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool {
		if t.at.After(c.now) {
			return false
		}
		go t.f()
		return true
	})
}

type timer struct {
	c  *Clock
	at time.Time
	f  func()
}

// Stop cancels the call if it has not run.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	n := len(t.c.timers)
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *timer) bool { return x == t })
	return len(t.c.timers) < n
}
