package autoscaling

import (
	"context"
	"fmt"
	"slices"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/store"
)

func (a *API) scopeOf(c *awsproto.Call) arn.Scope {
	if c.Region == "" && c.Principal.AccountID == "" {
		return a.scope
	}
	return arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}
}

// metricOf is the CloudWatch metric a target tracking policy follows.
func metricOf(cluster, service string, cfg *autoscalingtypes.TargetTrackingScalingPolicyConfiguration) (cloudwatchtypes.PutMetricAlarmInput, error) {
	ecs := []cloudwatchtypes.Dimension{{Name: "ClusterName", Value: cluster}, {Name: "ServiceName", Value: service}}
	if pm := cfg.PredefinedMetricSpecification; pm != nil {
		switch pm.PredefinedMetricType {
		case autoscalingtypes.MetricTypeECSServiceAverageCPUUtilization:
			return cloudwatchtypes.PutMetricAlarmInput{Namespace: "AWS/ECS", MetricName: "CPUUtilization", Dimensions: ecs, Statistic: "Average"}, nil
		case autoscalingtypes.MetricTypeECSServiceAverageMemoryUtilization:
			return cloudwatchtypes.PutMetricAlarmInput{Namespace: "AWS/ECS", MetricName: "MemoryUtilization", Dimensions: ecs, Statistic: "Average"}, nil
		case autoscalingtypes.MetricTypeALBRequestCountPerTarget:
			return albRequestCountMetric(pm.ResourceLabel)
		}
		return cloudwatchtypes.PutMetricAlarmInput{}, validation("Unsupported predefined metric type %s for an ECS service in minato.", pm.PredefinedMetricType)
	}
	cm := cfg.CustomizedMetricSpecification
	if cm == nil {
		return cloudwatchtypes.PutMetricAlarmInput{}, validation("Either PredefinedMetricSpecification or CustomizedMetricSpecification must be specified.")
	}
	if len(cm.Metrics) > 0 || cm.MetricName == "" || cm.Namespace == "" || cm.Statistic == "" {
		return cloudwatchtypes.PutMetricAlarmInput{}, validation("A customized metric needs MetricName, Namespace and Statistic (metric math is not supported).")
	}
	in := cloudwatchtypes.PutMetricAlarmInput{Namespace: cm.Namespace, MetricName: cm.MetricName, Statistic: cloudwatchtypes.Statistic(cm.Statistic),
		Unit: cloudwatchtypes.StandardUnit(cm.Unit)}
	for _, d := range cm.Dimensions {
		in.Dimensions = append(in.Dimensions, cloudwatchtypes.Dimension{Name: d.Name, Value: d.Value})
	}
	return in, nil
}

// PutScalingPolicy creates or replaces a target tracking policy and its
// two alarms, named as AWS names them:
// TargetTracking-<resourceId>-AlarmHigh-<uuid> (the metric above the
// target for 3 of 3 minutes) and ...-AlarmLow-<uuid> (below 90 % of it for
// 15 of 15 minutes); Config.HighPeriods and LowPeriods change the 3 and 15.
func (a *API) PutScalingPolicy(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.PutScalingPolicyRequest) (*autoscalingtypes.PutScalingPolicyResponse, error) {
	cluster, service, err := parseResource(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	if err != nil {
		return nil, err
	}
	if in.PolicyType == autoscalingtypes.PolicyTypeStepScaling {
		return a.putStepPolicy(ctx, c, in)
	}
	if in.PolicyType != autoscalingtypes.PolicyTypeTargetTrackingScaling {
		return nil, validation("Unsupported policy type %s: minato serves TargetTrackingScaling and StepScaling.", in.PolicyType)
	}
	cfg := in.TargetTrackingScalingPolicyConfiguration
	if cfg == nil {
		return nil, validation("TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.")
	}
	if cfg.TargetValue <= 0 {
		return nil, validation("The target value must be greater than 0.")
	}
	metric, err := metricOf(cluster, service, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := a.store.Get(ctx, targetKey(in.ResourceId, in.ScalableDimension)); isNotFound(err) {
		return nil, notFound("No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
			in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
	} else if err != nil {
		return nil, err
	}
	scope := a.scopeOf(c)
	key := policyKey(in.ResourceId, in.ScalableDimension, in.PolicyName)
	var rec policyRecord
	rev, err := a.get(ctx, key, &rec)
	cond := store.MustBeAt(key, rev)
	if isNotFound(err) {
		id := a.ids.NewID()
		rec.Policy = autoscalingtypes.ScalingPolicy{CreationTime: shape.NewTimestamp(a.now()),
			PolicyARN: scope.New("autoscaling", fmt.Sprintf("scalingPolicy:%s:resource/ecs/%s:policyName/%s", id, in.ResourceId, in.PolicyName))}
		cond = store.MustNotExist(key)
	} else if err != nil {
		return nil, err
	}
	rec.Policy.PolicyName, rec.Policy.ServiceNamespace, rec.Policy.ResourceId = in.PolicyName, in.ServiceNamespace, in.ResourceId
	rec.Policy.ScalableDimension, rec.Policy.PolicyType = in.ScalableDimension, in.PolicyType
	rec.Policy.TargetTrackingScalingPolicyConfiguration = cfg
	if len(rec.Policy.Alarms) != 2 {
		suffix := a.ids.NewID()
		if len(suffix) >= 32 {
			suffix = suffix[:8] + "-" + suffix[8:12] + "-" + suffix[12:16] + "-" + suffix[16:20] + "-" + suffix[20:32]
		}
		base := "TargetTracking-" + in.ResourceId
		rec.Policy.Alarms = []autoscalingtypes.Alarm{
			{AlarmName: base + "-AlarmHigh-" + suffix}, {AlarmName: base + "-AlarmLow-" + suffix},
		}
		for i := range rec.Policy.Alarms {
			rec.Policy.Alarms[i].AlarmARN = scope.New("cloudwatch", "alarm:"+rec.Policy.Alarms[i].AlarmName)
		}
	}
	high, low := metric, metric
	high.AlarmName, low.AlarmName = rec.Policy.Alarms[0].AlarmName, rec.Policy.Alarms[1].AlarmName
	p60, three, fifteen := int32(60), a.highPeriods, a.lowPeriods
	th, tl := cfg.TargetValue, cfg.TargetValue*0.9
	high.Period, high.EvaluationPeriods, high.DatapointsToAlarm, high.Threshold, high.ComparisonOperator = &p60, &three, &three, &th, "GreaterThanThreshold"
	low.Period, low.EvaluationPeriods, low.DatapointsToAlarm, low.Threshold, low.ComparisonOperator = &p60, &fifteen, &fifteen, &tl, "LessThanThreshold"
	high.AlarmDescription = "DO NOT EDIT OR DELETE. For TargetTrackingScaling policy " + rec.Policy.PolicyARN + "."
	low.AlarmDescription = high.AlarmDescription
	high.AlarmActions, low.AlarmActions = []string{rec.Policy.PolicyARN}, []string{rec.Policy.PolicyARN}
	for _, al := range []*cloudwatchtypes.PutMetricAlarmInput{&high, &low} {
		if _, err := a.cw.PutMetricAlarm(ctx, c, al); err != nil {
			return nil, err
		}
	}
	if _, err := a.store.Txn(ctx, []store.Cond{cond}, []store.Op{put(key, rec)}); err != nil {
		return nil, err
	}
	return &autoscalingtypes.PutScalingPolicyResponse{PolicyARN: rec.Policy.PolicyARN, Alarms: rec.Policy.Alarms}, nil
}

// DescribeScalingPolicies lists the policies of the ECS namespace.
func (a *API) DescribeScalingPolicies(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DescribeScalingPoliciesRequest) (*describePoliciesOut, error) {
	all, err := list[policyRecord](ctx, a.store, policyPrefix)
	if err != nil {
		return nil, err
	}
	out := &describePoliciesOut{ScalingPolicies: []policyOut{}}
	for _, r := range all {
		p := r.Policy
		if p.ServiceNamespace != in.ServiceNamespace || (in.ResourceId != "" && p.ResourceId != in.ResourceId) ||
			(in.ScalableDimension != "" && p.ScalableDimension != in.ScalableDimension) ||
			(len(in.PolicyNames) > 0 && !slices.Contains(in.PolicyNames, p.PolicyName)) {
			continue
		}
		out.ScalingPolicies = append(out.ScalingPolicies, policyOut{ScalingPolicy: p, StepScalingPolicyConfiguration: r.Step})
	}
	return out, nil
}

// DeleteScalingPolicy deletes a policy and its alarms.
func (a *API) DeleteScalingPolicy(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DeleteScalingPolicyRequest) (*autoscalingtypes.DeleteScalingPolicyResponse, error) {
	if _, _, err := parseResource(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	key := policyKey(in.ResourceId, in.ScalableDimension, in.PolicyName)
	var rec policyRecord
	if _, err := a.get(ctx, key, &rec); isNotFound(err) {
		return nil, notFound("No scaling policy found for service namespace: %s, resource ID: %s, scalable dimension: %s, policy name: %s",
			in.ServiceNamespace, in.ResourceId, in.ScalableDimension, in.PolicyName)
	} else if err != nil {
		return nil, err
	}
	if _, err := a.store.Txn(ctx, nil, []store.Op{store.Delete(key)}); err != nil {
		return nil, err
	}
	var names []string
	for _, al := range rec.Policy.Alarms {
		names = append(names, al.AlarmName)
	}
	a.deleteAlarms(ctx, c, names)
	return &autoscalingtypes.DeleteScalingPolicyResponse{}, nil
}

func (a *API) deleteAlarms(ctx context.Context, c *awsproto.Call, names []string) {
	if len(names) == 0 {
		return
	}
	if _, err := a.cw.DeleteAlarms(ctx, c, &cloudwatchtypes.DeleteAlarmsInput{AlarmNames: names}); err != nil {
		a.log.Warn("deleting a policy's alarms", "alarms", names, "err", err)
	}
}
