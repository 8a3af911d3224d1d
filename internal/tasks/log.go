package tasks

import (
	"strconv"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/state"
)

// The INFO lines an operator reads to follow tasks, with the same keys
// everywhere: cluster, service, task, taskDefinition, instance,
// deployment, stopCode, reason.

func taskLogAttrs(t state.Task) []any {
	attrs := []any{"cluster", t.Cluster, "task", t.ID, "taskDefinition", t.Family + ":" + strconv.Itoa(int(t.Revision)), "instance", t.InstanceID}
	if t.ServiceName != "" {
		attrs = append(attrs, "service", t.ServiceName, "deployment", t.DeploymentID)
	}
	return attrs
}

func (m *Manager) logTaskPlaced(t state.Task) {
	m.log.Info("task placed", taskLogAttrs(t)...)
}

// logTaskStopping logs a task asked to stop; one that stopped at once
// (its instance is gone) is logged STOPPED.
func (m *Manager) logTaskStopping(t state.Task) {
	msg := "task stopping"
	if core.ParseTaskStatus(t.Task.LastStatus).Terminal() {
		msg = "task stopped"
	}
	m.log.Info(msg, append(taskLogAttrs(t), "lastStatus", t.Task.LastStatus, "stopCode", string(t.Task.StopCode), "reason", t.Task.StoppedReason)...)
}
