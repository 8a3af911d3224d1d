package elbv2

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// ALB's health check defaults for HTTP target groups.
const (
	defaultHCPath       = "/"
	defaultHCInterval   = 30
	defaultHCTimeout    = 5
	defaultHCHealthy    = 5
	defaultHCUnhealthy  = 2
	defaultHCMatcher    = "200"
	defaultProtoVersion = "HTTP1"
)

// checkPort checks a port number parameter.
func checkPort(what string, p int32) error {
	if p < 1 || p > 65535 {
		return validationErr("%s '%d' must be between 1 and 65535", what, p)
	}
	return nil
}

// checkMatcher checks ALB's HttpCode: "200", "200,202" or "200-299",
// codes from 200 to 499.
func checkMatcher(m string) error {
	bad := validationErr("Health check matcher HTTP code '%s' must be a value between 200 and 499, a comma-separated list of such values, or a range such as '200-299'", m)
	code := func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && len(s) == 3 && n >= 200 && n <= 499
	}
	if m == "" {
		return bad
	}
	if lo, hi, ok := strings.Cut(m, "-"); ok {
		l, ok1 := code(lo)
		h, ok2 := code(hi)
		if !ok1 || !ok2 || l > h {
			return bad
		}
		return nil
	}
	for _, part := range strings.Split(m, ",") {
		if _, ok := code(part); !ok {
			return bad
		}
	}
	return nil
}

// checkHealth checks a target group's health check settings as a whole.
func checkHealth(h state.ELBHealth) error {
	if h.Protocol != string(elbv2types.ProtocolEnumHttp) {
		return invalidConfig("minato's load balancer checks target health over HTTP only: health check protocol '%s' is not supported", h.Protocol)
	}
	if h.Port != lb.HealthCheckPortTrafficPort {
		n, err := strconv.Atoi(h.Port)
		if err != nil || n < 1 || n > 65535 {
			return validationErr("Health check port '%s' must be 'traffic-port' or a port between 1 and 65535", h.Port)
		}
	}
	if !strings.HasPrefix(h.Path, "/") || len(h.Path) > 1024 {
		return validationErr("Health check path '%s' must begin with '/' and be at most 1024 characters long", h.Path)
	}
	if h.IntervalSeconds < 5 || h.IntervalSeconds > 300 {
		return validationErr("Health check interval '%d' must be between 5 and 300 seconds", h.IntervalSeconds)
	}
	if h.TimeoutSeconds < 2 || h.TimeoutSeconds > 120 {
		return validationErr("Health check timeout '%d' must be between 2 and 120 seconds", h.TimeoutSeconds)
	}
	if h.TimeoutSeconds >= h.IntervalSeconds {
		return validationErr("Health check interval must be greater than the timeout.")
	}
	if h.HealthyThreshold < 2 || h.HealthyThreshold > 10 {
		return validationErr("Healthy threshold count '%d' must be between 2 and 10", h.HealthyThreshold)
	}
	if h.UnhealthyThreshold < 2 || h.UnhealthyThreshold > 10 {
		return validationErr("Unhealthy threshold count '%d' must be between 2 and 10", h.UnhealthyThreshold)
	}
	return checkMatcher(h.Matcher)
}

// healthChange is the health check members of CreateTargetGroup and
// ModifyTargetGroup.
type healthChange struct {
	Protocol                    elbv2types.ProtocolEnum
	Port, Path                  string
	Enabled                     *bool
	Interval, Timeout, Hy, Unhy *int32
	Matcher                     *elbv2types.Matcher
}

func (hc healthChange) apply(h state.ELBHealth) (state.ELBHealth, error) {
	if hc.Protocol != "" {
		h.Protocol = string(hc.Protocol)
	}
	if hc.Port != "" {
		h.Port = hc.Port
	}
	if hc.Path != "" {
		h.Path = hc.Path
	}
	if hc.Enabled != nil {
		h.Enabled = *hc.Enabled
	}
	for _, p := range []struct {
		v   *int32
		dst *int
	}{{hc.Interval, &h.IntervalSeconds}, {hc.Timeout, &h.TimeoutSeconds}, {hc.Hy, &h.HealthyThreshold}, {hc.Unhy, &h.UnhealthyThreshold}} {
		if p.v != nil {
			*p.dst = int(*p.v)
		}
	}
	if hc.Matcher != nil {
		if hc.Matcher.GrpcCode != "" {
			return h, invalidConfig("minato's load balancer does not check gRPC health: GrpcCode is not supported")
		}
		h.Matcher = hc.Matcher.HttpCode
	}
	return h, checkHealth(h)
}

// CreateTargetGroup creates an HTTP target group of instance or ip targets.
// Creating one again with the same settings returns the existing group,
// as ELBv2 does.
func (a *API) CreateTargetGroup(ctx context.Context, c *awsproto.Call, in *elbv2types.CreateTargetGroupInput) (*elbv2types.CreateTargetGroupOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkName("Target group", in.Name); err != nil {
		return nil, err
	}
	tt := in.TargetType
	if tt == "" {
		tt = elbv2types.TargetTypeEnumInstance
	}
	if tt != elbv2types.TargetTypeEnumInstance && tt != elbv2types.TargetTypeEnumIp {
		return nil, invalidConfig("minato's load balancer supports instance and ip targets only: target type '%s' is not supported", tt)
	}
	if in.Protocol == "" {
		return nil, validationErr("A protocol must be specified for target groups of target type '%s'", tt)
	}
	if in.Protocol != elbv2types.ProtocolEnumHttp {
		return nil, invalidConfig("minato's load balancer forwards HTTP only: target group protocol '%s' is not supported", in.Protocol)
	}
	if in.ProtocolVersion != "" && in.ProtocolVersion != defaultProtoVersion {
		return nil, invalidConfig("minato's load balancer forwards HTTP/1.1 only: protocol version '%s' is not supported", in.ProtocolVersion)
	}
	if in.Port == nil {
		return nil, validationErr("A port must be specified for target groups of target type '%s'", tt)
	}
	if err := checkPort("Port", *in.Port); err != nil {
		return nil, err
	}
	if in.IpAddressType != "" && in.IpAddressType != elbv2types.TargetGroupIpAddressTypeEnumIpv4 {
		return nil, invalidConfig("minato's load balancer reaches targets over IPv4 only: IP address type '%s' is not supported", in.IpAddressType)
	}
	tags, err := checkNewTags(in.Tags)
	if err != nil {
		return nil, err
	}
	health, err := healthChange{Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath,
		Enabled: in.HealthCheckEnabled, Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
		Hy: in.HealthyThresholdCount, Unhy: in.UnhealthyThresholdCount, Matcher: in.Matcher}.apply(state.ELBHealth{
		Enabled: true, Protocol: string(elbv2types.ProtocolEnumHttp), Port: lb.HealthCheckPortTrafficPort, Path: defaultHCPath,
		IntervalSeconds: defaultHCInterval, TimeoutSeconds: defaultHCTimeout, HealthyThreshold: defaultHCHealthy,
		UnhealthyThreshold: defaultHCUnhealthy, Matcher: defaultHCMatcher,
	})
	if err != nil {
		return nil, err
	}
	vpc := in.VpcId
	if vpc == "" {
		vpc = defaultVpcID
	}
	scope := scopeOf(c)
	var rec state.TargetGroup
	err = store.RetryConflicts(ctx, func() error {
		idx, err := state.Get[state.NameIndex](ctx, a.store, state.TargetGroupNameKey(in.Name))
		if err == nil {
			old, err := state.Get[state.TargetGroup](ctx, a.store, state.TargetGroupKey(idx.Value.ID))
			if err != nil {
				return err // a conflict retries; a missing record is a half-deleted group
			}
			o := old.Value
			if o.Protocol == string(in.Protocol) && o.Port == int(*in.Port) && o.TargetType == string(tt) &&
				o.VpcID == vpc && o.HealthCheck == health {
				rec = o
				return nil
			}
			return errf(core.KindConflict, elbv2types.ErrCodeDuplicateTargetGroupNameException,
				"A target group with the same name '%s' exists, but with different settings", in.Name)
		} else if !state.IsNotFound(err) {
			return err
		}
		id := a.newID()
		rec = state.TargetGroup{
			ID: id, Name: in.Name, ARN: tgARN(scope, in.Name, id),
			Protocol: string(in.Protocol), ProtocolVersion: defaultProtoVersion, Port: int(*in.Port), VpcID: vpc,
			TargetType: string(tt), IPAddressType: string(elbv2types.TargetGroupIpAddressTypeEnumIpv4),
			HealthCheck: health, Attributes: defaultAttributes(tgAttributes), Tags: tags, CreatedAt: a.now(),
		}
		t := &txn{}
		t.create(state.TargetGroupNameKey(in.Name), state.NameIndex{ID: id})
		t.create(state.TargetGroupKey(id), rec)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	assoc, err := a.associations(ctx)
	if err != nil {
		return nil, err
	}
	return &elbv2types.CreateTargetGroupOutput{TargetGroups: []elbv2types.TargetGroup{renderTG(rec, assoc)}}, nil
}

func renderTG(g state.TargetGroup, assoc associations) elbv2types.TargetGroup {
	h := g.HealthCheck
	return elbv2types.TargetGroup{
		TargetGroupArn:             g.ARN,
		TargetGroupName:            g.Name,
		Protocol:                   elbv2types.ProtocolEnum(g.Protocol),
		Port:                       int32p(g.Port),
		VpcId:                      g.VpcID,
		HealthCheckProtocol:        elbv2types.ProtocolEnum(h.Protocol),
		HealthCheckPort:            h.Port,
		HealthCheckEnabled:         boolp(h.Enabled),
		HealthCheckIntervalSeconds: int32p(h.IntervalSeconds),
		HealthCheckTimeoutSeconds:  int32p(h.TimeoutSeconds),
		HealthyThresholdCount:      int32p(h.HealthyThreshold),
		UnhealthyThresholdCount:    int32p(h.UnhealthyThreshold),
		HealthCheckPath:            h.Path,
		Matcher:                    &elbv2types.Matcher{HttpCode: h.Matcher},
		LoadBalancerArns:           assoc.loadBalancers(g.ARN),
		TargetType:                 elbv2types.TargetTypeEnum(g.TargetType),
		ProtocolVersion:            g.ProtocolVersion,
		IpAddressType:              elbv2types.TargetGroupIpAddressTypeEnum(g.IPAddressType),
	}
}

// ModifyTargetGroup changes a target group's health check.
func (a *API) ModifyTargetGroup(ctx context.Context, _ *awsproto.Call, in *elbv2types.ModifyTargetGroupInput) (*elbv2types.ModifyTargetGroupOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	var rec state.TargetGroup
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.targetGroup(ctx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		rec = it.Value
		rec.HealthCheck, err = healthChange{Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath,
			Enabled: in.HealthCheckEnabled, Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
			Hy: in.HealthyThresholdCount, Unhy: in.UnhealthyThresholdCount, Matcher: in.Matcher}.apply(rec.HealthCheck)
		if err != nil {
			return err
		}
		t := &txn{}
		t.update(it.Key, it.ModRevision, rec)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	assoc, err := a.associations(ctx)
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyTargetGroupOutput{TargetGroups: []elbv2types.TargetGroup{renderTG(rec, assoc)}}, nil
}

// DescribeTargetGroups lists target groups: all, those of a load balancer,
// or by name or ARN.
func (a *API) DescribeTargetGroups(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeTargetGroupsInput) (*elbv2types.DescribeTargetGroupsOutput, error) {
	n := 0
	for _, set := range []bool{in.LoadBalancerArn != "", len(in.Names) > 0, len(in.TargetGroupArns) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, validationErr("Only one of load balancer ARN, target group names or target group ARNs can be specified")
	}
	items, err := state.List[state.TargetGroup](ctx, a.store, state.TargetGroupsPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	all := make([]state.TargetGroup, len(items))
	for i, it := range items {
		all[i] = it.Value
	}
	slices.SortFunc(all, func(x, y state.TargetGroup) int { return strings.Compare(x.Name, y.Name) })
	assoc, err := a.associations(ctx)
	if err != nil {
		return nil, err
	}
	var sel []state.TargetGroup
	add := func(g state.TargetGroup) {
		if !slices.ContainsFunc(sel, func(x state.TargetGroup) bool { return x.ID == g.ID }) {
			sel = append(sel, g)
		}
	}
	switch {
	case in.LoadBalancerArn != "":
		if _, err := a.loadBalancer(ctx, in.LoadBalancerArn); err != nil {
			return nil, err
		}
		for _, g := range all {
			if slices.Contains(assoc.loadBalancers(g.ARN), in.LoadBalancerArn) {
				add(g)
			}
		}
	case len(in.Names) > 0:
		for _, name := range in.Names {
			i := slices.IndexFunc(all, func(g state.TargetGroup) bool { return g.Name == name })
			if i < 0 {
				return nil, errf(core.KindNotFound, elbv2types.ErrCodeTargetGroupNotFoundException, "Target groups '[%s]' not found", name)
			}
			add(all[i])
		}
	case len(in.TargetGroupArns) > 0:
		for _, arnStr := range in.TargetGroupArns {
			it, err := a.targetGroup(ctx, arnStr)
			if err != nil {
				return nil, err
			}
			add(it.Value)
		}
		slices.SortFunc(sel, func(x, y state.TargetGroup) int { return strings.Compare(x.Name, y.Name) })
	default:
		sel = all
	}
	pg, next, err := page(sel, func(g state.TargetGroup) string { return g.Name }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2types.DescribeTargetGroupsOutput{NextMarker: next, TargetGroups: []elbv2types.TargetGroup{}}
	for _, g := range pg {
		out.TargetGroups = append(out.TargetGroups, renderTG(g, assoc))
	}
	return out, nil
}

// DeleteTargetGroup deletes a target group and its registrations. A group
// a listener or rule forwards to is in use; one that does not exist is
// deleted already.
func (a *API) DeleteTargetGroup(ctx context.Context, _ *awsproto.Call, in *elbv2types.DeleteTargetGroupInput) (*elbv2types.DeleteTargetGroupOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.targetGroup(ctx, in.TargetGroupArn)
		if core.IsKind(err, core.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		assoc, err := a.associations(ctx)
		if err != nil {
			return err
		}
		if assoc.used(it.Value.ARN) {
			return errf(core.KindConflict, elbv2types.ErrCodeResourceInUseException,
				"Target group '%s' is currently in use by a listener or a rule", it.Value.ARN)
		}
		t := &txn{}
		t.remove(it.Key, it.ModRevision)
		t.drop(state.TargetGroupNameKey(it.Value.Name))
		regs, _, err := a.store.List(ctx, state.RegistrationsPrefix(it.Value.ID), store.ListOptions{})
		if err != nil {
			return err
		}
		for _, kv := range regs {
			t.drop(kv.Key)
		}
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.DeleteTargetGroupOutput{}, nil
}

// DescribeTargetGroupAttributes lists every attribute with its value.
func (a *API) DescribeTargetGroupAttributes(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeTargetGroupAttributesInput) (*elbv2types.DescribeTargetGroupAttributesOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	it, err := a.targetGroup(ctx, in.TargetGroupArn)
	if err != nil {
		return nil, err
	}
	return &elbv2types.DescribeTargetGroupAttributesOutput{Attributes: tgAttrList(it.Value.Attributes)}, nil
}

func tgAttrList(m map[string]string) []elbv2types.TargetGroupAttribute {
	full := defaultAttributes(tgAttributes)
	for k, v := range m {
		full[k] = v
	}
	out := []elbv2types.TargetGroupAttribute{}
	for _, k := range sortedKeys(full) {
		out = append(out, elbv2types.TargetGroupAttribute{Key: k, Value: full[k]})
	}
	return out
}

// ModifyTargetGroupAttributes changes attributes and returns them all.
func (a *API) ModifyTargetGroupAttributes(ctx context.Context, _ *awsproto.Call, in *elbv2types.ModifyTargetGroupAttributesInput) (*elbv2types.ModifyTargetGroupAttributesOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	keys, vals := make([]string, len(in.Attributes)), make([]string, len(in.Attributes))
	for i, at := range in.Attributes {
		keys[i], vals[i] = at.Key, at.Value
	}
	var rec state.TargetGroup
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.targetGroup(ctx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		next, err := applyAttributes(tgAttributes, it.Value.Attributes, keys, vals, "Target group")
		if err != nil {
			return err
		}
		rec = it.Value
		rec.Attributes = next
		t := &txn{}
		t.update(it.Key, it.ModRevision, rec)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyTargetGroupAttributesOutput{Attributes: tgAttrList(rec.Attributes)}, nil
}

// associations says which load balancers forward to each target group,
// through a listener's default actions or a rule.
type associations map[string][]string // target group ARN -> load balancer ARNs, sorted

func (as associations) loadBalancers(tg string) []string { return as[tg] }

func (as associations) used(tg string) bool { return len(as[tg]) > 0 }

func (as associations) add(tg, lbARN string) {
	if !slices.Contains(as[tg], lbARN) {
		as[tg] = append(as[tg], lbARN)
		slices.Sort(as[tg])
	}
}

// forwardTargets returns the target group ARNs the actions forward to.
func forwardTargets(actions []elbv2types.Action) []string {
	var out []string
	for _, ac := range actions {
		if ac.Type != elbv2types.ActionTypeEnumForward {
			continue
		}
		if ac.ForwardConfig != nil {
			for _, tg := range ac.ForwardConfig.TargetGroups {
				out = append(out, tg.TargetGroupArn)
			}
		} else if ac.TargetGroupArn != "" {
			out = append(out, ac.TargetGroupArn)
		}
	}
	return out
}

func (a *API) associations(ctx context.Context) (associations, error) {
	listeners, err := state.List[state.Listener](ctx, a.store, state.AllListenersPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	rules, err := state.List[state.Rule](ctx, a.store, state.AllRulesPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	as := associations{}
	lbOf := map[string]string{} // listener ID -> LB ARN
	for _, l := range listeners {
		lbOf[l.Value.ID] = l.Value.LoadBalancerARN
		for _, tg := range forwardTargets(l.Value.DefaultActions) {
			as.add(tg, l.Value.LoadBalancerARN)
		}
	}
	for _, r := range rules {
		if lbARN, ok := lbOf[r.Value.ListenerID]; ok {
			for _, tg := range forwardTargets(r.Value.Actions) {
				as.add(tg, lbARN)
			}
		}
	}
	return as, nil
}
