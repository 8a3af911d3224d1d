package ecs

import (
	"strconv"

	"github.com/minato-project/minato/internal/state"
)

// The INFO lines an operator reads to follow tasks and services, with the
// same keys everywhere: cluster, service, task, taskDefinition, instance,
// deployment, stopCode, reason.

func taskLogAttrs(t state.Task) []any {
	attrs := []any{"cluster", t.Cluster, "task", t.ID, "taskDefinition", t.Family + ":" + strconv.Itoa(int(t.Revision)), "instance", t.InstanceID}
	if t.ServiceName != "" {
		attrs = append(attrs, "service", t.ServiceName, "deployment", t.DeploymentID)
	}
	return attrs
}

func (a *API) logTaskPlaced(t state.Task) {
	a.log.Info("task placed", taskLogAttrs(t)...)
}

// logTaskStopping logs a task the API asked to stop; one that stopped at
// once (its instance is gone) is logged STOPPED.
func (a *API) logTaskStopping(t state.Task) {
	msg := "task stopping"
	if t.Task.LastStatus == "STOPPED" {
		msg = "task stopped"
	}
	a.log.Info(msg, append(taskLogAttrs(t), "lastStatus", t.Task.LastStatus, "stopCode", string(t.Task.StopCode), "reason", t.Task.StoppedReason)...)
}

func (a *API) logDeploymentStarted(rec state.Service) {
	if len(rec.Service.Deployments) == 0 {
		return
	}
	d := rec.Service.Deployments[0]
	a.log.Info("deployment started", "cluster", rec.Cluster, "service", rec.Name, "deployment", d.Id,
		"taskDefinition", rec.Service.TaskDefinition, "desiredCount", rec.Service.DesiredCount)
}
