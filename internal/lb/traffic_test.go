package lb

import (
	"net/http"
	"testing"
	"time"
)

func TestTrafficCountsRequestsAndErrors(t *testing.T) {
	a := newBackend(t, "a")
	p := newPlane(t, Options{})
	cfg := oneListener(group("tg", a), &TargetGroup{ARN: "empty", Name: "empty", Protocol: "HTTP", TargetType: "ip", InUse: true,
		HealthCheck: fastHC(), Algorithm: AlgorithmRoundRobin})
	mustUpdate(t, p, cfg)
	waitFor(t, "healthy", allIn(p, "tg", StateHealthy))
	c := newClient()
	url := baseURL(t, p, "l1") + "/"
	for range 5 {
		if r := get(t, c, url); r.code != http.StatusOK {
			t.Fatalf("GET: %d", r.code)
		}
	}
	ls, gs := p.Traffic()
	if len(ls) != 1 || ls[0].ARN != "l1" || ls[0].Requests != 5 || ls[0].Errors != 0 {
		t.Fatalf("listeners: %+v", ls)
	}
	byARN := map[string]TrafficStats{}
	for _, g := range gs {
		byARN[g.ARN] = g
	}
	tg := byARN["tg"]
	var inBuckets uint64
	for _, n := range tg.Buckets {
		inBuckets += n
	}
	if tg.Requests != 5 || tg.Errors != 0 || inBuckets != 5 || tg.LatencySeconds <= 0 {
		t.Fatalf("target group tg: %+v", tg)
	}
	if e := byARN["empty"]; e.Requests != 0 {
		t.Fatalf("target group empty: %+v", e)
	}

	// A target that is gone: the group counts its failure.
	a.srv.Close()
	if r := get(t, c, url); r.code != http.StatusBadGateway {
		t.Fatalf("GET to a closed target: %d, want 502", r.code)
	}
	// A rule whose group has no target: the listener answers 503 itself.
	cfg.Listeners[0].Rules[0].Actions = forwardTo("empty")
	mustUpdate(t, p, cfg)
	if r := get(t, c, url); r.code != http.StatusServiceUnavailable {
		t.Fatalf("GET to an empty group: %d, want 503", r.code)
	}
	ls, gs = p.Traffic()
	for _, g := range gs {
		byARN[g.ARN] = g
	}
	if ls[0].Requests != 7 || ls[0].Errors != 1 {
		t.Fatalf("listener after failures: %+v", ls[0])
	}
	if tg := byARN["tg"]; tg.Requests != 6 || tg.Errors != 1 {
		t.Fatalf("target group tg after a failed target: %+v", tg)
	}
}

// BenchmarkTrafficObserve is what counting costs a request: the listener's
// and the group's observe, from GOMAXPROCS goroutines on one counter set
// (the worst case: one hot listener).
func BenchmarkTrafficObserve(b *testing.B) {
	var l, g traffic
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		start := time.Now()
		for pb.Next() {
			d := time.Since(start)
			l.observe(d)
			g.observe(d)
		}
	})
}

// BenchmarkTrafficObserveSerial is the same from one goroutine: no
// contention on the counters' cache lines.
func BenchmarkTrafficObserveSerial(b *testing.B) {
	var l, g traffic
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		d := time.Since(start)
		l.observe(d)
		g.observe(d)
	}
}
