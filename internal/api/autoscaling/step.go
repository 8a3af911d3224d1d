package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scaling"
	"github.com/minato-project/minato/internal/store"
)

// Step scaling policies. The generated StepAdjustment cannot tell an
// absent bound (infinity) from 0, so the configuration is decoded from
// the request body into these types, kept and described as they are.

type stepAdjustment struct {
	MetricIntervalLowerBound *float64 `json:"MetricIntervalLowerBound,omitempty"`
	MetricIntervalUpperBound *float64 `json:"MetricIntervalUpperBound,omitempty"`
	ScalingAdjustment        int32    `json:"ScalingAdjustment"`
}

type stepConfig struct {
	AdjustmentType         string           `json:"AdjustmentType,omitempty"`
	StepAdjustments        []stepAdjustment `json:"StepAdjustments,omitempty"`
	MinAdjustmentMagnitude *int32           `json:"MinAdjustmentMagnitude,omitempty"`
	Cooldown               *int32           `json:"Cooldown,omitempty"`
	MetricAggregationType  string           `json:"MetricAggregationType,omitempty"`
}

func (s *stepConfig) policy() scaling.StepPolicy {
	p := scaling.StepPolicy{AdjustmentType: s.AdjustmentType}
	if s.MinAdjustmentMagnitude != nil {
		p.MinAdjustmentMagnitude = int(*s.MinAdjustmentMagnitude)
	}
	if s.Cooldown != nil {
		p.Cooldown = time.Duration(*s.Cooldown) * time.Second
	}
	for _, st := range s.StepAdjustments {
		p.Steps = append(p.Steps, scaling.StepAdjustment{Lower: st.MetricIntervalLowerBound, Upper: st.MetricIntervalUpperBound, Adjustment: int(st.ScalingAdjustment)})
	}
	return p
}

// policyOut is a policy as DescribeScalingPolicies shows it: the step
// configuration (with its absent bounds) shadows the generated one.
type policyOut struct {
	autoscalingtypes.ScalingPolicy
	StepScalingPolicyConfiguration *stepConfig `json:"StepScalingPolicyConfiguration,omitempty"`
}

type describePoliciesOut struct {
	ScalingPolicies []policyOut `json:"ScalingPolicies"`
	NextToken       string      `json:"NextToken,omitempty"`
}

// putStepPolicy creates or replaces a step scaling policy. It creates no
// alarm: the user's alarms name the policy's ARN in their AlarmActions.
func (a *API) putStepPolicy(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.PutScalingPolicyRequest) (*autoscalingtypes.PutScalingPolicyResponse, error) {
	var body struct {
		StepScalingPolicyConfiguration *stepConfig
	}
	_ = json.Unmarshal(c.Body, &body)
	cfg := body.StepScalingPolicyConfiguration
	if cfg == nil {
		return nil, validation("StepScalingPolicyConfiguration is required when PolicyType is StepScaling.")
	}
	if in.TargetTrackingScalingPolicyConfiguration != nil {
		return nil, validation("TargetTrackingScalingPolicyConfiguration is not allowed when PolicyType is StepScaling.")
	}
	if err := scaling.ValidateStepPolicy(cfg.policy()); err != nil {
		return nil, validation("%s", scaling.StepMessage(err))
	}
	switch cfg.MetricAggregationType {
	case "", "Average", "Minimum", "Maximum":
	default:
		return nil, validation("Invalid MetricAggregationType %s: Average, Minimum or Maximum.", cfg.MetricAggregationType)
	}
	if _, err := a.store.Get(ctx, targetKey(in.ResourceId, in.ScalableDimension)); isNotFound(err) {
		return nil, notFound("No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
			in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	} else if err != nil {
		return nil, err
	}
	key := policyKey(in.ResourceId, in.ScalableDimension, in.PolicyName)
	for attempt := 0; ; attempt++ {
		var rec policyRecord
		rev, err := a.get(ctx, key, &rec)
		cond := store.MustBeAt(key, rev)
		var oldAlarms []string
		if isNotFound(err) {
			rec = policyRecord{Policy: autoscalingtypes.ScalingPolicy{CreationTime: shape.NewTimestamp(a.now()),
				PolicyARN: a.scopeOf(c).New("autoscaling", fmt.Sprintf("scalingPolicy:%s:resource/ecs/%s:policyName/%s", a.ids.NewID(), in.ResourceId, in.PolicyName))}}
			cond = store.MustNotExist(key)
		} else if err != nil {
			return nil, err
		} else if rec.Policy.TargetTrackingScalingPolicyConfiguration != nil {
			// A target tracking policy replaced by a step policy: its
			// alarms go.
			for _, al := range rec.Policy.Alarms {
				oldAlarms = append(oldAlarms, al.AlarmName)
			}
		}
		rec.Policy.PolicyName, rec.Policy.ServiceNamespace, rec.Policy.ResourceId = in.PolicyName, in.ServiceNamespace, in.ResourceId
		rec.Policy.ScalableDimension, rec.Policy.PolicyType = in.ScalableDimension, in.PolicyType
		rec.Policy.TargetTrackingScalingPolicyConfiguration, rec.Policy.StepScalingPolicyConfiguration, rec.Policy.Alarms = nil, nil, nil
		rec.Step = cfg
		if rec.Checked.IsZero() {
			rec.Checked = a.now()
		}
		_, err = a.store.Txn(ctx, []store.Cond{cond}, []store.Op{put(key, rec)})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		a.deleteAlarms(ctx, c, oldAlarms)
		// The alarms already naming the policy, as AWS lists them.
		alarms, err := a.alarmsOf(ctx, c, rec.Policy.PolicyARN)
		if err != nil {
			return nil, err
		}
		out := &autoscalingtypes.PutScalingPolicyResponse{PolicyARN: rec.Policy.PolicyARN, Alarms: []autoscalingtypes.Alarm{}}
		for _, al := range alarms {
			out.Alarms = append(out.Alarms, autoscalingtypes.Alarm{AlarmName: al.AlarmName, AlarmARN: al.AlarmArn})
		}
		return out, nil
	}
}

// alarmsOf returns the metric alarms whose AlarmActions name policyARN.
func (a *API) alarmsOf(ctx context.Context, c *awsproto.Call, policyARN string) ([]cloudwatchtypes.MetricAlarm, error) {
	var out []cloudwatchtypes.MetricAlarm
	in := &cloudwatchtypes.DescribeAlarmsInput{ActionPrefix: policyARN}
	for {
		page, err := a.cw.DescribeAlarms(ctx, c, in)
		if err != nil {
			return nil, err
		}
		for _, al := range page.MetricAlarms {
			if slices.Contains(al.AlarmActions, policyARN) {
				out = append(out, al)
			}
		}
		if page.NextToken == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// reinvokeEvery is how often an alarm still in ALARM invokes its scaling
// policies again: CloudWatch repeats Auto Scaling actions every minute.
const reinvokeEvery = time.Minute

// applyStep runs a step policy when one of its alarms invokes it: an alarm
// that went to ALARM since the policy last looked (even if it has left
// ALARM since, as after set-alarm-state), or one in ALARM that has not
// invoked it for a minute.
func (a *API) applyStep(ctx context.Context, c *awsproto.Call, rec policyRecord) error {
	p := rec.Policy
	cluster, service, err := parseResource(p.ServiceNamespace, p.ResourceId, p.ScalableDimension)
	if err != nil {
		return nil
	}
	alarms, err := a.alarmsOf(ctx, c, p.PolicyARN)
	if err != nil || len(alarms) == 0 {
		return err
	}
	now := a.now()
	checked := rec.Checked
	var trigger *cloudwatchtypes.MetricAlarm
	for i, al := range alarms {
		if al.ActionsEnabled != nil && !*al.ActionsEnabled {
			continue
		}
		entered, newest, err := a.enteredAlarm(ctx, c, al.AlarmName, rec.Checked)
		if err != nil {
			return err
		}
		if newest.After(checked) {
			checked = newest
		}
		again := al.StateValue == cloudwatchtypes.StateValueAlarm && (rec.LastInvoked.IsZero() || !now.Before(rec.LastInvoked.Add(reinvokeEvery)))
		if trigger == nil && (entered || again) {
			trigger = &alarms[i]
		}
	}
	if trigger == nil {
		if checked.After(rec.Checked) {
			return a.updatePolicy(ctx, p, func(r *policyRecord) { r.Checked = checked })
		}
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
	breach, above := a.breach(ctx, c, *trigger, rec.Step.MetricAggregationType, now)
	in := scaling.StepInput{Current: current, Min: int(target.MinCapacity), Max: int(target.MaxCapacity), Breach: breach, Above: above, Now: now,
		LastScaleOut: rec.LastScaleOut, LastScaleIn: rec.LastScaleIn, ScaleOutFrom: rec.ScaleOutFrom}
	if s := target.SuspendedState; s != nil {
		in.OutSuspended, in.InSuspended = s.DynamicScalingOutSuspended, s.DynamicScalingInSuspended
	}
	d := scaling.DecideStep(rec.Step.policy(), in)
	a.log.Debug("step policy invoked", "policy", p.PolicyName, "alarm", trigger.AlarmName, "breach", breach, "decision", d.Reason)
	if d.Scale {
		cause := fmt.Sprintf("monitor alarm %s in state ALARM triggered policy %s", trigger.AlarmName, p.PolicyName)
		if err := a.setDesired(ctx, p, cluster, service, current, d.Capacity, cause); err != nil {
			return err
		}
	}
	return a.updatePolicy(ctx, p, func(r *policyRecord) {
		r.Checked, r.LastInvoked = checked, now
		switch {
		case d.Scale && d.Capacity > current:
			r.LastScaleOut, r.ScaleOutFrom = now, d.From
		case d.Scale:
			r.LastScaleIn = now
		}
	})
}

// enteredAlarm reports whether the alarm went to ALARM after since, and
// the time of its newest state change.
func (a *API) enteredAlarm(ctx context.Context, c *awsproto.Call, name string, since time.Time) (bool, time.Time, error) {
	h, err := a.cw.DescribeAlarmHistory(ctx, c, &cloudwatchtypes.DescribeAlarmHistoryInput{AlarmName: name,
		HistoryItemType: cloudwatchtypes.HistoryItemTypeStateUpdate, StartDate: shape.NewTimestamp(since)})
	if err != nil {
		return false, time.Time{}, err
	}
	entered, newest := false, time.Time{}
	for _, item := range h.AlarmHistoryItems {
		at := item.Timestamp.Time()
		if !at.After(since) {
			continue
		}
		if at.After(newest) {
			newest = at
		}
		var data struct {
			NewState struct {
				StateValue string `json:"stateValue"`
			} `json:"newState"`
		}
		if json.Unmarshal([]byte(item.HistoryData), &data) == nil && data.NewState.StateValue == string(cloudwatchtypes.StateValueAlarm) {
			entered = true
		}
	}
	return entered, newest, nil
}

// breach is the alarm's metric minus its threshold, the metric aggregated
// over the alarm's last period with data as aggregation says (Average by
// default), and whether it is above the threshold. With no data (an alarm
// set to ALARM by set-alarm-state), the metric is taken to be at the
// threshold, on the side the alarm's comparison breaches.
func (a *API) breach(ctx context.Context, c *awsproto.Call, al cloudwatchtypes.MetricAlarm, aggregation string, now time.Time) (float64, bool) {
	greater := strings.HasPrefix(string(al.ComparisonOperator), "Greater")
	if al.Threshold == nil || al.Period == nil || al.EvaluationPeriods == nil {
		return 0, greater
	}
	if aggregation == "" {
		aggregation = "Average"
	}
	period := time.Duration(*al.Period) * time.Second
	end := now.Truncate(period)
	st, err := a.cw.GetMetricStatistics(ctx, c, &cloudwatchtypes.GetMetricStatisticsInput{Namespace: al.Namespace, MetricName: al.MetricName,
		Dimensions: al.Dimensions, StartTime: shape.NewTimestamp(end.Add(-time.Duration(*al.EvaluationPeriods) * period)), EndTime: shape.NewTimestamp(end),
		Period: al.Period, Statistics: []cloudwatchtypes.Statistic{cloudwatchtypes.Statistic(aggregation)}, Unit: al.Unit})
	if err != nil {
		return 0, greater
	}
	var newest time.Time
	var value *float64
	for _, dp := range st.Datapoints {
		if v := statValue(dp, cloudwatchtypes.Statistic(aggregation)); v != nil && dp.Timestamp.Time().After(newest) {
			newest, value = dp.Timestamp.Time(), v
		}
	}
	if value == nil {
		return 0, greater
	}
	b := *value - *al.Threshold
	return b, b > 0 || (b == 0 && greater)
}

// updatePolicy changes a policy's record; a policy deleted meanwhile stays
// deleted.
func (a *API) updatePolicy(ctx context.Context, p autoscalingtypes.ScalingPolicy, change func(*policyRecord)) error {
	key := policyKey(p.ResourceId, p.ScalableDimension, p.PolicyName)
	for attempt := 0; ; attempt++ {
		var cur policyRecord
		rev, err := a.get(ctx, key, &cur)
		if isNotFound(err) || (err == nil && cur.Policy.PolicyARN != p.PolicyARN) {
			return nil
		}
		if err != nil {
			return err
		}
		change(&cur)
		_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(key, rev)}, []store.Op{put(key, cur)})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return err
	}
}

// setDesired sets a service's desired count and records the activity with
// AWS's texts.
func (a *API) setDesired(ctx context.Context, p autoscalingtypes.ScalingPolicy, cluster, service string, from, to int, cause string) error {
	return a.setDesiredOf(ctx, p.ServiceNamespace, p.ResourceId, p.ScalableDimension, cluster, service, from, to, cause)
}

func (a *API) setDesiredOf(ctx context.Context, ns autoscalingtypes.ServiceNamespace, resourceID string, dim autoscalingtypes.ScalableDimension,
	cluster, service string, from, to int, cause string) error {
	act := autoscalingtypes.ScalingActivity{ActivityId: a.ids.NewID(), ServiceNamespace: ns, ResourceId: resourceID,
		ScalableDimension: dim, Description: fmt.Sprintf("Setting desired count to %d.", to), Cause: cause,
		StartTime: shape.NewTimestamp(a.now())}
	if err := a.services.SetDesiredCount(ctx, cluster, service, to); err != nil {
		act.StatusCode, act.StatusMessage = autoscalingtypes.ScalingActivityStatusCodeFailed, fmt.Sprintf("Failed to set desired count to %d: %v", to, err)
		act.EndTime = shape.NewTimestamp(a.now())
		_ = a.record(ctx, act)
		return err
	}
	act.StatusCode = autoscalingtypes.ScalingActivityStatusCodeSuccessful
	act.StatusMessage = fmt.Sprintf("Successfully set desired count to %d. Change successfully fulfilled by ecs.", to)
	act.EndTime = shape.NewTimestamp(a.now())
	a.log.Info("scaled", "service", service, "cluster", cluster, "from", from, "to", to, "cause", cause)
	return a.record(ctx, act)
}
