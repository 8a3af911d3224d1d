package alarm

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func pts(vals ...float64) []Datapoint {
	var out []Datapoint
	for i, v := range vals {
		p := Datapoint{Time: t0.Add(time.Duration(i) * time.Minute), Value: v}
		if v < 0 { // -1 stands for a missing period
			p.Missing = true
		}
		out = append(out, p)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	r := Rule{Threshold: 70, Comparison: GreaterOrEqual, EvaluationPeriods: 3, Period: time.Minute}
	tests := []struct {
		name    string
		rule    func(Rule) Rule
		points  []Datapoint
		current string
		want    string
	}{
		{"all breach", nil, pts(80, 90, 75), OK, Alarm},
		{"one below keeps 3-of-3 from alarming", nil, pts(80, 60, 75), OK, OK},
		{"2 of 3", func(r Rule) Rule { r.DatapointsToAlarm = 2; return r }, pts(80, 60, 75), OK, Alarm},
		{"equal to threshold breaches GreaterOrEqual", nil, pts(70, 70, 70), OK, Alarm},
		{"equal does not breach Greater", func(r Rule) Rule { r.Comparison = Greater; return r }, pts(70, 70, 70), Alarm, OK},
		{"less than", func(r Rule) Rule { r.Comparison = Less; r.Threshold = 10; return r }, pts(5, 1, 9), OK, Alarm},
		{"all missing: insufficient data", nil, pts(-1, -1, -1), OK, InsufficientData},
		{"all missing, notBreaching", func(r Rule) Rule { r.TreatMissingData = NotBreaching; return r }, pts(-1, -1, -1), Alarm, OK},
		{"all missing, breaching", func(r Rule) Rule { r.TreatMissingData = Breaching; return r }, pts(-1, -1, -1), OK, Alarm},
		{"all missing, ignore keeps ALARM", func(r Rule) Rule { r.TreatMissingData = Ignore; return r }, pts(-1, -1, -1), Alarm, Alarm},
		{"missing with breaching fills M of N", func(r Rule) Rule { r.TreatMissingData = Breaching; return r }, pts(80, -1, 90), OK, Alarm},
		{"missing (default) does not count as breaching", nil, pts(80, -1, 90), OK, OK},
		{"missing with 2 of 3", func(r Rule) Rule { r.DatapointsToAlarm = 2; return r }, pts(80, -1, 90), OK, Alarm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := r
			if tt.rule != nil {
				rule = tt.rule(r)
			}
			d := Evaluate(rule, tt.points, tt.current)
			if d.State != tt.want {
				t.Errorf("state %s (%s), want %s", d.State, d.Reason, tt.want)
			}
		})
	}
}

func TestReasonText(t *testing.T) {
	r := Rule{Threshold: 70, Comparison: GreaterOrEqual, EvaluationPeriods: 2, Period: time.Minute}
	d := Evaluate(r, pts(75.5, 80), OK)
	want := "Threshold Crossed: 2 out of the last 2 datapoints [80.0 (07/12/26 12:01:00), 75.5 (07/12/26 12:00:00)] were greater than or equal to the threshold (70.0) (minimum 2 datapoints for OK -> ALARM transition)."
	if d.Reason != want {
		t.Errorf("reason\n%s\nwant\n%s", d.Reason, want)
	}
	if d := Evaluate(r, pts(1, 2), Alarm); !strings.Contains(d.Reason, "were not greater than or equal to") {
		t.Errorf("OK reason %s", d.Reason)
	}
}

func TestWindow(t *testing.T) {
	w := Window(t0.Add(5*time.Minute+30*time.Second), time.Minute, 3)
	want := []time.Time{t0.Add(2 * time.Minute), t0.Add(3 * time.Minute), t0.Add(4 * time.Minute)}
	for i := range want {
		if !w[i].Equal(want[i]) {
			t.Errorf("window %v, want %v", w, want)
		}
	}
}
