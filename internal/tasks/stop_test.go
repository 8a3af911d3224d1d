package tasks

import (
	"errors"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

// launchOne runs one task of a fresh family on instance inst and returns
// its ID.
func (h *harness) launchOne(inst string) string {
	h.t.Helper()
	td := h.addTaskDef("web", 1, 128, 100)
	created, _, err := h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 1, LaunchType: ecstypes.LaunchTypeEc2,
		Group: "family:web", OnlyInstances: []string{inst}})
	if err != nil || len(created) != 1 {
		h.t.Fatalf("Launch: %v %+v", err, created)
	}
	return created[0].ID
}

// report applies a report of one task of instance inst.
func (h *harness) report(inst string, r Report) {
	h.t.Helper()
	if err := h.m.ApplyReports(h.ctx, inst, "c", []Report{r}); err != nil {
		h.t.Fatal(err)
	}
}

// Stop asks the agent (through the instance's index) to stop a task, once:
// a second stop keeps the first stop code and reason. The agent's STOPPED
// report then gives back what the task held.
func TestStopAsksTheAgent(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	id := h.launchOne("i1")
	h.report("i1", Report{TaskID: id, LastStatus: core.TaskRunning})
	h.clock.Advance(time.Minute)
	got, err := h.m.Stop(h.ctx, "c", id, ecstypes.TaskStopCodeUserInitiated, "bye")
	if err != nil || got.Task.DesiredStatus != "STOPPED" || got.Task.LastStatus != "RUNNING" || got.Task.StopCode != ecstypes.TaskStopCodeUserInitiated ||
		got.Task.StoppedReason != "bye" || !got.Task.StoppingAt.Time().Equal(t0.Add(time.Minute)) {
		t.Fatalf("Stop: %v %+v", err, got.Task)
	}
	if e, ok := h.index("i1", id); !ok || e.DesiredStatus != "STOPPED" {
		t.Fatalf("index entry after the stop: %+v %v", e, ok)
	}
	again, err := h.m.Stop(h.ctx, "c", id, ecstypes.TaskStopCodeServiceSchedulerInitiated, "other")
	if err != nil || again.Task.StopCode != ecstypes.TaskStopCodeUserInitiated || again.Task.StoppedReason != "bye" || again.Task.Version != got.Task.Version {
		t.Fatalf("second Stop: %v %+v", err, again.Task)
	}
	h.report("i1", Report{TaskID: id, LastStatus: core.TaskStopped})
	if rec := h.task("c", id).Value; rec.Task.LastStatus != "STOPPED" || !rec.Released {
		t.Fatalf("after the agent's report: %+v", rec)
	}
	if u := h.instance("c", "i1").Used; u.CPU != 0 || u.MemoryMiB != 0 {
		t.Fatalf("used after the stop: %+v", u)
	}
	if _, err := h.m.Stop(h.ctx, "c", "nope", ecstypes.TaskStopCodeUserInitiated, ""); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Fatalf("Stop of a task that does not exist: %v", err)
	}
}

// A task whose instance was deregistered has no agent to stop it: it is
// STOPPED at once and leaves the index.
func TestStopWithoutAnAgent(t *testing.T) {
	h := newHarness(t, nil)
	ci := h.addInstance("c", "i1", 1024, 1024, "zone-a")
	id := h.launchOne("i1")
	ci = h.instance("c", "i1")
	ci.Status = "INACTIVE"
	h.put(state.ContainerInstanceKey("c", "i1"), ci)
	got, err := h.m.Stop(h.ctx, "c", id, ecstypes.TaskStopCodeUserInitiated, "bye")
	if err != nil || got.Task.LastStatus != "STOPPED" || !got.Released || got.Task.StoppedAt.IsZero() || got.Task.ExecutionStoppedAt.IsZero() {
		t.Fatalf("Stop: %v %+v", err, got)
	}
	if _, ok := h.index("i1", id); ok {
		t.Fatal("the stopped task is still in the instance's index")
	}
}

// A RUNNING load balancer target goes through DEACTIVATING: its agent is
// told to keep it running until FinishDeactivation, which the controller
// calls once the load balancer has drained it.
func TestStopServiceTaskDrainsATargetFirst(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	id := h.launchOne("i1")
	if err := h.m.SetTargets(h.ctx, "c", id, []state.TargetRef{{TargetGroupARN: "tg", ID: "mi-i1", Port: 32768}}); err != nil {
		t.Fatal(err)
	}
	// Not RUNNING yet: it stops at once through its agent.
	if deactivating, err := h.m.StopServiceTask(h.ctx, "c", h.launchOne("i1"), "scale in"); err != nil || deactivating {
		t.Fatalf("a PROVISIONING task: deactivating %v, %v", deactivating, err)
	}
	h.report("i1", Report{TaskID: id, LastStatus: core.TaskRunning})
	deactivating, err := h.m.StopServiceTask(h.ctx, "c", id, "scale in")
	if err != nil || !deactivating {
		t.Fatalf("StopServiceTask: deactivating %v, %v", deactivating, err)
	}
	rec := h.task("c", id).Value
	if rec.Task.LastStatus != "DEACTIVATING" || rec.Task.DesiredStatus != "STOPPED" || rec.Task.StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
		!rec.DeactivatingAt.Equal(t0) || AgentDesiredStatus(rec) != core.TaskRunning {
		t.Fatalf("deactivating task: %+v (agent desired %s)", rec.Task, AgentDesiredStatus(rec))
	}
	if e, _ := h.index("i1", id); e.DesiredStatus != "RUNNING" {
		t.Fatalf("the agent was told %q before the drain", e.DesiredStatus)
	}
	if err := h.m.FinishDeactivation(h.ctx, "c", id); err != nil {
		t.Fatal(err)
	}
	rec = h.task("c", id).Value
	if rec.Task.LastStatus != "STOPPING" || !rec.TargetsReleased || HoldsTargets(rec) || AgentDesiredStatus(rec) != core.TaskStopped {
		t.Fatalf("after FinishDeactivation: %+v", rec)
	}
	if e, _ := h.index("i1", id); e.DesiredStatus != "STOPPED" {
		t.Fatalf("index after FinishDeactivation: %+v", e)
	}
	// Again, or of a task that is not DEACTIVATING: nothing changes.
	rev := h.revision()
	if err := h.m.FinishDeactivation(h.ctx, "c", id); err != nil || h.revision() != rev {
		t.Fatalf("a second FinishDeactivation wrote: %v", err)
	}
}

// The controller's marks are written once.
func TestMarks(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	id := h.launchOne("i1")
	refs := []state.TargetRef{{TargetGroupARN: "tg", ID: "mi-i1", Port: 32768}}
	for range 2 {
		for _, mark := range []func() error{
			func() error { return h.m.MarkCounted(h.ctx, "c", id) },
			func() error { return h.m.SetTargets(h.ctx, "c", id, refs) },
			func() error { return h.m.MarkTargetsReleased(h.ctx, "c", id) },
		} {
			if err := mark(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rec := h.task("c", id)
	if !rec.Value.FailureCounted || len(rec.Value.Targets) != 1 || !rec.Value.TargetsReleased {
		t.Fatalf("marks: %+v", rec.Value)
	}
	rev := h.revision()
	if err := h.m.SetTargets(h.ctx, "c", id, append(refs, refs...)); err != nil || h.revision() != rev {
		t.Fatalf("SetTargets over targets wrote: %v", err)
	}
	if err := h.m.MarkCounted(h.ctx, "c", "gone"); err != nil {
		t.Fatalf("a mark of a task that does not exist: %v", err)
	}
}

// A container's dynamic host ports move off busy ones, in the task and
// the instance at once; a task that is not the instance's, that is
// stopping, or has no such container is refused with the matching kind.
func TestMovePorts(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	td := h.addTaskDef("web", 1, 128, 100, ecstypes.PortMapping{ContainerPort: new(int32(80)), HostPort: new(int32(0))})
	created, _, err := h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 1, Group: "family:web", LaunchType: ecstypes.LaunchTypeEc2})
	if err != nil || len(created) != 1 {
		t.Fatalf("Launch: %v", err)
	}
	id, busy := created[0].ID, created[0].HostPorts["app"]
	ports, err := h.m.MovePorts(h.ctx, "i1", id, "app", busy)
	if err != nil || len(ports) != 1 || ports[0] == busy[0] {
		t.Fatalf("MovePorts off %v: %v %v", busy, ports, err)
	}
	rec, inst := h.task("c", id).Value, h.instance("c", "i1")
	if rec.HostPorts["app"][0] != ports[0] || rec.Holds.Ports[0] != ports[0] || len(inst.Used.Ports) != 1 || inst.Used.Ports[0] != ports[0] {
		t.Fatalf("after the move: task %+v %+v, instance used %+v", rec.HostPorts, rec.Holds, inst.Used)
	}
	for _, tc := range []struct {
		inst, task, container string
		kind                  core.Kind
	}{
		{"i2", id, "app", core.KindNotFound},
		{"i1", id, "sidecar", core.KindInvalid},
	} {
		if _, err := h.m.MovePorts(h.ctx, tc.inst, tc.task, tc.container, busy); !core.IsKind(err, tc.kind) {
			t.Errorf("MovePorts(%s, %s): %v, want kind %v", tc.inst, tc.container, err, tc.kind)
		}
	}
	if _, err := h.m.Stop(h.ctx, "c", id, ecstypes.TaskStopCodeUserInitiated, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.MovePorts(h.ctx, "i1", id, "app", ports); !core.IsKind(err, core.KindConflict) {
		t.Errorf("MovePorts of a stopping task: %v", err)
	}
}

// A task's tags are edited under compare-and-swap; an edit that fails
// writes nothing, and a task that does not exist is not found.
func TestEditTags(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	id := h.launchOne("i1")
	add := func(have []ecstypes.Tag) ([]ecstypes.Tag, error) {
		return append(have, ecstypes.Tag{Key: "team", Value: "a"}), nil
	}
	tags, found, err := h.m.EditTags(h.ctx, "c", id, add)
	if err != nil || !found || len(tags) != 1 {
		t.Fatalf("EditTags: %v %v %+v", err, found, tags)
	}
	rev := h.revision()
	boom := errors.New("refused")
	if _, _, err := h.m.EditTags(h.ctx, "c", id, func([]ecstypes.Tag) ([]ecstypes.Tag, error) { return nil, boom }); err != boom || h.revision() != rev {
		t.Fatalf("a failing edit: %v, revision %d after %d", err, h.revision(), rev)
	}
	if tags, found, err := h.m.EditTags(h.ctx, "c", id, nil); err != nil || !found || len(tags) != 1 || tags[0].Value != "a" || h.revision() != rev {
		t.Fatalf("read: %v %v %+v", err, found, tags)
	}
	if got := h.task("c", id).Value.Task.Tags; len(got) != 1 {
		t.Fatalf("stored tags %+v", got)
	}
	if _, found, err := h.m.EditTags(h.ctx, "c", "nope", add); err != nil || found {
		t.Fatalf("a task that does not exist: %v %v", found, err)
	}
}
