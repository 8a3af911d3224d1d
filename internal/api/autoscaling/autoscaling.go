// Package autoscaling serves Application Auto Scaling (AWS JSON 1.1) for
// ECS services' desired count (ecs:service:DesiredCount): scalable
// targets, target tracking policies with the CloudWatch alarms they
// create and manage as AWS does, and scaling activities. Scale applies the
// policies (the decisions are package scaling's); the alarms controller
// calls it on a schedule.
package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"github.com/minato-project/minato/internal/store"
)

// Services reads and sets ECS services' desired count.
type Services interface {
	// DesiredCount returns an ACTIVE service's desired count; an error of
	// kind NotFound when there is no such service.
	DesiredCount(ctx context.Context, cluster, service string) (int, error)
	// SetDesiredCount sets it, as UpdateService does.
	SetDesiredCount(ctx context.Context, cluster, service string, n int) error
}

// CloudWatch is the CloudWatch API as the policies use it.
// *cloudwatch.API implements it.
type CloudWatch interface {
	PutMetricAlarm(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.PutMetricAlarmInput) (*struct{}, error)
	DeleteAlarms(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DeleteAlarmsInput) (*struct{}, error)
	DescribeAlarms(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DescribeAlarmsInput) (*cloudwatchtypes.DescribeAlarmsOutput, error)
	GetMetricStatistics(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.GetMetricStatisticsInput) (*cloudwatchtypes.GetMetricStatisticsOutput, error)
	DescribeAlarmHistory(ctx context.Context, c *awsproto.Call, in *cloudwatchtypes.DescribeAlarmHistoryInput) (*cloudwatchtypes.DescribeAlarmHistoryOutput, error)
}

// Config is what the API needs.
type Config struct {
	Store      store.Store
	Services   Services
	CloudWatch CloudWatch
	Clock      core.Clock
	IDs        core.IDs
	Logger     *slog.Logger
	// Scope is the region and account of the policies the controller acts
	// as (their ARNs and alarms).
	Scope arn.Scope
	// HighPeriods and LowPeriods are how many one-minute periods a target
	// tracking policy's high and low alarms look at; 0: AWS's 3 and 15.
	// Fewer make tests and demos quicker.
	HighPeriods, LowPeriods int32
}

// API is the Application Auto Scaling service.
type API struct {
	store    store.Store
	services Services
	cw       CloudWatch
	clock    core.Clock
	ids      core.IDs
	log      *slog.Logger
	scope    arn.Scope
	seq      atomic.Int64 // orders activities recorded in the same instant

	highPeriods, lowPeriods int32
}

// New returns the API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, services: cfg.Services, cw: cfg.CloudWatch, clock: cfg.Clock, ids: cfg.IDs, log: cfg.Logger, scope: cfg.Scope}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.ids == nil {
		a.ids = core.RandomIDs{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.highPeriods, a.lowPeriods = cfg.HighPeriods, cfg.LowPeriods
	if a.highPeriods <= 0 {
		a.highPeriods = 3
	}
	if a.lowPeriods <= 0 {
		a.lowPeriods = 15
	}
	return a
}

func (a *API) ops() map[string]awsproto.Handler {
	return map[string]awsproto.Handler{
		"RegisterScalableTarget":    awsproto.Op(a.RegisterScalableTarget),
		"DescribeScalableTargets":   awsproto.Op(a.DescribeScalableTargets),
		"DeregisterScalableTarget":  awsproto.Op(a.DeregisterScalableTarget),
		"PutScalingPolicy":          awsproto.Op(a.PutScalingPolicy),
		"DescribeScalingPolicies":   awsproto.Op(a.DescribeScalingPolicies),
		"DeleteScalingPolicy":       awsproto.Op(a.DeleteScalingPolicy),
		"DescribeScalingActivities": awsproto.Op(a.DescribeScalingActivities),
		"PutScheduledAction":        awsproto.Op(a.PutScheduledAction),
		"DescribeScheduledActions":  awsproto.Op(a.DescribeScheduledActions),
		"DeleteScheduledAction":     awsproto.Op(a.DeleteScheduledAction),
	}
}

// Service returns the JSON service to register with awsproto.Server.
func (a *API) Service() awsproto.JSONService {
	return awsproto.JSONService{SigningName: autoscalingtypes.SigningName, TargetPrefix: autoscalingtypes.TargetPrefix, Ops: a.ops()}
}

// Implemented lists the operations this package serves.
func (a *API) Implemented() []string {
	var out []string
	for name := range a.ops() {
		out = append(out, name)
	}
	return out
}

// Notes says what minato does differently, per operation, for
// docs/compatibility.md.
var Notes = map[string]string{
	"RegisterScalableTarget": "ECS services' desired count (`ecs:service:DesiredCount`) only; SuspendedState kept and honoured (attributes left out keep their value); no tags.",
	"PutScalingPolicy": "TargetTrackingScaling with ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization or a customized single metric; " +
		"creates its AlarmHigh (3 of 3 minutes above the target) and AlarmLow (15 of 15 below 90 % of it) as AWS does. " +
		"StepScaling with ChangeInCapacity, PercentChangeInCapacity and ExactCapacity, run by the CloudWatch alarms that name the policy's ARN in AlarmActions. " +
		"No PredictiveScaling.",
	"DescribeScalingActivities": "The last 100 activities of each scalable target, with AWS's cause texts.",
	"PutScheduledAction":        "at(), rate() and cron() schedules (cron as EventBridge parses it) in the action's Timezone; run by the leader within 10 s of their time.",
	"DescribeScheduledActions":  "Paginated, 50 a page.",
}

func (a *API) now() time.Time { return a.clock.Now().UTC() }

func validation(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, autoscalingtypes.ErrCodeValidationException, format, args...)
}

func notFound(format string, args ...any) error {
	return core.Errorf(core.KindNotFound, autoscalingtypes.ErrCodeObjectNotFoundException, format, args...)
}

// parseResource checks an ECS service's scalable target and returns its
// cluster and service.
func parseResource(ns autoscalingtypes.ServiceNamespace, resourceID string, dim autoscalingtypes.ScalableDimension) (string, string, error) {
	if ns != autoscalingtypes.ServiceNamespaceEcs {
		return "", "", validation("Unsupported service namespace %s: minato scales ECS services only.", ns)
	}
	if dim != autoscalingtypes.ScalableDimensionEcsServiceDesiredCount {
		return "", "", validation("Unsupported scalable dimension %s for service namespace ecs.", dim)
	}
	p := strings.Split(resourceID, "/")
	if len(p) != 3 || p[0] != "service" || p[1] == "" || p[2] == "" {
		return "", "", validation("Unsupported resource ID %s: an ECS service is service/<cluster>/<service>.", resourceID)
	}
	return p[1], p[2], nil
}

// Records.

const (
	targetPrefix   = "autoscaling/targets/"
	policyPrefix   = "autoscaling/policies/"
	activityPrefix = "autoscaling/activities/"
	maxActivities  = 100
)

func targetKey(resourceID string, dim autoscalingtypes.ScalableDimension) string {
	return targetPrefix + resourceID + "|" + string(dim)
}

func policyKey(resourceID string, dim autoscalingtypes.ScalableDimension, name string) string {
	return policyPrefix + resourceID + "|" + string(dim) + "|" + name
}

func activitiesOf(resourceID string, dim autoscalingtypes.ScalableDimension) string {
	return activityPrefix + resourceID + "|" + string(dim) + "|"
}

type policyRecord struct {
	Policy autoscalingtypes.ScalingPolicy `json:"policy"`
	// When the policy last scaled each way, for the cooldowns.
	LastScaleOut time.Time `json:"lastScaleOut,omitzero"`
	LastScaleIn  time.Time `json:"lastScaleIn,omitzero"`

	// A step scaling policy's configuration (step.go), the capacity its
	// last scale-out started from, when an alarm last invoked it, and the
	// time of the newest alarm state change it has seen.
	Step         *stepConfig `json:"step,omitzero"`
	ScaleOutFrom int         `json:"scaleOutFrom,omitzero"`
	LastInvoked  time.Time   `json:"lastInvoked,omitzero"`
	Checked      time.Time   `json:"checked,omitzero"`
}

func (a *API) get(ctx context.Context, key string, v any) (int64, error) {
	kv, err := a.store.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	return kv.ModRevision, json.Unmarshal(kv.Value, v)
}

func list[T any](ctx context.Context, st store.Store, prefix string) ([]T, error) {
	kvs, _, err := st.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func put(key string, v any) store.Op {
	b, _ := json.Marshal(v)
	return store.Put(key, b)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
