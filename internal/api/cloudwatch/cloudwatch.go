// Package cloudwatch serves the Amazon CloudWatch metrics API over the
// metric store (package metricstore): PutMetricData for custom metrics,
// GetMetricStatistics, GetMetricData (metric stat queries) and ListMetrics;
// metric alarms kept in the state store and evaluated by EvaluateAlarms.
//
// CloudWatch speaks three protocols (its model lists smithy-rpc-v2-cbor,
// JSON 1.0 and Query), and all three are served: Query (aws CLI v2), JSON
// 1.0 (botocore 1.43), and RPC v2 CBOR (the current AWS SDK for Go v2);
// the handlers are the same for all.
package cloudwatch

import (
	"log/slog"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/store"
)

// Metrics is the metric store as the API uses it. *metricstore.Store
// implements it.
type Metrics interface {
	Put(samples []metricstore.Sample) error
	Query(m metricstore.Metric, start, end time.Time, period time.Duration) ([]metricstore.Point, error)
	List(f metricstore.Filter, since time.Time) []metricstore.MetricInfo
}

var _ Metrics = (*metricstore.Store)(nil)

// Config is what the API needs.
type Config struct {
	Metrics Metrics
	// Store keeps the alarms (state store records under cloudwatch/).
	Store  store.Store
	Clock  core.Clock
	Logger *slog.Logger
}

// API is the CloudWatch service.
type API struct {
	metrics Metrics
	store   store.Store
	clock   core.Clock
	log     *slog.Logger
}

// New returns the CloudWatch API.
func New(cfg Config) *API {
	a := &API{metrics: cfg.Metrics, store: cfg.Store, clock: cfg.Clock, log: cfg.Logger}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

func (a *API) ops() map[string]awsproto.Handler {
	return map[string]awsproto.Handler{
		"PutMetricData":       awsproto.Op(a.PutMetricData),
		"GetMetricStatistics": awsproto.Op(a.GetMetricStatistics),
		"GetMetricData":       awsproto.Op(a.GetMetricData),
		"ListMetrics":         awsproto.Op(a.ListMetrics),

		"PutMetricAlarm":          awsproto.Op(a.PutMetricAlarm),
		"DescribeAlarms":          awsproto.Op(a.DescribeAlarms),
		"DescribeAlarmsForMetric": awsproto.Op(a.DescribeAlarmsForMetric),
		"DeleteAlarms":            awsproto.Op(a.DeleteAlarms),
		"SetAlarmState":           awsproto.Op(a.SetAlarmState),
		"DescribeAlarmHistory":    awsproto.Op(a.DescribeAlarmHistory),
	}
}

// QueryService is the API in the Query protocol (form-encoded, XML
// replies), as the aws CLI v2 sends it.
func (a *API) QueryService() awsproto.QueryService {
	return awsproto.QueryService{
		SigningName:  cloudwatchtypes.SigningName,
		Version:      cloudwatchtypes.APIVersion,
		XMLNamespace: cloudwatchtypes.XMLNamespace,
		Actions:      a.ops(),
	}
}

// JSONService is the API in AWS JSON 1.0
// (X-Amz-Target: GraniteServiceVersion20100801.<Op>). CloudWatch is
// awsQueryCompatible, so its JSON errors carry the Query protocol's codes.
func (a *API) JSONService() awsproto.JSONService {
	return awsproto.JSONService{
		SigningName:  cloudwatchtypes.SigningName,
		TargetPrefix: cloudwatchtypes.TargetPrefix,
		JSONVersion:  cloudwatchtypes.JSONVersion,
		Ops:          a.ops(),
	}
}

// CBORService is the API in Smithy RPC v2 CBOR
// (/service/GraniteServiceVersion20100801/operation/<Op>), which the
// current AWS SDK for Go v2 sends (botocore can, but prefers JSON 1.0). Errors carry the
// model's error shape in __type and, CloudWatch being awsQueryCompatible,
// the Query code in x-amzn-query-error.
func (a *API) CBORService() awsproto.CBORService {
	return awsproto.CBORService{
		SigningName:     cloudwatchtypes.SigningName,
		ServiceName:     cloudwatchtypes.TargetPrefix,
		Namespace:       "com.amazonaws.cloudwatch",
		QueryCompatible: true,
		ErrorShapes:     errorShapes,
		Ops:             a.ops(),
	}
}

// errorShapes are the model's error shapes of the Query codes that differ
// from their shape's name (cloudwatch/service-2.json, "error": {"code"}).
var errorShapes = map[string]string{
	cloudwatchtypes.ErrCodeInvalidParameterValueException:       "InvalidParameterValueException",
	cloudwatchtypes.ErrCodeInvalidParameterCombinationException: "InvalidParameterCombinationException",
	cloudwatchtypes.ErrCodeMissingRequiredParameterException:    "MissingRequiredParameterException",
	cloudwatchtypes.ErrCodeLimitExceededFault:                   "LimitExceededFault",
	cloudwatchtypes.ErrCodeInternalServiceFault:                 "InternalServiceFault",
	cloudwatchtypes.ErrCodeInvalidFormatFault:                   "InvalidFormatFault",
	cloudwatchtypes.ErrCodeDashboardInvalidInputError:           "DashboardInvalidInputError",
}

// Implemented lists the operations this package serves, for the
// compatibility matrix.
func (a *API) Implemented() []string {
	var out []string
	for name := range a.ops() {
		out = append(out, name)
	}
	return out
}

func (a *API) now() time.Time { return a.clock.Now().UTC() }

// Error codes CloudWatch answers with (the Query codes; JSON carries the
// same, the service being awsQueryCompatible).
const (
	codeInvalidParameterValue       = "InvalidParameterValue"
	codeInvalidParameterCombination = "InvalidParameterCombination"
	codeMissingParameter            = "MissingParameter"
	codeInvalidNextToken            = "InvalidNextToken"
	codeLimitExceeded               = "LimitExceeded"
)

func invalidValue(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, codeInvalidParameterValue, format, args...)
}

func invalidCombination(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, codeInvalidParameterCombination, format, args...)
}

func missing(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, codeMissingParameter, format, args...)
}
