package tasks

import (
	"slices"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

func newTask() state.Task {
	return state.Task{ID: "t1", Task: ecstypes.Task{
		LastStatus: "PROVISIONING", DesiredStatus: "RUNNING", Version: 1,
		Containers: []ecstypes.Container{{Name: "app", LastStatus: "PENDING"}},
	}}
}

func TestApplyMovesForwardOnly(t *testing.T) {
	now := time.Unix(1700000000, 0)
	task := newTask()
	steps := []struct {
		report  Report
		changed bool
		want    string
	}{
		{Report{LastStatus: core.TaskPending, PullStartedAt: now}, true, "PENDING"},
		{Report{LastStatus: core.TaskPending, PullStartedAt: now}, false, "PENDING"}, // repeated
		{Report{LastStatus: core.TaskRunning, StartedAt: now, Containers: []ContainerReport{{Name: "app", LastStatus: core.TaskRunning, RuntimeID: "c1"}}}, true, "RUNNING"},
		{Report{LastStatus: core.TaskPending}, false, "RUNNING"}, // late, reordered
		{Report{LastStatus: core.ParseTaskStatus("BOGUS")}, false, "RUNNING"},
		{Report{LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeEssentialContainerExited, StoppedReason: "Essential container in task exited",
			Containers: []ContainerReport{{Name: "app", LastStatus: core.TaskStopped, ExitCode: new(int32(3))}}}, true, "STOPPED"},
		{Report{LastStatus: core.TaskStopped, StopCode: ecstypes.TaskStopCodeUserInitiated}, false, "STOPPED"}, // final
	}
	for i, s := range steps {
		v := task.Task.Version
		if got := Apply(&task, s.report, now); got != s.changed {
			t.Fatalf("step %d: changed = %v, want %v", i, got, s.changed)
		}
		if task.Task.LastStatus != s.want {
			t.Fatalf("step %d: status %s, want %s", i, task.Task.LastStatus, s.want)
		}
		if s.changed != (task.Task.Version == v+1) {
			t.Fatalf("step %d: version %d after %d, changed=%v", i, task.Task.Version, v, s.changed)
		}
	}
	tk := task.Task
	if tk.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || tk.DesiredStatus != "STOPPED" ||
		tk.StoppedAt.IsZero() || tk.StoppingAt.IsZero() || tk.ExecutionStoppedAt.IsZero() || tk.PullStartedAt.IsZero() || tk.StartedAt.IsZero() {
		t.Fatalf("stopped task: %+v", tk)
	}
	if c := tk.Containers[0]; c.LastStatus != "STOPPED" || *c.ExitCode != 3 || c.RuntimeId != "c1" {
		t.Fatalf("container: %+v", c)
	}
}

// The agent's report attaches an awsvpc task's interface with its address;
// the subnet stays the one the caller named (the agent's subnet CIDR is
// no subnet ID).
func TestApplyAwsvpcDetails(t *testing.T) {
	task := newTask()
	task.Task.Attachments = []ecstypes.Attachment{{Id: "att-1", Type: "ElasticNetworkInterface", Status: "PRECREATED",
		Details: []ecstypes.KeyValuePair{{Name: "subnetId", Value: "subnet-local"}}}}
	Apply(&task, Report{LastStatus: core.TaskPending, PrivateIPv4: "172.30.0.5", MACAddress: "02:42:ac:1e:00:05", SubnetCIDR: "172.30.0.0/16"}, time.Now())
	a := task.Task.Attachments[0]
	if a.Status != "ATTACHED" || !slices.Contains(a.Details, ecstypes.KeyValuePair{Name: "privateIPv4Address", Value: "172.30.0.5"}) ||
		!slices.Contains(a.Details, ecstypes.KeyValuePair{Name: "subnetId", Value: "subnet-local"}) {
		t.Fatalf("attachment: %+v", a)
	}
	if ni := task.Task.Containers[0].NetworkInterfaces; len(ni) != 1 || ni[0].PrivateIpv4Address != "172.30.0.5" || ni[0].AttachmentId != "att-1" {
		t.Fatalf("networkInterfaces: %+v", ni)
	}
}

// Apply never writes into the slices a task shares with where it was read
// from (the cluster view): what it changes, it copies.
func TestApplyCopiesSharedSlices(t *testing.T) {
	shared := newTask()
	shared.Task.Attachments = []ecstypes.Attachment{{Id: "att-1", Type: "ElasticNetworkInterface", Status: "PRECREATED",
		Details: []ecstypes.KeyValuePair{{Name: "macAddress", Value: "old"}}}}
	task := shared // a shallow copy, as clusterview.View.Task returns
	now := time.Unix(1700000000, 0)
	if !Apply(&task, Report{LastStatus: core.TaskRunning, PrivateIPv4: "172.30.0.5", MACAddress: "new", HealthStatus: ecstypes.HealthStatusHealthy,
		Containers: []ContainerReport{{Name: "app", LastStatus: core.TaskRunning, RuntimeID: "c1", ExitCode: new(int32(0)),
			NetworkBindings: []ecstypes.NetworkBinding{{BindIP: "0.0.0.0", HostPort: new(int32(49153))}}}}}, now) {
		t.Fatal("no change")
	}
	if c := shared.Task.Containers[0]; c.LastStatus != "PENDING" || c.RuntimeId != "" || c.NetworkBindings != nil || c.NetworkInterfaces != nil {
		t.Fatalf("Apply wrote into the shared containers: %+v", c)
	}
	if a := shared.Task.Attachments[0]; a.Status != "PRECREATED" || len(a.Details) != 1 || a.Details[0].Value != "old" {
		t.Fatalf("Apply wrote into the shared attachments: %+v", a)
	}
	if c := task.Task.Containers[0]; c.LastStatus != "RUNNING" || c.RuntimeId != "c1" || len(c.NetworkBindings) != 1 || len(c.NetworkInterfaces) != 1 {
		t.Fatalf("applied container: %+v", c)
	}
	if a := task.Task.Attachments[0]; a.Status != "ATTACHED" || !slices.Contains(a.Details, ecstypes.KeyValuePair{Name: "macAddress", Value: "new"}) {
		t.Fatalf("applied attachment: %+v", a)
	}
}

// A change of health alone is a change; the same health again is not.
func TestApplyHealthChange(t *testing.T) {
	task := newTask()
	now := time.Unix(1700000000, 0)
	rep := func(h ecstypes.HealthStatus) Report {
		return Report{LastStatus: core.TaskRunning, HealthStatus: h,
			Containers: []ContainerReport{{Name: "app", LastStatus: core.TaskRunning, HealthStatus: h}}}
	}
	for i, s := range []struct {
		h       ecstypes.HealthStatus
		changed bool
	}{{ecstypes.HealthStatusHealthy, true}, {ecstypes.HealthStatusHealthy, false}, {ecstypes.HealthStatusUnhealthy, true}, {ecstypes.HealthStatusUnhealthy, false}} {
		if got := Apply(&task, rep(s.h), now); got != s.changed {
			t.Fatalf("step %d (%s): changed = %v, want %v", i, s.h, got, s.changed)
		}
		if task.Task.HealthStatus != s.h || task.Task.Containers[0].HealthStatus != s.h {
			t.Fatalf("step %d: health %s/%s", i, task.Task.HealthStatus, task.Task.Containers[0].HealthStatus)
		}
	}
}
