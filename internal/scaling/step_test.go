package scaling

import (
	"errors"
	"testing"
	"time"
)

func f(v float64) *float64 { return &v }

func TestValidateStepPolicy(t *testing.T) {
	out := []StepAdjustment{{Lower: f(0), Upper: f(10), Adjustment: 1}, {Lower: f(10), Adjustment: 3}}
	tests := []struct {
		name string
		p    StepPolicy
		msg  string // "" valid
	}{
		{"scale-out steps", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: out}, ""},
		{"scale-in one step", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Upper: f(0), Adjustment: -1}}}, ""},
		{"percent with magnitude", StepPolicy{AdjustmentType: PercentChangeInCapacity, MinAdjustmentMagnitude: 2, Steps: out}, ""},
		{"no type", StepPolicy{Steps: out}, "AdjustmentType must be specified for a step scaling policy."},
		{"magnitude without percent", StepPolicy{AdjustmentType: ChangeInCapacity, MinAdjustmentMagnitude: 2, Steps: out},
			"MinAdjustmentMagnitude may only be specified if AdjustmentType is PercentChangeInCapacity."},
		{"no steps", StepPolicy{AdjustmentType: ChangeInCapacity}, "At least one step adjustment must be specified for a step scaling policy."},
		{"both bounds nil", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Adjustment: 1}}},
			"Both lower and upper bounds of a step adjustment cannot be left unspecified."},
		{"positive upper without an open-ended step", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Lower: f(1), Upper: f(2), Adjustment: 1}}},
			"There must be a StepAdjustment with an unspecified upper bound (i.e., upper bound is null) when one StepAdjustment has a positive upper bound."},
		{"negative lower without an open-ended step", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Lower: f(-5), Upper: f(0), Adjustment: -1}}},
			"There must be a StepAdjustment with an unspecified lower bound (i.e., lower bound is null) when one StepAdjustment has a negative lower bound."},
		{"overlap", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Lower: f(0), Upper: f(10), Adjustment: 1}, {Lower: f(5), Adjustment: 2}}},
			"Step adjustments cannot overlap."},
		{"gap", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Lower: f(0), Upper: f(10), Adjustment: 1}, {Lower: f(20), Adjustment: 2}}},
			"Step adjustments cannot have gaps between them."},
		{"two open uppers", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Lower: f(0), Adjustment: 1}, {Lower: f(10), Adjustment: 2}}},
			"There can be at most one StepAdjustment with an unspecified upper bound (i.e., upper bound is null)."},
		{"lower above upper", StepPolicy{AdjustmentType: ChangeInCapacity, Steps: []StepAdjustment{{Lower: f(10), Upper: f(5), Adjustment: 1}, {Lower: f(5), Adjustment: 2}}},
			"The upper bound of a step adjustment must be greater than its lower bound."},
		{"exact negative", StepPolicy{AdjustmentType: ExactCapacity, Steps: []StepAdjustment{{Lower: f(0), Adjustment: -1}}},
			"The scaling adjustment of a step adjustment must be non-negative when AdjustmentType is ExactCapacity."},
		{"unknown type", StepPolicy{AdjustmentType: "Double", Steps: out}, "Invalid AdjustmentType Double."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateStepPolicy(tt.p)
			switch {
			case tt.msg == "" && err != nil:
				t.Fatalf("valid policy refused: %v", err)
			case tt.msg != "" && (err == nil || !errors.Is(err, ErrStep) || StepMessage(err) != tt.msg):
				t.Fatalf("got %v; want %q", err, tt.msg)
			}
		})
	}
}

func TestFindStepBounds(t *testing.T) {
	steps := []StepAdjustment{{Upper: f(-10), Adjustment: -2}, {Lower: f(-10), Upper: f(0), Adjustment: -1},
		{Lower: f(0), Upper: f(10), Adjustment: 1}, {Lower: f(10), Adjustment: 3}}
	tests := []struct {
		breach float64
		above  bool
		want   int
	}{
		{0, true, 1},     // above: lower bound inclusive
		{9.99, true, 1},  // upper exclusive
		{10, true, 3},    // next step's lower bound
		{500, true, 3},   // open-ended
		{0, false, -1},   // below: upper bound inclusive
		{-10, false, -2}, // and lower exclusive: -10 is in (-inf, -10]
		{-9.5, false, -1},
	}
	for _, tt := range tests {
		s, ok := FindStep(steps, tt.breach, tt.above)
		if !ok || s.Adjustment != tt.want {
			t.Errorf("FindStep(%g, above %v) = %+v %v; want adjustment %d", tt.breach, tt.above, s, ok, tt.want)
		}
	}
	if _, ok := FindStep([]StepAdjustment{{Lower: f(0), Adjustment: 1}}, -1, false); ok {
		t.Errorf("a breach below every interval found a step")
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name                    string
		typ                     string
		adj, mag, current, want int
	}{
		{"change out", ChangeInCapacity, 2, 0, 3, 5},
		{"change in", ChangeInCapacity, -1, 0, 3, 2},
		{"exact", ExactCapacity, 7, 0, 3, 7},
		{"percent rounds a fraction up to one task", PercentChangeInCapacity, 10, 0, 4, 5},
		{"percent rounds larger values toward zero", PercentChangeInCapacity, 25, 0, 10, 12},
		{"negative percent rounds toward zero", PercentChangeInCapacity, -66, 0, 10, 4},
		{"negative fraction is one task", PercentChangeInCapacity, -10, 0, 4, 3},
		{"min magnitude", PercentChangeInCapacity, 10, 3, 10, 13},
		{"min magnitude scale-in", PercentChangeInCapacity, -10, 3, 10, 7},
	}
	for _, tt := range tests {
		if got := Apply(tt.typ, tt.adj, tt.mag, tt.current); got != tt.want {
			t.Errorf("%s: Apply = %d; want %d", tt.name, got, tt.want)
		}
	}
}

func TestDecideStep(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	out := StepPolicy{AdjustmentType: ChangeInCapacity, Cooldown: 60 * time.Second,
		Steps: []StepAdjustment{{Lower: f(0), Upper: f(20), Adjustment: 1}, {Lower: f(20), Adjustment: 3}}}
	in := StepPolicy{AdjustmentType: ChangeInCapacity, Cooldown: 300 * time.Second, Steps: []StepAdjustment{{Upper: f(0), Adjustment: -1}}}
	tests := []struct {
		name  string
		p     StepPolicy
		in    StepInput
		scale bool
		want  int
	}{
		{"small breach adds one", out, StepInput{Current: 2, Min: 1, Max: 10, Breach: 5, Above: true}, true, 3},
		{"large breach adds three", out, StepInput{Current: 2, Min: 1, Max: 10, Breach: 25, Above: true}, true, 5},
		{"capped at max", out, StepInput{Current: 9, Min: 1, Max: 10, Breach: 25, Above: true}, true, 10},
		{"at max", out, StepInput{Current: 10, Min: 1, Max: 10, Breach: 25, Above: true}, false, 0},
		{"in the cooldown the same step does nothing", out,
			StepInput{Current: 3, Min: 1, Max: 10, Breach: 5, Above: true, LastScaleOut: now.Add(-30 * time.Second), ScaleOutFrom: 2}, false, 0},
		{"in the cooldown a larger step counts the last one", out,
			StepInput{Current: 3, Min: 1, Max: 10, Breach: 25, Above: true, LastScaleOut: now.Add(-30 * time.Second), ScaleOutFrom: 2}, true, 5},
		{"in the cooldown a smaller step does not scale in", out,
			StepInput{Current: 5, Min: 1, Max: 10, Breach: 5, Above: true, LastScaleOut: now.Add(-30 * time.Second), ScaleOutFrom: 2}, false, 0},
		{"after the cooldown the step applies again", out,
			StepInput{Current: 3, Min: 1, Max: 10, Breach: 5, Above: true, LastScaleOut: now.Add(-61 * time.Second), ScaleOutFrom: 2}, true, 4},
		{"scale-out suspended", out, StepInput{Current: 2, Min: 1, Max: 10, Breach: 5, Above: true, OutSuspended: true}, false, 0},
		{"scale-in", in, StepInput{Current: 4, Min: 1, Max: 10, Breach: -3}, true, 3},
		{"scale-in not below min", in, StepInput{Current: 1, Min: 1, Max: 10, Breach: -3}, false, 0},
		{"scale-in cooldown", in, StepInput{Current: 4, Min: 1, Max: 10, Breach: -3, LastScaleIn: now.Add(-100 * time.Second)}, false, 0},
		{"scale-in suspended", in, StepInput{Current: 4, Min: 1, Max: 10, Breach: -3, InSuspended: true}, false, 0},
		{"no step for the breach", in, StepInput{Current: 4, Min: 1, Max: 10, Breach: 3, Above: true}, false, 0},
		{"exact capacity", StepPolicy{AdjustmentType: ExactCapacity, Steps: []StepAdjustment{{Lower: f(0), Adjustment: 6}}},
			StepInput{Current: 2, Min: 1, Max: 10, Breach: 0, Above: true}, true, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Now = now
			d := DecideStep(tt.p, in)
			if d.Scale != tt.scale || (d.Scale && d.Capacity != tt.want) {
				t.Errorf("DecideStep = %+v; want scale %v to %d", d, tt.scale, tt.want)
			}
		})
	}
}
