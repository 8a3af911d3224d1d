// Package scaling decides Application Auto Scaling's target tracking
// steps: pure functions of a policy, the scalable target's bounds, the
// current capacity, the metric and the alarm states, tested with plain
// values. Reading metrics, keeping records and changing a service's
// desired count are the caller's.
//
// Target tracking as AWS documents it: the policy's high alarm (the metric
// above the target for 3 consecutive minutes) scales out and its low alarm
// (below 90 % of the target for 15 minutes) scales in, to the capacity
// proportional to metric/target, rounded up (out) or conservatively (in,
// never below what keeps the metric under the target). A scale-out is
// not repeated within the scale-out cooldown of the last scale-out; a
// scale-in waits for the scale-in cooldown after any scaling. Capacity
// stays within [min, max]; DisableScaleIn turns scale-in off.
package scaling

import (
	"fmt"
	"math"
	"time"
)

// Policy is a target tracking policy's configuration.
type Policy struct {
	Target           float64
	ScaleOutCooldown time.Duration
	ScaleInCooldown  time.Duration
	DisableScaleIn   bool
}

// Input is what a decision looks at.
type Input struct {
	Current  int     // current desired capacity
	Min, Max int     // the scalable target's bounds
	Metric   float64 // the metric's latest value (average over the last period)
	High     bool    // the high alarm is in ALARM
	Low      bool    // the low alarm is in ALARM
	Now      time.Time
	// LastScaleOut and LastScaleIn are when the policy last changed the
	// capacity each way (zero: never).
	LastScaleOut, LastScaleIn time.Time
}

// Decision is the capacity to set, when Scale is true, and why.
type Decision struct {
	Scale    bool
	Capacity int
	// Reason says why nothing was done, or what was done, in words.
	Reason string
}

// Decide returns the step the policy takes now.
func Decide(p Policy, in Input) Decision {
	if in.Current < in.Min {
		return Decision{Scale: true, Capacity: in.Min, Reason: fmt.Sprintf("below the minimum capacity %d", in.Min)}
	}
	if in.Current > in.Max {
		return Decision{Scale: true, Capacity: in.Max, Reason: fmt.Sprintf("above the maximum capacity %d", in.Max)}
	}
	if p.Target <= 0 || math.IsNaN(in.Metric) {
		return Decision{Reason: "no usable target or metric"}
	}
	want := proportional(in.Current, in.Metric, p.Target)
	switch {
	case in.High:
		if !in.LastScaleOut.IsZero() && in.Now.Before(in.LastScaleOut.Add(p.ScaleOutCooldown)) {
			return Decision{Reason: "in the scale-out cooldown"}
		}
		want = max(want, in.Current+1)
		if want > in.Max {
			want = in.Max
		}
		if want <= in.Current {
			return Decision{Reason: fmt.Sprintf("at the maximum capacity %d", in.Max)}
		}
		return Decision{Scale: true, Capacity: want, Reason: "the metric is above the target"}
	case in.Low:
		if p.DisableScaleIn {
			return Decision{Reason: "scale-in is disabled"}
		}
		last := in.LastScaleIn
		if in.LastScaleOut.After(last) {
			last = in.LastScaleOut
		}
		if !last.IsZero() && in.Now.Before(last.Add(p.ScaleInCooldown)) {
			return Decision{Reason: "in the scale-in cooldown"}
		}
		if want >= in.Current {
			want = in.Current - 1
		}
		if want < in.Min {
			want = in.Min
		}
		if want >= in.Current {
			return Decision{Reason: fmt.Sprintf("at the minimum capacity %d", in.Min)}
		}
		return Decision{Scale: true, Capacity: want, Reason: "the metric is below the target"}
	}
	return Decision{Reason: "no alarm"}
}

// proportional is the capacity at which the metric would meet the target,
// given that it scales inversely with capacity: ceil(current*metric/target),
// at least 1 when there is load.
func proportional(current int, metric, target float64) int {
	if current <= 0 {
		if metric > 0 {
			return 1
		}
		return 0
	}
	// A small tolerance keeps 70.0000001 % of a target of 70 from adding a task.
	v := float64(current) * metric / target
	return int(math.Ceil(v - 1e-9))
}
