package controller

import (
	"log/slog"

	"github.com/minato-project/minato/internal/reconcile"
)

// logLine is an INFO line about a service that commit logs once the
// decision is stored, with the keys every such line uses (cluster,
// service, deployment, taskDefinition).
type logLine struct {
	msg   string
	attrs []any
}

// deploymentChange returns the line a deployment's move deserves: a
// rollback created, or a rollout that completed or failed.
func deploymentChange(r serviceRef, d reconcile.Deployment, created bool, oldRollout string) (logLine, bool) {
	attrs := []any{"cluster", r.cluster, "service", r.name, "deployment", d.ID, "taskDefinition", d.TaskDefinition}
	switch {
	case created && d.RollbackFrom != "":
		return logLine{"deployment rolled back", append(attrs, "failedDeployment", d.RollbackFrom)}, true
	case created || d.RolloutState == oldRollout:
		return logLine{}, false
	case d.RolloutState == reconcile.RolloutCompleted:
		return logLine{"deployment completed", attrs}, true
	case d.RolloutState == reconcile.RolloutFailed:
		return logLine{"deployment failed", append(attrs, "failedTasks", d.FailedTasks, "reason", d.RolloutReason)}, true
	}
	return logLine{}, false
}

func logAll(log *slog.Logger, lines []logLine) {
	for _, l := range lines {
		log.Info(l.msg, l.attrs...)
	}
}
