package core

import "time"

// Clock tells the time. Inject it so tests can control time.
type Clock interface {
	Now() time.Time
}

// TimerClock is a Clock that also calls functions later, by its own time.
// Code that times a decision (look again at a deadline it computed from
// Now) asks AfterFunc, so that a test's clock decides when the deadline
// has come.
type TimerClock interface {
	Clock
	// AfterFunc calls f in its own goroutine once d has passed on the
	// clock. Stop on the Timer cancels the call if it has not started.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a call AfterFunc arranged.
type Timer interface {
	// Stop cancels the call; it reports whether it did (false: the call
	// ran already or was stopped before).
	Stop() bool
}

// AfterFunc calls f once d has passed on c: with c's own timers when c is
// a TimerClock, by the wall clock otherwise (a Clock that only tells the
// time, such as ClockFunc).
func AfterFunc(c Clock, d time.Duration, f func()) Timer {
	if tc, ok := c.(TimerClock); ok {
		return tc.AfterFunc(d, f)
	}
	return time.AfterFunc(d, f)
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

var _ TimerClock = SystemClock{}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
