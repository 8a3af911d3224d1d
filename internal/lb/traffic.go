package lb

import (
	"sort"
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds, in seconds, of the latency
// histogram buckets Traffic reports (the last bucket, +Inf, is implied).
var LatencyBounds = [...]float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// traffic counts the requests of one listener or target group. Recording
// is a few atomic adds, so that counting costs the request path nothing
// worth measuring; Traffic reads the counters when asked (a scrape).
type traffic struct {
	requests atomic.Uint64
	errors   atomic.Uint64
	nanos    atomic.Uint64
	buckets  [len(LatencyBounds) + 1]atomic.Uint64
}

func (c *traffic) observe(d time.Duration) {
	c.requests.Add(1)
	c.nanos.Add(uint64(max(d, 0)))
	s := d.Seconds()
	i := 0
	for i < len(LatencyBounds) && s > LatencyBounds[i] {
		i++
	}
	c.buckets[i].Add(1)
}

// TrafficStats are the counters of one listener or target group since
// the plane first served it.
type TrafficStats struct {
	ARN string
	// Requests is the number of requests answered. Errors: for a
	// listener, those the load balancer answered itself with an error (no
	// routable target, a target that failed: ALB's HTTPCode_ELB_5XX);
	// for a target group, those whose target failed or answered 5xx.
	Requests, Errors uint64
	// LatencySeconds is the sum of the requests' durations, and Buckets
	// the number of requests in each LatencyBounds bucket (not
	// cumulative; the last one is above every bound).
	LatencySeconds float64
	Buckets        [len(LatencyBounds) + 1]uint64
}

func (c *traffic) stats(arn string) TrafficStats {
	s := TrafficStats{ARN: arn, Requests: c.requests.Load(), Errors: c.errors.Load(),
		LatencySeconds: time.Duration(c.nanos.Load()).Seconds()}
	for i := range c.buckets {
		s.Buckets[i] = c.buckets[i].Load()
	}
	return s
}

// Traffic returns the counters of every listener and target group the
// plane serves now, by ARN.
func (p *Plane) Traffic() (listeners, groups []TrafficStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for arn, l := range p.listeners {
		listeners = append(listeners, l.traffic.stats(arn))
	}
	for arn, g := range p.groups {
		groups = append(groups, g.traffic.stats(arn))
	}
	sort.Slice(listeners, func(i, j int) bool { return listeners[i].ARN < listeners[j].ARN })
	sort.Slice(groups, func(i, j int) bool { return groups[i].ARN < groups[j].ARN })
	return listeners, groups
}
