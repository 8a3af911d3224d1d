package autoscaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scaling"
	"github.com/minato-project/minato/internal/store"
)

// Scheduled actions: records under autoscaling/scheduled/, run by Scale
// (on the leader's alarm controller) when their schedule is due.

const scheduledPrefix = "autoscaling/scheduled/"

func scheduledKey(resourceID string, dim autoscalingtypes.ScalableDimension, name string) string {
	return scheduledPrefix + resourceID + "|" + string(dim) + "|" + name
}

// targetAction is ScalableTargetAction with its capacities optional (the
// generated type cannot tell an absent capacity from 0).
type targetAction struct {
	MinCapacity *int32 `json:"MinCapacity,omitempty"`
	MaxCapacity *int32 `json:"MaxCapacity,omitempty"`
}

// scheduledActionOut is a scheduled action as DescribeScheduledActions
// shows it.
type scheduledActionOut struct {
	autoscalingtypes.ScheduledAction
	ScalableTargetAction *targetAction `json:"ScalableTargetAction,omitempty"`
}

type scheduledRecord struct {
	Action scheduledActionOut `json:"action"`
	// Since is when the schedule started counting (the action's creation
	// or last replacement); LastRun the run last executed.
	Since   time.Time `json:"since"`
	LastRun time.Time `json:"lastRun,omitzero"`
}

func (r *scheduledRecord) schedule() (scaling.Schedule, error) {
	return scaling.ParseSchedule(r.Action.Schedule, r.Action.Timezone)
}

type describeScheduledOut struct {
	ScheduledActions []scheduledActionOut `json:"ScheduledActions"`
	NextToken        string               `json:"NextToken,omitempty"`
}

// PutScheduledAction creates or replaces a scheduled action of a
// registered scalable target.
func (a *API) PutScheduledAction(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.PutScheduledActionRequest) (*autoscalingtypes.PutScheduledActionResponse, error) {
	if _, _, err := parseResource(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	var body struct {
		ScalableTargetAction *targetAction
	}
	_ = json.Unmarshal(c.Body, &body)
	act := body.ScalableTargetAction
	if act != nil && act.MinCapacity != nil && act.MaxCapacity != nil && *act.MaxCapacity < *act.MinCapacity {
		return nil, validation("Maximum capacity cannot be less than minimum capacity")
	}
	if act != nil && (act.MinCapacity != nil && *act.MinCapacity < 0 || act.MaxCapacity != nil && *act.MaxCapacity < 0) {
		return nil, validation("Capacity cannot be negative")
	}
	if !in.StartTime.IsZero() && !in.EndTime.IsZero() && !in.EndTime.Time().After(in.StartTime.Time()) {
		return nil, validation("The end time must be after the start time.")
	}
	key := scheduledKey(in.ResourceId, in.ScalableDimension, in.ScheduledActionName)
	for attempt := 0; ; attempt++ {
		var rec scheduledRecord
		rev, err := a.get(ctx, key, &rec)
		cond := store.MustBeAt(key, rev)
		if isNotFound(err) {
			if in.Schedule == "" {
				return nil, validation("Schedule is required when creating a scheduled action.")
			}
			rec.Action.ScheduledActionARN = a.scopeOf(c).New("autoscaling", fmt.Sprintf("scheduledAction:%s:resource/ecs/%s:scheduledActionName/%s",
				a.ids.NewID(), in.ResourceId, in.ScheduledActionName))
			rec.Action.CreationTime = shape.NewTimestamp(a.now())
			cond = store.MustNotExist(key)
		} else if err != nil {
			return nil, err
		}
		// A replacement keeps what it does not name, as AWS's update does.
		rec.Action.ScheduledActionName, rec.Action.ServiceNamespace = in.ScheduledActionName, in.ServiceNamespace
		rec.Action.ResourceId, rec.Action.ScalableDimension = in.ResourceId, in.ScalableDimension
		if in.Schedule != "" {
			rec.Action.Schedule = in.Schedule
		}
		if in.Timezone != "" {
			rec.Action.Timezone = in.Timezone
		}
		if !in.StartTime.IsZero() {
			rec.Action.StartTime = in.StartTime
		}
		if !in.EndTime.IsZero() {
			rec.Action.EndTime = in.EndTime
		}
		if act != nil {
			rec.Action.ScalableTargetAction = act
		}
		if _, err := rec.schedule(); err != nil {
			if strings.Contains(err.Error(), "time zone") {
				return nil, validation("Invalid timezone: %s", rec.Action.Timezone)
			}
			return nil, validation("Invalid schedule expression: %s", rec.Action.Schedule)
		}
		if _, err := a.store.Get(ctx, targetKey(in.ResourceId, in.ScalableDimension)); isNotFound(err) {
			return nil, notFound("No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s",
				in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
		} else if err != nil {
			return nil, err
		}
		rec.Since, rec.LastRun = a.now(), time.Time{}
		_, err = a.store.Txn(ctx, []store.Cond{cond}, []store.Op{put(key, rec)})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &autoscalingtypes.PutScheduledActionResponse{}, nil
	}
}

// DescribeScheduledActions lists the scheduled actions of the ECS
// namespace, 50 a page.
func (a *API) DescribeScheduledActions(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DescribeScheduledActionsRequest) (*describeScheduledOut, error) {
	limit := 50
	if in.MaxResults != 0 {
		if in.MaxResults < 1 || in.MaxResults > 50 {
			return nil, validation("MaxResults must be between 1 and 50.")
		}
		limit = int(in.MaxResults)
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, autoscalingtypes.ErrCodeInvalidNextTokenException, "Invalid NextToken.")
	}
	kvs, _, err := a.store.List(ctx, scheduledPrefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := &describeScheduledOut{ScheduledActions: []scheduledActionOut{}}
	for _, kv := range kvs {
		if after != "" && kv.Key <= after {
			continue
		}
		var r scheduledRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		s := r.Action
		if s.ServiceNamespace != in.ServiceNamespace || (in.ResourceId != "" && s.ResourceId != in.ResourceId) ||
			(in.ScalableDimension != "" && s.ScalableDimension != in.ScalableDimension) ||
			(len(in.ScheduledActionNames) > 0 && !slices.Contains(in.ScheduledActionNames, s.ScheduledActionName)) {
			continue
		}
		if len(out.ScheduledActions) == limit {
			out.NextToken = paging.Encode(after)
			break
		}
		out.ScheduledActions = append(out.ScheduledActions, s)
		after = kv.Key
	}
	return out, nil
}

// DeleteScheduledAction deletes a scheduled action.
func (a *API) DeleteScheduledAction(ctx context.Context, c *awsproto.Call, in *autoscalingtypes.DeleteScheduledActionRequest) (*autoscalingtypes.DeleteScheduledActionResponse, error) {
	if _, _, err := parseResource(in.ServiceNamespace, in.ResourceId, in.ScalableDimension); err != nil {
		return nil, err
	}
	key := scheduledKey(in.ResourceId, in.ScalableDimension, in.ScheduledActionName)
	if _, err := a.store.Get(ctx, key); isNotFound(err) {
		return nil, notFound("No scheduled action found for service namespace: %s, resource ID: %s, scalable dimension: %s, scheduled action name: %s",
			in.ServiceNamespace, in.ResourceId, in.ScalableDimension, in.ScheduledActionName)
	} else if err != nil {
		return nil, err
	}
	if _, err := a.store.Txn(ctx, nil, []store.Op{store.Delete(key)}); err != nil {
		return nil, err
	}
	return &autoscalingtypes.DeleteScheduledActionResponse{}, nil
}

// runScheduled runs the scheduled actions that are due, in key order (so
// a target's actions run in a stable order), unless the target's
// scheduled scaling is suspended.
func (a *API) runScheduled(ctx context.Context) error {
	kvs, _, err := a.store.List(ctx, scheduledPrefix, store.ListOptions{})
	if err != nil {
		return err
	}
	now := a.now()
	var errs []error
	for _, kv := range kvs {
		var r scheduledRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kv.Key, err))
			continue
		}
		s, err := r.schedule()
		if err != nil {
			continue // refused when it was put; a time zone gone since
		}
		at, due := s.Due(scaling.ScheduleState{Created: r.Since, Start: r.Action.StartTime.Time(), End: r.Action.EndTime.Time(), LastRun: r.LastRun, Now: now})
		if !due {
			continue
		}
		if err := a.runAction(ctx, kv.Key, kv.ModRevision, r, at); err != nil {
			errs = append(errs, fmt.Errorf("scheduled action %s of %s: %w", r.Action.ScheduledActionName, r.Action.ResourceId, err))
		}
	}
	return errors.Join(errs...)
}

// runAction sets the target's capacities as the action says, then brings
// the desired count within them, recording both activities with AWS's
// texts. The run is marked done first, so that a failure is not repeated
// every tick.
func (a *API) runAction(ctx context.Context, key string, rev int64, r scheduledRecord, at time.Time) error {
	s := r.Action
	tkey := targetKey(s.ResourceId, s.ScalableDimension)
	var t autoscalingtypes.ScalableTarget
	trev, err := a.get(ctx, tkey, &t)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.SuspendedState != nil && t.SuspendedState.ScheduledScalingSuspended {
		return nil
	}
	r.LastRun = at
	ops := []store.Op{put(key, r)}
	conds := []store.Cond{store.MustBeAt(key, rev)}
	min, max := t.MinCapacity, t.MaxCapacity
	if act := s.ScalableTargetAction; act != nil {
		if act.MinCapacity != nil {
			min = *act.MinCapacity
		}
		if act.MaxCapacity != nil {
			max = *act.MaxCapacity
		}
	}
	var parts []string
	if act := s.ScalableTargetAction; act != nil && act.MinCapacity != nil {
		parts = append(parts, fmt.Sprintf("min capacity to %d", min))
	}
	if act := s.ScalableTargetAction; act != nil && act.MaxCapacity != nil {
		parts = append(parts, fmt.Sprintf("max capacity to %d", max))
	}
	now := a.now()
	act := autoscalingtypes.ScalingActivity{ActivityId: a.ids.NewID(), ServiceNamespace: s.ServiceNamespace, ResourceId: s.ResourceId,
		ScalableDimension: s.ScalableDimension, Description: "Setting " + strings.Join(parts, " and "),
		Cause: fmt.Sprintf("scheduled action name %s was triggered", s.ScheduledActionName), StartTime: shape.NewTimestamp(now), EndTime: shape.NewTimestamp(now)}
	if max < min {
		act.StatusCode = autoscalingtypes.ScalingActivityStatusCodeFailed
		act.StatusMessage = fmt.Sprintf("Failed to set %s: the maximum capacity %d would be less than the minimum capacity %d.", strings.Join(parts, " and "), max, min)
	} else {
		act.StatusCode = autoscalingtypes.ScalingActivityStatusCodeSuccessful
		act.StatusMessage = "Successfully set " + strings.Join(parts, " and ") + "."
		t.MinCapacity, t.MaxCapacity = min, max
		ops = append(ops, put(tkey, t))
		conds = append(conds, store.MustBeAt(tkey, trev))
	}
	if len(parts) > 0 {
		if _, err := a.store.Txn(ctx, conds, ops); err != nil {
			return err // a conflict: tried again on the next tick
		}
		if err := a.record(ctx, act); err != nil {
			return err
		}
	} else if _, err := a.store.Txn(ctx, conds[:1], ops[:1]); err != nil {
		return err
	}
	if act.StatusCode != autoscalingtypes.ScalingActivityStatusCodeSuccessful {
		return nil
	}
	cluster, service, err := parseResource(s.ServiceNamespace, s.ResourceId, s.ScalableDimension)
	if err != nil {
		return nil
	}
	current, err := a.services.DesiredCount(ctx, cluster, service)
	if err != nil {
		return err
	}
	switch {
	case current < int(min):
		return a.setDesiredOf(ctx, s.ServiceNamespace, s.ResourceId, s.ScalableDimension, cluster, service, current, int(min),
			fmt.Sprintf("minimum capacity was set to %d", min))
	case current > int(max):
		return a.setDesiredOf(ctx, s.ServiceNamespace, s.ResourceId, s.ScalableDimension, cluster, service, current, int(max),
			fmt.Sprintf("maximum capacity was set to %d", max))
	}
	return nil
}
