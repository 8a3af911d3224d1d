package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
)

// Limits CloudWatch documents.
const (
	maxDatapoints       = 1440    // GetMetricStatistics
	maxMetricData       = 1000    // PutMetricData items
	maxGetDataPoints    = 100_800 // GetMetricData, all queries
	listPageSize        = 500     // ListMetrics
	pastLimit           = 14 * 24 * time.Hour
	futureLimit         = 2 * time.Hour
	activeWindow        = 14 * 24 * time.Hour // ListMetrics without RecentlyActive
	recentlyActiveRange = 3 * time.Hour       // RecentlyActive=PT3H
)

// valueBound is CloudWatch's: values must lie within -2^360..2^360, and a
// non-zero value's magnitude must be at least 2^-360.
var valueBound = math.Ldexp(1, 360)

func checkValue(param string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > valueBound || (v != 0 && math.Abs(v) < 1/valueBound) {
		return invalidValue("The value %s for parameter %s is invalid.", formatFloat(v), param)
	}
	return nil
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'G', -1, 64) }

func toDimensions(ds []cloudwatchtypes.Dimension) []metricstore.Dimension {
	out := make([]metricstore.Dimension, 0, len(ds))
	for _, d := range ds {
		out = append(out, metricstore.Dimension{Name: d.Name, Value: d.Value})
	}
	return out
}

func fromDimensions(ds []metricstore.Dimension) []cloudwatchtypes.Dimension {
	out := make([]cloudwatchtypes.Dimension, 0, len(ds))
	for _, d := range ds {
		out = append(out, cloudwatchtypes.Dimension{Name: d.Name, Value: d.Value})
	}
	return out
}

// checkDimensions refuses a dimension named twice.
func checkDimensions(param string, ds []cloudwatchtypes.Dimension) error {
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Name] {
			return invalidValue("No metric may have duplicate dimension names: %s has %s twice.", param, d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

// PutMetricData stores custom metrics. Every datum is checked before any
// is stored: a bad one refuses the whole request and stores nothing.
func (a *API) PutMetricData(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.PutMetricDataInput) (*struct{}, error) {
	if strings.HasPrefix(in.Namespace, "AWS/") {
		return nil, invalidValue("The value AWS/ for parameter Namespace is invalid.")
	}
	if len(in.MetricData) == 0 {
		return nil, missing("The parameter MetricData is required.")
	}
	if len(in.MetricData) > maxMetricData {
		return nil, invalidValue("The collection MetricData must not have a size greater than %d.", maxMetricData)
	}
	now := a.now()
	var samples []metricstore.Sample
	for i, d := range in.MetricData {
		p := fmt.Sprintf("MetricData.member.%d", i+1)
		smp, err := datumSamples(p, d, now)
		if err != nil {
			return nil, err
		}
		for j := range smp {
			smp[j].Metric = metricstore.Metric{Namespace: in.Namespace, Name: d.MetricName, Dimensions: toDimensions(d.Dimensions)}
			smp[j].Unit = string(d.Unit)
		}
		samples = append(samples, smp...)
	}
	if err := a.metrics.Put(samples); err != nil {
		if errors.Is(err, metricstore.ErrTooManySeries) {
			return nil, core.Errorf(core.KindInvalid, codeLimitExceeded, "The account holds as many metrics as this minato keeps.")
		}
		if errors.Is(err, metricstore.ErrInvalidSample) {
			return nil, invalidValue("%v", err)
		}
		return nil, err
	}
	return nil, nil
}

// datumSamples checks one MetricDatum (p is its parameter path) and
// returns its samples without their metric.
func datumSamples(p string, d cloudwatchtypes.MetricDatum, now time.Time) ([]metricstore.Sample, error) {
	if err := checkDimensions(p+".Dimensions", d.Dimensions); err != nil {
		return nil, err
	}
	ts := now
	if !d.Timestamp.IsZero() {
		ts = d.Timestamp.Time()
		if ts.Before(now.Add(-pastLimit)) {
			return nil, invalidValue("The parameter %s.Timestamp must specify a time no more than two weeks in the past.", p)
		}
		if ts.After(now.Add(futureLimit)) {
			return nil, invalidValue("The parameter %s.Timestamp must specify a time no more than two hours in the future.", p)
		}
	}
	set := 0
	for _, b := range []bool{d.Value != nil, d.StatisticValues != nil, len(d.Values) > 0} {
		if b {
			set++
		}
	}
	if set > 1 {
		return nil, invalidCombination("The parameters %[1]s.Value, %[1]s.StatisticValues and %[1]s.Values are mutually exclusive and you have specified more than one.", p)
	}
	switch {
	case d.Value != nil:
		if err := checkValue(p+".Value", *d.Value); err != nil {
			return nil, err
		}
		return []metricstore.Sample{{Time: ts, Stats: metricstore.Value(*d.Value)}}, nil
	case d.StatisticValues != nil:
		sv := d.StatisticValues
		for _, f := range []struct {
			name string
			v    *float64
		}{{"SampleCount", sv.SampleCount}, {"Sum", sv.Sum}, {"Minimum", sv.Minimum}, {"Maximum", sv.Maximum}} {
			if f.v == nil {
				return nil, missing("The parameter %s.StatisticValues.%s is required.", p, f.name)
			}
			if err := checkValue(p+".StatisticValues."+f.name, *f.v); err != nil {
				return nil, err
			}
		}
		if *sv.SampleCount <= 0 || *sv.Minimum > *sv.Maximum {
			return nil, invalidValue("The parameter %s.StatisticValues is invalid: SampleCount must be positive and Minimum not above Maximum.", p)
		}
		return []metricstore.Sample{{Time: ts, Stats: metricstore.Stats{Count: *sv.SampleCount, Sum: *sv.Sum, Min: *sv.Minimum, Max: *sv.Maximum}}}, nil
	case len(d.Values) > 0:
		if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
			return nil, invalidCombination("The parameters %[1]s.Values and %[1]s.Counts must be of the same size.", p)
		}
		st := metricstore.Stats{}
		for j, v := range d.Values {
			if err := checkValue(fmt.Sprintf("%s.Values.member.%d", p, j+1), v); err != nil {
				return nil, err
			}
			n := 1.0
			if len(d.Counts) > 0 {
				n = d.Counts[j]
				if math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
					return nil, invalidValue("The value %s for parameter %s.Counts.member.%d is invalid.", formatFloat(n), p, j+1)
				}
			}
			if n == 0 {
				continue
			}
			st = st.Merge(metricstore.Stats{Count: n, Sum: v * n, Min: v, Max: v})
		}
		if st.Empty() {
			return nil, nil
		}
		return []metricstore.Sample{{Time: ts, Stats: st}}, nil
	}
	return nil, missing("The parameter %s.Value is required.", p)
}

// checkPeriod checks a statistics period in seconds: a multiple of 60, or
// 1, 5, 10 or 30 (high resolution, which minato does not keep: such a
// query has no data).
func checkPeriod(param string, period *int32) (time.Duration, error) {
	if period == nil {
		return 0, missing("The parameter %s is required.", param)
	}
	p := *period
	switch {
	case p <= 0:
		return 0, invalidValue("The parameter %s must be greater than 0.", param)
	case p == 1 || p == 5 || p == 10 || p == 30 || p%60 == 0:
		return time.Duration(p) * time.Second, nil
	}
	return 0, invalidValue("The parameter %s must be 1, 5, 10, 30, or a multiple of 60.", param)
}

// GetMetricStatistics answers the statistics of one metric per period.
func (a *API) GetMetricStatistics(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.GetMetricStatisticsInput) (*cloudwatchtypes.GetMetricStatisticsOutput, error) {
	period, err := checkPeriod("Period", in.Period)
	if err != nil {
		return nil, err
	}
	if len(in.Statistics) == 0 && len(in.ExtendedStatistics) == 0 {
		return nil, invalidCombination("Must specify either Statistics or ExtendedStatistics")
	}
	if len(in.ExtendedStatistics) > 0 {
		return nil, invalidValue("The parameter ExtendedStatistics is not supported: minato keeps statistic sets, not the samples percentiles need.")
	}
	if err := checkDimensions("Dimensions", in.Dimensions); err != nil {
		return nil, err
	}
	start, end := in.StartTime.Time(), in.EndTime.Time()
	if !start.Before(end) {
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	if n := (end.Sub(start) + period - 1) / period; n > maxDatapoints {
		return nil, invalidCombination("You have requested up to %s datapoints, which exceeds the limit of %s. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
			thousands(int64(n)), thousands(maxDatapoints))
	}
	m := metricstore.Metric{Namespace: in.Namespace, Name: in.MetricName, Dimensions: toDimensions(in.Dimensions)}
	pts, unit, err := a.query(m, start, end, period, string(in.Unit))
	if err != nil {
		return nil, err
	}
	out := &cloudwatchtypes.GetMetricStatisticsOutput{Label: in.MetricName, Datapoints: []cloudwatchtypes.Datapoint{}}
	for _, p := range pts {
		dp := cloudwatchtypes.Datapoint{Timestamp: shape.NewTimestamp(p.Time), Unit: cloudwatchtypes.StandardUnit(unit)}
		for _, s := range in.Statistics {
			v, _ := p.Stats.Statistic(string(s))
			switch s {
			case cloudwatchtypes.StatisticSampleCount:
				dp.SampleCount = &v
			case cloudwatchtypes.StatisticAverage:
				dp.Average = &v
			case cloudwatchtypes.StatisticSum:
				dp.Sum = &v
			case cloudwatchtypes.StatisticMinimum:
				dp.Minimum = &v
			case cloudwatchtypes.StatisticMaximum:
				dp.Maximum = &v
			}
		}
		out.Datapoints = append(out.Datapoints, dp)
	}
	return out, nil
}

// query reads a metric's points; a unit asked for that is not the
// metric's has no data, as in CloudWatch. A time range no tier keeps has
// no data either. It returns the unit to show ("None" when unknown).
func (a *API) query(m metricstore.Metric, start, end time.Time, period time.Duration, unit string) ([]metricstore.Point, string, error) {
	if period%time.Minute != 0 {
		return nil, cmpOr(unit, "None"), nil // high resolution: not kept
	}
	var stored string
	for _, info := range a.metrics.List(metricstore.Filter(m), time.Time{}) {
		if len(info.Metric.Dimensions) == len(m.Dimensions) {
			stored = info.Unit
		}
	}
	stored = cmpOr(stored, "None")
	if unit != "" && unit != stored {
		return nil, unit, nil
	}
	if _, ok := metricstore.ChooseTier(a.now(), start, period); !ok {
		return nil, stored, nil
	}
	pts, err := a.metrics.Query(m, start, end, period)
	return pts, stored, err
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// thousands writes n with comma separators, as CloudWatch's messages do.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// GetMetricData answers metric stat queries. Math expressions are not
// evaluated.
func (a *API) GetMetricData(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.GetMetricDataInput) (*cloudwatchtypes.GetMetricDataOutput, error) {
	start, end := in.StartTime.Time(), in.EndTime.Time()
	if !start.Before(end) {
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	limit := maxGetDataPoints
	if in.MaxDatapoints != nil {
		if *in.MaxDatapoints <= 0 {
			return nil, invalidValue("The parameter MaxDatapoints must be greater than 0.")
		}
		limit = int(*in.MaxDatapoints)
	}
	ids := map[string]bool{}
	out := &cloudwatchtypes.GetMetricDataOutput{MetricDataResults: []cloudwatchtypes.MetricDataResult{}}
	total := 0
	for i, q := range in.MetricDataQueries {
		p := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		if ids[q.Id] {
			return nil, invalidValue("The value %s for parameter %s.Id is not unique.", q.Id, p)
		}
		ids[q.Id] = true
		if q.Expression != "" {
			return nil, invalidValue("The parameter %s.Expression is not supported: minato answers metric stat queries only.", p)
		}
		if q.MetricStat == nil {
			return nil, missing("The parameter %s.MetricStat is required.", p)
		}
		ms := q.MetricStat
		period, err := checkPeriod(p+".MetricStat.Period", ms.Period)
		if err != nil {
			return nil, err
		}
		if _, ok := (metricstore.Stats{}).Statistic(ms.Stat); !ok {
			return nil, invalidValue("The value %s for parameter %s.MetricStat.Stat is invalid: minato answers SampleCount, Average, Sum, Minimum and Maximum.", ms.Stat, p)
		}
		if err := checkDimensions(p+".MetricStat.Metric.Dimensions", ms.Metric.Dimensions); err != nil {
			return nil, err
		}
		m := metricstore.Metric{Namespace: ms.Metric.Namespace, Name: ms.Metric.MetricName, Dimensions: toDimensions(ms.Metric.Dimensions)}
		pts, _, err := a.query(m, start, end, period, string(ms.Unit))
		if err != nil {
			return nil, err
		}
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		total += len(pts)
		if total > limit {
			return nil, invalidCombination("The query returns more than %s datapoints, the limit of MaxDatapoints.", thousands(int64(limit)))
		}
		if in.ScanBy != cloudwatchtypes.ScanByTimestampAscending {
			slices.Reverse(pts)
		}
		r := cloudwatchtypes.MetricDataResult{Id: q.Id, Label: cmpOr(q.Label, ms.Metric.MetricName), StatusCode: cloudwatchtypes.StatusCodeComplete,
			Timestamps: []shape.Timestamp{}, Values: []float64{}}
		for _, pt := range pts {
			v, _ := pt.Stats.Statistic(ms.Stat)
			r.Timestamps = append(r.Timestamps, shape.NewTimestamp(pt.Time))
			r.Values = append(r.Values, v)
		}
		out.MetricDataResults = append(out.MetricDataResults, r)
	}
	return out, nil
}

// ListMetrics lists the metrics written in the last two weeks (three hours
// with RecentlyActive=PT3H), 500 a page.
func (a *API) ListMetrics(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.ListMetricsInput) (*cloudwatchtypes.ListMetricsOutput, error) {
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, codeInvalidNextToken, "The service couldn't process your request because the next token is not valid.")
	}
	since := a.now().Add(-activeWindow)
	if in.RecentlyActive == cloudwatchtypes.RecentlyActivePt3h {
		since = a.now().Add(-recentlyActiveRange)
	}
	f := metricstore.Filter{Namespace: in.Namespace, Name: in.MetricName}
	for _, d := range in.Dimensions {
		f.Dimensions = append(f.Dimensions, metricstore.Dimension{Name: d.Name, Value: d.Value})
	}
	out := &cloudwatchtypes.ListMetricsOutput{Metrics: []cloudwatchtypes.Metric{}}
	last := ""
	for _, info := range a.metrics.List(f, since) {
		key := info.Metric.Key()
		if after != "" && key <= after {
			continue
		}
		if len(out.Metrics) == listPageSize {
			out.NextToken = paging.Encode(last)
			break
		}
		last = key
		out.Metrics = append(out.Metrics, cloudwatchtypes.Metric{Namespace: info.Metric.Namespace, MetricName: info.Metric.Name,
			Dimensions: fromDimensions(info.Metric.Dimensions)})
	}
	return out, nil
}
