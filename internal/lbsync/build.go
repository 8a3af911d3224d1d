// Package lbsync feeds the load balancer data plane from the store: it
// watches the ELBv2 records and the container instances, builds an
// lb.Config from them on every change (Build, a pure function) and hands
// it to the plane. It also finishes deregistrations: a draining target the
// plane reports drained has its registration deleted.
package lbsync

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
)

// Build returns the configuration the records describe. Every listener
// binds lbAddr at its port. Instance targets are reached at the address
// of the container instance whose EC2 instance ID is the target's ID
// (127.0.0.1 when the instance has none); a target naming no known
// instance gets no address, so its health checks fail. IP targets are
// reached at their IP.
func Build(snap state.ELBv2Snapshot, lbAddr string) *lb.Config {
	cfg := &lb.Config{TargetGroups: map[string]*lb.TargetGroup{}}
	lbs := map[string]bool{}
	for _, l := range snap.LoadBalancers {
		lbs[l.ID] = true
	}
	rulesOf := map[string][]state.Rule{}
	for _, r := range snap.Rules {
		rulesOf[r.ListenerID] = append(rulesOf[r.ListenerID], r)
	}
	used := map[string]bool{}
	listeners := slices.Clone(snap.Listeners)
	slices.SortFunc(listeners, func(x, y state.Listener) int { return cmp.Or(x.Port-y.Port, cmp.Compare(x.ID, y.ID)) })
	for _, l := range listeners {
		if !lbs[l.LoadBalancerID] {
			continue
		}
		rules := rulesOf[l.ID]
		slices.SortFunc(rules, func(x, y state.Rule) int { return cmp.Or(x.Priority-y.Priority, cmp.Compare(x.ID, y.ID)) })
		ll := lb.Listener{
			ARN:             l.ARN,
			LoadBalancerARN: l.LoadBalancerARN,
			Addr:            net.JoinHostPort(lbAddr, strconv.Itoa(l.Port)),
			Protocol:        l.Protocol,
		}
		for _, r := range rules {
			ll.Rules = append(ll.Rules, lb.Rule{ARN: r.ARN, Priority: r.Priority,
				Conditions: conditions(r.Conditions), Actions: actions(r.Actions, used)})
		}
		ll.Rules = append(ll.Rules, lb.Rule{ARN: l.DefaultRuleARN, IsDefault: true, Actions: actions(l.DefaultActions, used)})
		cfg.Listeners = append(cfg.Listeners, ll)
	}

	addrs := instanceAddrs(snap.Instances)
	regsOf := map[string][]state.Registration{}
	for _, r := range snap.Registrations {
		regsOf[r.TargetGroupID] = append(regsOf[r.TargetGroupID], r)
	}
	for _, g := range snap.TargetGroups {
		h := g.HealthCheck
		tg := &lb.TargetGroup{
			ARN: g.ARN, Name: g.Name, Protocol: g.Protocol, Port: g.Port, TargetType: g.TargetType,
			InUse: used[g.ARN],
			HealthCheck: lb.HealthCheck{Enabled: h.Enabled, Protocol: h.Protocol, Port: h.Port, Path: h.Path,
				Interval: seconds(h.IntervalSeconds), Timeout: seconds(h.TimeoutSeconds),
				HealthyThreshold: h.HealthyThreshold, UnhealthyThreshold: h.UnhealthyThreshold, Matcher: h.Matcher},
			Algorithm:           attr(g.Attributes, "load_balancing.algorithm.type", lb.AlgorithmRoundRobin),
			DeregistrationDelay: seconds(attrInt(g.Attributes, "deregistration_delay.timeout_seconds", 300)),
			SlowStart:           seconds(attrInt(g.Attributes, "slow_start.duration_seconds", 0)),
			Stickiness: lb.Stickiness{
				Enabled:  g.Attributes["stickiness.enabled"] == "true",
				Type:     attr(g.Attributes, "stickiness.type", lb.StickinessTypeLBCookie),
				Duration: seconds(attrInt(g.Attributes, "stickiness.lb_cookie.duration_seconds", 86400)),
			},
		}
		regs := regsOf[g.ID]
		slices.SortFunc(regs, func(x, y state.Registration) int {
			return cmp.Or(cmp.Compare(x.TargetID, y.TargetID), x.Port-y.Port)
		})
		for _, r := range regs {
			t := lb.Target{ID: r.TargetID, Port: r.Port, AvailabilityZone: r.AvailabilityZone,
				RegisteredAt: r.RegisteredAt, Draining: r.Draining, DeregisteredAt: r.DeregisteredAt}
			host := r.TargetID
			if g.TargetType == string(elbv2types.TargetTypeEnumInstance) {
				host = addrs[r.TargetID]
			}
			if host != "" {
				t.Addr = net.JoinHostPort(host, strconv.Itoa(r.Port))
			}
			tg.Targets = append(tg.Targets, t)
		}
		cfg.TargetGroups[g.ARN] = tg
	}
	return cfg
}

// instanceAddrs maps EC2 instance IDs to the address of their container
// instance. When several container instances carry one EC2 instance ID (a
// host that registered again), a live one wins over an INACTIVE one, then
// the latest registered.
func instanceAddrs(insts []state.ContainerInstance) map[string]string {
	best := map[string]state.ContainerInstance{}
	better := func(x, y state.ContainerInstance) bool {
		xa, ya := x.Status != "INACTIVE", y.Status != "INACTIVE"
		if xa != ya {
			return xa
		}
		return x.RegisteredAt.After(y.RegisteredAt)
	}
	for _, ci := range insts {
		if ci.EC2InstanceID == "" {
			continue
		}
		if cur, ok := best[ci.EC2InstanceID]; !ok || better(ci, cur) {
			best[ci.EC2InstanceID] = ci
		}
	}
	out := make(map[string]string, len(best))
	for id, ci := range best {
		a := ci.Address
		if a == "" {
			a = "127.0.0.1"
		}
		out[id] = a
	}
	return out
}

func conditions(in []elbv2types.RuleCondition) []lb.Condition {
	var out []lb.Condition
	for _, c := range in {
		lc := lb.Condition{Field: c.Field}
		switch c.Field {
		case lb.FieldPathPattern:
			lc.Values = c.Values
			if c.PathPatternConfig != nil && len(c.PathPatternConfig.Values) > 0 {
				lc.Values = c.PathPatternConfig.Values
			}
		case lb.FieldHostHeader:
			lc.Values = c.Values
			if c.HostHeaderConfig != nil && len(c.HostHeaderConfig.Values) > 0 {
				lc.Values = c.HostHeaderConfig.Values
			}
		case lb.FieldHTTPHeader:
			if c.HttpHeaderConfig != nil {
				lc.HeaderName, lc.Values = c.HttpHeaderConfig.HttpHeaderName, c.HttpHeaderConfig.Values
			}
		case lb.FieldHTTPRequestMethod:
			if c.HttpRequestMethodConfig != nil {
				lc.Values = c.HttpRequestMethodConfig.Values
			}
		case lb.FieldQueryString:
			if c.QueryStringConfig != nil {
				for _, kv := range c.QueryStringConfig.Values {
					lc.Query = append(lc.Query, lb.KeyValue{Key: kv.Key, Value: kv.Value})
				}
			}
		case lb.FieldSourceIP:
			if c.SourceIpConfig != nil {
				lc.Values = c.SourceIpConfig.Values
			}
		}
		out = append(out, lc)
	}
	return out
}

// actions converts a rule's actions, in their Order, and marks the target
// groups they forward to as used.
func actions(in []elbv2types.Action, used map[string]bool) []lb.Action {
	acts := slices.Clone(in)
	slices.SortStableFunc(acts, func(x, y elbv2types.Action) int { return cmp.Compare(order(x), order(y)) })
	var out []lb.Action
	for _, a := range acts {
		la := lb.Action{Type: string(a.Type)}
		switch a.Type {
		case elbv2types.ActionTypeEnumForward:
			f := &lb.Forward{}
			if fc := a.ForwardConfig; fc != nil && len(fc.TargetGroups) > 0 {
				for _, tg := range fc.TargetGroups {
					w := 1
					if tg.Weight != nil {
						w = int(*tg.Weight)
					}
					f.TargetGroups = append(f.TargetGroups, lb.WeightedTargetGroup{ARN: tg.TargetGroupArn, Weight: w})
				}
				if sc := fc.TargetGroupStickinessConfig; sc != nil && sc.Enabled != nil && *sc.Enabled && sc.DurationSeconds != nil {
					f.GroupStickiness = seconds(int(*sc.DurationSeconds))
				}
			} else if a.TargetGroupArn != "" {
				f.TargetGroups = []lb.WeightedTargetGroup{{ARN: a.TargetGroupArn, Weight: 1}}
			}
			for _, tg := range f.TargetGroups {
				used[tg.ARN] = true
			}
			la.Forward = f
		case elbv2types.ActionTypeEnumFixedResponse:
			if fr := a.FixedResponseConfig; fr != nil {
				code, _ := strconv.Atoi(fr.StatusCode)
				la.FixedResponse = &lb.FixedResponse{StatusCode: code, ContentType: fr.ContentType, Body: fr.MessageBody}
			}
		case elbv2types.ActionTypeEnumRedirect:
			if rc := a.RedirectConfig; rc != nil {
				code := 301
				if rc.StatusCode == elbv2types.RedirectActionStatusCodeEnumHttp302 {
					code = 302
				}
				la.Redirect = &lb.Redirect{Protocol: rc.Protocol, Host: rc.Host, Port: rc.Port, Path: rc.Path,
					Query: rc.Query, StatusCode: code}
			}
		}
		out = append(out, la)
	}
	return out
}

func order(a elbv2types.Action) int32 {
	if a.Order == nil {
		return 0
	}
	return *a.Order
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func attr(m map[string]string, key, def string) string {
	if v, ok := m[key]; ok && v != "" {
		return v
	}
	return def
}

func attrInt(m map[string]string, key string, def int) int {
	if n, err := strconv.Atoi(m[key]); err == nil {
		return n
	}
	return def
}
