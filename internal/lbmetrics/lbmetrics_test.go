package lbmetrics

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/metricstore"
)

const (
	lbARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/50dc6c495c0c9188"
	tgARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web-tg/73e2d6bc24d8a067"
	lbDim = "app/web/50dc6c495c0c9188"
	tgDim = "targetgroup/web-tg/73e2d6bc24d8a067"
)

func TestDimensions(t *testing.T) {
	if got := LoadBalancerDimension(lbARN); got != lbDim {
		t.Errorf("LoadBalancerDimension = %q", got)
	}
	if got := TargetGroupDimension(tgARN); got != tgDim {
		t.Errorf("TargetGroupDimension = %q", got)
	}
	if got := TargetCodeMetric(2) + " " + ELBCodeMetric(5); got != "HTTPCode_Target_2XX_Count HTTPCode_ELB_5XX_Count" {
		t.Errorf("code metric names: %q", got)
	}
}

// find returns the sample of name with exactly dims (by name=value).
func find(t *testing.T, ss []metricstore.Sample, name string, dims ...string) (metricstore.Sample, bool) {
	t.Helper()
	var want []metricstore.Dimension
	for i := 0; i < len(dims); i += 2 {
		want = append(want, metricstore.Dimension{Name: dims[i], Value: dims[i+1]})
	}
	key := metricstore.Metric{Namespace: Namespace, Name: name, Dimensions: want}.Key()
	for _, s := range ss {
		if s.Metric.Key() == key {
			return s, true
		}
	}
	return metricstore.Sample{}, false
}

func TestSamples(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 5, 0, 0, time.UTC)
	prev := lb.Stats{
		LoadBalancers: []lb.LoadBalancerStats{{ARN: lbARN, Requests: 100, ELBCodes: [6]int64{5: 2}}},
		TargetGroups: []lb.TargetGroupStats{{LoadBalancerARN: lbARN, ARN: tgARN, Requests: 90,
			TargetCodes: [6]int64{2: 80, 5: 10}, ResponseCount: 90, ResponseSum: 9 * time.Second}},
	}
	cur := lb.Stats{
		LoadBalancers: []lb.LoadBalancerStats{{ARN: lbARN, Requests: 160, ELBCodes: [6]int64{4: 1, 5: 5}, FixedResponses: 1}},
		TargetGroups: []lb.TargetGroupStats{{LoadBalancerARN: lbARN, ARN: tgARN, Requests: 150,
			TargetCodes: [6]int64{2: 138, 5: 12}, ResponseCount: 150, ResponseSum: 15 * time.Second,
			ResponseMin: 50 * time.Millisecond, ResponseMax: 300 * time.Millisecond,
			HealthChecked: true, Healthy: 3, Unhealthy: 1, Registered: 4}},
	}
	ss := Samples(prev, cur, at)
	check := func(name string, want metricstore.Stats, unit string, dims ...string) {
		t.Helper()
		s, ok := find(t, ss, name, dims...)
		if !ok {
			t.Errorf("no %s %v", name, dims)
			return
		}
		if s.Stats != want || s.Unit != unit || !s.Time.Equal(at) {
			t.Errorf("%s %v = %+v %s at %v, want %+v %s", name, dims, s.Stats, s.Unit, s.Time, want, unit)
		}
	}
	n := func(c float64) metricstore.Stats { return metricstore.Stats{Count: c, Sum: c, Min: 1, Max: 1} }
	check(RequestCount, n(60), "Count", "LoadBalancer", lbDim)
	check(RequestCount, n(60), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	// 60 requests over 3 healthy targets.
	check(RequestCountPerTarget, metricstore.Value(20), "Count", "TargetGroup", tgDim)
	check(RequestCountPerTarget, metricstore.Value(20), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	check("HTTPCode_Target_2XX_Count", n(58), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	check("HTTPCode_Target_5XX_Count", n(2), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	check("HTTPCode_Target_2XX_Count", n(58), "Count", "LoadBalancer", lbDim)
	check("HTTPCode_ELB_5XX_Count", n(3), "Count", "LoadBalancer", lbDim)
	check("HTTPCode_ELB_4XX_Count", n(1), "Count", "LoadBalancer", lbDim)
	check(FixedResponseCount, n(1), "Count", "LoadBalancer", lbDim)
	rt := metricstore.Stats{Count: 60, Sum: 6, Min: 0.05, Max: 0.3}
	check(TargetResponseTime, rt, "Seconds", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	check(TargetResponseTime, rt, "Seconds", "LoadBalancer", lbDim)
	check(HealthyHostCount, metricstore.Value(3), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	check(UnHealthyHostCount, metricstore.Value(1), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	for _, absent := range []string{"HTTPCode_Target_4XX_Count", "HTTPCode_ELB_3XX_Count", RedirectCount} {
		for _, s := range ss {
			if s.Metric.Name == absent {
				t.Errorf("%s published with nothing to count: %+v", absent, s)
			}
		}
	}

	// A quiet minute: RequestCount and RequestCountPerTarget are zero,
	// the codes and response times absent, the health still there.
	quiet := Samples(cur, cur, at.Add(time.Minute))
	for _, s := range quiet {
		switch s.Metric.Name {
		case RequestCount, RequestCountPerTarget:
			if s.Stats.Sum != 0 {
				t.Errorf("quiet %s = %+v", s.Metric.Name, s.Stats)
			}
		case HealthyHostCount, UnHealthyHostCount:
		default:
			t.Errorf("quiet minute published %s", s.Metric.Name)
		}
	}
	if _, ok := find(t, quiet, HealthyHostCount, "LoadBalancer", lbDim, "TargetGroup", tgDim); !ok {
		t.Error("quiet minute without HealthyHostCount")
	}

	// No healthy target: per target over the registered ones; counters
	// the plane remade count from zero.
	reset := lb.Stats{TargetGroups: []lb.TargetGroupStats{{LoadBalancerARN: lbARN, ARN: tgARN, Requests: 8, Registered: 2}}}
	ss = Samples(cur, reset, at)
	check(RequestCountPerTarget, metricstore.Value(4), "Count", "TargetGroup", tgDim)
	check(RequestCount, n(8), "Count", "LoadBalancer", lbDim, "TargetGroup", tgDim)
	if _, ok := find(t, ss, HealthyHostCount, "LoadBalancer", lbDim, "TargetGroup", tgDim); ok {
		t.Error("HealthyHostCount of a group whose health is not checked")
	}
}

type fakePlane struct {
	mu sync.Mutex
	n  int64
}

func (f *fakePlane) Stats() lb.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n += 10
	return lb.Stats{LoadBalancers: []lb.LoadBalancerStats{{ARN: lbARN, Requests: f.n}}}
}

type putter struct{ ch chan []metricstore.Sample }

func (p putter) Put(s []metricstore.Sample) error { p.ch <- s; return nil }

// TestPublisherPublishesDeltas: the publisher puts the change since its
// previous read, again and again.
func TestPublisherPublishesDeltas(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := putter{make(chan []metricstore.Sample, 10)}
	p := &Publisher{Plane: &fakePlane{}, Metrics: out, Interval: time.Second}
	go p.Run(ctx)
	for i := range 2 {
		select {
		case ss := <-out.ch:
			if len(ss) != 1 || ss[0].Metric.Name != RequestCount || ss[0].Stats.Sum != 10 {
				t.Errorf("publication %d: %+v", i, ss)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("nothing published")
		}
	}
}
