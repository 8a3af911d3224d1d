package autoscaling

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/api/cloudwatch"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/store/bolt"
)

// services is a fake of the ECS services: desired counts by "cluster/name".
type services struct {
	mu    sync.Mutex
	count map[string]int
}

func (s *services) DesiredCount(_ context.Context, cluster, service string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.count[cluster+"/"+service]
	if !ok {
		return 0, core.Errorf(core.KindNotFound, "ServiceNotFoundException", "no service")
	}
	return n, nil
}

func (s *services) SetDesiredCount(_ context.Context, cluster, service string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count[cluster+"/"+service] = n
	return nil
}

type env struct {
	a       *API
	cw      *cloudwatch.API
	metrics *metricstore.Store
	svcs    *services
	now     *time.Time
	call    *awsproto.Call
}

func newEnv(t *testing.T) *env {
	t.Helper()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := core.ClockFunc(func() time.Time { return now })
	dir := t.TempDir()
	ms, err := metricstore.Open(filepath.Join(dir, "metrics.db"), metricstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cw := cloudwatch.New(cloudwatch.Config{Metrics: ms, Store: st, Clock: clock})
	svcs := &services{count: map[string]int{"default/web": 2}}
	scope := arn.Scope{Region: "ap-northeast-1", AccountID: "123456789012"}
	a := New(Config{Store: st, Services: svcs, CloudWatch: cw, Clock: clock, Scope: scope})
	return &env{a: a, cw: cw, metrics: ms, svcs: svcs, now: &now, call: &awsproto.Call{Region: scope.Region, Principal: awsproto.Principal{AccountID: scope.AccountID}}}
}

func (e *env) register(t *testing.T, min, max int32) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"MinCapacity": min, "MaxCapacity": max})
	c := *e.call
	c.Body = body
	if _, err := e.a.RegisterScalableTarget(context.Background(), &c, &autoscalingtypes.RegisterScalableTargetRequest{ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount", MinCapacity: min, MaxCapacity: max}); err != nil {
		t.Fatal(err)
	}
}

// cpu writes the service's CPUUtilization for minutes [from, to) of the
// current hour.
func (e *env) cpu(t *testing.T, v float64, from, to time.Time) {
	t.Helper()
	var batch []metricstore.Sample
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		batch = append(batch, metricstore.Sample{Metric: metricstore.Metric{Namespace: "AWS/ECS", Name: "CPUUtilization",
			Dimensions: []metricstore.Dimension{{Name: "ClusterName", Value: "default"}, {Name: "ServiceName", Value: "web"}}},
			Time: at, Stats: metricstore.Value(v), Unit: "Percent"})
	}
	if err := e.metrics.Put(batch); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tick(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := e.cw.EvaluateAlarms(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Scale(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTargetTrackingScalesOutAndIn: the seed's policy (target 70, min 2,
// max 10) with short cooldowns: CPU at 140 % for three minutes doubles the
// service; CPU at 10 % for fifteen minutes brings it back to the minimum.
func TestTargetTrackingScalesOutAndIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t, 2, 10)
	out, err := e.a.PutScalingPolicy(ctx, e.call, &autoscalingtypes.PutScalingPolicyRequest{PolicyName: "cpu70", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount", PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingtypes.TargetTrackingScalingPolicyConfiguration{TargetValue: 70,
			PredefinedMetricSpecification: &autoscalingtypes.PredefinedMetricSpecification{PredefinedMetricType: "ECSServiceAverageCPUUtilization"},
			ScaleOutCooldown:              60, ScaleInCooldown: 60}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Alarms) != 2 || !strings.HasPrefix(out.Alarms[0].AlarmName, "TargetTracking-service/default/web-AlarmHigh-") ||
		!strings.HasPrefix(out.Alarms[1].AlarmName, "TargetTracking-service/default/web-AlarmLow-") {
		t.Fatalf("alarms %+v", out.Alarms)
	}
	al, _ := e.cw.DescribeAlarms(ctx, e.call, &cloudwatchtypes.DescribeAlarmsInput{AlarmNamePrefix: "TargetTracking-service/default/web"})
	if len(al.MetricAlarms) != 2 || *al.MetricAlarms[1].Threshold != 63 || *al.MetricAlarms[1].EvaluationPeriods != 15 {
		t.Fatalf("the policy's alarms: %+v", al.MetricAlarms)
	}

	t0 := *e.now
	e.cpu(t, 140, t0, t0.Add(3*time.Minute))
	*e.now = t0.Add(3*time.Minute + 10*time.Second)
	e.tick(t)
	if n, _ := e.svcs.DesiredCount(ctx, "default", "web"); n != 4 {
		t.Fatalf("after 3 minutes at 140 %%: desired %d, want 4", n)
	}
	acts, err := e.a.DescribeScalingActivities(ctx, e.call, &autoscalingtypes.DescribeScalingActivitiesRequest{ServiceNamespace: "ecs", ResourceId: "service/default/web"})
	if err != nil || len(acts.ScalingActivities) != 1 {
		t.Fatalf("activities %+v, %v", acts, err)
	}
	act := acts.ScalingActivities[0]
	if act.Description != "Setting desired count to 4." || act.StatusCode != "Successful" ||
		!strings.HasPrefix(act.Cause, "monitor alarm TargetTracking-service/default/web-AlarmHigh-") || !strings.HasSuffix(act.Cause, " in state ALARM triggered policy cpu70") {
		t.Errorf("activity %+v", act)
	}
	// Within the scale-out cooldown nothing more happens.
	e.tick(t)
	if n, _ := e.svcs.DesiredCount(ctx, "default", "web"); n != 4 {
		t.Fatalf("in the cooldown: desired %d", n)
	}
	// The load ends: fifteen minutes at 10 %.
	e.cpu(t, 10, t0.Add(3*time.Minute), t0.Add(18*time.Minute))
	*e.now = t0.Add(18*time.Minute + 10*time.Second)
	e.tick(t)
	if n, _ := e.svcs.DesiredCount(ctx, "default", "web"); n != 2 {
		t.Fatalf("after the load: desired %d, want 2", n)
	}
	acts, _ = e.a.DescribeScalingActivities(ctx, e.call, &autoscalingtypes.DescribeScalingActivitiesRequest{ServiceNamespace: "ecs"})
	if len(acts.ScalingActivities) != 2 || !strings.Contains(acts.ScalingActivities[0].Cause, "-AlarmLow-") {
		t.Errorf("activities %+v", acts.ScalingActivities)
	}

	// Deleting the policy deletes its alarms.
	if _, err := e.a.DeleteScalingPolicy(ctx, e.call, &autoscalingtypes.DeleteScalingPolicyRequest{PolicyName: "cpu70", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount"}); err != nil {
		t.Fatal(err)
	}
	al, _ = e.cw.DescribeAlarms(ctx, e.call, &cloudwatchtypes.DescribeAlarmsInput{})
	if len(al.MetricAlarms) != 0 {
		t.Errorf("alarms left: %+v", al.MetricAlarms)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := *e.call
	c.Body = []byte(`{"MinCapacity":1,"MaxCapacity":3}`)
	_, err := e.a.RegisterScalableTarget(ctx, &c, &autoscalingtypes.RegisterScalableTargetRequest{ServiceNamespace: "ecs",
		ResourceId: "service/default/nope", ScalableDimension: "ecs:service:DesiredCount", MinCapacity: 1, MaxCapacity: 3})
	wantCode(t, err, "ValidationException")
	_, err = e.a.RegisterScalableTarget(ctx, &c, &autoscalingtypes.RegisterScalableTargetRequest{ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount", MinCapacity: 5, MaxCapacity: 3})
	wantCode(t, err, "ValidationException")
	_, err = e.a.PutScalingPolicy(ctx, e.call, &autoscalingtypes.PutScalingPolicyRequest{PolicyName: "p", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount", PolicyType: "TargetTrackingScaling",
		TargetTrackingScalingPolicyConfiguration: &autoscalingtypes.TargetTrackingScalingPolicyConfiguration{TargetValue: 70,
			PredefinedMetricSpecification: &autoscalingtypes.PredefinedMetricSpecification{PredefinedMetricType: "ECSServiceAverageCPUUtilization"}}})
	wantCode(t, err, "ObjectNotFoundException") // no scalable target
	_, err = e.a.DeleteScalingPolicy(ctx, e.call, &autoscalingtypes.DeleteScalingPolicyRequest{PolicyName: "p", ServiceNamespace: "ecs",
		ResourceId: "service/default/web", ScalableDimension: "ecs:service:DesiredCount"})
	wantCode(t, err, "ObjectNotFoundException")
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	ce, ok := core.AsError(err)
	if !ok || ce.Code != code {
		t.Fatalf("error %v; want %s", err, code)
	}
}
