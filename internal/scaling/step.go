package scaling

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Step scaling, as Application Auto Scaling documents it: a CloudWatch
// alarm whose action names the policy invokes it; the policy picks the
// step adjustment whose interval holds the breach (the metric minus the
// alarm's threshold) and changes the capacity by it.

// Adjustment types of a step scaling policy.
const (
	ChangeInCapacity        = "ChangeInCapacity"
	PercentChangeInCapacity = "PercentChangeInCapacity"
	ExactCapacity           = "ExactCapacity"
)

// MaxStepAdjustments is how many step adjustments a policy may have.
const MaxStepAdjustments = 20

// StepAdjustment is one interval of a step policy. The bounds are relative
// to the alarm's threshold; nil is unbounded (negative infinity for Lower,
// positive infinity for Upper).
type StepAdjustment struct {
	Lower, Upper *float64
	Adjustment   int
}

// StepPolicy is a step scaling policy's configuration.
type StepPolicy struct {
	AdjustmentType string
	Steps          []StepAdjustment
	// MinAdjustmentMagnitude is the least number of tasks a
	// PercentChangeInCapacity step changes (0: no minimum).
	MinAdjustmentMagnitude int
	Cooldown               time.Duration
}

// StepInput is what a step decision looks at.
type StepInput struct {
	Current  int // current desired capacity
	Min, Max int // the scalable target's bounds
	// Breach is the metric's value minus the alarm's threshold.
	Breach float64
	// Above says the metric is on the upper side of the threshold; it
	// decides which bound of an interval is inclusive.
	Above bool
	Now   time.Time
	// LastScaleOut and LastScaleIn are when the policy last changed the
	// capacity each way (zero: never); ScaleOutFrom is the capacity the
	// last scale-out started from.
	LastScaleOut, LastScaleIn time.Time
	ScaleOutFrom              int
	// Dynamic scaling suspended on the scalable target, each way.
	OutSuspended, InSuspended bool
}

// ErrStep is the class of the errors ValidateStepPolicy returns; their
// texts are Application Auto Scaling's.
var ErrStep = errors.New("invalid step scaling policy")

func stepErr(msg string) error { return fmt.Errorf("%w: %s", ErrStep, msg) }

// StepMessage returns the AWS text of a ValidateStepPolicy error.
func StepMessage(err error) string {
	s := err.Error()
	prefix := ErrStep.Error() + ": "
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}

// ValidateStepPolicy checks a policy as PutScalingPolicy does: a known
// adjustment type, 1 to 20 step adjustments whose intervals neither
// overlap nor leave gaps, at most one unbounded each way, no interval
// unbounded both ways, and an unbounded step on each side that has
// intervals away from the threshold.
func ValidateStepPolicy(p StepPolicy) error {
	switch p.AdjustmentType {
	case ChangeInCapacity, PercentChangeInCapacity, ExactCapacity:
	case "":
		return stepErr("AdjustmentType must be specified for a step scaling policy.")
	default:
		return stepErr(fmt.Sprintf("Invalid AdjustmentType %s.", p.AdjustmentType))
	}
	if p.MinAdjustmentMagnitude != 0 && p.AdjustmentType != PercentChangeInCapacity {
		return stepErr("MinAdjustmentMagnitude may only be specified if AdjustmentType is PercentChangeInCapacity.")
	}
	if p.MinAdjustmentMagnitude < 0 {
		return stepErr("MinAdjustmentMagnitude must be greater than or equal to 0.")
	}
	if p.Cooldown < 0 {
		return stepErr("Cooldown must be greater than or equal to 0.")
	}
	if len(p.Steps) == 0 {
		return stepErr("At least one step adjustment must be specified for a step scaling policy.")
	}
	if len(p.Steps) > MaxStepAdjustments {
		return stepErr(fmt.Sprintf("There can be at most %d step adjustments per scaling policy.", MaxStepAdjustments))
	}
	var nilLower, nilUpper int
	negLower, posUpper := false, false
	for _, s := range p.Steps {
		if s.Lower == nil && s.Upper == nil {
			return stepErr("Both lower and upper bounds of a step adjustment cannot be left unspecified.")
		}
		if s.Lower != nil && s.Upper != nil && *s.Lower >= *s.Upper {
			return stepErr("The upper bound of a step adjustment must be greater than its lower bound.")
		}
		for _, b := range []*float64{s.Lower, s.Upper} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return stepErr("The bounds of a step adjustment must be finite numbers.")
			}
		}
		if s.Lower == nil {
			nilLower++
		} else if *s.Lower < 0 {
			negLower = true
		}
		if s.Upper == nil {
			nilUpper++
		} else if *s.Upper > 0 {
			posUpper = true
		}
		if p.AdjustmentType == ExactCapacity && s.Adjustment < 0 {
			return stepErr("The scaling adjustment of a step adjustment must be non-negative when AdjustmentType is ExactCapacity.")
		}
	}
	if nilLower > 1 {
		return stepErr("There can be at most one StepAdjustment with an unspecified lower bound (i.e., lower bound is null).")
	}
	if nilUpper > 1 {
		return stepErr("There can be at most one StepAdjustment with an unspecified upper bound (i.e., upper bound is null).")
	}
	if negLower && nilLower == 0 {
		return stepErr("There must be a StepAdjustment with an unspecified lower bound (i.e., lower bound is null) when one StepAdjustment has a negative lower bound.")
	}
	if posUpper && nilUpper == 0 {
		return stepErr("There must be a StepAdjustment with an unspecified upper bound (i.e., upper bound is null) when one StepAdjustment has a positive upper bound.")
	}
	// Sorted by lower bound (-inf first), each interval must start where
	// the previous one ends.
	sorted := slices.Clone(p.Steps)
	slices.SortFunc(sorted, func(a, b StepAdjustment) int { return cmpBound(a.Lower, b.Lower) })
	for i := 1; i < len(sorted); i++ {
		prev, cur := sorted[i-1], sorted[i]
		if prev.Upper == nil || cur.Lower == nil || *cur.Lower < *prev.Upper {
			return stepErr("Step adjustments cannot overlap.")
		}
		if *cur.Lower > *prev.Upper {
			return stepErr("Step adjustments cannot have gaps between them.")
		}
	}
	return nil
}

// cmpBound orders lower bounds, nil (negative infinity) first.
func cmpBound(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	case *a < *b:
		return -1
	case *a > *b:
		return 1
	}
	return 0
}

// FindStep returns the step adjustment whose interval holds breach. Above
// the threshold an interval's lower bound is inclusive and its upper bound
// exclusive; below it, the other way round (as AWS documents).
func FindStep(steps []StepAdjustment, breach float64, above bool) (StepAdjustment, bool) {
	for _, s := range steps {
		lowOK := s.Lower == nil || (above && breach >= *s.Lower) || (!above && breach > *s.Lower)
		highOK := s.Upper == nil || (above && breach < *s.Upper) || (!above && breach <= *s.Upper)
		if lowOK && highOK {
			return s, true
		}
	}
	return StepAdjustment{}, false
}

// Apply returns the capacity an adjustment of type typ leads to from
// current, before the bounds: a change, a percentage of current (a
// fraction rounded away from zero to a whole task, a larger value toward
// zero, then at least minMagnitude tasks), or an exact capacity.
func Apply(typ string, adjustment, minMagnitude, current int) int {
	switch typ {
	case ExactCapacity:
		return adjustment
	case PercentChangeInCapacity:
		change := float64(current) * float64(adjustment) / 100
		var n int
		switch {
		case change > 0 && change < 1:
			n = 1
		case change < 0 && change > -1:
			n = -1
		default:
			n = int(math.Trunc(change))
		}
		if minMagnitude > 0 && n != 0 && abs(n) < minMagnitude {
			if n > 0 {
				n = minMagnitude
			} else {
				n = -minMagnitude
			}
		}
		return current + n
	}
	return current + adjustment
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// DecideStep returns what an invocation of a step policy does now. A
// scale-out within the cooldown of the policy's last scale-out counts the
// capacity that scale-out added as part of this one (it starts from the
// capacity the last one started from), so only a larger step goes
// through; a scale-in waits for the cooldown after the policy's last
// scale-in. Capacity stays within [min, max]; a suspended direction does
// nothing.
func DecideStep(p StepPolicy, in StepInput) StepDecision {
	step, ok := FindStep(p.Steps, in.Breach, in.Above)
	if !ok {
		return StepDecision{Decision: Decision{Reason: fmt.Sprintf("no step adjustment found for a breach of %g", in.Breach)}}
	}
	base := in.Current
	outCooldown := p.AdjustmentType != ExactCapacity && step.Adjustment > 0 &&
		!in.LastScaleOut.IsZero() && in.Now.Before(in.LastScaleOut.Add(p.Cooldown))
	if outCooldown {
		base = in.ScaleOutFrom
	}
	want := Apply(p.AdjustmentType, step.Adjustment, p.MinAdjustmentMagnitude, base)
	want = min(max(want, in.Min), in.Max)
	// A change goes one way only: a scale-out step never lowers the
	// capacity (as from the start of its cooldown), nor a scale-in step
	// raises it.
	if p.AdjustmentType != ExactCapacity && (step.Adjustment > 0 && want < in.Current || step.Adjustment < 0 && want > in.Current) {
		want = in.Current
	}
	d := decideStep(want, in, p.Cooldown, outCooldown)
	return StepDecision{Decision: d, From: base, Step: step}
}

// StepDecision is a step policy's decision, with the step it chose and the
// capacity its change started from (for the next scale-out's cooldown).
type StepDecision struct {
	Decision
	From int
	Step StepAdjustment
}

func decideStep(want int, in StepInput, cooldown time.Duration, outCooldown bool) Decision {
	switch {
	case want > in.Current:
		if in.OutSuspended {
			return Decision{Reason: "dynamic scale-out is suspended"}
		}
		return Decision{Scale: true, Capacity: want, Reason: "step scale-out"}
	case want < in.Current:
		if in.InSuspended {
			return Decision{Reason: "dynamic scale-in is suspended"}
		}
		if !in.LastScaleIn.IsZero() && in.Now.Before(in.LastScaleIn.Add(cooldown)) {
			return Decision{Reason: "in the scale-in cooldown"}
		}
		return Decision{Scale: true, Capacity: want, Reason: "step scale-in"}
	}
	if outCooldown {
		return Decision{Reason: "in the scale-out cooldown"}
	}
	return Decision{Reason: fmt.Sprintf("the capacity stays %d", in.Current)}
}
