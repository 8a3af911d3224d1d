package elbv2

import (
	"context"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Defaults of what a load balancer is placed in. minato has no VPC; these
// stable names stand in for it.
const (
	defaultVpcID         = "vpc-minato"
	defaultSecurityGroup = "sg-minato"
	// canonicalHostedZoneID is the Route 53 zone every minato load
	// balancer's DNS name would be in.
	canonicalHostedZoneID = "ZMINATO0ELB0001"
)

// checkName checks a load balancer or target group name as ELBv2 does:
// 1–32 alphanumerics and hyphens, not beginning or ending with a hyphen.
func checkName(what, name string) error {
	if name == "" {
		return validationErr("%s name cannot be empty", what)
	}
	if len(name) > 32 {
		return validationErr("%s name '%s' cannot be longer than '32' characters", what, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return validationErr("%s name '%s' can only contain characters that are alphanumeric characters or hyphens(-)", what, name)
		}
	}
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		return validationErr("%s name '%s' cannot begin or end with '-'", what, name)
	}
	return nil
}

// zonesFor names the subnets of a new load balancer: the given ones in
// zones a, b, c ... of the region, or two stand-ins.
func zonesFor(region string, subnets []string) []state.ELBZone {
	if len(subnets) == 0 {
		subnets = []string{"subnet-minato-a", "subnet-minato-c"}
	}
	out := make([]state.ELBZone, len(subnets))
	for i, s := range subnets {
		letter := string(rune('a' + i%26))
		if i == 1 && len(subnets) == 2 && s == "subnet-minato-c" {
			letter = "c"
		}
		out[i] = state.ELBZone{SubnetID: s, Zone: region + letter}
	}
	return out
}

// sameLB reports whether a create request asks for what l is: creating a
// load balancer again with the same settings returns it, as ELBv2 does.
func sameLB(l state.LoadBalancer, scheme string, subnets, sgs []string) bool {
	if l.Scheme != scheme {
		return false
	}
	if len(subnets) > 0 {
		var have []string
		for _, z := range l.Subnets {
			have = append(have, z.SubnetID)
		}
		if !slices.Equal(have, subnets) {
			return false
		}
	}
	return len(sgs) == 0 || slices.Equal(sgs, l.SecurityGroups)
}

// CreateLoadBalancer creates an application load balancer.
func (a *API) CreateLoadBalancer(ctx context.Context, c *awsproto.Call, in *elbv2types.CreateLoadBalancerInput) (*elbv2types.CreateLoadBalancerOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if in.Type != "" && in.Type != elbv2types.LoadBalancerTypeEnumApplication {
		return nil, invalidConfig("minato serves application load balancers only: load balancer type '%s' is not supported", in.Type)
	}
	if err := checkName("Load balancer", in.Name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Name, "internal-") {
		return nil, validationErr("Load balancer name '%s' cannot begin with 'internal-'", in.Name)
	}
	if in.IpAddressType != "" && in.IpAddressType != elbv2types.IpAddressTypeIpv4 {
		return nil, invalidConfig("minato's load balancer listens on IPv4 only: IP address type '%s' is not supported", in.IpAddressType)
	}
	if len(in.Subnets) > 0 && len(in.SubnetMappings) > 0 {
		return nil, validationErr("You can specify subnets or subnet mappings, not both")
	}
	tags, err := checkNewTags(in.Tags)
	if err != nil {
		return nil, err
	}
	subnets := in.Subnets
	for _, m := range in.SubnetMappings {
		subnets = append(subnets, m.SubnetId)
	}
	scheme := in.Scheme
	if scheme == "" {
		scheme = elbv2types.LoadBalancerSchemeEnumInternetFacing
	}
	sgs := in.SecurityGroups
	if len(sgs) == 0 {
		sgs = []string{defaultSecurityGroup}
	}
	scope := scopeOf(c)
	var rec state.LoadBalancer
	err = store.RetryConflicts(ctx, func() error {
		if idx, err := state.Get[state.NameIndex](ctx, a.store, state.LoadBalancerNameKey(in.Name)); err == nil {
			old, err := state.Get[state.LoadBalancer](ctx, a.store, state.LoadBalancerKey(idx.Value.ID))
			if err != nil {
				return err // a conflict retries; a missing record is a half-deleted load balancer
			}
			if sameLB(old.Value, string(scheme), subnets, in.SecurityGroups) {
				rec = old.Value
				return nil
			}
			return errf(core.KindConflict, elbv2types.ErrCodeDuplicateLoadBalancerNameException,
				"A load balancer with the same name '%s' exists, but with different settings", in.Name)
		} else if !state.IsNotFound(err) {
			return err
		}
		id := a.newID()
		rec = state.LoadBalancer{
			ID: id, Name: in.Name, ARN: lbARN(scope, in.Name, id),
			Scheme: string(scheme), IPAddressType: string(elbv2types.IpAddressTypeIpv4), VpcID: defaultVpcID,
			Subnets: zonesFor(scope.Region, subnets), SecurityGroups: sgs, CreatedAt: a.now(),
			Attributes: defaultAttributes(lbAttributes), Tags: tags,
		}
		t := &txn{}
		t.create(state.LoadBalancerNameKey(in.Name), state.NameIndex{ID: id})
		t.create(state.LoadBalancerKey(id), rec)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.CreateLoadBalancerOutput{LoadBalancers: []elbv2types.LoadBalancer{a.renderLB(rec)}}, nil
}

func (a *API) renderLB(l state.LoadBalancer) elbv2types.LoadBalancer {
	out := elbv2types.LoadBalancer{
		LoadBalancerArn:       l.ARN,
		DNSName:               a.DNSName(),
		CanonicalHostedZoneId: canonicalHostedZoneID,
		CreatedTime:           shape.NewTimestamp(l.CreatedAt),
		LoadBalancerName:      l.Name,
		Scheme:                elbv2types.LoadBalancerSchemeEnum(l.Scheme),
		VpcId:                 l.VpcID,
		State:                 &elbv2types.LoadBalancerState{Code: elbv2types.LoadBalancerStateEnumActive},
		Type:                  elbv2types.LoadBalancerTypeEnumApplication,
		SecurityGroups:        l.SecurityGroups,
		IpAddressType:         elbv2types.IpAddressType(l.IPAddressType),
	}
	for _, z := range l.Subnets {
		out.AvailabilityZones = append(out.AvailabilityZones, elbv2types.AvailabilityZone{ZoneName: z.Zone, SubnetId: z.SubnetID})
	}
	return out
}

// allLoadBalancers returns every load balancer, by name.
func (a *API) allLoadBalancers(ctx context.Context) ([]state.Item[state.LoadBalancer], error) {
	items, err := state.List[state.LoadBalancer](ctx, a.store, state.LoadBalancersPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(items, func(x, y state.Item[state.LoadBalancer]) int { return strings.Compare(x.Value.Name, y.Value.Name) })
	return items, nil
}

// DescribeLoadBalancers lists load balancers, all or by name or ARN.
func (a *API) DescribeLoadBalancers(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeLoadBalancersInput) (*elbv2types.DescribeLoadBalancersOutput, error) {
	if len(in.Names) > 0 && len(in.LoadBalancerArns) > 0 {
		return nil, validationErr("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	all, err := a.allLoadBalancers(ctx)
	if err != nil {
		return nil, err
	}
	var sel []state.LoadBalancer
	switch {
	case len(in.Names) > 0:
		for _, name := range in.Names {
			i := slices.IndexFunc(all, func(it state.Item[state.LoadBalancer]) bool { return it.Value.Name == name })
			if i < 0 {
				return nil, errf(core.KindNotFound, elbv2types.ErrCodeLoadBalancerNotFoundException, "Load balancers '[%s]' not found", name)
			}
			sel = appendUniqueLB(sel, all[i].Value)
		}
	case len(in.LoadBalancerArns) > 0:
		for _, arnStr := range in.LoadBalancerArns {
			it, err := a.loadBalancer(ctx, arnStr)
			if err != nil {
				return nil, err
			}
			sel = appendUniqueLB(sel, it.Value)
		}
		slices.SortFunc(sel, func(x, y state.LoadBalancer) int { return strings.Compare(x.Name, y.Name) })
	default:
		for _, it := range all {
			sel = append(sel, it.Value)
		}
	}
	pg, next, err := page(sel, func(l state.LoadBalancer) string { return l.Name }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2types.DescribeLoadBalancersOutput{NextMarker: next, LoadBalancers: []elbv2types.LoadBalancer{}}
	for _, l := range pg {
		out.LoadBalancers = append(out.LoadBalancers, a.renderLB(l))
	}
	return out, nil
}

func appendUniqueLB(s []state.LoadBalancer, l state.LoadBalancer) []state.LoadBalancer {
	if slices.ContainsFunc(s, func(x state.LoadBalancer) bool { return x.ID == l.ID }) {
		return s
	}
	return append(s, l)
}

// DeleteLoadBalancer deletes a load balancer with its listeners and their
// rules. As on AWS, deleting one that does not exist succeeds; one with
// deletion protection is refused.
func (a *API) DeleteLoadBalancer(ctx context.Context, _ *awsproto.Call, in *elbv2types.DeleteLoadBalancerInput) (*elbv2types.DeleteLoadBalancerOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.loadBalancer(ctx, in.LoadBalancerArn)
		if core.IsKind(err, core.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if it.Value.Attributes["deletion_protection.enabled"] == "true" {
			return errf(core.KindConflict, elbv2types.ErrCodeOperationNotPermittedException,
				"Load balancer '%s' cannot be deleted because deletion protection is enabled", in.LoadBalancerArn)
		}
		t := &txn{}
		t.remove(it.Key, it.ModRevision)
		t.drop(state.LoadBalancerNameKey(it.Value.Name))
		listeners, err := state.List[state.Listener](ctx, a.store, state.ListenersPrefix(it.Value.ID), store.ListOptions{})
		if err != nil {
			return err
		}
		for _, l := range listeners {
			if err := a.deleteListenerOps(ctx, t, l); err != nil {
				return err
			}
		}
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.DeleteLoadBalancerOutput{}, nil
}

// DescribeLoadBalancerAttributes lists every attribute with its value.
func (a *API) DescribeLoadBalancerAttributes(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeLoadBalancerAttributesInput) (*elbv2types.DescribeLoadBalancerAttributesOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	it, err := a.loadBalancer(ctx, in.LoadBalancerArn)
	if err != nil {
		return nil, err
	}
	return &elbv2types.DescribeLoadBalancerAttributesOutput{Attributes: lbAttrList(it.Value.Attributes)}, nil
}

func lbAttrList(m map[string]string) []elbv2types.LoadBalancerAttribute {
	full := defaultAttributes(lbAttributes)
	for k, v := range m {
		full[k] = v
	}
	out := []elbv2types.LoadBalancerAttribute{}
	for _, k := range sortedKeys(full) {
		out = append(out, elbv2types.LoadBalancerAttribute{Key: k, Value: full[k]})
	}
	return out
}

// ModifyLoadBalancerAttributes changes attributes and returns them all.
func (a *API) ModifyLoadBalancerAttributes(ctx context.Context, _ *awsproto.Call, in *elbv2types.ModifyLoadBalancerAttributesInput) (*elbv2types.ModifyLoadBalancerAttributesOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	keys, vals := make([]string, len(in.Attributes)), make([]string, len(in.Attributes))
	for i, at := range in.Attributes {
		keys[i], vals[i] = at.Key, at.Value
	}
	var rec state.LoadBalancer
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.loadBalancer(ctx, in.LoadBalancerArn)
		if err != nil {
			return err
		}
		next, err := applyAttributes(lbAttributes, it.Value.Attributes, keys, vals, "Load balancer")
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
	return &elbv2types.ModifyLoadBalancerAttributesOutput{Attributes: lbAttrList(rec.Attributes)}, nil
}
