package controller

import (
	"encoding/json"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/state"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// input builds the decider's snapshot of a service.
func (c *Services) input(svc state.Service, tasks []state.Task, insts []state.ContainerInstance, now time.Time) reconcile.Input {
	s := svc.Service
	in := reconcile.Input{
		Now: now,
		Config: reconcile.Config{
			Name:         svc.Name,
			DesiredCount: int(s.DesiredCount),
			Daemon:       s.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon,
			StablePeriod: c.StablePeriod,
		},
		LastCompleted:       svc.LastCompleted,
		ConsecutiveFailures: svc.ConsecutiveFailures,
		NextLaunchAt:        svc.NextLaunchAt,
		Steady:              svc.Steady,
		NewDeploymentID:     newDeploymentID(c.IDs),
	}
	if dc := s.DeploymentConfiguration; dc != nil {
		if dc.MaximumPercent != nil {
			in.Config.MaximumPercent = int(*dc.MaximumPercent)
		}
		if dc.MinimumHealthyPercent != nil {
			in.Config.MinimumHealthyPercent = int(*dc.MinimumHealthyPercent)
		}
		if cb := dc.DeploymentCircuitBreaker; cb != nil {
			in.Config.CircuitBreaker, in.Config.Rollback = cb.Enable, cb.Rollback
			in.Config.KeepFailureCount = cb.ResetOnHealthyTask != nil && !*cb.ResetOnHealthyTask
			if tc := cb.ThresholdConfiguration; tc != nil {
				in.Config.ThresholdType, in.Config.ThresholdValue = string(tc.Type), int(tc.Value)
			}
		}
	}
	if in.Config.MaximumPercent == 0 {
		in.Config.MaximumPercent = 200
		if in.Config.Daemon {
			in.Config.MaximumPercent = 100
		}
	}
	if s.DeploymentConfiguration == nil || s.DeploymentConfiguration.MinimumHealthyPercent == nil {
		in.Config.MinimumHealthyPercent = 100
		if in.Config.Daemon {
			in.Config.MinimumHealthyPercent = 0
		}
	}
	if g := s.HealthCheckGracePeriodSeconds; g != nil {
		in.Config.HealthCheckGracePeriod = time.Duration(*g) * time.Second
	}
	for _, d := range s.Deployments {
		in.Deployments = append(in.Deployments, reconcile.Deployment{
			ID: d.Id, TaskDefinition: d.TaskDefinition, Status: d.Status,
			RolloutState: string(d.RolloutState), RolloutReason: d.RolloutStateReason,
			FailedTasks: int(d.FailedTasks), CreatedAt: d.CreatedAt.Time(), UpdatedAt: d.UpdatedAt.Time(),
			Rollback: reconcile.IsRollbackReason(d.RolloutStateReason),
		})
	}
	draining := map[string]bool{}
	for _, i := range insts {
		draining[i.ID] = i.Status == state.InstanceDraining
		if in.Config.Daemon {
			active := i.Status == state.InstanceActive && c.Connected(i.ID)
			in.Instances = append(in.Instances, reconcile.Instance{ID: i.ID, Active: active, Draining: i.Status == state.InstanceDraining})
		}
	}
	for _, t := range tasks {
		in.Tasks = append(in.Tasks, taskOf(t, draining))
	}
	return in
}

func taskOf(t state.Task, draining map[string]bool) reconcile.Task {
	rt := reconcile.Task{
		ID:             t.ID,
		DeploymentID:   t.DeploymentID,
		InstanceID:     t.InstanceID,
		LastStatus:     t.LastStatus(),
		DesiredStatus:  t.DesiredStatus(),
		Health:         string(t.Task.HealthStatus),
		StartedAt:      t.Task.StartedAt.Time(),
		StoppedAt:      t.Task.StoppedAt.Time(),
		StopCode:       string(t.Task.StopCode),
		ReachedRunning: !t.Task.StartedAt.IsZero(),
		FailureCounted: t.FailureCounted,
		HealthSeen:     t.HealthSeen,
	}
	rt.OnDrainingInstance = draining[t.InstanceID]
	rt.HealthChecked = t.HealthChecked
	return rt
}

// newDeploymentID makes an ID like ECS's: "ecs-svc/" and 19 digits.
func newDeploymentID(ids interface{ NewID() string }) string {
	h := ids.NewID()
	digits := make([]byte, 19)
	for i := range digits {
		digits[i] = '0' + h[i]%10
	}
	if digits[0] == '0' {
		digits[0] = '1'
	}
	return "ecs-svc/" + string(digits)
}
