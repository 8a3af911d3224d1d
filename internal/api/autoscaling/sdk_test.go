package autoscaling

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/metricstore"
)

const (
	sdkKey    = "AKIAASGTEST000000001"
	sdkSecret = "autoscaling-test-secret"
)

// sdkEnv is newEnv served on a loopback server, with clients of the real
// AWS SDK for Go v2 (Application Auto Scaling in JSON 1.1, CloudWatch in
// RPC v2 CBOR).
type sdkEnv struct {
	*env
	as *aas.Client
	cw *cw.Client
}

func newSDKEnv(t *testing.T) *sdkEnv {
	t.Helper()
	e := newEnv(t)
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: sdkKey, SecretAccessKey: sdkSecret, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:root"})})
	srv.RegisterJSON(e.a.Service())
	srv.RegisterQuery(e.cw.QueryService())
	srv.RegisterCBOR(e.cw.CBORService())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	creds := credentials.NewStaticCredentialsProvider(sdkKey, sdkSecret, "")
	return &sdkEnv{env: e,
		as: aas.New(aas.Options{Region: "ap-northeast-1", BaseEndpoint: aws.String(ts.URL), Credentials: creds, RetryMaxAttempts: 1}),
		cw: cw.New(cw.Options{Region: "ap-northeast-1", BaseEndpoint: aws.String(ts.URL), Credentials: creds, RetryMaxAttempts: 1})}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sdkCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || (msg != "" && ae.ErrorMessage() != msg) {
		t.Fatalf("error %v; want %s %q", err, code, msg)
	}
}

// metric writes App/Load for the minutes [from, to).
func (e *env) metric(t *testing.T, v float64, from, to time.Time) {
	t.Helper()
	var batch []metricstore.Sample
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		batch = append(batch, metricstore.Sample{Metric: metricstore.Metric{Namespace: "App", Name: "Load"}, Time: at, Stats: metricstore.Value(v)})
	}
	if err := e.metrics.Put(batch); err != nil {
		t.Fatal(err)
	}
}

func (e *env) desired(t *testing.T) int {
	t.Helper()
	n, err := e.svcs.DesiredCount(context.Background(), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	ecsNS   = aastypes.ServiceNamespaceEcs
	webID   = aws.String("service/default/web")
	ecsDim  = aastypes.ScalableDimensionECSServiceDesiredCount
	zero    = aws.Float64(0)
	twenty  = aws.Float64(20)
	outStep = &aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, Cooldown: aws.Int32(120),
		StepAdjustments: []aastypes.StepAdjustment{
			{MetricIntervalLowerBound: zero, MetricIntervalUpperBound: twenty, ScalingAdjustment: aws.Int32(1)},
			{MetricIntervalLowerBound: twenty, ScalingAdjustment: aws.Int32(3)}}}
)

// TestStepScalingThroughSDK: a step policy invoked by an alarm the user
// created with the policy's ARN as its action; the step is chosen by how
// far the metric is past the threshold; the cooldown counts the last
// scale-out; an alarm still in ALARM invokes the policy again a minute
// later; an alarm set to ALARM by SetAlarmState invokes it even though the
// next evaluation takes it out of ALARM; suspended scale-in is honoured.
func TestStepScalingThroughSDK(t *testing.T) {
	e := newSDKEnv(t)
	ctx := ctxT(t)
	if _, err := e.as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	out, err := e.as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("step-out"), ServiceNamespace: ecsNS, ResourceId: webID,
		ScalableDimension: ecsDim, PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: outStep})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*out.PolicyARN, "arn:aws:autoscaling:ap-northeast-1:123456789012:scalingPolicy:") || len(out.Alarms) != 0 {
		t.Fatalf("PutScalingPolicy = %+v", out)
	}
	pols, err := e.as.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: ecsNS, ResourceId: webID})
	if err != nil || len(pols.ScalingPolicies) != 1 {
		t.Fatalf("DescribeScalingPolicies: %v %+v", err, pols)
	}
	cfg := pols.ScalingPolicies[0].StepScalingPolicyConfiguration
	if cfg == nil || len(cfg.StepAdjustments) != 2 || cfg.StepAdjustments[1].MetricIntervalUpperBound != nil ||
		cfg.StepAdjustments[0].MetricIntervalLowerBound == nil || *cfg.StepAdjustments[0].MetricIntervalLowerBound != 0 ||
		*cfg.StepAdjustments[1].ScalingAdjustment != 3 || *cfg.Cooldown != 120 || cfg.AdjustmentType != aastypes.AdjustmentTypeChangeInCapacity {
		t.Fatalf("step configuration described as %+v", cfg)
	}
	if _, err := e.cw.PutMetricAlarm(ctx, &cw.PutMetricAlarmInput{AlarmName: aws.String("load-high"), Namespace: aws.String("App"), MetricName: aws.String("Load"),
		Statistic: cwtypes.StatisticAverage, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(50),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, AlarmActions: []string{*out.PolicyARN}}); err != nil {
		t.Fatal(err)
	}

	// Load 80 against a threshold of 50: a breach of 30, the +3 step.
	t0 := *e.now
	e.metric(t, 80, t0, t0.Add(time.Minute))
	*e.now = t0.Add(time.Minute + 5*time.Second)
	e.tick(t)
	if n := e.desired(t); n != 5 {
		t.Fatalf("after the breach: desired %d, want 5", n)
	}
	acts, err := e.as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ecsNS, ResourceId: webID})
	if err != nil || len(acts.ScalingActivities) != 1 {
		t.Fatalf("activities: %v %+v", err, acts)
	}
	if a := acts.ScalingActivities[0]; *a.Cause != "monitor alarm load-high in state ALARM triggered policy step-out" || *a.Description != "Setting desired count to 5." ||
		a.StatusCode != aastypes.ScalingActivityStatusCodeSuccessful {
		t.Errorf("activity %+v", a)
	}
	// Still in ALARM, but not a minute since the invocation: nothing.
	*e.now = t0.Add(time.Minute + 35*time.Second)
	e.tick(t)
	if n := e.desired(t); n != 5 {
		t.Fatalf("within a minute: desired %d", n)
	}
	// A minute later the alarm invokes the policy again: within the
	// cooldown a breach of 10 (+1 from the 2 the last scale-out started
	// from) adds nothing; after it, one task.
	e.metric(t, 60, t0.Add(time.Minute), t0.Add(3*time.Minute))
	*e.now = t0.Add(2*time.Minute + 6*time.Second)
	e.tick(t)
	if n := e.desired(t); n != 5 {
		t.Fatalf("in the cooldown: desired %d, want 5", n)
	}
	*e.now = t0.Add(3*time.Minute + 10*time.Second)
	e.tick(t)
	if n := e.desired(t); n != 6 {
		t.Fatalf("after the cooldown: desired %d, want 6", n)
	}

	// A scale-in policy driven by an alarm the user sets by hand.
	in, err := e.as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("step-in"), ServiceNamespace: ecsNS, ResourceId: webID,
		ScalableDimension: ecsDim, PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: &aastypes.StepScalingPolicyConfiguration{
			AdjustmentType: aastypes.AdjustmentTypePercentChangeInCapacity, MinAdjustmentMagnitude: aws.Int32(2),
			StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalUpperBound: zero, ScalingAdjustment: aws.Int32(-10)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cw.PutMetricAlarm(ctx, &cw.PutMetricAlarmInput{AlarmName: aws.String("queue-empty"), Namespace: aws.String("App"), MetricName: aws.String("Queue"),
		Statistic: cwtypes.StatisticAverage, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1),
		ComparisonOperator: cwtypes.ComparisonOperatorLessThanThreshold, AlarmActions: []string{*in.PolicyARN}}); err != nil {
		t.Fatal(err)
	}
	*e.now = e.now.Add(time.Second)
	if _, err := e.cw.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("queue-empty"), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String("testing")}); err != nil {
		t.Fatal(err)
	}
	*e.now = e.now.Add(time.Second)
	e.tick(t) // the evaluation finds no data and leaves ALARM before the policies run
	if n := e.desired(t); n != 4 {
		t.Fatalf("after set-alarm-state: desired %d, want 4 (10 %% of 6 is less than the magnitude 2)", n)
	}
	// Suspending dynamic scale-in (only: the other attributes keep their
	// values) stops it.
	if _, err := e.as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		SuspendedState: &aastypes.SuspendedState{DynamicScalingInSuspended: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	tg, err := e.as.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: ecsNS})
	if err != nil || len(tg.ScalableTargets) != 1 {
		t.Fatal(err, tg)
	}
	if s := tg.ScalableTargets[0].SuspendedState; s == nil || !*s.DynamicScalingInSuspended || *s.DynamicScalingOutSuspended || *s.ScheduledScalingSuspended ||
		*tg.ScalableTargets[0].MinCapacity != 1 || *tg.ScalableTargets[0].MaxCapacity != 10 {
		t.Fatalf("target %+v suspended %+v", tg.ScalableTargets[0], tg.ScalableTargets[0].SuspendedState)
	}
	*e.now = e.now.Add(time.Second)
	if _, err := e.cw.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("queue-empty"), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String("testing again")}); err != nil {
		t.Fatal(err)
	}
	*e.now = e.now.Add(time.Second)
	e.tick(t)
	if n := e.desired(t); n != 4 {
		t.Fatalf("scale-in suspended: desired %d, want 4", n)
	}
}

func TestStepPolicyValidation(t *testing.T) {
	e := newSDKEnv(t)
	ctx := ctxT(t)
	put := func(cfg *aastypes.StepScalingPolicyConfiguration) error {
		_, err := e.as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("p"), ServiceNamespace: ecsNS, ResourceId: webID,
			ScalableDimension: ecsDim, PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: cfg})
		return err
	}
	// No scalable target yet.
	sdkCode(t, put(outStep), "ObjectNotFoundException", "")
	if _, err := e.as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	sdkCode(t, put(nil), "ValidationException", "StepScalingPolicyConfiguration is required when PolicyType is StepScaling.")
	sdkCode(t, put(&aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity,
		StepAdjustments: []aastypes.StepAdjustment{{ScalingAdjustment: aws.Int32(1)}}}),
		"ValidationException", "Both lower and upper bounds of a step adjustment cannot be left unspecified.")
	sdkCode(t, put(&aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity,
		StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: zero, MetricIntervalUpperBound: twenty, ScalingAdjustment: aws.Int32(1)}}}),
		"ValidationException", "There must be a StepAdjustment with an unspecified upper bound (i.e., upper bound is null) when one StepAdjustment has a positive upper bound.")
	sdkCode(t, put(&aastypes.StepScalingPolicyConfiguration{AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, MinAdjustmentMagnitude: aws.Int32(2),
		StepAdjustments: outStep.StepAdjustments}),
		"ValidationException", "MinAdjustmentMagnitude may only be specified if AdjustmentType is PercentChangeInCapacity.")
	pols, err := e.as.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: ecsNS})
	if err != nil || len(pols.ScalingPolicies) != 0 {
		t.Errorf("refused policies stored: %v %+v", err, pols.ScalingPolicies)
	}
}

// TestScheduledActionsThroughSDK: put, describe (paginated), run on
// schedule (the capacities set, the desired count brought within them,
// both recorded), suspended scheduled scaling, delete, and bad input.
func TestScheduledActionsThroughSDK(t *testing.T) {
	e := newSDKEnv(t)
	ctx := ctxT(t)
	put := func(name, schedule, tz string, min, max *int32) error {
		in := &aas.PutScheduledActionInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim, ScheduledActionName: aws.String(name),
			Schedule: aws.String(schedule), ScalableTargetAction: &aastypes.ScalableTargetAction{MinCapacity: min, MaxCapacity: max}}
		if tz != "" {
			in.Timezone = aws.String(tz)
		}
		_, err := e.as.PutScheduledAction(ctx, in)
		return err
	}
	sdkCode(t, put("morning", "cron(0 9 * * ? *)", "", aws.Int32(3), nil), "ObjectNotFoundException", "")
	if _, err := e.as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	sdkCode(t, put("bad", "every morning", "", aws.Int32(3), nil), "ValidationException", "Invalid schedule expression: every morning")
	sdkCode(t, put("bad", "cron(0 9 * * ? *)", "Mars/Olympus", aws.Int32(3), nil), "ValidationException", "Invalid timezone: Mars/Olympus")
	sdkCode(t, put("bad", "rate(1 hour)", "", aws.Int32(5), aws.Int32(2)), "ValidationException", "Maximum capacity cannot be less than minimum capacity")

	// 12:00 UTC now; 21:05 in Tokyo is 12:05 UTC.
	if err := put("evening", "cron(5 21 * * ? *)", "Asia/Tokyo", aws.Int32(4), aws.Int32(8)); err != nil {
		t.Fatal(err)
	}
	if err := put("once", "at(2026-12-07T13:00:00)", "", nil, aws.Int32(2)); err != nil {
		t.Fatal(err)
	}
	if err := put("hourly", "rate(1 hour)", "", aws.Int32(1), nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	p := aas.NewDescribeScheduledActionsPaginator(e.as, &aas.DescribeScheduledActionsInput{ServiceNamespace: ecsNS, MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range page.ScheduledActions {
			names = append(names, *a.ScheduledActionName)
			if *a.ScheduledActionName == "once" && (a.ScalableTargetAction.MinCapacity != nil || *a.ScalableTargetAction.MaxCapacity != 2 ||
				!strings.Contains(*a.ScheduledActionARN, ":scheduledAction:") || a.CreationTime == nil) {
				t.Errorf("described %+v %+v", a, a.ScalableTargetAction)
			}
		}
	}
	if pages != 2 || strings.Join(names, ",") != "evening,hourly,once" {
		t.Fatalf("described %v in %d pages", names, pages)
	}

	// 12:05:10 UTC: "evening" runs: min 4 max 8; desired 2 -> 4.
	*e.now = time.Date(2026, 12, 7, 12, 5, 10, 0, time.UTC)
	e.tick(t)
	if n := e.desired(t); n != 4 {
		t.Fatalf("after the evening action: desired %d, want 4", n)
	}
	acts, err := e.as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim})
	if err != nil || len(acts.ScalingActivities) != 2 {
		t.Fatalf("activities %v %+v", err, acts)
	}
	if a := acts.ScalingActivities[1]; *a.Description != "Setting min capacity to 4 and max capacity to 8" || *a.Cause != "scheduled action name evening was triggered" {
		t.Errorf("first activity %s / %s", *a.Description, *a.Cause)
	}
	if a := acts.ScalingActivities[0]; *a.Description != "Setting desired count to 4." || *a.Cause != "minimum capacity was set to 4" {
		t.Errorf("second activity %s / %s", *a.Description, *a.Cause)
	}
	// It does not run twice.
	*e.now = e.now.Add(30 * time.Second)
	e.tick(t)
	if acts, _ := e.as.DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{ServiceNamespace: ecsNS}); len(acts.ScalingActivities) != 2 {
		t.Fatalf("ran again: %d activities", len(acts.ScalingActivities))
	}

	// Scheduled scaling suspended: "once" at 13:00 does not run.
	if _, err := e.as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		SuspendedState: &aastypes.SuspendedState{ScheduledScalingSuspended: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	*e.now = time.Date(2026, 12, 7, 13, 0, 20, 0, time.UTC)
	e.tick(t)
	if n := e.desired(t); n != 4 {
		t.Fatalf("suspended: desired %d, want 4", n)
	}
	// Resumed: the due run of "once" (max 2) and "hourly" (min 1) go.
	if _, err := e.as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		SuspendedState: &aastypes.SuspendedState{ScheduledScalingSuspended: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if n := e.desired(t); n != 2 {
		t.Fatalf("resumed: desired %d, want 2", n)
	}
	tg, _ := e.as.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: ecsNS})
	if *tg.ScalableTargets[0].MinCapacity != 1 || *tg.ScalableTargets[0].MaxCapacity != 2 {
		t.Errorf("capacities %d-%d, want 1-2", *tg.ScalableTargets[0].MinCapacity, *tg.ScalableTargets[0].MaxCapacity)
	}

	if _, err := e.as.DeleteScheduledAction(ctx, &aas.DeleteScheduledActionInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		ScheduledActionName: aws.String("once")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.as.DeleteScheduledAction(ctx, &aas.DeleteScheduledActionInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim,
		ScheduledActionName: aws.String("once")})
	sdkCode(t, err, "ObjectNotFoundException", "")
	left, err := e.as.DescribeScheduledActions(ctx, &aas.DescribeScheduledActionsInput{ServiceNamespace: ecsNS, ScheduledActionNames: []string{"once", "hourly"}})
	if err != nil || len(left.ScheduledActions) != 1 || *left.ScheduledActions[0].ScheduledActionName != "hourly" {
		t.Errorf("after delete: %v %+v", err, left)
	}
	// Deregistering the target deletes its scheduled actions.
	if _, err := e.as.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{ServiceNamespace: ecsNS, ResourceId: webID, ScalableDimension: ecsDim}); err != nil {
		t.Fatal(err)
	}
	if left, err := e.as.DescribeScheduledActions(ctx, &aas.DescribeScheduledActionsInput{ServiceNamespace: ecsNS}); err != nil || len(left.ScheduledActions) != 0 {
		t.Errorf("after deregistering: %v %+v", err, left)
	}
}
