// Package lbmetrics publishes the load balancer's counts as CloudWatch's
// AWS/ApplicationELB metrics: every minute it reads what the plane counted
// (lb.Plane.Stats), turns the change since the previous read into samples
// (Samples, a pure function) and puts them into the metric store.
//
// Names, dimensions and statistics are ALB's: the LoadBalancer dimension's
// value is the load balancer ARN's resource part without "loadbalancer/"
// (app/<name>/<id>), the TargetGroup dimension's the target group ARN's
// resource part (targetgroup/<name>/<id>). Counts are published as one
// sample per request (Sum and SampleCount are the count, Minimum, Maximum
// and Average 1), as ALB publishes them; RequestCount and
// RequestCountPerTarget are published every minute a target group is in
// use, zero included, the others only when not zero.
//
// Every server runs its own load balancer and publishes what it served
// into its own metric store: over several servers, the counts (Sum) add
// up, and so does RequestCountPerTarget, each server's share being its
// requests over the same targets.
package lbmetrics

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/metricstore"
)

// Namespace and the metric names published.
const (
	Namespace             = "AWS/ApplicationELB"
	RequestCount          = "RequestCount"
	RequestCountPerTarget = "RequestCountPerTarget"
	TargetResponseTime    = "TargetResponseTime"
	HealthyHostCount      = "HealthyHostCount"
	UnHealthyHostCount    = "UnHealthyHostCount"
	FixedResponseCount    = "HTTP_Fixed_Response_Count"
	RedirectCount         = "HTTP_Redirect_Count"
)

// TargetCodeMetric is the name of the count of targets' responses of
// status class cls (2 to 5): HTTPCode_Target_2XX_Count ...
func TargetCodeMetric(cls int) string { return "HTTPCode_Target_" + string(rune('0'+cls)) + "XX_Count" }

// ELBCodeMetric is the name of the count of the load balancer's own
// responses of status class cls (3 to 5): HTTPCode_ELB_5XX_Count ...
func ELBCodeMetric(cls int) string { return "HTTPCode_ELB_" + string(rune('0'+cls)) + "XX_Count" }

// LoadBalancerDimension is the LoadBalancer dimension's value of a load
// balancer ARN: "app/<name>/<id>".
func LoadBalancerDimension(arn string) string {
	res := resource(arn)
	return strings.TrimPrefix(res, "loadbalancer/")
}

// TargetGroupDimension is the TargetGroup dimension's value of a target
// group ARN: "targetgroup/<name>/<id>".
func TargetGroupDimension(arn string) string { return resource(arn) }

// resource is an ARN's part after its fifth colon (the whole string when
// it is not an ARN).
func resource(arn string) string {
	s := arn
	for range 5 {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return arn
		}
		s = s[i+1:]
	}
	return s
}

// count is the statistics of n requests, each a sample of 1, as ALB
// publishes its counts; zero requests are one sample of 0.
func count(n int64) metricstore.Stats {
	if n <= 0 {
		return metricstore.Value(0)
	}
	f := float64(n)
	return metricstore.Stats{Count: f, Sum: f, Min: 1, Max: 1}
}

// Samples returns the metrics of what the plane counted between prev and
// cur, stamped at. A counter lower in cur than in prev (the plane forgot
// and remade it) counts from zero.
func Samples(prev, cur lb.Stats, at time.Time) []metricstore.Sample {
	var out []metricstore.Sample
	add := func(name, unit string, st metricstore.Stats, dims ...metricstore.Dimension) {
		out = append(out, metricstore.Sample{Metric: metricstore.Metric{Namespace: Namespace, Name: name, Dimensions: dims},
			Time: at, Stats: st, Unit: unit})
	}
	prevLB := map[string]lb.LoadBalancerStats{}
	for _, s := range prev.LoadBalancers {
		prevLB[s.ARN] = s
	}
	type pair struct{ lb, tg string }
	prevTG := map[pair]lb.TargetGroupStats{}
	for _, s := range prev.TargetGroups {
		prevTG[pair{s.LoadBalancerARN, s.ARN}] = s
	}
	// What the load balancer's targets did, summed over its groups.
	type lbTargets struct {
		codes [6]int64
		rt    metricstore.Stats
	}
	byLB := map[string]*lbTargets{}
	for _, s := range cur.TargetGroups {
		p := prevTG[pair{s.LoadBalancerARN, s.ARN}]
		lbd := metricstore.Dimension{Name: "LoadBalancer", Value: LoadBalancerDimension(s.LoadBalancerARN)}
		tgd := metricstore.Dimension{Name: "TargetGroup", Value: TargetGroupDimension(s.ARN)}
		reqs := delta(s.Requests, p.Requests)
		add(RequestCount, "Count", count(reqs), lbd, tgd)
		targets := s.Healthy
		if targets == 0 {
			targets = s.Registered
		}
		if targets > 0 {
			per := metricstore.Value(float64(reqs) / float64(targets))
			add(RequestCountPerTarget, "Count", per, tgd)
			add(RequestCountPerTarget, "Count", per, lbd, tgd)
		}
		agg := byLB[s.LoadBalancerARN]
		if agg == nil {
			agg = &lbTargets{}
			byLB[s.LoadBalancerARN] = agg
		}
		for cls := 2; cls <= 5; cls++ {
			if n := delta(s.TargetCodes[cls], p.TargetCodes[cls]); n > 0 {
				add(TargetCodeMetric(cls), "Count", count(n), lbd, tgd)
				agg.codes[cls] += n
			}
		}
		if n := delta(s.ResponseCount, p.ResponseCount); n > 0 {
			sum := s.ResponseSum
			if s.ResponseCount >= p.ResponseCount {
				sum -= p.ResponseSum
			}
			rt := metricstore.Stats{Count: float64(n), Sum: sum.Seconds(), Min: s.ResponseMin.Seconds(), Max: s.ResponseMax.Seconds()}
			add(TargetResponseTime, "Seconds", rt, lbd, tgd)
			agg.rt = agg.rt.Merge(rt)
		}
		if s.HealthChecked {
			add(HealthyHostCount, "Count", metricstore.Value(float64(s.Healthy)), lbd, tgd)
			add(UnHealthyHostCount, "Count", metricstore.Value(float64(s.Unhealthy)), lbd, tgd)
		}
	}
	for _, s := range cur.LoadBalancers {
		p := prevLB[s.ARN]
		lbd := metricstore.Dimension{Name: "LoadBalancer", Value: LoadBalancerDimension(s.ARN)}
		add(RequestCount, "Count", count(delta(s.Requests, p.Requests)), lbd)
		for cls := 3; cls <= 5; cls++ {
			if n := delta(s.ELBCodes[cls], p.ELBCodes[cls]); n > 0 {
				add(ELBCodeMetric(cls), "Count", count(n), lbd)
			}
		}
		if n := delta(s.FixedResponses, p.FixedResponses); n > 0 {
			add(FixedResponseCount, "Count", count(n), lbd)
		}
		if n := delta(s.Redirects, p.Redirects); n > 0 {
			add(RedirectCount, "Count", count(n), lbd)
		}
		if agg := byLB[s.ARN]; agg != nil {
			for cls := 2; cls <= 5; cls++ {
				if agg.codes[cls] > 0 {
					add(TargetCodeMetric(cls), "Count", count(agg.codes[cls]), lbd)
				}
			}
			if !agg.rt.Empty() {
				add(TargetResponseTime, "Seconds", agg.rt, lbd)
			}
		}
	}
	return out
}

func delta(cur, prev int64) int64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// Source is what the plane counted. *lb.Plane implements it.
type Source interface {
	Stats() lb.Stats
}

// Putter stores samples. *metricstore.Store implements it.
type Putter interface {
	Put(samples []metricstore.Sample) error
}

var (
	_ Source = (*lb.Plane)(nil)
	_ Putter = (*metricstore.Store)(nil)
)

// Publisher puts the plane's metrics into the store every Interval.
type Publisher struct {
	Plane   Source
	Metrics Putter
	Clock   core.Clock // nil: the wall clock
	Logger  *slog.Logger
	// Interval between publications; default a minute. Each publication
	// happens just before an interval ends and is stamped with the minute
	// it falls in, so that a minute's bucket is whole when the minute ends
	// (alarms look at the last complete minutes).
	Interval time.Duration
}

// lead is how long before the end of an interval the publisher reads.
const lead = 500 * time.Millisecond

// Run publishes until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	clock := p.Clock
	if clock == nil {
		clock = core.SystemClock{}
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := p.Interval
	if every <= 0 {
		every = time.Minute
	}
	prev := p.Plane.Stats()
	for {
		now := clock.Now()
		next := now.Truncate(every).Add(every - lead)
		if !next.After(now) {
			next = next.Add(every)
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		cur := p.Plane.Stats()
		// Stamped by when the read was due, not when it ran: a late timer
		// on a busy machine still fills the minute it was meant for.
		samples := Samples(prev, cur, next.Truncate(time.Minute))
		prev = cur
		if len(samples) == 0 {
			continue
		}
		if err := p.Metrics.Put(samples); err != nil {
			log.Warn("publishing load balancer metrics", "err", err)
		}
	}
}
