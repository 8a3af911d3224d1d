package scaling

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	p := Policy{Target: 70, ScaleOutCooldown: 60 * time.Second, ScaleInCooldown: 300 * time.Second}
	tests := []struct {
		name  string
		p     func(Policy) Policy
		in    Input
		scale bool
		want  int
	}{
		{"proportional out: 2 tasks at 140 % need 4", nil, Input{Current: 2, Min: 2, Max: 10, Metric: 140, High: true}, true, 4},
		{"out by at least one", nil, Input{Current: 2, Min: 2, Max: 10, Metric: 71, High: true}, true, 3},
		{"out capped at max", nil, Input{Current: 8, Min: 2, Max: 10, Metric: 400, High: true}, true, 10},
		{"at max", nil, Input{Current: 10, Min: 2, Max: 10, Metric: 400, High: true}, false, 0},
		{"out cooldown", nil, Input{Current: 4, Min: 2, Max: 10, Metric: 140, High: true, LastScaleOut: now.Add(-30 * time.Second)}, false, 0},
		{"out after cooldown", nil, Input{Current: 4, Min: 2, Max: 10, Metric: 140, High: true, LastScaleOut: now.Add(-61 * time.Second)}, true, 8},
		{"in proportional: 8 tasks at 10 % need 2", nil, Input{Current: 8, Min: 2, Max: 10, Metric: 10, Low: true}, true, 2},
		{"in by at least one", nil, Input{Current: 4, Min: 2, Max: 10, Metric: 60, Low: true}, true, 3},
		{"in not below min", nil, Input{Current: 3, Min: 2, Max: 10, Metric: 0, Low: true}, true, 2},
		{"at min", nil, Input{Current: 2, Min: 2, Max: 10, Metric: 0, Low: true}, false, 0},
		{"in cooldown after a scale-out", nil, Input{Current: 4, Min: 2, Max: 10, Metric: 10, Low: true, LastScaleOut: now.Add(-100 * time.Second)}, false, 0},
		{"in cooldown after a scale-in", nil, Input{Current: 4, Min: 2, Max: 10, Metric: 10, Low: true, LastScaleIn: now.Add(-299 * time.Second)}, false, 0},
		{"scale-in disabled", func(p Policy) Policy { p.DisableScaleIn = true; return p }, Input{Current: 4, Min: 2, Max: 10, Metric: 10, Low: true}, false, 0},
		{"no alarm", nil, Input{Current: 4, Min: 2, Max: 10, Metric: 140}, false, 0},
		{"raised to min", nil, Input{Current: 1, Min: 2, Max: 10}, true, 2},
		{"lowered to max", nil, Input{Current: 12, Min: 2, Max: 10}, true, 10},
		{"from zero with load", nil, Input{Current: 0, Min: 0, Max: 10, Metric: 5, High: true}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := p
			if tt.p != nil {
				pol = tt.p(p)
			}
			in := tt.in
			in.Now = now
			d := Decide(pol, in)
			if d.Scale != tt.scale || (d.Scale && d.Capacity != tt.want) {
				t.Errorf("Decide = %+v; want scale %v to %d", d, tt.scale, tt.want)
			}
		})
	}
}
