package lb

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/lb/health"
)

// The plane counts what it serves for CloudWatch's AWS/ApplicationELB
// metrics. The request path only adds to atomic counters that the
// configuration made beforehand (one per load balancer, one per load
// balancer and target group, one per target): no lock, no allocation, no
// map lookup. Stats reads them; the caller turns the differences between
// two reads into metrics (internal/lbmetrics).

// lbCounters are one load balancer's counters, shared by its listeners.
type lbCounters struct {
	requests atomic.Int64    // requests routed to a target, a fixed response or a redirect
	elb      [6]atomic.Int64 // responses the load balancer made itself, by status class (index code/100)
	fixed    atomic.Int64    // fixed-response actions
	redirect atomic.Int64    // redirect actions
}

// tgCounters are the counters of one target group behind one load
// balancer.
type tgCounters struct {
	requests atomic.Int64    // requests sent to one of its targets
	target   [6]atomic.Int64 // the targets' responses by status class
	rtCount  atomic.Int64    // responses timed
	rtSum    atomic.Int64    // their response times, nanoseconds
	rtMin    atomic.Int64    // since the last Stats; math.MaxInt64: none
	rtMax    atomic.Int64    // since the last Stats; 0: none
}

func newTGCounters() *tgCounters {
	c := &tgCounters{}
	c.rtMin.Store(math.MaxInt64)
	return c
}

func class(code int) int {
	if cls := code / 100; cls > 0 && cls <= 5 {
		return cls
	}
	return 0
}

// observe records the outcome of one request sent to one of the group's
// targets: the status the target answered with and how long it took to
// send its response head, or, when fromTarget is false, the error the
// load balancer answered with (counted for the load balancer, lbc).
func (c *tgCounters) observe(lbc *lbCounters, code int, fromTarget bool, rt time.Duration) {
	if !fromTarget {
		lbc.elb[class(code)].Add(1)
		return
	}
	c.target[class(code)].Add(1)
	n := int64(rt)
	c.rtCount.Add(1)
	c.rtSum.Add(n)
	for {
		m := c.rtMin.Load()
		if n >= m || c.rtMin.CompareAndSwap(m, n) {
			break
		}
	}
	for {
		m := c.rtMax.Load()
		if n <= m || c.rtMax.CompareAndSwap(m, n) {
			break
		}
	}
}

// lbCounter returns the counters of a load balancer, made on first use.
// Called with p.mu held.
func (p *Plane) lbCounter(lbARN string) *lbCounters {
	c := p.lbStats[lbARN]
	if c == nil {
		c = &lbCounters{}
		p.lbStats[lbARN] = c
	}
	return c
}

type pairKey struct{ lb, tg string }

// tgCounter returns the counters of a target group behind a load
// balancer, made on first use. Called with p.mu held.
func (p *Plane) tgCounter(lbARN, tgARN string) *tgCounters {
	k := pairKey{lbARN, tgARN}
	c := p.tgStats[k]
	if c == nil {
		c = newTGCounters()
		p.tgStats[k] = c
	}
	return c
}

// pruneCounters forgets the counters no listener of cfg uses. Called with
// p.mu held, after the listeners are updated.
func (p *Plane) pruneCounters(cfg *Config) {
	lbs := map[string]bool{}
	pairs := map[pairKey]bool{}
	for _, l := range cfg.Listeners {
		lbs[l.LoadBalancerARN] = true
		for _, r := range l.Rules {
			for _, a := range r.Actions {
				if a.Forward == nil {
					continue
				}
				for _, g := range a.Forward.TargetGroups {
					pairs[pairKey{l.LoadBalancerARN, g.ARN}] = true
				}
			}
		}
	}
	for k := range p.lbStats {
		if !lbs[k] {
			delete(p.lbStats, k)
		}
	}
	for k := range p.tgStats {
		if !pairs[k] {
			delete(p.tgStats, k)
		}
	}
}

// Stats is what the plane has counted since it started (counts and sums
// only grow), with the response times' minimum and maximum since the
// previous call to Stats.
type Stats struct {
	LoadBalancers []LoadBalancerStats
	TargetGroups  []TargetGroupStats
}

// LoadBalancerStats are one load balancer's counts.
type LoadBalancerStats struct {
	ARN string
	// Requests the load balancer routed to a target, or answered with a
	// fixed response or a redirect. Requests it rejected before it chose a
	// target (no healthy target, no rule) are not counted, as on ALB.
	Requests int64
	// ELBCodes counts the responses the load balancer made itself (its
	// errors, among them 502 and 504 for a target that failed; fixed
	// responses; redirects) by status class: ELBCodes[5] is 5XX.
	ELBCodes       [6]int64
	FixedResponses int64
	Redirects      int64
}

// TargetGroupStats are the counts of one target group behind one load
// balancer.
type TargetGroupStats struct {
	LoadBalancerARN string
	ARN             string
	Requests        int64    // requests sent to one of its targets
	TargetCodes     [6]int64 // the targets' responses by status class
	// ResponseTimes: count and sum of every response time so far; Min and
	// Max since the previous Stats (zero when no response came since).
	ResponseCount int64
	ResponseSum   time.Duration
	ResponseMin   time.Duration
	ResponseMax   time.Duration
	// Healthy and Unhealthy count its targets in those states; HealthChecked
	// is false when the group is not checked (not in use, checks off), when
	// the two mean nothing. Registered counts its targets not draining.
	HealthChecked      bool
	Healthy, Unhealthy int
	Registered         int
	Targets            []TargetRequests
}

// TargetRequests is how many requests one target got so far.
type TargetRequests struct {
	Key
	Requests int64
}

// Stats returns what the plane has counted, load balancers and target
// groups sorted by ARN.
func (p *Plane) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out Stats
	for arn, c := range p.lbStats {
		s := LoadBalancerStats{ARN: arn, Requests: c.requests.Load(), FixedResponses: c.fixed.Load(), Redirects: c.redirect.Load()}
		for i := range c.elb {
			s.ELBCodes[i] = c.elb[i].Load()
		}
		out.LoadBalancers = append(out.LoadBalancers, s)
	}
	for k, c := range p.tgStats {
		s := TargetGroupStats{LoadBalancerARN: k.lb, ARN: k.tg, Requests: c.requests.Load(),
			ResponseCount: c.rtCount.Load(), ResponseSum: time.Duration(c.rtSum.Load())}
		for i := range c.target {
			s.TargetCodes[i] = c.target[i].Load()
		}
		if m := c.rtMin.Swap(math.MaxInt64); m != math.MaxInt64 {
			s.ResponseMin = time.Duration(m)
		}
		s.ResponseMax = time.Duration(c.rtMax.Swap(0))
		if tg, gs := p.cfg[k.tg], p.groups[k.tg]; tg != nil && gs != nil {
			s.HealthChecked = tg.InUse && tg.HealthCheck.Enabled
			for _, t := range gs.members {
				if t.mode == modeDraining {
					continue
				}
				s.Registered++
				if t.mode == modeCheck {
					switch t.machine.State() {
					case health.Healthy:
						s.Healthy++
					case health.Unhealthy:
						s.Unhealthy++
					}
				}
				s.Targets = append(s.Targets, TargetRequests{Key: Key{ID: t.conf.ID, Port: t.conf.Port}, Requests: t.requests.Load()})
			}
		}
		out.TargetGroups = append(out.TargetGroups, s)
	}
	slices.SortFunc(out.LoadBalancers, func(a, b LoadBalancerStats) int { return strings.Compare(a.ARN, b.ARN) })
	slices.SortFunc(out.TargetGroups, func(a, b TargetGroupStats) int {
		if c := strings.Compare(a.LoadBalancerARN, b.LoadBalancerARN); c != 0 {
			return c
		}
		return strings.Compare(a.ARN, b.ARN)
	})
	return out
}
