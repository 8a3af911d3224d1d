package ecs

import (
	"context"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// What the service controller asks of the task machinery.

// ServiceLaunch asks for tasks of one deployment of a service.
type ServiceLaunch struct {
	Service      state.Service
	DeploymentID string
	// TaskDefinition is "family:revision".
	TaskDefinition string
	Count          int
	// InstanceID restricts placement to one instance (DAEMON).
	InstanceID string
}

// LaunchServiceTasks places and creates tasks for a service deployment, as
// RunTask does, with the service's placement, network configuration and
// tags. Tasks that cannot be placed are described by the result.
func (a *API) LaunchServiceTasks(ctx context.Context, l ServiceLaunch) ([]state.Task, scheduler.Result, error) {
	family, rev, ok := splitFamilyRevision(l.TaskDefinition)
	if !ok || rev == 0 {
		return nil, scheduler.Result{}, invalidParam("invalid task definition %q", l.TaskDefinition)
	}
	td, err := state.Get[state.TaskDef](ctx, a.store, state.TaskDefKey(family, rev))
	if err != nil {
		return nil, scheduler.Result{}, err
	}
	svc := l.Service.Service
	var tags []ecstypes.Tag
	switch svc.PropagateTags {
	case ecstypes.PropagateTagsService:
		tags = svc.Tags
	case ecstypes.PropagateTagsTaskDefinition:
		tags = td.Value.Tags
	}
	strategies := svc.PlacementStrategy
	if len(strategies) == 0 && svc.SchedulingStrategy != ecstypes.SchedulingStrategyDaemon {
		strategies = scheduler.ServiceDefaultStrategies()
	}
	if len(strategies) == 0 {
		strategies = []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeRandom}}
	}
	lch := launch{
		cluster:    l.Service.Cluster,
		td:         td.Value.TaskDefinition,
		count:      l.Count,
		launchType: launchTypeOf(svc.LaunchType, svc.CapacityProviderStrategy),
		network:    svc.NetworkConfiguration,
		group:      "service:" + l.Service.Name,
		startedBy:  l.DeploymentID,
		tags:       tags,
		execCmd:    svc.EnableExecuteCommand,
		service:    l.Service.Name,
		deployment: l.DeploymentID,
		strategies: strategies,
		constrs:    svc.PlacementConstraints,
	}
	if l.InstanceID != "" {
		lch.onlyInstances = []string{l.InstanceID}
	}
	return a.placeResult(ctx, arn.Scope{Region: a.region, AccountID: a.accountID()}, lch)
}

// StopServiceTask asks a service's task to stop, as the service scheduler
// does (stopCode ServiceSchedulerInitiated).
func (a *API) StopServiceTask(ctx context.Context, cluster, taskID, reason string) error {
	_, err := a.stopTask(ctx, cluster, taskID, ecstypes.TaskStopCodeServiceSchedulerInitiated, reason)
	return err
}

// DeactivateServiceTask stops a service task as StopServiceTask does and
// reports whether it is now DEACTIVATING: a RUNNING load balancer target
// is not handed to its agent to stop until FinishDeactivation, so that the
// load balancer can drain it first, as ECS does.
func (a *API) DeactivateServiceTask(ctx context.Context, cluster, taskID, reason string) (bool, error) {
	t, err := a.stopTask(ctx, cluster, taskID, ecstypes.TaskStopCodeServiceSchedulerInitiated, reason)
	return t.Task.LastStatus == "DEACTIVATING", err
}

// FinishDeactivation tells the agent of a DEACTIVATING task to stop it
// (lastStatus STOPPING) once the load balancer has drained it.
func (a *API) FinishDeactivation(ctx context.Context, cluster, taskID string) error {
	return store.RetryConflicts(ctx, func() error {
		it, err := state.Get[state.Task](ctx, a.store, state.TaskKey(cluster, taskID))
		if state.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		t := it.Value
		if t.Task.LastStatus != "DEACTIVATING" {
			return nil
		}
		t.Task.LastStatus = "STOPPING"
		t.TargetsReleased = true // the caller deregistered them
		t.Task.Version++
		ops, err := a.stopOps(ctx, cluster, &t)
		if err != nil {
			return err
		}
		b, err := state.Encode(t)
		if err != nil {
			return err
		}
		ops = append(ops, store.Put(it.Key, b))
		_, err = a.store.Txn(ctx, []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}, ops)
		return err
	})
}
