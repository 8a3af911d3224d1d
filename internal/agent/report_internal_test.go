package agent

import (
	"testing"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

func newTestAgent() *Agent {
	return &Agent{runners: map[string]*runner{}, sent: map[string]agentproto.TaskReport{},
		pending: map[string]agentproto.TaskReport{}, kick: make(chan struct{}, 1)}
}

func drained(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A report equal to the last one queued is not queued again; a changed one
// is, and so is every task's newest report on resendAll.
func TestSubmitOnlyChanges(t *testing.T) {
	a := newTestAgent()
	rep := agentproto.TaskReport{TaskID: "t1", LastStatus: core.TaskRunning, HealthStatus: ecstypes.HealthStatusHealthy,
		Containers: []agentproto.ContainerReport{{Name: "app", LastStatus: core.TaskRunning, ExitCode: new(int32(0))}}}
	a.submit(rep)
	if len(a.pending) != 1 || !drained(a.kick) {
		t.Fatal("the first report was not queued")
	}
	delete(a.pending, "t1") // accepted
	same := rep
	same.Containers = []agentproto.ContainerReport{{Name: "app", LastStatus: core.TaskRunning, ExitCode: new(int32(0))}}
	a.submit(same)
	if len(a.pending) != 0 || drained(a.kick) {
		t.Fatal("an unchanged report was queued again")
	}
	sick := rep
	sick.HealthStatus = ecstypes.HealthStatusUnhealthy
	a.submit(sick)
	if got := a.pending["t1"]; got.HealthStatus != ecstypes.HealthStatusUnhealthy || !drained(a.kick) {
		t.Fatalf("a health change was not queued: %+v", a.pending)
	}
	delete(a.pending, "t1")
	a.submit(agentproto.TaskReport{TaskID: "t2", LastStatus: core.TaskPending})
	delete(a.pending, "t2")
	drained(a.kick)

	a.resendAll()
	if len(a.pending) != 2 || a.pending["t1"].HealthStatus != ecstypes.HealthStatusUnhealthy || a.pending["t2"].LastStatus != core.TaskPending || !drained(a.kick) {
		t.Fatalf("resendAll queued %+v", a.pending)
	}
}

// A poll answer wakes a runner only when its assignment changed in more
// than the last status the control plane holds.
func TestUpdateWakesOnlyOnChange(t *testing.T) {
	a := newTestAgent()
	asg := agentproto.Assignment{TaskID: "t1", DesiredStatus: core.TaskRunning, LastStatus: core.TaskPending,
		Definition: ecstypes.TaskDefinition{Family: "web", ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1"}}}}
	r := newRunner(a, asg)

	again := asg
	again.LastStatus = core.TaskRunning
	again.Definition.ContainerDefinitions = []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1"}} // decoded anew
	r.update(again)
	if drained(r.wake) {
		t.Fatal("an unchanged assignment woke the runner")
	}
	if r.assignment().LastStatus != core.TaskRunning {
		t.Fatal("the newer assignment was not kept")
	}

	stop := again
	stop.DesiredStatus, stop.StopCode, stop.StoppedReason = core.TaskStopped, ecstypes.TaskStopCodeUserInitiated, "bye"
	r.update(stop)
	if !drained(r.wake) {
		t.Fatal("a stop did not wake the runner")
	}
	if got := r.assignment(); got.DesiredStatus != core.TaskStopped || got.StoppedReason != "bye" {
		t.Fatalf("assignment after the stop: %+v", got)
	}
}
