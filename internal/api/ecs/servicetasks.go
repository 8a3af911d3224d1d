package ecs

import (
	"context"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
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
