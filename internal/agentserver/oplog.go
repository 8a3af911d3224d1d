package agentserver

import (
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/state"
)

// taskChange is a task whose last status an agent's report moved.
type taskChange struct {
	from string // the last status before the report
	task state.Task
}

// logTaskChanges logs, once a report is committed, the task transitions an
// operator follows: a task RUNNING, and a task STOPPED with why.
func (s *Server) logTaskChanges(changes []taskChange) {
	for _, c := range changes {
		t := c.task
		to := t.Task.LastStatus
		if to == c.from || (to != "RUNNING" && to != "STOPPED") {
			continue
		}
		attrs := []any{"cluster", t.Cluster, "task", t.ID, "taskDefinition", t.Family + ":" + strconv.Itoa(int(t.Revision)), "instance", t.InstanceID}
		if t.ServiceName != "" {
			attrs = append(attrs, "service", t.ServiceName)
		}
		if to == "RUNNING" {
			s.log.Info("task running", attrs...)
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
		s.log.Info("task stopped", attrs...)
	}
}
