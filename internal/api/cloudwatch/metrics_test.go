package cloudwatch

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func newAPI(t *testing.T, now *time.Time) (*API, *metricstore.Store) {
	t.Helper()
	clock := core.ClockFunc(func() time.Time { return *now })
	st, err := metricstore.Open(filepath.Join(t.TempDir(), "metrics.db"), metricstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Config{Metrics: st, Clock: clock}), st
}

func ptr[T any](v T) *T { return &v }

func wantErr(t *testing.T, err error, code string) {
	t.Helper()
	ce, ok := core.AsError(err)
	if !ok || ce.Code != code {
		t.Fatalf("error %v; want %s", err, code)
	}
}

func TestPutMetricDataRefusesBadValuesAndStoresNothing(t *testing.T) {
	now := t0
	a, st := newAPI(t, &now)
	ctx := context.Background()
	c := &awsproto.Call{}
	good := cloudwatchtypes.MetricDatum{MetricName: "Latency", Value: ptr(3.0)}
	tests := []struct {
		name string
		in   cloudwatchtypes.PutMetricDataInput
		code string
	}{
		{"NaN", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{good, {MetricName: "Latency", Value: ptr(math.NaN())}}}, codeInvalidParameterValue},
		{"Inf", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{good, {MetricName: "Latency", Value: ptr(math.Inf(-1))}}}, codeInvalidParameterValue},
		{"huge", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{good, {MetricName: "Latency", Value: ptr(1e109)}}}, codeInvalidParameterValue},
		{"tiny", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{good, {MetricName: "Latency", Value: ptr(1e-110)}}}, codeInvalidParameterValue},
		{"huge in Values", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{good, {MetricName: "Latency", Values: []float64{1, 1e200}}}}, codeInvalidParameterValue},
		{"AWS namespace", cloudwatchtypes.PutMetricDataInput{Namespace: "AWS/ECS", MetricData: []cloudwatchtypes.MetricDatum{good}}, codeInvalidParameterValue},
		{"Value and StatisticValues", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{{MetricName: "Latency", Value: ptr(1.0),
			StatisticValues: &cloudwatchtypes.StatisticSet{SampleCount: ptr(1.0), Sum: ptr(1.0), Minimum: ptr(1.0), Maximum: ptr(1.0)}}}}, codeInvalidParameterCombination},
		{"too old", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{{MetricName: "Latency", Value: ptr(1.0),
			Timestamp: shape.NewTimestamp(t0.Add(-15 * 24 * time.Hour))}}}, codeInvalidParameterValue},
		{"duplicate dimension", cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{{MetricName: "Latency", Value: ptr(1.0),
			Dimensions: []cloudwatchtypes.Dimension{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}}}}, codeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.PutMetricData(ctx, c, &tt.in)
			wantErr(t, err, tt.code)
			if got := st.List(metricstore.Filter{}, time.Time{}); len(got) != 0 {
				t.Fatalf("a refused request stored %+v", got)
			}
		})
	}
}

func TestPutThenGetMetricStatistics(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	a, _ := newAPI(t, &now)
	ctx := context.Background()
	c := &awsproto.Call{}
	dims := []cloudwatchtypes.Dimension{{Name: "Service", Value: "web"}}
	for i := range 10 {
		in := &cloudwatchtypes.PutMetricDataInput{Namespace: "App", MetricData: []cloudwatchtypes.MetricDatum{
			{MetricName: "Latency", Dimensions: dims, Value: ptr(float64(i)), Unit: "Milliseconds", Timestamp: shape.NewTimestamp(t0.Add(time.Duration(i) * time.Minute))},
			{MetricName: "Latency", Dimensions: dims, Values: []float64{100, 200}, Counts: []float64{1, 3}, Timestamp: shape.NewTimestamp(t0.Add(time.Duration(i) * time.Minute))},
		}}
		if _, err := a.PutMetricData(ctx, c, in); err != nil {
			t.Fatal(err)
		}
	}
	out, err := a.GetMetricStatistics(ctx, c, &cloudwatchtypes.GetMetricStatisticsInput{Namespace: "App", MetricName: "Latency", Dimensions: dims,
		StartTime: shape.NewTimestamp(t0), EndTime: shape.NewTimestamp(t0.Add(10 * time.Minute)), Period: ptr(int32(300)),
		Statistics: []cloudwatchtypes.Statistic{"Sum", "SampleCount", "Maximum", "Minimum", "Average"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Datapoints) != 2 || out.Label != "Latency" {
		t.Fatalf("datapoints %+v", out)
	}
	dp := out.Datapoints[0]
	// Five minutes of 0..4 plus four samples (100 once, 200 three times) each.
	if *dp.SampleCount != 25 || *dp.Sum != 10+5*700 || *dp.Minimum != 0 || *dp.Maximum != 200 || dp.Unit != "Milliseconds" {
		t.Errorf("first datapoint %+v", dp)
	}
	// The same with another unit: no data, as CloudWatch.
	out, err = a.GetMetricStatistics(ctx, c, &cloudwatchtypes.GetMetricStatisticsInput{Namespace: "App", MetricName: "Latency", Dimensions: dims,
		StartTime: shape.NewTimestamp(t0), EndTime: shape.NewTimestamp(t0.Add(10 * time.Minute)), Period: ptr(int32(300)),
		Statistics: []cloudwatchtypes.Statistic{"Sum"}, Unit: "Seconds"})
	if err != nil || len(out.Datapoints) != 0 {
		t.Errorf("another unit: %+v, %v", out, err)
	}
	// GetMetricData, newest first.
	md, err := a.GetMetricData(ctx, c, &cloudwatchtypes.GetMetricDataInput{StartTime: shape.NewTimestamp(t0), EndTime: shape.NewTimestamp(t0.Add(10 * time.Minute)),
		MetricDataQueries: []cloudwatchtypes.MetricDataQuery{{Id: "m1", MetricStat: &cloudwatchtypes.MetricStat{
			Metric: &cloudwatchtypes.Metric{Namespace: "App", MetricName: "Latency", Dimensions: dims}, Period: ptr(int32(60)), Stat: "Minimum"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := md.MetricDataResults; len(r) != 1 || len(r[0].Values) != 10 || r[0].Values[0] != 9 || r[0].Values[9] != 0 || r[0].StatusCode != "Complete" {
		t.Errorf("GetMetricData = %+v", md)
	}
	lm, err := a.ListMetrics(ctx, c, &cloudwatchtypes.ListMetricsInput{Namespace: "App"})
	if err != nil || len(lm.Metrics) != 1 || lm.Metrics[0].Dimensions[0].Value != "web" {
		t.Errorf("ListMetrics = %+v, %v", lm, err)
	}
}

func TestGetMetricStatisticsBadInput(t *testing.T) {
	now := t0
	a, _ := newAPI(t, &now)
	base := func() *cloudwatchtypes.GetMetricStatisticsInput {
		return &cloudwatchtypes.GetMetricStatisticsInput{Namespace: "App", MetricName: "Latency",
			StartTime: shape.NewTimestamp(t0.Add(-time.Hour)), EndTime: shape.NewTimestamp(t0), Period: ptr(int32(60)),
			Statistics: []cloudwatchtypes.Statistic{"Average"}}
	}
	tests := []struct {
		name string
		mod  func(*cloudwatchtypes.GetMetricStatisticsInput)
		code string
	}{
		{"period 90", func(in *cloudwatchtypes.GetMetricStatisticsInput) { in.Period = ptr(int32(90)) }, codeInvalidParameterValue},
		{"no statistics", func(in *cloudwatchtypes.GetMetricStatisticsInput) { in.Statistics = nil }, codeInvalidParameterCombination},
		{"end before start", func(in *cloudwatchtypes.GetMetricStatisticsInput) {
			in.EndTime = shape.NewTimestamp(t0.Add(-2 * time.Hour))
		}, codeInvalidParameterValue},
		{"too many datapoints", func(in *cloudwatchtypes.GetMetricStatisticsInput) {
			in.StartTime = shape.NewTimestamp(t0.Add(-25 * time.Hour))
		}, codeInvalidParameterCombination},
		{"duplicate dimension", func(in *cloudwatchtypes.GetMetricStatisticsInput) {
			in.Dimensions = []cloudwatchtypes.Dimension{{Name: "A", Value: "1"}, {Name: "A", Value: "1"}}
		}, codeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mod(in)
			_, err := a.GetMetricStatistics(context.Background(), &awsproto.Call{}, in)
			wantErr(t, err, tt.code)
		})
	}
}
