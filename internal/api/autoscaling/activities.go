package autoscaling

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scaling"
	"github.com/minato-project/minato/internal/store"
)

// DescribeScalingActivities lists a target's (or every target's) scaling
// activities, newest first.
func (a *API) DescribeScalingActivities(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DescribeScalingActivitiesRequest) (*autoscalingtypes.DescribeScalingActivitiesResponse, error) {
	prefix := activityPrefix
	if in.ResourceId != "" && in.ScalableDimension != "" {
		prefix = activitiesOf(in.ResourceId, in.ScalableDimension)
	}
	all, err := list[autoscalingtypes.ScalingActivity](ctx, a.store, prefix)
	if err != nil {
		return nil, err
	}
	out := &autoscalingtypes.DescribeScalingActivitiesResponse{ScalingActivities: []autoscalingtypes.ScalingActivity{}}
	for _, act := range slices.Backward(all) {
		if act.ServiceNamespace != in.ServiceNamespace || (in.ResourceId != "" && act.ResourceId != in.ResourceId) {
			continue
		}
		out.ScalingActivities = append(out.ScalingActivities, act)
	}
	return out, nil
}

// record stores an activity, keeping the target's last maxActivities.
func (a *API) record(ctx context.Context, act autoscalingtypes.ScalingActivity) error {
	prefix := activitiesOf(act.ResourceId, act.ScalableDimension)
	// Activities started in the same instant keep their order.
	ops := []store.Op{put(fmt.Sprintf("%s%020d-%08d", prefix, act.StartTime.Time().UnixNano(), a.seq.Add(1)%1e8), act)}
	kvs, _, err := a.store.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		return err
	}
	for i := 0; i < len(kvs)-maxActivities+1; i++ {
		ops = append(ops, store.Delete(kvs[i].Key))
	}
	_, err = a.store.Txn(ctx, nil, ops)
	return err
}

// Scale runs the scheduled actions that are due, then applies every
// policy once: a target tracking policy reads its alarms and metric, a
// step policy looks whether an alarm invoked it (step.go); each decides
// (package scaling) and sets the service's desired count, recording the
// activity with AWS's texts.
func (a *API) Scale(ctx context.Context) error {
	policies, err := list[policyRecord](ctx, a.store, policyPrefix)
	if err != nil {
		return err
	}
	c := &awsproto.Call{Region: a.scope.Region, Principal: awsproto.Principal{AccountID: a.scope.AccountID}}
	var errs []error
	if err := a.runScheduled(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, rec := range policies {
		apply := a.apply
		if rec.Step != nil {
			apply = a.applyStep
		}
		if err := apply(ctx, c, rec); err != nil && !core.IsKind(err, core.KindNotFound) {
			errs = append(errs, fmt.Errorf("policy %s of %s: %w", rec.Policy.PolicyName, rec.Policy.ResourceId, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

func (a *API) apply(ctx context.Context, c *awsproto.Call, rec policyRecord) error {
	p := rec.Policy
	cfg := p.TargetTrackingScalingPolicyConfiguration
	if cfg == nil || len(p.Alarms) != 2 {
		return nil
	}
	cluster, service, err := parseResource(p.ServiceNamespace, p.ResourceId, p.ScalableDimension)
	if err != nil {
		return nil
	}
	var target autoscalingtypes.ScalableTarget
	if _, err := a.get(ctx, targetKey(p.ResourceId, p.ScalableDimension), &target); err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	current, err := a.services.DesiredCount(ctx, cluster, service)
	if err != nil {
		return err
	}
	alarms, err := a.cw.DescribeAlarms(ctx, c, &cloudwatchtypes.DescribeAlarmsInput{AlarmNames: []string{p.Alarms[0].AlarmName, p.Alarms[1].AlarmName}})
	if err != nil {
		return err
	}
	state := map[string]cloudwatchtypes.StateValue{}
	for _, al := range alarms.MetricAlarms {
		state[al.AlarmName] = al.StateValue
	}
	now := a.now()
	in := scaling.Input{Current: current, Min: int(target.MinCapacity), Max: int(target.MaxCapacity), Metric: math.NaN(), Now: now,
		High: state[p.Alarms[0].AlarmName] == cloudwatchtypes.StateValueAlarm, Low: state[p.Alarms[1].AlarmName] == cloudwatchtypes.StateValueAlarm,
		LastScaleOut: rec.LastScaleOut, LastScaleIn: rec.LastScaleIn}
	if m, err := metricOf(cluster, service, cfg); err == nil {
		period := int32(60)
		st, err := a.cw.GetMetricStatistics(ctx, c, &cloudwatchtypes.GetMetricStatisticsInput{Namespace: m.Namespace, MetricName: m.MetricName,
			Dimensions: m.Dimensions, StartTime: shape.NewTimestamp(now.Add(-5 * time.Minute)), EndTime: shape.NewTimestamp(now),
			Period: &period, Statistics: []cloudwatchtypes.Statistic{m.Statistic}, Unit: m.Unit})
		if err != nil {
			return err
		}
		var newest time.Time
		for _, dp := range st.Datapoints {
			if v := statValue(dp, m.Statistic); v != nil && dp.Timestamp.Time().After(newest) {
				newest, in.Metric = dp.Timestamp.Time(), *v
			}
		}
	}
	d := scaling.Decide(scaling.Policy{Target: cfg.TargetValue, ScaleOutCooldown: time.Duration(cfg.ScaleOutCooldown) * time.Second,
		ScaleInCooldown: time.Duration(cfg.ScaleInCooldown) * time.Second, DisableScaleIn: cfg.DisableScaleIn}, in)
	if !d.Scale || d.Capacity == current || suspended(target.SuspendedState, current, d.Capacity) {
		return nil
	}
	cause := ""
	switch {
	case current < in.Min || current > in.Max:
		cause = fmt.Sprintf("the desired count %d was outside the scalable target's capacity [%d, %d]", current, in.Min, in.Max)
	case d.Capacity > current:
		cause = fmt.Sprintf("monitor alarm %s in state ALARM triggered policy %s", p.Alarms[0].AlarmName, p.PolicyName)
	default:
		cause = fmt.Sprintf("monitor alarm %s in state ALARM triggered policy %s", p.Alarms[1].AlarmName, p.PolicyName)
	}
	act := autoscalingtypes.ScalingActivity{ActivityId: a.ids.NewID(), ServiceNamespace: p.ServiceNamespace, ResourceId: p.ResourceId,
		ScalableDimension: p.ScalableDimension, Description: fmt.Sprintf("Setting desired count to %d.", d.Capacity), Cause: cause,
		StartTime: shape.NewTimestamp(now)}
	if err := a.services.SetDesiredCount(ctx, cluster, service, d.Capacity); err != nil {
		act.StatusCode, act.StatusMessage = autoscalingtypes.ScalingActivityStatusCodeFailed, "Failed to set desired count to "+fmt.Sprint(d.Capacity)+": "+err.Error()
		act.EndTime = shape.NewTimestamp(a.now())
		_ = a.record(ctx, act)
		return err
	}
	act.StatusCode = autoscalingtypes.ScalingActivityStatusCodeSuccessful
	act.StatusMessage = fmt.Sprintf("Successfully set desired count to %d. Change successfully fulfilled by ecs.", d.Capacity)
	act.EndTime = shape.NewTimestamp(a.now())
	// The cooldowns start now; a policy deleted meanwhile stays deleted.
	key := policyKey(p.ResourceId, p.ScalableDimension, p.PolicyName)
	var cur policyRecord
	rev, err := a.get(ctx, key, &cur)
	if err == nil {
		if d.Capacity > current {
			cur.LastScaleOut = now
		} else {
			cur.LastScaleIn = now
		}
		_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(key, rev)}, []store.Op{put(key, cur)})
	}
	if err != nil && !isNotFound(err) {
		return err
	}
	a.log.Info("scaled", "service", service, "cluster", cluster, "from", current, "to", d.Capacity, "cause", cause)
	return a.record(ctx, act)
}

// suspended reports whether the scalable target's suspended state stops
// dynamic scaling from current to want.
func suspended(s *autoscalingtypes.SuspendedState, current, want int) bool {
	return s != nil && (want > current && s.DynamicScalingOutSuspended || want < current && s.DynamicScalingInSuspended)
}

func statValue(dp cloudwatchtypes.Datapoint, s cloudwatchtypes.Statistic) *float64 {
	switch strings.ToLower(string(s)) {
	case "average":
		return dp.Average
	case "sum":
		return dp.Sum
	case "maximum":
		return dp.Maximum
	case "minimum":
		return dp.Minimum
	case "samplecount":
		return dp.SampleCount
	}
	return nil
}
