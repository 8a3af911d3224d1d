package cloudwatch

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/store/bolt"
)

func newAlarmAPI(t *testing.T, now *time.Time) *API {
	t.Helper()
	clock := core.ClockFunc(func() time.Time { return *now })
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
	return New(Config{Metrics: ms, Store: st, Clock: clock})
}

func TestAlarmLifecycle(t *testing.T) {
	now := t0
	a := newAlarmAPI(t, &now)
	ctx := context.Background()
	c := &awsproto.Call{Region: "ap-northeast-1", Principal: awsproto.Principal{AccountID: "123456789012"}}
	dims := []cloudwatchtypes.Dimension{{Name: "ClusterName", Value: "c"}, {Name: "ServiceName", Value: "web"}}
	in := &cloudwatchtypes.PutMetricAlarmInput{AlarmName: "high-cpu", Namespace: "App", MetricName: "CPU", Dimensions: dims,
		Statistic: "Average", Period: ptr(int32(60)), EvaluationPeriods: ptr(int32(3)), DatapointsToAlarm: ptr(int32(2)),
		Threshold: ptr(70.0), ComparisonOperator: "GreaterThanOrEqualToThreshold", AlarmActions: []string{"arn:aws:autoscaling:policy"}}
	if _, err := a.PutMetricAlarm(ctx, c, in); err != nil {
		t.Fatal(err)
	}
	desc := func() cloudwatchtypes.MetricAlarm {
		t.Helper()
		out, err := a.DescribeAlarms(ctx, c, &cloudwatchtypes.DescribeAlarmsInput{AlarmNames: []string{"high-cpu"}})
		if err != nil || len(out.MetricAlarms) != 1 {
			t.Fatalf("DescribeAlarms = %+v, %v", out, err)
		}
		return out.MetricAlarms[0]
	}
	if al := desc(); al.StateValue != "INSUFFICIENT_DATA" || al.AlarmArn != "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:high-cpu" {
		t.Fatalf("new alarm %+v", al)
	}
	put := func(at time.Time, v float64) {
		t.Helper()
		if _, err := a.PutMetricData(ctx, c, &cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{
			{MetricName: "CPU", Dimensions: dims, Value: &v, Timestamp: shape.NewTimestamp(at)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Minutes 0..2: 80, 50, 90: two of three breach.
	put(t0, 80)
	put(t0.Add(time.Minute), 50)
	put(t0.Add(2*time.Minute), 90)
	now = t0.Add(3*time.Minute + 5*time.Second)
	if err := a.EvaluateAlarms(ctx); err != nil {
		t.Fatal(err)
	}
	al := desc()
	if al.StateValue != "ALARM" || !strings.HasPrefix(al.StateReason, "Threshold Crossed: 2 out of the last 3 datapoints") {
		t.Fatalf("after breaching: %s %s", al.StateValue, al.StateReason)
	}
	// Nothing for three minutes: missing data, INSUFFICIENT_DATA.
	now = t0.Add(6*time.Minute + 5*time.Second)
	if err := a.EvaluateAlarms(ctx); err != nil {
		t.Fatal(err)
	}
	if al := desc(); al.StateValue != "INSUFFICIENT_DATA" {
		t.Fatalf("after silence: %s %s", al.StateValue, al.StateReason)
	}
	if _, err := a.SetAlarmState(ctx, c, &cloudwatchtypes.SetAlarmStateInput{AlarmName: "high-cpu", StateValue: "OK", StateReason: "testing"}); err != nil {
		t.Fatal(err)
	}
	if al := desc(); al.StateValue != "OK" || al.StateReason != "testing" {
		t.Fatalf("after SetAlarmState: %+v", al)
	}
	_, err := a.SetAlarmState(ctx, c, &cloudwatchtypes.SetAlarmStateInput{AlarmName: "nope", StateValue: "OK", StateReason: "x"})
	wantErr(t, err, "ResourceNotFound")

	forMetric, err := a.DescribeAlarmsForMetric(ctx, c, &cloudwatchtypes.DescribeAlarmsForMetricInput{Namespace: "App", MetricName: "CPU",
		Dimensions: []cloudwatchtypes.Dimension{dims[1], dims[0]}})
	if err != nil || len(forMetric.MetricAlarms) != 1 {
		t.Errorf("DescribeAlarmsForMetric = %+v, %v", forMetric, err)
	}
	hist, err := a.DescribeAlarmHistory(ctx, c, &cloudwatchtypes.DescribeAlarmHistoryInput{AlarmName: "high-cpu", HistoryItemType: "StateUpdate"})
	if err != nil || len(hist.AlarmHistoryItems) != 3 || hist.AlarmHistoryItems[0].HistorySummary != "Alarm updated from INSUFFICIENT_DATA to OK" {
		t.Errorf("history = %+v, %v", hist, err)
	}
	if _, err := a.DeleteAlarms(ctx, c, &cloudwatchtypes.DeleteAlarmsInput{AlarmNames: []string{"high-cpu", "nope"}}); err != nil {
		t.Fatal(err)
	}
	if out, _ := a.DescribeAlarms(ctx, c, &cloudwatchtypes.DescribeAlarmsInput{}); len(out.MetricAlarms) != 0 {
		t.Errorf("after delete: %+v", out)
	}
}

func TestPutMetricAlarmBadInput(t *testing.T) {
	now := t0
	a := newAlarmAPI(t, &now)
	base := func() *cloudwatchtypes.PutMetricAlarmInput {
		return &cloudwatchtypes.PutMetricAlarmInput{AlarmName: "x", Namespace: "App", MetricName: "CPU", Statistic: "Average",
			Period: ptr(int32(60)), EvaluationPeriods: ptr(int32(3)), Threshold: ptr(70.0), ComparisonOperator: "GreaterThanThreshold"}
	}
	tests := []struct {
		name string
		mod  func(*cloudwatchtypes.PutMetricAlarmInput)
		code string
	}{
		{"period 45", func(in *cloudwatchtypes.PutMetricAlarmInput) { in.Period = ptr(int32(45)) }, codeInvalidParameterValue},
		{"M above N", func(in *cloudwatchtypes.PutMetricAlarmInput) { in.DatapointsToAlarm = ptr(int32(4)) }, codeInvalidParameterValue},
		{"treat missing", func(in *cloudwatchtypes.PutMetricAlarmInput) { in.TreatMissingData = "maybe" }, codeInvalidParameterValue},
		{"no statistic", func(in *cloudwatchtypes.PutMetricAlarmInput) { in.Statistic = "" }, codeMissingParameter},
		{"too long", func(in *cloudwatchtypes.PutMetricAlarmInput) {
			in.Period = ptr(int32(86400))
			in.EvaluationPeriods = ptr(int32(8))
		}, codeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mod(in)
			_, err := a.PutMetricAlarm(context.Background(), &awsproto.Call{}, in)
			wantErr(t, err, tt.code)
		})
	}
}
