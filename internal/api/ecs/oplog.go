package ecs

import (
	"github.com/minato-project/minato/internal/state"
)

// The INFO lines an operator reads to follow services, with the same keys
// everywhere: cluster, service, deployment, taskDefinition (package tasks
// logs the tasks' with the same keys).

func (a *API) logDeploymentStarted(rec state.Service) {
	if len(rec.Service.Deployments) == 0 {
		return
	}
	d := rec.Service.Deployments[0]
	a.log.Info("deployment started", "cluster", rec.Cluster, "service", rec.Name, "deployment", d.Id,
		"taskDefinition", rec.Service.TaskDefinition, "desiredCount", rec.Service.DesiredCount)
}
