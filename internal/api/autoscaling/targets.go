package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/store"
)

// RegisterScalableTarget registers or updates an ECS service's scalable
// target. MinCapacity and MaxCapacity are required the first time; an
// update may change either.
func (a *API) RegisterScalableTarget(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.RegisterScalableTargetRequest) (*autoscalingtypes.RegisterScalableTargetResponse, error) {
	cluster, service, err := parseResource(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	if err != nil {
		return nil, err
	}
	// The generated types cannot tell an absent capacity (or suspended
	// attribute) from 0 (false).
	var present map[string]json.RawMessage
	_ = json.Unmarshal(c.Body, &present)
	var suspend struct {
		DynamicScalingInSuspended, DynamicScalingOutSuspended, ScheduledScalingSuspended *bool
	}
	if raw, ok := present["SuspendedState"]; ok {
		_ = json.Unmarshal(raw, &suspend)
	}
	_, hasMin := present["MinCapacity"]
	_, hasMax := present["MaxCapacity"]
	if _, err := a.services.DesiredCount(ctx, cluster, service); err != nil {
		if core.IsKind(err, core.KindNotFound) {
			return nil, validation("ECS service doesn't exist: %s", in.ResourceId)
		}
		return nil, err
	}
	key := targetKey(in.ResourceId, in.ScalableDimension)
	var t autoscalingtypes.ScalableTarget
	rev, err := a.get(ctx, key, &t)
	cond := store.MustBeAt(key, rev)
	if isNotFound(err) {
		if !hasMin || !hasMax {
			return nil, validation("MinCapacity and MaxCapacity are required to register a new scalable target.")
		}
		t = autoscalingtypes.ScalableTarget{ServiceNamespace: in.ServiceNamespace, ResourceId: in.ResourceId, ScalableDimension: in.ScalableDimension,
			CreationTime: shape.NewTimestamp(a.now()), RoleARN: a.roleARN(c),
			ScalableTargetARN: a.scopeOf(c).New("application-autoscaling", "scalable-target/"+a.ids.NewID()[:20])}
		cond = store.MustNotExist(key)
	} else if err != nil {
		return nil, err
	}
	// Attributes absent from SuspendedState keep their value; a new
	// target starts with nothing suspended.
	if t.SuspendedState == nil {
		t.SuspendedState = &autoscalingtypes.SuspendedState{}
	}
	for _, f := range []struct {
		in  *bool
		out *bool
	}{{suspend.DynamicScalingInSuspended, &t.SuspendedState.DynamicScalingInSuspended},
		{suspend.DynamicScalingOutSuspended, &t.SuspendedState.DynamicScalingOutSuspended},
		{suspend.ScheduledScalingSuspended, &t.SuspendedState.ScheduledScalingSuspended}} {
		if f.in != nil {
			*f.out = *f.in
		}
	}
	if hasMin {
		t.MinCapacity = in.MinCapacity
	}
	if hasMax {
		t.MaxCapacity = in.MaxCapacity
	}
	if t.MinCapacity < 0 || t.MaxCapacity < t.MinCapacity {
		return nil, validation("Maximum capacity cannot be less than minimum capacity")
	}
	if _, err := a.store.Txn(ctx, []store.Cond{cond}, []store.Op{put(key, t)}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, core.Errorf(core.KindConflict, autoscalingtypes.ErrCodeConcurrentUpdateException, "Concurrent update to the scalable target %s; try again.", in.ResourceId)
		}
		return nil, err
	}
	return &autoscalingtypes.RegisterScalableTargetResponse{ScalableTargetARN: t.ScalableTargetARN}, nil
}

func (a *API) roleARN(c *awsproto.Call) string {
	return "arn:aws:iam::" + c.Principal.AccountID + ":role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"
}

// DescribeScalableTargets lists the ECS scalable targets.
func (a *API) DescribeScalableTargets(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DescribeScalableTargetsRequest) (*autoscalingtypes.DescribeScalableTargetsResponse, error) {
	all, err := list[autoscalingtypes.ScalableTarget](ctx, a.store, targetPrefix)
	if err != nil {
		return nil, err
	}
	out := &autoscalingtypes.DescribeScalableTargetsResponse{ScalableTargets: []autoscalingtypes.ScalableTarget{}}
	for _, t := range all {
		if t.ServiceNamespace != in.ServiceNamespace || (len(in.ResourceIds) > 0 && !slices.Contains(in.ResourceIds, t.ResourceId)) ||
			(in.ScalableDimension != "" && t.ScalableDimension != in.ScalableDimension) {
			continue
		}
		out.ScalableTargets = append(out.ScalableTargets, t)
	}
	return out, nil
}

// DeregisterScalableTarget deletes a scalable target with its policies
// (and their alarms) and scheduled actions.
func (a *API) DeregisterScalableTarget(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DeregisterScalableTargetRequest) (*autoscalingtypes.DeregisterScalableTargetResponse, error) {
	if _, _, err := parseResource(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	key := targetKey(in.ResourceId, in.ScalableDimension)
	if _, err := a.store.Get(ctx, key); isNotFound(err) {
		return nil, notFound("No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
			in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	} else if err != nil {
		return nil, err
	}
	policies, err := list[policyRecord](ctx, a.store, policyPrefix+in.ResourceId+"|"+string(in.ScalableDimension)+"|")
	if err != nil {
		return nil, err
	}
	ops := []store.Op{store.Delete(key)}
	var alarms []string
	for _, p := range policies {
		ops = append(ops, store.Delete(policyKey(in.ResourceId, in.ScalableDimension, p.Policy.PolicyName)))
		for _, al := range p.Policy.Alarms {
			alarms = append(alarms, al.AlarmName)
		}
	}
	// Its scheduled actions go with it, as on AWS.
	scheduled, _, err := a.store.List(ctx, scheduledPrefix+in.ResourceId+"|"+string(in.ScalableDimension)+"|", store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, kv := range scheduled {
		ops = append(ops, store.Delete(kv.Key))
	}
	if _, err := a.store.Txn(ctx, nil, ops); err != nil {
		return nil, err
	}
	a.deleteAlarms(ctx, c, alarms)
	return &autoscalingtypes.DeregisterScalableTargetResponse{}, nil
}
