package tasks

import (
	"context"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/taskdef"
)

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

// LaunchService places and creates tasks for a service deployment, as
// Launch does, with the service's placement, network configuration and
// tags (propagateTags). Tasks that cannot be placed are described by the
// result.
func (m *Manager) LaunchService(ctx context.Context, l ServiceLaunch) ([]state.Task, scheduler.Result, error) {
	family, rev, ok := taskdef.SplitFamilyRevision(l.TaskDefinition)
	if !ok || rev == 0 {
		return nil, scheduler.Result{}, invalidParam("invalid task definition %q", l.TaskDefinition)
	}
	td, err := state.Get[state.TaskDef](ctx, m.store, state.TaskDefKey(family, rev))
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
	lch := Launch{
		Cluster:        l.Service.Cluster,
		TaskDefinition: td.Value.TaskDefinition,
		Count:          l.Count,
		LaunchType:     LaunchTypeOf(svc.LaunchType, svc.CapacityProviderStrategy),
		Network:        svc.NetworkConfiguration,
		Group:          "service:" + l.Service.Name,
		StartedBy:      l.DeploymentID,
		Tags:           tags,
		ExecuteCommand: svc.EnableExecuteCommand,
		Service:        l.Service.Name,
		Deployment:     l.DeploymentID,
		Strategies:     strategies,
		Constraints:    svc.PlacementConstraints,
	}
	if l.InstanceID != "" {
		lch.OnlyInstances = []string{l.InstanceID}
	}
	if lch.LaunchType == ecstypes.LaunchTypeFargate {
		lch.PlatformVersion = svc.PlatformVersion
		if len(svc.CapacityProviderStrategy) > 0 {
			// The strategy's bases and weights count the service's tasks
			// that are not STOPPED.
			lch.CapacityProviderStrategy = svc.CapacityProviderStrategy
			lch.ProviderTasks = map[string]int{}
			if err := m.view.Sync(ctx); err != nil { // count the caller's own launches
				return nil, scheduler.Result{}, err
			}
			for _, t := range m.view.ServiceTasks(l.Service.Cluster, l.Service.Name, m.clock.Now()) {
				if !t.LastStatus().Terminal() && t.DesiredStatus() != core.TaskStopped {
					lch.ProviderTasks[t.Task.CapacityProviderName]++
				}
			}
		}
	}
	return m.Launch(ctx, lch)
}
