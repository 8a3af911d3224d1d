package autoscaling

import (
	"context"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
)

const albLabel = "app/web-lb/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067"

func albPolicy(label string, target float64) *autoscalingtypes.PutScalingPolicyRequest {
	return &autoscalingtypes.PutScalingPolicyRequest{PolicyName: "requests", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount", PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingtypes.TargetTrackingScalingPolicyConfiguration{TargetValue: target,
			PredefinedMetricSpecification: &autoscalingtypes.PredefinedMetricSpecification{PredefinedMetricType: "ALBRequestCountPerTarget", ResourceLabel: label},
			ScaleOutCooldown:              60, ScaleInCooldown: 60}}
}

// TestALBRequestCountPerTarget: the policy's alarms watch the target
// group's RequestCountPerTarget (Sum) that the load balancer publishes,
// and the service scales out in proportion to it.
func TestALBRequestCountPerTarget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, 1, 10)
	if _, err := e.a.PutScalingPolicy(ctx, e.call, albPolicy(albLabel, 100)); err != nil {
		t.Fatal(err)
	}
	al, _ := e.cw.DescribeAlarms(ctx, e.call, &cloudwatchtypes.DescribeAlarmsInput{AlarmNamePrefix: "TargetTracking-service/default/web"})
	if len(al.MetricAlarms) != 2 {
		t.Fatalf("alarms: %+v", al.MetricAlarms)
	}
	for _, a := range al.MetricAlarms {
		if a.Namespace != "AWS/ApplicationELB" || a.MetricName != "RequestCountPerTarget" || a.Statistic != "Sum" ||
			len(a.Dimensions) != 1 || a.Dimensions[0].Name != "TargetGroup" || a.Dimensions[0].Value != "targetgroup/web-tg/73e2d6bc24d8a067" {
			t.Errorf("alarm %s watches %s %s %s %+v", a.AlarmName, a.Namespace, a.MetricName, a.Statistic, a.Dimensions)
		}
	}
	// Two tasks, 250 requests per target a minute for three minutes: five
	// tasks keep it at 100.
	t0 := *e.now
	var batch []metricstore.Sample
	for at := t0; at.Before(t0.Add(3 * time.Minute)); at = at.Add(time.Minute) {
		batch = append(batch, metricstore.Sample{Metric: metricstore.Metric{Namespace: "AWS/ApplicationELB", Name: "RequestCountPerTarget",
			Dimensions: []metricstore.Dimension{{Name: "TargetGroup", Value: "targetgroup/web-tg/73e2d6bc24d8a067"}}},
			Time: at, Stats: metricstore.Value(250), Unit: "Count"})
	}
	if err := e.metrics.Put(batch); err != nil {
		t.Fatal(err)
	}
	*e.now = t0.Add(3*time.Minute + 10*time.Second)
	e.tick(t)
	if n, _ := e.svcs.DesiredCount(ctx, "default", "web"); n != 5 {
		t.Fatalf("desired %d, want 5", n)
	}
}

func TestALBRequestCountPerTargetBadLabel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, 1, 10)
	for _, label := range []string{
		"",
		"targetgroup/web-tg/73e2d6bc24d8a067",
		"app/web-lb/50dc6c495c0c9188",
		"app/web-lb/50dc6c495c0c9188/targetgroup/web-tg",
		"net/web-lb/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067",
		"app/-web/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067",
		"app/web-lb/50dc6c495c0c9188/targetgroup/web_tg/73e2d6bc24d8a067",
		"app/web-lb/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067/extra",
	} {
		_, err := e.a.PutScalingPolicy(ctx, e.call, albPolicy(label, 100))
		wantCode(t, err, "ValidationException")
	}
	al, _ := e.cw.DescribeAlarms(ctx, e.call, &cloudwatchtypes.DescribeAlarmsInput{})
	if len(al.MetricAlarms) != 0 {
		t.Errorf("alarms made for a refused policy: %+v", al.MetricAlarms)
	}
}

// TestShortTargetTrackingPeriods: HighPeriods and LowPeriods shorten the
// policies' alarms.
func TestShortTargetTrackingPeriods(t *testing.T) {
	e := newEnv(t)
	e.a.highPeriods, e.a.lowPeriods = 1, 2
	ctx := context.Background()
	e.register(t, 1, 10)
	if _, err := e.a.PutScalingPolicy(ctx, e.call, albPolicy(albLabel, 100)); err != nil {
		t.Fatal(err)
	}
	al, _ := e.cw.DescribeAlarms(ctx, e.call, &cloudwatchtypes.DescribeAlarmsInput{AlarmNamePrefix: "TargetTracking-service/default/web"})
	if len(al.MetricAlarms) != 2 || *al.MetricAlarms[0].EvaluationPeriods != 1 || *al.MetricAlarms[1].EvaluationPeriods != 2 ||
		*al.MetricAlarms[1].DatapointsToAlarm != 2 {
		t.Fatalf("alarms: %+v", al.MetricAlarms)
	}
}
