package tasks

import (
	"strconv"
	"strings"

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
	if t.LastStatus().Terminal() {
		msg = "task stopped"
	}
	m.log.Info(msg, append(taskLogAttrs(t), "lastStatus", t.Task.LastStatus, "stopCode", string(t.Task.StopCode), "reason", t.Task.StoppedReason)...)
}

// taskChange is a task whose last status an agent's report moved.
type taskChange struct {
	from core.TaskStatus // the last status before the report
	task state.Task
}

// logTaskChanges logs, once a report is committed, the task transitions an
// operator follows: a task RUNNING, and a task STOPPED with why.
func (m *Manager) logTaskChanges(changes []taskChange) {
	for _, c := range changes {
		t := c.task
		to := t.LastStatus()
		if to == c.from || (to != core.TaskRunning && to != core.TaskStopped) {
			continue
		}
		attrs := []any{"cluster", t.Cluster, "task", t.ID, "taskDefinition", t.Family + ":" + strconv.Itoa(int(t.Revision)), "instance", t.InstanceID}
		if t.ServiceName != "" {
			attrs = append(attrs, "service", t.ServiceName)
		}
		if to == core.TaskRunning {
			m.log.Info("task running", attrs...)
			continue
		}
		attrs = append(attrs, "stopCode", string(t.Task.StopCode), "reason", t.Task.StoppedReason)
		var ctrs []string // "name exit=N reason"
		for _, ctr := range t.Task.Containers {
			if ctr.ExitCode == nil && ctr.Reason == "" {
				continue
			}
			d := ctr.Name
			if ctr.ExitCode != nil {
				d += " exit=" + strconv.Itoa(int(*ctr.ExitCode))
			}
			if ctr.Reason != "" {
				d += " " + ctr.Reason
			}
			ctrs = append(ctrs, d)
		}
		if len(ctrs) > 0 {
			attrs = append(attrs, "containers", strings.Join(ctrs, "; "))
		}
		m.log.Info("task stopped", attrs...)
	}
}
