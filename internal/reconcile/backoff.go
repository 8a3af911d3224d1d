package reconcile

import (
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Launch backoff, after ECS's "service throttle logic": when a service's
// tasks keep failing, the time between launches grows, so a broken image
// is retried less and less often instead of in a tight loop.
//
// ECS grows the wait "incrementally ... up to a maximum of 15 minutes" and
// publishes nothing more. minato doubles it from BackoffBase after each
// consecutive failure, up to BackoffCap: 1 s, 2 s, 4 s, ... 256 s, then 5 min.
// A small base keeps the circuit breaker quick: with its minimum threshold
// of 3, a deployment whose tasks never start fails after 1 s + 2 s of waits.
const (
	BackoffBase = time.Second
	BackoffCap  = 5 * time.Minute
	// throttleEventAt is the failure count at which the throttle event is
	// recorded: ECS records it once tasks "repeatedly" fail to start.
	throttleEventAt = 3
)

// LaunchDelay is how long launches wait after the n-th consecutive failure:
// min(BackoffBase·2^(n-1), BackoffCap), and 0 for n <= 0.
func LaunchDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := BackoffBase
	for i := 1; i < n && d < BackoffCap; i++ {
		d *= 2
	}
	return min(d, BackoffCap)
}

// backoff is the launch backoff after this decision.
type backoff struct {
	failures int       // consecutive failures
	next     time.Time // launches wait until then (zero: no wait)
}

// updateBackoff folds the failures counted now (their times) into the
// input's backoff state. The time of the last failure is not stored: it is
// NextLaunchAt - LaunchDelay(ConsecutiveFailures), since that is how
// NextLaunchAt was made. A task that reached RUNNING after the last failure
// ends the run of failures, and so does a new PRIMARY deployment (ECS: a
// service updated to a new task definition "returns to a normal,
// non-throttled state immediately"); failures after that start a new run.
func (d *decider) updateBackoff(failedAt []time.Time) backoff {
	in := d.in
	n := max(in.ConsecutiveFailures, 0)
	var last time.Time
	if n > 0 {
		last = in.NextLaunchAt.Add(-LaunchDelay(n))
	}
	var reset time.Time
	for _, t := range d.tasks {
		if t.LastStatus == core.TaskRunning && isLive(t) && t.StartedAt.After(last) && t.StartedAt.After(reset) {
			reset = t.StartedAt
		}
	}
	if p := d.deps[0]; p.CreatedAt.After(last) && p.CreatedAt.After(reset) {
		reset = p.CreatedAt
	}
	if !reset.IsZero() {
		n, last = 0, time.Time{}
	}
	for _, at := range failedAt {
		if !reset.IsZero() && !at.After(reset) {
			continue
		}
		n++
		if at.After(last) {
			last = at
		}
	}
	if n == 0 {
		return backoff{}
	}
	return backoff{failures: n, next: last.Add(LaunchDelay(n))}
}
