package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/testutil/minicluster"
)

var call = minicluster.Call

func TestTaskLifecycleOnFakeRuntime(t *testing.T) {
	h := minicluster.New(t, minicluster.Options{})
	rt := h.AddAgent("zone-a", "app:1")
	h.Register("web", "app:1", nil)
	run := func(family string) string {
		out, err := h.ECS.RunTask(context.Background(), call, &ecstypes.RunTaskRequest{TaskDefinition: family})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("RunTask: %v %+v", err, out)
		}
		return out.Tasks[0].TaskArn
	}

	arn := run("web")
	task := h.WaitTask(arn, "RUNNING")
	if task.PullStartedAt.IsZero() || task.StartedAt.IsZero() || task.Containers[0].RuntimeId == "" || task.AvailabilityZone != "zone-a" {
		t.Fatalf("running task: %+v", task)
	}

	// An essential container exits: the task stops with ECS's code and reason.
	if err := rt.Exit(task.Containers[0].RuntimeId, 3); err != nil {
		t.Fatal(err)
	}
	task = h.WaitTask(arn, "STOPPED")
	if task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || task.StoppedReason != "Essential container in task exited" ||
		task.Containers[0].ExitCode == nil || *task.Containers[0].ExitCode != 3 || task.DesiredStatus != "STOPPED" {
		t.Fatalf("stopped task: code %s reason %q exit %v", task.StopCode, task.StoppedReason, task.Containers[0].ExitCode)
	}

	// StopTask.
	arn = run("web")
	h.WaitTask(arn, "RUNNING")
	if _, err := h.ECS.StopTask(context.Background(), call, &ecstypes.StopTaskRequest{Task: arn, Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	task = h.WaitTask(arn, "STOPPED")
	if task.StopCode != ecstypes.TaskStopCodeUserInitiated || task.StoppedReason != "bye" || task.StoppingAt.IsZero() {
		t.Fatalf("user-stopped task: %+v", task)
	}

	// A missing image fails the task before any container starts.
	h.Register("ghost", "nowhere:1", nil)
	arn = run("ghost")
	task = h.WaitTask(arn, "STOPPED")
	if task.StopCode != ecstypes.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(task.StoppedReason, "CannotPullContainerError: ") {
		t.Fatalf("missing image: code %s reason %q", task.StopCode, task.StoppedReason)
	}

	// Everything a task held is given back when it stops.
	insts, err := h.ECS.ListContainerInstances(context.Background(), call, &ecstypes.ListContainerInstancesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.ECS.DescribeContainerInstances(context.Background(), call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: insts.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	ci := d.ContainerInstances[0]
	for i, r := range ci.RemainingResources {
		if r.Name == "MEMORY" && r.IntegerValue != ci.RegisteredResources[i].IntegerValue {
			t.Fatalf("memory not released: %d of %d", r.IntegerValue, ci.RegisteredResources[i].IntegerValue)
		}
	}
}

// A container that mounts volumes from another (volumesFrom) starts
// whether the definition lists its source before or after it: ECS gives
// volumesFrom an implicit dependency, so the agent creates the source
// first.
func TestVolumesFromInBothOrders(t *testing.T) {
	h := minicluster.New(t, minicluster.Options{})
	h.AddAgent("zone-a", "app:1")
	mem := int32(32)
	data := ecstypes.ContainerDefinition{Name: "data", Image: "app:1", Memory: &mem, Essential: new(false),
		MountPoints: []ecstypes.MountPoint{{SourceVolume: "shared", ContainerPath: "/data"}}}
	app := ecstypes.ContainerDefinition{Name: "app", Image: "app:1", Memory: &mem,
		VolumesFrom: []ecstypes.VolumeFrom{{SourceContainer: "data", ReadOnly: new(true)}}}
	for family, defs := range map[string][]ecstypes.ContainerDefinition{
		"source-first": {data, app},
		"source-after": {app, data},
	} {
		if _, err := h.ECS.RegisterTaskDefinition(context.Background(), call, &ecstypes.RegisterTaskDefinitionRequest{Family: family,
			ContainerDefinitions: defs, Volumes: []ecstypes.Volume{{Name: "shared"}}}); err != nil {
			t.Fatal(err)
		}
		out, err := h.ECS.RunTask(context.Background(), call, &ecstypes.RunTaskRequest{TaskDefinition: family})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("RunTask %s: %v %+v", family, err, out)
		}
		task := h.WaitTask(out.Tasks[0].TaskArn, "RUNNING")
		for _, c := range task.Containers {
			if c.LastStatus != "RUNNING" {
				t.Fatalf("%s: container %s is %s (%s)", family, c.Name, c.LastStatus, c.Reason)
			}
		}
	}
}

// A task the control plane gave up while its agent was away (here: a task
// of the Fargate pool stopped because its host counted as lost) is no
// longer in the agent's assignments: the agent takes its containers down
// instead of running them forever.
func TestUnassignedTaskIsStopped(t *testing.T) {
	h := minicluster.New(t, minicluster.Options{})
	a := h.StartAgent(minicluster.AgentOptions{AZ: "zone-a", Fargate: true, Images: []string{"app:1"}})
	ctx := context.Background()
	if _, err := h.ECS.RegisterTaskDefinition(ctx, call, &ecstypes.RegisterTaskDefinitionRequest{Family: "f", NetworkMode: ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate}, Cpu: "256", Memory: "512",
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1"}}}); err != nil {
		t.Fatal(err)
	}
	out, err := h.ECS.RunTask(ctx, call, &ecstypes.RunTaskRequest{TaskDefinition: "f", LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-local"}}}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	task := h.WaitTask(out.Tasks[0].TaskArn, "RUNNING")
	id := task.Containers[0].RuntimeId
	if err := h.Node.Tasks.StopOnLostHost(ctx, "default", task.TaskArn[strings.LastIndex(task.TaskArn, "/")+1:], "lost"); err != nil {
		t.Fatal(err)
	}
	h.Eventually(15*time.Second, "the agent to stop the unassigned task's container", func() (bool, string) {
		cs, err := a.Runtime.List(ctx, nil)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range cs {
			if c.ID == id {
				return !c.Running, "still running"
			}
		}
		return true, ""
	})
}
