package elbv2

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// targetRef is a target of a request with its port resolved.
type targetRef struct {
	key lb.Key
	az  string
}

// resolveTargets checks the targets of a request against group g and
// fills in the group's port where a target names none.
func (a *API) resolveTargets(ctx context.Context, g state.TargetGroup, in []elbv2types.TargetDescription, checkIDs bool) ([]targetRef, error) {
	if len(in) == 0 {
		return nil, validationErr("Targets must contain at least one target")
	}
	var instances map[string]bool
	var refs []targetRef
	var unknown []string
	for _, t := range in {
		if t.Id == "" {
			return nil, validationErr("A target ID must be specified")
		}
		port := g.Port
		if t.Port != nil {
			if err := checkPort("Target port", *t.Port); err != nil {
				return nil, err
			}
			port = int(*t.Port)
		}
		if checkIDs {
			switch g.TargetType {
			case string(elbv2types.TargetTypeEnumIp):
				ip, err := netip.ParseAddr(t.Id)
				if err != nil || !ip.Is4() {
					return nil, errf(core.KindInvalid, elbv2types.ErrCodeInvalidTargetException,
						"The IP address '%s' is not a valid IPv4 address", t.Id)
				}
			case string(elbv2types.TargetTypeEnumInstance):
				if instances == nil {
					var err error
					if instances, err = a.instanceIDs(ctx); err != nil {
						return nil, err
					}
				}
				if !instances[t.Id] {
					unknown = append(unknown, "'"+t.Id+"'")
				}
			}
		}
		refs = append(refs, targetRef{key: lb.Key{ID: t.Id, Port: port}, az: t.AvailabilityZone})
	}
	if len(unknown) > 0 {
		return nil, errf(core.KindInvalid, elbv2types.ErrCodeInvalidTargetException,
			"The following targets are not container instances of any cluster: %s", strings.Join(unknown, ", "))
	}
	return refs, nil
}

// instanceIDs returns the EC2 instance IDs of every container instance.
func (a *API) instanceIDs(ctx context.Context) (map[string]bool, error) {
	items, err := state.List[state.ContainerInstance](ctx, a.store, state.AllContainerInstancesPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(items))
	for _, it := range items {
		if it.Value.EC2InstanceID != "" {
			out[it.Value.EC2InstanceID] = true
		}
	}
	return out, nil
}

// register registers targets with the group tgARN: new ones are added, draining
// ones become registered again, registered ones stay as they are.
func (a *API) register(ctx context.Context, tgARNStr string, targets []elbv2types.TargetDescription, checkIDs bool) error {
	return store.RetryConflicts(ctx, func() error {
		g, err := a.targetGroup(ctx, tgARNStr)
		if err != nil {
			return err
		}
		refs, err := a.resolveTargets(ctx, g.Value, targets, checkIDs)
		if err != nil {
			return err
		}
		t := &txn{}
		now := a.now()
		for _, r := range refs {
			key := state.RegistrationKey(g.Value.ID, r.key.ID, r.key.Port)
			cur, err := state.Get[state.Registration](ctx, a.store, key)
			switch {
			case state.IsNotFound(err):
				t.create(key, state.Registration{TargetGroupID: g.Value.ID, TargetID: r.key.ID, Port: r.key.Port,
					AvailabilityZone: r.az, RegisteredAt: now})
			case err != nil:
				return err
			case cur.Value.Draining:
				reg := cur.Value
				reg.Draining, reg.DeregisteredAt, reg.RegisteredAt = false, time.Time{}, now
				if r.az != "" {
					reg.AvailabilityZone = r.az
				}
				t.update(key, cur.ModRevision, reg)
			}
		}
		if len(t.ops) == 0 {
			return nil
		}
		// Touch the group: a concurrent delete of it then conflicts.
		t.update(g.Key, g.ModRevision, g.Value)
		return a.commit(ctx, t)
	})
}

// deregister marks the targets' registrations draining. Targets that are
// not registered (or draining already) are left alone, as ELBv2 does.
func (a *API) deregister(ctx context.Context, tgARNStr string, targets []elbv2types.TargetDescription) error {
	return store.RetryConflicts(ctx, func() error {
		g, err := a.targetGroup(ctx, tgARNStr)
		if err != nil {
			return err
		}
		refs, err := a.resolveTargets(ctx, g.Value, targets, false)
		if err != nil {
			return err
		}
		t := &txn{}
		now := a.now()
		for _, r := range refs {
			key := state.RegistrationKey(g.Value.ID, r.key.ID, r.key.Port)
			cur, err := state.Get[state.Registration](ctx, a.store, key)
			switch {
			case state.IsNotFound(err):
			case err != nil:
				return err
			case !cur.Value.Draining:
				reg := cur.Value
				reg.Draining, reg.DeregisteredAt = true, now
				t.update(key, cur.ModRevision, reg)
			}
		}
		if len(t.ops) == 0 {
			return nil
		}
		return a.commit(ctx, t)
	})
}

// RegisterTargets registers targets with a target group.
func (a *API) RegisterTargets(ctx context.Context, _ *awsproto.Call, in *elbv2types.RegisterTargetsInput) (*elbv2types.RegisterTargetsOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := a.register(ctx, in.TargetGroupArn, in.Targets, true); err != nil {
		return nil, err
	}
	return &elbv2types.RegisterTargetsOutput{}, nil
}

// DeregisterTargets deregisters targets: they drain, then go.
func (a *API) DeregisterTargets(ctx context.Context, _ *awsproto.Call, in *elbv2types.DeregisterTargetsInput) (*elbv2types.DeregisterTargetsOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := a.deregister(ctx, in.TargetGroupArn, in.Targets); err != nil {
		return nil, err
	}
	return &elbv2types.DeregisterTargetsOutput{}, nil
}

// DescribeTargetHealth reports the health of a group's targets, all or
// those asked for.
func (a *API) DescribeTargetHealth(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeTargetHealthInput) (*elbv2types.DescribeTargetHealthOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	g, err := a.targetGroup(ctx, in.TargetGroupArn)
	if err != nil {
		return nil, err
	}
	regs, err := state.List[state.Registration](ctx, a.store, state.RegistrationsPrefix(g.Value.ID), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	assoc, err := a.associations(ctx)
	if err != nil {
		return nil, err
	}
	inUse := func() bool { return assoc.used(g.Value.ARN) }
	statuses := a.statuses(g.Value.ARN)
	byKey := map[lb.Key]state.Registration{}
	var order []lb.Key
	for _, r := range regs {
		k := lb.Key{ID: r.Value.TargetID, Port: r.Value.Port}
		byKey[k] = r.Value
		order = append(order, k)
	}
	slices.SortFunc(order, func(x, y lb.Key) int {
		if c := strings.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		return x.Port - y.Port
	})
	out := &elbv2types.DescribeTargetHealthOutput{TargetHealthDescriptions: []elbv2types.TargetHealthDescription{}}
	if len(in.Targets) > 0 {
		refs, err := a.resolveTargets(ctx, g.Value, in.Targets, false)
		if err != nil {
			return nil, err
		}
		order = order[:0]
		for _, r := range refs {
			order = append(order, r.key)
		}
	}
	for _, k := range order {
		reg, ok := byKey[k]
		if !ok {
			out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbv2types.TargetHealthDescription{
				Target:          &elbv2types.TargetDescription{Id: k.ID, Port: int32p(k.Port)},
				HealthCheckPort: healthPort(g.Value, k.Port),
				TargetHealth: &elbv2types.TargetHealth{State: lb.StateUnused, Reason: lb.ReasonNotRegistered,
					Description: "Target is not registered to the target group"},
			})
			continue
		}
		st := targetStatus(g.Value, reg, inUse, statuses)
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbv2types.TargetHealthDescription{
			Target:          &elbv2types.TargetDescription{Id: k.ID, Port: int32p(k.Port), AvailabilityZone: reg.AvailabilityZone},
			HealthCheckPort: st.HealthPort,
			TargetHealth: &elbv2types.TargetHealth{State: elbv2types.TargetHealthStateEnum(st.State),
				Reason: elbv2types.TargetHealthReasonEnum(st.Reason), Description: st.Description},
		})
	}
	return out, nil
}

// statuses asks the data plane for a group's target health, by target.
func (a *API) statuses(tgARNStr string) map[lb.Key]lb.TargetStatus {
	out := map[lb.Key]lb.TargetStatus{}
	if a.health == nil {
		return out
	}
	for _, s := range a.health.Health(tgARNStr) {
		out[s.Key] = s
	}
	return out
}

// healthPort is the port the health check of a target on port probes.
func healthPort(g state.TargetGroup, port int) string {
	if g.HealthCheck.Port == lb.HealthCheckPortTrafficPort || g.HealthCheck.Port == "" {
		return strconv.Itoa(port)
	}
	return g.HealthCheck.Port
}

// targetStatus is a registered target's health: the data plane's word
// when it has one that agrees with the record, else what the record says.
// The plane follows the records a moment behind, so a target just
// deregistered is draining whatever the plane last said, and one
// registered again is not draining any more.
func targetStatus(g state.TargetGroup, reg state.Registration, inUse func() bool, statuses map[lb.Key]lb.TargetStatus) lb.TargetStatus {
	k := lb.Key{ID: reg.TargetID, Port: reg.Port}
	hp := healthPort(g, reg.Port)
	if s, ok := statuses[k]; ok && (s.State == lb.StateDraining) == reg.Draining {
		if s.HealthPort == "" {
			s.HealthPort = hp
		}
		return s
	}
	s := lb.TargetStatus{Key: k, HealthPort: hp}
	switch {
	case reg.Draining:
		s.State, s.Reason, s.Description = lb.StateDraining, lb.ReasonDeregistrationInProgress, "Target deregistration is in progress"
	case !inUse():
		s.State, s.Reason, s.Description = lb.StateUnused, lb.ReasonNotInUse, "Target group is not configured to receive traffic from the load balancer"
	case !g.HealthCheck.Enabled:
		s.State, s.Reason, s.Description = lb.StateUnavailable, lb.ReasonHealthCheckDisabled, "Health checks disabled"
	default:
		s.State, s.Reason, s.Description = lb.StateInitial, lb.ReasonRegistrationInProgress, "Target registration is in progress"
	}
	return s
}

// For the ECS service controller.

// HealthCheckInfo is a target group's health check settings.
type HealthCheckInfo struct {
	Enabled            bool
	Protocol           string
	Port               string // "traffic-port" or a number
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	Matcher            string
}

// TargetGroupInfo is what the ECS service controller needs of a target
// group.
type TargetGroupInfo struct {
	ARN                 string
	Name                string
	Port                int
	TargetType          string // "instance" or "ip"
	HealthCheck         HealthCheckInfo
	DeregistrationDelay time.Duration
	// LoadBalancerARNs are the load balancers whose listeners or rules
	// forward to the group (empty: the group gets no traffic).
	LoadBalancerARNs []string
}

// TargetGroup returns the target group arn. A group that does not exist is
// a TargetGroupNotFound error (an ELBv2-shaped *core.Error of kind
// NotFound); a malformed ARN a ValidationError.
func (a *API) TargetGroup(ctx context.Context, arnStr string) (TargetGroupInfo, error) {
	g, err := a.targetGroup(ctx, arnStr)
	if err != nil {
		return TargetGroupInfo{}, err
	}
	assoc, err := a.associations(ctx)
	if err != nil {
		return TargetGroupInfo{}, err
	}
	v := g.Value
	h := v.HealthCheck
	return TargetGroupInfo{
		ARN: v.ARN, Name: v.Name, Port: v.Port, TargetType: v.TargetType,
		HealthCheck: HealthCheckInfo{Enabled: h.Enabled, Protocol: h.Protocol, Port: h.Port, Path: h.Path,
			Interval: time.Duration(h.IntervalSeconds) * time.Second, Timeout: time.Duration(h.TimeoutSeconds) * time.Second,
			HealthyThreshold: h.HealthyThreshold, UnhealthyThreshold: h.UnhealthyThreshold, Matcher: h.Matcher},
		DeregistrationDelay: time.Duration(attrInt(v.Attributes, tgAttributes, "deregistration_delay.timeout_seconds")) * time.Second,
		LoadBalancerARNs:    slices.Clone(assoc.loadBalancers(v.ARN)),
	}, nil
}

// RegisterTarget registers target t with group tgARN in availability zone
// az (may be empty). Registering a registered target does nothing; a
// draining one becomes registered again. The target's ID is not checked
// against the container instances: the caller took it from one.
func (a *API) RegisterTarget(ctx context.Context, tgARNStr string, t lb.Key, az string) error {
	return a.register(ctx, tgARNStr, []elbv2types.TargetDescription{{Id: t.ID, Port: int32p(t.Port), AvailabilityZone: az}}, false)
}

// DeregisterTarget deregisters target t from group tgARN: it drains, then
// its registration goes. A target that is not registered, or is draining
// already, is left alone.
func (a *API) DeregisterTarget(ctx context.Context, tgARNStr string, t lb.Key) error {
	return a.deregister(ctx, tgARNStr, []elbv2types.TargetDescription{{Id: t.ID, Port: int32p(t.Port)}})
}

// TargetHealth returns the health of target t of group tgARN: the data
// plane's word, or while the plane has not caught up with the records,
// what the records say (initial, draining, unused). ok is false when the
// target is not registered, or no longer: a drained target's registration
// is deleted.
func (a *API) TargetHealth(tgARNStr string, t lb.Key) (lb.TargetStatus, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := a.targetGroup(ctx, tgARNStr)
	if err != nil {
		return lb.TargetStatus{}, false
	}
	reg, err := state.Get[state.Registration](ctx, a.store, state.RegistrationKey(g.Value.ID, t.ID, t.Port))
	if err != nil {
		return lb.TargetStatus{}, false
	}
	inUse := func() bool {
		assoc, err := a.associations(ctx)
		return err == nil && assoc.used(g.Value.ARN)
	}
	return targetStatus(g.Value, reg.Value, inUse, a.statuses(tgARNStr)), true
}
