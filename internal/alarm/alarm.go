// Package alarm decides a CloudWatch metric alarm's state from its recent
// datapoints: pure functions of the alarm's rule and the values, with
// CloudWatch's period, EvaluationPeriods, DatapointsToAlarm ("M out of
// N") and TreatMissingData semantics. Reading the metric and keeping the
// alarm are the caller's.
package alarm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// States of an alarm.
const (
	OK               = "OK"
	Alarm            = "ALARM"
	InsufficientData = "INSUFFICIENT_DATA"
)

// Comparison operators.
const (
	GreaterOrEqual = "GreaterThanOrEqualToThreshold"
	Greater        = "GreaterThanThreshold"
	Less           = "LessThanThreshold"
	LessOrEqual    = "LessThanOrEqualToThreshold"
)

// TreatMissingData values.
const (
	Missing      = "missing"
	NotBreaching = "notBreaching"
	Breaching    = "breaching"
	Ignore       = "ignore"
)

// Rule is what an alarm compares.
type Rule struct {
	Threshold         float64
	Comparison        string
	EvaluationPeriods int
	DatapointsToAlarm int // 0 means EvaluationPeriods
	TreatMissingData  string
	Period            time.Duration
}

// Datapoint is one period's value; Missing when the period had no data.
type Datapoint struct {
	Time    time.Time
	Value   float64
	Missing bool
}

// Window returns the start times of the N periods an evaluation at now
// looks at, oldest first: the last complete periods, aligned to the
// period.
func Window(now time.Time, period time.Duration, n int) []time.Time {
	end := now.Truncate(period)
	out := make([]time.Time, n)
	for i := range n {
		out[i] = end.Add(-time.Duration(n-i) * period)
	}
	return out
}

func (r Rule) breaches(v float64) bool {
	switch r.Comparison {
	case GreaterOrEqual:
		return v >= r.Threshold
	case Greater:
		return v > r.Threshold
	case Less:
		return v < r.Threshold
	case LessOrEqual:
		return v <= r.Threshold
	}
	return false
}

var verbs = map[string]string{
	GreaterOrEqual: "greater than or equal to",
	Greater:        "greater than",
	Less:           "less than",
	LessOrEqual:    "less than or equal to",
}

// Decision is the outcome of one evaluation.
type Decision struct {
	State  string
	Reason string
}

// Evaluate returns the state the alarm should be in given the datapoints of
// its window (oldest first, as Window orders them) and its current state.
func Evaluate(r Rule, points []Datapoint, current string) Decision {
	m := r.DatapointsToAlarm
	if m <= 0 {
		m = r.EvaluationPeriods
	}
	breaching, present := 0, 0
	var shown []string
	for i := len(points) - 1; i >= 0; i-- { // newest first, as CloudWatch lists them
		p := points[i]
		if p.Missing {
			switch r.TreatMissingData {
			case Breaching:
				breaching++
			}
			continue
		}
		present++
		if r.breaches(p.Value) {
			breaching++
		}
		shown = append(shown, fmt.Sprintf("%s (%s)", formatValue(p.Value), p.Time.UTC().Format("02/01/06 15:04:05")))
	}
	threshold := formatValue(r.Threshold)
	verb := verbs[r.Comparison]
	if breaching >= m {
		return Decision{State: Alarm, Reason: fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s %s the threshold (%s) (minimum %d datapoints for OK -> ALARM transition).",
			breaching, len(points), strings.Join(shown, ", "), were(breaching), verb, threshold, m)}
	}
	if present == 0 {
		switch r.TreatMissingData {
		case Ignore:
			return Decision{State: current, Reason: "Missing data ignored: the state is kept."}
		case NotBreaching:
			return Decision{State: OK, Reason: fmt.Sprintf("Threshold Crossed: no datapoints were received for %d periods and %d missing datapoints were treated as [NonBreaching].", len(points), len(points))}
		case Breaching:
			// breaching >= m above unless m > len(points)
		default:
			return Decision{State: InsufficientData, Reason: fmt.Sprintf("Insufficient Data: %d datapoints were unknown.", len(points))}
		}
	}
	return Decision{State: OK, Reason: fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s not %s the threshold (%s) (minimum %d datapoints for ALARM -> OK transition).",
		len(points)-breaching, len(points), strings.Join(shown, ", "), were(len(points)-breaching), verb, threshold, 1)}
}

func were(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// formatValue writes a value as CloudWatch's reasons do: with one decimal
// at least ("70.0"), else as few digits as it takes.
func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
