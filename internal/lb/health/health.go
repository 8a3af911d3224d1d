// Package health is the pure state machine of an ALB target's active
// health check: it turns probe results into a state and a reason, and knows
// nothing of sockets, clocks or goroutines.
//
// It follows the Application Load Balancer's documented behaviour:
//
//   - A newly registered target is "initial" (Elb.RegistrationInProgress)
//     until its first probe completes, then "initial"
//     (Elb.InitialHealthChecking) until it is decided.
//   - "After your target is registered, it must pass one health check to be
//     considered healthy": a target still in initial becomes healthy on its
//     first successful probe. It becomes unhealthy after UnhealthyThreshold
//     consecutive failures.
//   - A healthy target becomes unhealthy after UnhealthyThreshold
//     consecutive failures; an unhealthy one becomes healthy after
//     HealthyThreshold consecutive successes.
//   - The reason of an unhealthy target is the kind of its last failure:
//     Target.ResponseCodeMismatch, Target.Timeout or
//     Target.FailedHealthChecks.
package health

import (
	"strconv"
	"strings"
)

// State of a target, as DescribeTargetHealth spells it.
type State uint8

const (
	Initial State = iota
	Healthy
	Unhealthy
)

func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	}
	return "initial"
}

// Result is the outcome of one probe.
type Result uint8

const (
	// OK: the target answered with a status the matcher accepts.
	OK Result = iota
	// CodeMismatch: it answered with another status.
	CodeMismatch
	// Timeout: no answer within the probe timeout.
	Timeout
	// Failed: the connection failed or the response was malformed.
	Failed
)

// Reason codes, as ELBv2 spells them.
const (
	ReasonRegistrationInProgress = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking  = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch   = "Target.ResponseCodeMismatch"
	ReasonTimeout                = "Target.Timeout"
	ReasonFailedHealthChecks     = "Target.FailedHealthChecks"
)

// Thresholds are the counts of consecutive results that change a state.
// Values below 1 count as 1.
type Thresholds struct {
	Healthy, Unhealthy int
}

// Machine is one target's health state. The zero value is a freshly
// registered target.
type Machine struct {
	state     State
	probes    int    // probes observed since registration
	successes int    // consecutive
	failures  int    // consecutive
	last      Result // last probe's result
	code      int    // last probe's HTTP status, 0 if none
}

// Observe feeds one probe result (and the HTTP status it returned, 0 when
// there was none) and returns the new state and whether it changed.
func (m *Machine) Observe(r Result, code int, th Thresholds) (State, bool) {
	hOK, hBad := max(th.Healthy, 1), max(th.Unhealthy, 1)
	m.probes++
	m.last, m.code = r, code
	if r == OK {
		m.successes++
		m.failures = 0
	} else {
		m.failures++
		m.successes = 0
	}
	prev := m.state
	switch m.state {
	case Initial:
		if r == OK {
			m.state = Healthy
		} else if m.failures >= hBad {
			m.state = Unhealthy
		}
	case Healthy:
		if m.failures >= hBad {
			m.state = Unhealthy
		}
	case Unhealthy:
		if m.successes >= hOK {
			m.state = Healthy
		}
	}
	return m.state, m.state != prev
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Reason returns the reason code of the current state ("" when healthy)
// and a human description like ALB's.
func (m *Machine) Reason() (reason, description string) {
	switch m.state {
	case Healthy:
		return "", ""
	case Initial:
		if m.probes == 0 {
			return ReasonRegistrationInProgress, "Target registration is in progress"
		}
		return ReasonInitialHealthChecking, "Initial health checks in progress"
	}
	switch m.last {
	case CodeMismatch:
		return ReasonResponseCodeMismatch, "Health checks failed with these codes: [" + strconv.Itoa(m.code) + "]"
	case Timeout:
		return ReasonTimeout, "Request timed out"
	default:
		return ReasonFailedHealthChecks, "Health checks failed"
	}
}

// Matcher is a parsed ALB HttpCode matcher: "200", "200,202", "200-299"
// or a mix of lists and ranges.
type Matcher struct{ ranges [][2]int }

// ParseMatcher parses an HttpCode matcher. An empty or unparsable one
// means "200", ALB's default for HTTP health checks.
func ParseMatcher(s string) Matcher {
	var m Matcher
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a > b {
			continue
		}
		m.ranges = append(m.ranges, [2]int{a, b})
	}
	if len(m.ranges) == 0 {
		m.ranges = [][2]int{{200, 200}}
	}
	return m
}

// Match says whether the status code is accepted.
func (m Matcher) Match(code int) bool {
	for _, r := range m.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}
