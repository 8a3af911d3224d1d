package health

import "testing"

func TestInitialToHealthyOnFirstSuccess(t *testing.T) {
	var m Machine
	th := Thresholds{Healthy: 3, Unhealthy: 2}
	if r, _ := m.Reason(); m.State() != Initial || r != ReasonRegistrationInProgress {
		t.Fatalf("fresh: %v %q", m.State(), r)
	}
	if st, ch := m.Observe(OK, 200, th); st != Healthy || !ch {
		t.Fatalf("after one success: %v changed=%v, want healthy (ALB: one passed check after registration)", st, ch)
	}
	if r, d := m.Reason(); r != "" || d != "" {
		t.Fatalf("healthy has reason %q %q", r, d)
	}
}

func TestInitialFailuresThenUnhealthy(t *testing.T) {
	var m Machine
	th := Thresholds{Healthy: 3, Unhealthy: 3}
	for i := 0; i < 2; i++ {
		if st, ch := m.Observe(Failed, 0, th); st != Initial || ch {
			t.Fatalf("failure %d: %v changed=%v", i+1, st, ch)
		}
		if r, _ := m.Reason(); r != ReasonInitialHealthChecking {
			t.Fatalf("failure %d: reason %q", i+1, r)
		}
	}
	if st, ch := m.Observe(Timeout, 0, th); st != Unhealthy || !ch {
		t.Fatalf("third failure: %v changed=%v", st, ch)
	}
	if r, _ := m.Reason(); r != ReasonTimeout {
		t.Fatalf("reason %q, want %q", r, ReasonTimeout)
	}
}

func TestHealthyUnhealthyCycle(t *testing.T) {
	var m Machine
	th := Thresholds{Healthy: 3, Unhealthy: 2}
	m.Observe(OK, 200, th)
	// One failure, then a success: the failure count restarts.
	steps := []struct {
		r    Result
		code int
		want State
	}{
		{CodeMismatch, 500, Healthy},
		{OK, 200, Healthy},
		{CodeMismatch, 500, Healthy},
		{CodeMismatch, 503, Unhealthy},
		{OK, 200, Unhealthy},
		{OK, 200, Unhealthy},
		{Failed, 0, Unhealthy},
		{OK, 200, Unhealthy},
		{OK, 200, Unhealthy},
		{OK, 200, Healthy},
	}
	for i, s := range steps {
		if st, _ := m.Observe(s.r, s.code, th); st != s.want {
			t.Fatalf("step %d (%v): %v, want %v", i, s.r, st, s.want)
		}
		if i == 3 {
			if r, d := m.Reason(); r != ReasonResponseCodeMismatch || d != "Health checks failed with these codes: [503]" {
				t.Fatalf("reason %q %q", r, d)
			}
		}
		if i == 6 {
			if r, _ := m.Reason(); r != ReasonFailedHealthChecks {
				t.Fatalf("reason %q", r)
			}
		}
	}
}

func TestZeroThresholdsCountAsOne(t *testing.T) {
	var m Machine
	m.Observe(OK, 200, Thresholds{})
	if st, _ := m.Observe(Failed, 0, Thresholds{}); st != Unhealthy {
		t.Fatalf("got %v", st)
	}
	if st, _ := m.Observe(OK, 200, Thresholds{}); st != Healthy {
		t.Fatalf("got %v", st)
	}
}

func TestMatcher(t *testing.T) {
	cases := []struct {
		m    string
		code int
		want bool
	}{
		{"200", 200, true},
		{"200", 201, false},
		{"", 200, true},
		{"", 204, false},
		{"200,202", 202, true},
		{"200,202", 201, false},
		{"200-299", 250, true},
		{"200-299", 300, false},
		{"200-299", 199, false},
		{"200, 301-302", 302, true},
		{"junk", 200, true}, // unparsable: ALB's default 200
		{"junk", 404, false},
		{"299-200", 250, false}, // reversed range ignored -> default 200
		{"299-200", 200, true},
	}
	for _, c := range cases {
		if got := ParseMatcher(c.m).Match(c.code); got != c.want {
			t.Errorf("ParseMatcher(%q).Match(%d) = %v, want %v", c.m, c.code, got, c.want)
		}
	}
}
