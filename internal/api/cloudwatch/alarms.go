package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/alarm"
	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/store"
)

// Alarms are records of the state store, one per alarm, holding the alarm
// as DescribeAlarms shows it and its latest history items.
const alarmPrefix = "cloudwatch/alarms/"

// maxHistory bounds the history kept per alarm.
const maxHistory = 100

type alarmRecord struct {
	Alarm   cloudwatchtypes.MetricAlarm        `json:"alarm"`
	History []cloudwatchtypes.AlarmHistoryItem `json:"history,omitzero"`
}

func (r *alarmRecord) addHistory(at time.Time, typ cloudwatchtypes.HistoryItemType, summary, data string) {
	r.History = append(r.History, cloudwatchtypes.AlarmHistoryItem{AlarmName: r.Alarm.AlarmName, AlarmType: cloudwatchtypes.AlarmTypeMetricAlarm,
		Timestamp: shape.NewTimestamp(at), HistoryItemType: typ, HistorySummary: summary, HistoryData: data})
	if n := len(r.History); n > maxHistory {
		r.History = slices.Clone(r.History[n-maxHistory:])
	}
}

func errAlarmNotFound(name string) error {
	return core.Errorf(core.KindNotFound, "ResourceNotFound", "Alarm %s does not exist.", name)
}

func (a *API) getAlarm(ctx context.Context, name string) (*alarmRecord, int64, error) {
	kv, err := a.store.Get(ctx, alarmPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, errAlarmNotFound(name)
	}
	if err != nil {
		return nil, 0, err
	}
	var r alarmRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return nil, 0, fmt.Errorf("alarm %s: %w", name, err)
	}
	return &r, kv.ModRevision, nil
}

// listAlarms returns every alarm in name order.
func (a *API) listAlarms(ctx context.Context) ([]alarmRecord, error) {
	kvs, _, err := a.store.List(ctx, alarmPrefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]alarmRecord, 0, len(kvs))
	for _, kv := range kvs {
		var r alarmRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func putOp(r *alarmRecord) store.Op {
	b, _ := json.Marshal(r)
	return store.Put(alarmPrefix+r.Alarm.AlarmName, b)
}

// PutMetricAlarm creates or replaces a metric alarm on one metric (no
// metric math). A new alarm starts INSUFFICIENT_DATA; a replaced one keeps
// its state.
func (a *API) PutMetricAlarm(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.PutMetricAlarmInput) (*struct{}, error) {
	if len(in.Metrics) > 0 || in.ThresholdMetricId != "" {
		return nil, invalidValue("The parameter Metrics is not supported: minato alarms watch one metric.")
	}
	if in.ExtendedStatistic != "" {
		return nil, invalidValue("The parameter ExtendedStatistic is not supported: minato keeps no percentiles.")
	}
	if in.MetricName == "" || in.Namespace == "" {
		return nil, missing("The parameters MetricName and Namespace are required.")
	}
	if in.Statistic == "" {
		return nil, missing("The parameter Statistic is required.")
	}
	if in.Threshold == nil {
		return nil, missing("The parameter Threshold is required.")
	}
	if err := checkValue("Threshold", *in.Threshold); err != nil {
		return nil, err
	}
	period, err := checkPeriod("Period", in.Period)
	if err != nil {
		return nil, err
	}
	if period%time.Minute != 0 {
		return nil, invalidValue("The parameter Period must be a multiple of 60: minato keeps no high-resolution metrics.")
	}
	if in.EvaluationPeriods == nil || *in.EvaluationPeriods < 1 {
		return nil, missing("The parameter EvaluationPeriods is required.")
	}
	if in.DatapointsToAlarm != nil && (*in.DatapointsToAlarm < 1 || *in.DatapointsToAlarm > *in.EvaluationPeriods) {
		return nil, invalidValue("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
	}
	if period*time.Duration(*in.EvaluationPeriods) > 7*24*time.Hour {
		return nil, invalidValue("The evaluation period (Period multiplied by EvaluationPeriods) must not exceed 7 days.")
	}
	switch in.TreatMissingData {
	case "", alarm.Missing, alarm.NotBreaching, alarm.Breaching, alarm.Ignore:
	default:
		return nil, invalidValue("The value %s for parameter TreatMissingData is invalid.", in.TreatMissingData)
	}
	if err := checkDimensions("Dimensions", in.Dimensions); err != nil {
		return nil, err
	}
	now := a.now()
	scope := arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}
	for attempt := 0; ; attempt++ {
		old, rev, err := a.getAlarm(ctx, in.AlarmName)
		if err != nil && !core.IsKind(err, core.KindNotFound) {
			return nil, err
		}
		r := &alarmRecord{}
		cond := store.MustNotExist(alarmPrefix + in.AlarmName)
		summary := fmt.Sprintf("Alarm %q created", in.AlarmName)
		if old != nil {
			r = old
			cond = store.MustBeAt(alarmPrefix+in.AlarmName, rev)
			summary = fmt.Sprintf("Alarm %q updated", in.AlarmName)
		}
		prev := r.Alarm
		r.Alarm = cloudwatchtypes.MetricAlarm{
			AlarmName: in.AlarmName, AlarmArn: scope.New("cloudwatch", "alarm:"+in.AlarmName), AlarmDescription: in.AlarmDescription,
			AlarmConfigurationUpdatedTimestamp: shape.NewTimestamp(now), ActionsEnabled: ptrOr(in.ActionsEnabled, true),
			OKActions: orEmpty(in.OKActions), AlarmActions: orEmpty(in.AlarmActions), InsufficientDataActions: orEmpty(in.InsufficientDataActions),
			MetricName: in.MetricName, Namespace: in.Namespace, Statistic: in.Statistic, Dimensions: orEmptyDims(in.Dimensions),
			Period: in.Period, Unit: in.Unit, EvaluationPeriods: in.EvaluationPeriods, DatapointsToAlarm: in.DatapointsToAlarm,
			Threshold: in.Threshold, ComparisonOperator: in.ComparisonOperator, TreatMissingData: in.TreatMissingData,
			StateValue: cloudwatchtypes.StateValueInsufficientData, StateReason: "Unchecked: Initial alarm creation",
			StateUpdatedTimestamp: shape.NewTimestamp(now), StateTransitionedTimestamp: shape.NewTimestamp(now),
		}
		if old != nil {
			r.Alarm.StateValue, r.Alarm.StateReason = prev.StateValue, prev.StateReason
			r.Alarm.StateUpdatedTimestamp, r.Alarm.StateTransitionedTimestamp = prev.StateUpdatedTimestamp, prev.StateTransitionedTimestamp
		}
		r.addHistory(now, cloudwatchtypes.HistoryItemTypeConfigurationUpdate, summary, "")
		_, err = a.store.Txn(ctx, []store.Cond{cond}, []store.Op{putOp(r)})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return nil, err
	}
}

func ptrOr(b *bool, def bool) *bool {
	if b == nil {
		return &def
	}
	return b
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyDims(d []cloudwatchtypes.Dimension) []cloudwatchtypes.Dimension {
	if d == nil {
		return []cloudwatchtypes.Dimension{}
	}
	return d
}

// DescribeAlarms lists metric alarms by names, name prefix, state and
// action prefix, 50 a page (MaxRecords up to 100).
func (a *API) DescribeAlarms(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DescribeAlarmsInput) (*cloudwatchtypes.DescribeAlarmsOutput, error) {
	if len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "" {
		return nil, invalidCombination("AlarmNames and AlarmNamePrefix are mutually exclusive.")
	}
	limit, ok := paging.Limit(in.MaxRecords, 50, 100)
	if !ok {
		return nil, invalidValue("The parameter MaxRecords must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, codeInvalidNextToken, "The service couldn't process your request because the next token is not valid.")
	}
	all, err := a.listAlarms(ctx)
	if err != nil {
		return nil, err
	}
	out := &cloudwatchtypes.DescribeAlarmsOutput{MetricAlarms: []cloudwatchtypes.MetricAlarm{}, CompositeAlarms: []cloudwatchtypes.CompositeAlarm{}}
	if len(in.AlarmTypes) > 0 && !slices.Contains(in.AlarmTypes, cloudwatchtypes.AlarmTypeMetricAlarm) {
		return out, nil
	}
	for _, r := range all {
		al := r.Alarm
		switch {
		case after != "" && al.AlarmName <= after:
			continue
		case len(in.AlarmNames) > 0 && !slices.Contains(in.AlarmNames, al.AlarmName):
			continue
		case !strings.HasPrefix(al.AlarmName, in.AlarmNamePrefix):
			continue
		case in.StateValue != "" && al.StateValue != in.StateValue:
			continue
		case in.ActionPrefix != "" && !slices.ContainsFunc(al.AlarmActions, func(s string) bool { return strings.HasPrefix(s, in.ActionPrefix) }):
			continue
		}
		if len(out.MetricAlarms) == limit {
			out.NextToken = paging.Encode(out.MetricAlarms[limit-1].AlarmName)
			break
		}
		out.MetricAlarms = append(out.MetricAlarms, al)
	}
	return out, nil
}

// DescribeAlarmsForMetric lists the alarms that watch a metric.
func (a *API) DescribeAlarmsForMetric(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DescribeAlarmsForMetricInput) (*cloudwatchtypes.DescribeAlarmsForMetricOutput, error) {
	all, err := a.listAlarms(ctx)
	if err != nil {
		return nil, err
	}
	want := metricstore.Metric{Namespace: in.Namespace, Name: in.MetricName, Dimensions: toDimensions(in.Dimensions)}.Key()
	out := &cloudwatchtypes.DescribeAlarmsForMetricOutput{MetricAlarms: []cloudwatchtypes.MetricAlarm{}}
	for _, r := range all {
		al := r.Alarm
		if (metricstore.Metric{Namespace: al.Namespace, Name: al.MetricName, Dimensions: toDimensions(al.Dimensions)}).Key() != want {
			continue
		}
		if (in.Statistic != "" && al.Statistic != in.Statistic) || (in.Period != nil && *in.Period != *al.Period) || (in.Unit != "" && al.Unit != in.Unit) {
			continue
		}
		out.MetricAlarms = append(out.MetricAlarms, al)
	}
	return out, nil
}

// DeleteAlarms deletes the named alarms; names that are no alarm are
// skipped, and the others are still deleted.
func (a *API) DeleteAlarms(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DeleteAlarmsInput) (*struct{}, error) {
	if len(in.AlarmNames) > 100 {
		return nil, invalidValue("The collection AlarmNames must not have a size greater than 100.")
	}
	var ops []store.Op
	for _, name := range in.AlarmNames {
		ops = append(ops, store.Delete(alarmPrefix+name))
	}
	if len(ops) == 0 {
		return nil, nil
	}
	_, err := a.store.Txn(ctx, nil, ops)
	return nil, err
}

// SetAlarmState sets an alarm's state until its next evaluation.
func (a *API) SetAlarmState(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.SetAlarmStateInput) (*struct{}, error) {
	if in.StateReasonData != "" && !json.Valid([]byte(in.StateReasonData)) {
		return nil, core.Errorf(core.KindInvalid, "InvalidFormat", "StateReasonData is not valid JSON.")
	}
	_, err := a.transition(ctx, in.AlarmName, func(*alarmRecord) (alarm.Decision, bool) {
		return alarm.Decision{State: string(in.StateValue), Reason: in.StateReason}, true
	})
	return nil, err
}

// transition moves an alarm to the state decide returns (when its second
// result is true and the state differs, or force is implied by SetAlarmState:
// a decision that repeats the state only updates the reason), recording a
// StateUpdate history item. It reports whether the state changed.
func (a *API) transition(ctx context.Context, name string, decide func(*alarmRecord) (alarm.Decision, bool)) (bool, error) {
	for attempt := 0; ; attempt++ {
		r, rev, err := a.getAlarm(ctx, name)
		if err != nil {
			return false, err
		}
		d, apply := decide(r)
		if !apply {
			return false, nil
		}
		now := a.now()
		old := r.Alarm.StateValue
		changed := string(old) != d.State
		if !changed && r.Alarm.StateReason == d.Reason {
			return false, nil
		}
		r.Alarm.StateValue, r.Alarm.StateReason = cloudwatchtypes.StateValue(d.State), d.Reason
		r.Alarm.StateUpdatedTimestamp = shape.NewTimestamp(now)
		if changed {
			r.Alarm.StateTransitionedTimestamp = shape.NewTimestamp(now)
			data, _ := json.Marshal(map[string]any{"version": "1.0", "oldState": map[string]string{"stateValue": string(old)},
				"newState": map[string]string{"stateValue": d.State, "stateReason": d.Reason}})
			r.addHistory(now, cloudwatchtypes.HistoryItemTypeStateUpdate, fmt.Sprintf("Alarm updated from %s to %s", old, d.State), string(data))
		}
		_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(alarmPrefix+name, rev)}, []store.Op{putOp(r)})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return changed, err
	}
}

// DescribeAlarmHistory lists the kept history of one alarm or all,
// newest first by default.
func (a *API) DescribeAlarmHistory(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DescribeAlarmHistoryInput) (*cloudwatchtypes.DescribeAlarmHistoryOutput, error) {
	limit, ok := paging.Limit(in.MaxRecords, 100, 100)
	if !ok {
		return nil, invalidValue("The parameter MaxRecords must be between 1 and 100.")
	}
	all, err := a.listAlarms(ctx)
	if err != nil {
		return nil, err
	}
	var items []cloudwatchtypes.AlarmHistoryItem
	for _, r := range all {
		if in.AlarmName != "" && r.Alarm.AlarmName != in.AlarmName {
			continue
		}
		for _, h := range r.History {
			t := h.Timestamp.Time()
			if (in.HistoryItemType != "" && h.HistoryItemType != in.HistoryItemType) ||
				(!in.StartDate.IsZero() && t.Before(in.StartDate.Time())) || (!in.EndDate.IsZero() && t.After(in.EndDate.Time())) {
				continue
			}
			items = append(items, h)
		}
	}
	if in.ScanBy != cloudwatchtypes.ScanByTimestampAscending {
		slices.Reverse(items) // items of the same time: the later recorded first
	}
	slices.SortStableFunc(items, func(x, y cloudwatchtypes.AlarmHistoryItem) int {
		if in.ScanBy == cloudwatchtypes.ScanByTimestampAscending {
			return x.Timestamp.Time().Compare(y.Timestamp.Time())
		}
		return y.Timestamp.Time().Compare(x.Timestamp.Time())
	})
	if len(items) > limit {
		items = items[:limit]
	}
	return &cloudwatchtypes.DescribeAlarmHistoryOutput{AlarmHistoryItems: orEmptyHistory(items)}, nil
}

func orEmptyHistory(h []cloudwatchtypes.AlarmHistoryItem) []cloudwatchtypes.AlarmHistoryItem {
	if h == nil {
		return []cloudwatchtypes.AlarmHistoryItem{}
	}
	return h
}

// EvaluateAlarms evaluates every alarm against its metric at the current
// time and moves those whose state changes. The alarm controller calls it
// on a schedule.
func (a *API) EvaluateAlarms(ctx context.Context) error {
	all, err := a.listAlarms(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	var errs []error
	for _, r := range all {
		al := r.Alarm
		period := time.Duration(*al.Period) * time.Second
		n := int(*al.EvaluationPeriods)
		window := alarm.Window(now, period, n)
		m := metricstore.Metric{Namespace: al.Namespace, Name: al.MetricName, Dimensions: toDimensions(al.Dimensions)}
		pts, _, err := a.query(m, window[0], window[n-1].Add(period), period, string(al.Unit))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		byTime := map[time.Time]metricstore.Stats{}
		for _, p := range pts {
			byTime[p.Time] = p.Stats
		}
		var dps []alarm.Datapoint
		for _, t := range window {
			st, ok := byTime[t]
			v, _ := st.Statistic(string(al.Statistic))
			dps = append(dps, alarm.Datapoint{Time: t, Value: v, Missing: !ok})
		}
		rule := alarm.Rule{Threshold: *al.Threshold, Comparison: string(al.ComparisonOperator), EvaluationPeriods: n, Period: period,
			TreatMissingData: al.TreatMissingData}
		if al.DatapointsToAlarm != nil {
			rule.DatapointsToAlarm = int(*al.DatapointsToAlarm)
		}
		d := alarm.Evaluate(rule, dps, string(al.StateValue))
		_, err = a.transition(ctx, al.AlarmName, func(cur *alarmRecord) (alarm.Decision, bool) {
			// Only a change of state is recorded: a repeated decision
			// leaves the record (and the store) alone.
			return d, string(cur.Alarm.StateValue) != d.State
		})
		if err != nil && !core.IsKind(err, core.KindNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// InAlarm returns those of the named alarms that are in ALARM now (an
// alarm that does not exist is not). The service controller reads the
// deployment alarms of services (deploymentConfiguration.alarms) with it.
func (a *API) InAlarm(ctx context.Context, names []string) ([]string, error) {
	var firing []string
	for _, name := range names {
		r, _, err := a.getAlarm(ctx, name)
		var ce *core.Error
		if errors.As(err, &ce) && ce.Kind == core.KindNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.Alarm.StateValue == cloudwatchtypes.StateValueAlarm {
			firing = append(firing, name)
		}
	}
	return firing, nil
}
