package tasks

import (
	"testing"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

// addPoolHost registers a host of the Fargate pool in cluster c.
func (h *harness) addPoolHost(c, id string, cpu, mem int, az string) {
	h.t.Helper()
	ci := h.addInstance(c, id, cpu, mem, az)
	ci.Fargate = true
	h.put(state.ContainerInstanceKey(c, id), ci)
}

// fargateTaskDef stores seed 000's task definition: awsvpc, FARGATE, 256
// CPU units and 512 MiB at the task level.
func (h *harness) fargateTaskDef() ecstypes.TaskDefinition {
	h.t.Helper()
	td := ecstypes.TaskDefinition{Family: "my-task", Revision: 1, NetworkMode: ecstypes.NetworkModeAwsvpc, Status: "ACTIVE",
		Cpu: "256", Memory: "512", Compatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityEc2, ecstypes.CompatibilityFargate},
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ContainerDefinitions:    []ecstypes.ContainerDefinition{{Name: "my-container", Image: "app:1"}}}
	h.put(state.TaskDefKey("my-task", 1), state.TaskDef{TaskDefinition: td})
	return td
}

func fargateLaunch(td ecstypes.TaskDefinition, count int) Launch {
	return Launch{Cluster: "my-cluster", TaskDefinition: td, Count: count, LaunchType: ecstypes.LaunchTypeFargate, Group: "family:my-task",
		Network: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-local"}}}}
}

// A FARGATE launch in a cluster without container instances runs on the
// pool host of another cluster: the task belongs to its own cluster,
// remembers its host's cluster, holds its cpu overcommitted and its memory
// in full there, and takes the host's zone. An EC2 launch in the same
// cluster still finds no container instance.
func TestLaunchFargateOnThePool(t *testing.T) {
	h := newHarness(t, nil)
	h.addPoolHost("default", "h1", 2048, 8192, "local-1a")
	h.addInstance("default", "ec2-only", 1<<20, 1<<20, "local-1b")
	td := h.fargateTaskDef()
	created, res, err := h.m.Launch(h.ctx, fargateLaunch(td, 10))
	if err != nil || len(created) != 10 || res.Unplaced != 0 {
		t.Fatalf("ten seed 000 tasks on a two-core pool host: %v, %d created, %+v", err, len(created), res)
	}
	for _, c := range created {
		got := h.task("my-cluster", c.ID).Value
		tk := got.Task
		if got.InstanceID != "h1" || got.HostCluster != "default" || got.InstanceCluster() != "default" || !got.OnPool() ||
			got.Holds.CPU != 64 || got.Holds.MemoryMiB != 512 || tk.LaunchType != ecstypes.LaunchTypeFargate ||
			tk.PlatformVersion != "1.4.0" || tk.PlatformFamily != "Linux" || tk.AvailabilityZone != "local-1a" ||
			tk.Cpu != "256" || tk.Memory != "512" || tk.CapacityProviderName != "" {
			t.Fatalf("pool task: %+v", got)
		}
		if e, ok := h.index("h1", got.ID); !ok || e.Cluster != "my-cluster" {
			t.Fatalf("index entry of %s on h1: %+v %v", got.ID, e, ok)
		}
	}
	if u := h.instance("default", "h1").Used; u.CPU != 640 || u.MemoryMiB != 5120 {
		t.Fatalf("pool host used %+v, want 640 CPU units (10 × 256/4) and 5120 MiB", u)
	}
	if _, _, err := h.m.Launch(h.ctx, Launch{Cluster: "my-cluster", TaskDefinition: h.addTaskDef("web", 1, 128, 64), Count: 1,
		LaunchType: ecstypes.LaunchTypeEc2, Group: "family:web"}); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Fatalf("EC2 task in a cluster without instances: %v", err)
	}
	// The view lists the tasks in their cluster, not in the host's.
	if err := h.view.Sync(h.ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ := h.view.ListTasks("my-cluster", clusterview.TaskFilter{}, "", 0); len(ids) != 10 {
		t.Fatalf("my-cluster lists %d tasks", len(ids))
	}
	if ids, _ := h.view.ListTasks("default", clusterview.TaskFilter{}, "", 0); len(ids) != 0 {
		t.Fatalf("default lists %d tasks of my-cluster", len(ids))
	}
	if ids, _ := h.view.ListTasks("default", clusterview.TaskFilter{InstanceID: "h1"}, "", 0); len(ids) != 0 {
		t.Fatalf("default lists %d tasks of my-cluster on its instance", len(ids))
	}
	if n := h.view.InstanceTasks("default", "h1"); n.Pending != 10 {
		t.Fatalf("the host counts %+v of the tasks it runs", n)
	}
}

// A full pool is ECS's capacity shortage, never "No Container Instances",
// for RunTask and services alike.
func TestLaunchFargateCapacityShortage(t *testing.T) {
	h := newHarness(t, nil)
	td := h.fargateTaskDef()
	created, res, err := h.m.Launch(h.ctx, fargateLaunch(td, 2))
	if err != nil || len(created) != 0 || res.Unplaced != 2 || len(res.Failures) != 1 || res.Failures[0].Reason != scheduler.ReasonCapacity {
		t.Fatalf("no pool: %v, %d created, %+v", err, len(created), res)
	}
	h.addPoolHost("default", "h1", 128, 8192, "local-1a")
	created, res, err = h.m.Launch(h.ctx, fargateLaunch(td, 3))
	if err != nil || len(created) != 2 || res.Unplaced != 1 || res.Failures[0].Reason != scheduler.ReasonCapacity || res.Failures[0].Arn != "" {
		t.Fatalf("room for two: %v, %d created, %+v", err, len(created), res)
	}
}

// The agent of the pool host reports its tasks of another cluster: the
// report names the task's cluster, and what a STOPPED task held goes back
// to the host in its own cluster. Stops reach the agent through the host's
// index.
func TestPoolTaskReportsAndStops(t *testing.T) {
	h := newHarness(t, nil)
	h.addPoolHost("default", "h1", 2048, 8192, "local-1a")
	created, _, err := h.m.Launch(h.ctx, fargateLaunch(h.fargateTaskDef(), 2))
	if err != nil || len(created) != 2 {
		t.Fatal(err, created)
	}
	a, b := created[0].ID, created[1].ID
	ip := Report{TaskID: a, Cluster: "my-cluster", LastStatus: core.TaskRunning, PrivateIPv4: "172.30.0.9",
		Containers: []ContainerReport{{Name: "my-container", LastStatus: core.TaskRunning}}}
	if err := h.m.ApplyReports(h.ctx, "h1", "default", []Report{ip}); err != nil {
		t.Fatal(err)
	}
	if tk := h.task("my-cluster", a).Value.Task; tk.LastStatus != "RUNNING" || tk.Containers[0].NetworkInterfaces[0].PrivateIpv4Address != "172.30.0.9" {
		t.Fatalf("after the RUNNING report: %+v", tk)
	}
	// An older agent names no cluster: the host's index finds the task.
	if err := h.m.ApplyReports(h.ctx, "h1", "", []Report{{TaskID: b, LastStatus: core.TaskRunning}}); err != nil {
		t.Fatal(err)
	}
	if tk := h.task("my-cluster", b).Value.Task; tk.LastStatus != "RUNNING" {
		t.Fatalf("a report without the task's cluster: %+v", tk)
	}
	got, err := h.m.Stop(h.ctx, "my-cluster", a, ecstypes.TaskStopCodeUserInitiated, "bye")
	if err != nil || got.Task.LastStatus != "RUNNING" || got.Task.DesiredStatus != "STOPPED" {
		t.Fatalf("Stop: %v %+v (the host is ACTIVE: its agent stops the task)", err, got.Task)
	}
	if e, ok := h.index("h1", a); !ok || e.DesiredStatus != "STOPPED" || e.Cluster != "my-cluster" {
		t.Fatalf("index entry after the stop: %+v %v", e, ok)
	}
	if err := h.m.ApplyReports(h.ctx, "h1", "default", []Report{{TaskID: a, Cluster: "my-cluster", LastStatus: core.TaskStopped}}); err != nil {
		t.Fatal(err)
	}
	if rec := h.task("my-cluster", a).Value; !rec.Released || rec.Task.LastStatus != "STOPPED" {
		t.Fatalf("after the STOPPED report: %+v", rec)
	}
	if u := h.instance("default", "h1").Used; u.CPU != 64 || u.MemoryMiB != 512 {
		t.Fatalf("host used after one of two tasks stopped: %+v", u)
	}
	if _, ok := h.index("h1", a); ok {
		t.Fatal("the stopped task is still in the host's index")
	}
}

// A pool task whose host is lost is STOPPED at once, gives back what it
// held, and leaves the host's index; an EC2 task is left to its agent.
func TestStopOnLostHost(t *testing.T) {
	h := newHarness(t, nil)
	h.addPoolHost("c", "h1", 2048, 8192, "local-1a")
	created, _, err := h.m.Launch(h.ctx, fargateLaunch(h.fargateTaskDef(), 1))
	if err != nil || len(created) != 1 {
		t.Fatal(err, created)
	}
	id := created[0].ID
	ec2 := h.launchOne("h1") // an EC2 task of c, the host's own cluster
	h.clock.Advance(time.Minute)
	if err := h.m.StopOnLostHost(h.ctx, "my-cluster", id, "host lost"); err != nil {
		t.Fatal(err)
	}
	rec := h.task("my-cluster", id).Value
	tk := rec.Task
	if tk.LastStatus != "STOPPED" || tk.DesiredStatus != "STOPPED" || tk.StopCode != ecstypes.TaskStopCodeInfrastructureHealth ||
		tk.StoppedReason != "host lost" || !tk.StoppedAt.Time().Equal(t0.Add(time.Minute)) || !rec.Released || tk.Containers[0].LastStatus != "STOPPED" {
		t.Fatalf("lost task: %+v", rec)
	}
	if _, ok := h.index("h1", id); ok {
		t.Fatal("the lost task is still in the host's index")
	}
	if u := h.instance("c", "h1").Used; u.CPU != 128 || u.MemoryMiB != 100 {
		t.Fatalf("host used %+v: only the EC2 task's 128/100 should be held", u)
	}
	// Again: nothing changes. An EC2 task (of c) is not the pool's.
	rev := h.revision()
	if err := h.m.StopOnLostHost(h.ctx, "my-cluster", id, "again"); err != nil || h.revision() != rev {
		t.Fatalf("second StopOnLostHost: %v, revision %d -> %d", err, rev, h.revision())
	}
	if err := h.m.StopOnLostHost(h.ctx, "c", ec2, "no"); err != nil || h.task("c", ec2).Value.Task.DesiredStatus != "RUNNING" {
		t.Fatalf("an EC2 task was stopped as a pool task: %v", err)
	}
}

// A service's FARGATE_SPOT strategy names each task's capacity provider,
// counting the service's tasks already running; its platform version is
// the service's, LATEST resolved.
func TestLaunchServiceCapacityProviders(t *testing.T) {
	h := newHarness(t, nil)
	h.addPoolHost("default", "h1", 4096, 8192, "local-1a")
	h.fargateTaskDef()
	svc := state.Service{Name: "web", Cluster: "my-cluster", Service: ecstypes.Service{PlatformVersion: "LATEST",
		CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE", Base: 1, Weight: 1},
			{CapacityProvider: "FARGATE_SPOT", Weight: 1}},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-local"}}}}}
	count := map[string]int{}
	for range 2 { // 1, then 4 more: the second launch sees the first's tasks
		n := 1 + 3*len(count)
		created, _, err := h.m.LaunchService(h.ctx, ServiceLaunch{Service: svc, DeploymentID: "ecs-svc/1", TaskDefinition: "my-task:1", Count: n})
		if err != nil || len(created) != n {
			t.Fatalf("LaunchService: %v %d", err, len(created))
		}
		for _, c := range created {
			tk := h.task("my-cluster", c.ID).Value.Task
			if tk.LaunchType != ecstypes.LaunchTypeFargate || tk.PlatformVersion != "1.4.0" {
				t.Fatalf("service task: %+v", tk)
			}
			count[tk.CapacityProviderName]++
		}
	}
	// The base's one, then the other four shared evenly.
	if count["FARGATE"] != 3 || count["FARGATE_SPOT"] != 2 {
		t.Fatalf("capacity providers of 5 tasks under FARGATE base 1 weight 1, FARGATE_SPOT weight 1: %v", count)
	}
}
