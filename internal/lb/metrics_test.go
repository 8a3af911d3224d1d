package lb

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatsCountRequests: what the listener serves shows in Stats by load
// balancer and by load balancer and target group: requests routed to a
// target (fast path and reverse proxy path), the targets' status classes,
// their response times, the load balancer's own answers (fixed response,
// redirect, 503 with no target), and the groups' health.
func TestStatsCountRequests(t *testing.T) {
	p := newPlane(t, Options{})
	a, b := newBackend(t, "a"), newBackend(t, "b")
	tg := group("tg1", a, b)
	empty := &TargetGroup{ARN: "tg-empty", Name: "tg-empty", Protocol: "HTTP", TargetType: "ip", InUse: true, HealthCheck: fastHC()}
	cfg := &Config{TargetGroups: map[string]*TargetGroup{"tg1": tg, "tg-empty": empty}}
	cfg.Listeners = []Listener{{ARN: "l1", LoadBalancerARN: "lb1", Addr: "127.0.0.1:0", Protocol: "HTTP", Rules: []Rule{
		{ARN: "r-fixed", Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/fixed"}}},
			Actions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 404, Body: "no"}}}},
		{ARN: "r-redir", Priority: 2, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/old"}}},
			Actions: []Action{{Type: ActionRedirect, Redirect: &Redirect{Path: "/new", StatusCode: 301}}}},
		{ARN: "r-empty", Priority: 3, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/empty"}}},
			Actions: forwardTo("tg-empty")},
		{ARN: "default", IsDefault: true, Actions: forwardTo("tg1")},
	}}}
	mustUpdate(t, p, cfg)
	waitFor(t, "targets healthy", allIn(p, "tg1", StateHealthy))
	url := baseURL(t, p, "l1")
	c := newClient()

	for range 6 {
		if r := get(t, c, url+"/"); r.code != 200 {
			t.Fatalf("GET /: %d", r.code)
		}
	}
	for range 2 { // a body: the reverse proxy path
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("x"))
		if r := do(t, c, req); r.code != 200 {
			t.Fatalf("POST /: %d", r.code)
		}
	}
	get(t, c, url+"/sleep?ms=30")
	if r := get(t, c, url+"/fixed"); r.code != 404 {
		t.Fatalf("fixed: %d", r.code)
	}
	if r := get(t, c, url+"/old"); r.code != 301 {
		t.Fatalf("redirect: %d", r.code)
	}
	if r := get(t, c, url+"/empty"); r.code != 503 {
		t.Fatalf("no targets: %d", r.code)
	}

	st := p.Stats()
	if len(st.LoadBalancers) != 1 {
		t.Fatalf("load balancers: %+v", st.LoadBalancers)
	}
	l := st.LoadBalancers[0]
	// 9 forwarded + fixed + redirect; the 503 without a target is not a request.
	if l.ARN != "lb1" || l.Requests != 11 || l.FixedResponses != 1 || l.Redirects != 1 ||
		l.ELBCodes[3] != 1 || l.ELBCodes[4] != 1 || l.ELBCodes[5] != 1 {
		t.Errorf("load balancer stats: %+v", l)
	}
	var g *TargetGroupStats
	for i := range st.TargetGroups {
		if st.TargetGroups[i].ARN == "tg1" {
			g = &st.TargetGroups[i]
		}
	}
	if g == nil {
		t.Fatalf("no stats of tg1: %+v", st.TargetGroups)
	}
	if g.LoadBalancerARN != "lb1" || g.Requests != 9 || g.TargetCodes[2] != 9 || g.ResponseCount != 9 {
		t.Errorf("target group stats: %+v", g)
	}
	if g.ResponseMax < 30*time.Millisecond || g.ResponseMin <= 0 || g.ResponseMin > g.ResponseMax || g.ResponseSum < g.ResponseMax {
		t.Errorf("response times: min %v max %v sum %v", g.ResponseMin, g.ResponseMax, g.ResponseSum)
	}
	if !g.HealthChecked || g.Healthy != 2 || g.Unhealthy != 0 || g.Registered != 2 {
		t.Errorf("health: %+v", g)
	}
	var perTarget int64
	for _, tr := range g.Targets {
		if tr.Requests == 0 {
			t.Errorf("target %v got no request: %+v", tr.Key, g.Targets)
		}
		perTarget += tr.Requests
	}
	if perTarget != 9 {
		t.Errorf("per-target requests %d, want 9: %+v", perTarget, g.Targets)
	}
	// Min and max are since the previous Stats; counts keep growing.
	again := p.Stats()
	for _, g2 := range again.TargetGroups {
		if g2.ARN == "tg1" && (g2.ResponseMax != 0 || g2.ResponseMin != 0 || g2.Requests != 9) {
			t.Errorf("second Stats: %+v", g2)
		}
	}

	// A target that fails is the load balancer's 502, not the target's.
	a.srv.Close()
	b.srv.Close()
	for range 2 {
		get(t, c, url+"/")
	}
	st = p.Stats()
	if l := st.LoadBalancers[0]; l.ELBCodes[5] < 3 {
		t.Errorf("502s not counted as the load balancer's 5XX: %+v", l)
	}

	// A listener and group gone: their counters go too.
	mustUpdate(t, p, &Config{})
	if st := p.Stats(); len(st.LoadBalancers) != 0 || len(st.TargetGroups) != 0 {
		t.Errorf("stats after removal: %+v", st)
	}
}

// TestObserveAllocatesNothing: counting a request costs no allocation.
func TestObserveAllocatesNothing(t *testing.T) {
	c, lbc := newTGCounters(), &lbCounters{}
	n := testing.AllocsPerRun(1000, func() {
		c.observe(lbc, 200, true, time.Millisecond)
		c.observe(lbc, 502, false, -1)
	})
	if n != 0 {
		t.Errorf("observe allocates %v per run", n)
	}
}

// BenchmarkCountRequest is what counting adds to one forwarded request on
// the fast path: the three request counters, the two clock reads of the
// response time and observe, from GOMAXPROCS goroutines on one target
// group (the worst case: every core on the same counters).
func BenchmarkCountRequest(b *testing.B) {
	c, lbc, t := newTGCounters(), &lbCounters{}, &target{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			lbc.requests.Add(1)
			c.requests.Add(1)
			t.requests.Add(1)
			start := time.Now()
			c.observe(lbc, 200, true, time.Since(start))
		}
	})
}
