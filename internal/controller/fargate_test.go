package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/testutil/minicluster"
)

// runningOn returns the IDs of the tasks whose app container runs on an
// agent's host.
func runningOn(t *testing.T, a *minicluster.Agent) map[string]bool {
	t.Helper()
	cs, err := a.Runtime.List(context.Background(), map[string]string{rt.LabelContainer: "app"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range cs {
		if c.Running {
			out[c.Labels[rt.LabelTask]] = true
		}
	}
	return out
}

// A FARGATE service of a cluster that has no container instance runs on
// the Fargate pool: two agents of the default cluster that offer Fargate
// capacity. Its ten tasks spread over both hosts; when one host is lost
// (its agent stops answering) its tasks are stopped as ECS stops Fargate
// tasks whose infrastructure fails, and the service replaces them on the
// other host. Placement, the pool's loop and the service controller are
// the real control plane's; the hosts are fake runtimes.
func TestFargateServiceOnThePool(t *testing.T) {
	t.Parallel()
	c := minicluster.New(t, minicluster.Options{Controller: true, AgentTimeout: 3 * time.Second})
	hostA := c.StartAgent(minicluster.AgentOptions{AZ: "local-1a", Fargate: true, Images: []string{"app:1"}, CPUs: 2, MemoryMiB: 8192})
	hostB := c.StartAgent(minicluster.AgentOptions{AZ: "local-1a", Fargate: true, Images: []string{"app:1"}, CPUs: 2, MemoryMiB: 8192})
	ctx := context.Background()
	if _, err := c.ECS.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "my-cluster"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ECS.RegisterTaskDefinition(ctx, call, &ecstypes.RegisterTaskDefinitionRequest{Family: "my-task",
		NetworkMode: ecstypes.NetworkModeAwsvpc, RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu: "256", Memory: "512", ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1",
			PortMappings: []ecstypes.PortMapping{{ContainerPort: new(int32(80))}}}}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.ECS.CreateService(ctx, call, &ecstypes.CreateServiceRequest{Cluster: "my-cluster", ServiceName: "web", TaskDefinition: "my-task",
		DesiredCount: new(int32(10)), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-local"}}}})
	if err != nil {
		t.Fatal(err)
	}
	service := func() ecstypes.Service {
		out, err := c.ECS.DescribeServices(ctx, call, &ecstypes.DescribeServicesRequest{Cluster: "my-cluster", Services: []string{"web"}})
		if err != nil || len(out.Services) != 1 {
			t.Fatalf("DescribeServices: %v %+v", err, out)
		}
		return out.Services[0]
	}
	c.Eventually(30*time.Second, "ten tasks running", func() (bool, string) {
		s := service()
		return s.RunningCount == 10, fmt.Sprintf("running %d pending %d", s.RunningCount, s.PendingCount)
	})
	onA, onB := runningOn(t, hostA), runningOn(t, hostB)
	if len(onA) != 5 || len(onB) != 5 {
		t.Fatalf("ten tasks over two pool hosts: %d on a, %d on b", len(onA), len(onB))
	}
	tasks, err := c.ECS.ListTasks(ctx, call, &ecstypes.ListTasksRequest{Cluster: "my-cluster"})
	if err != nil || len(tasks.TaskArns) != 10 {
		t.Fatalf("ListTasks my-cluster: %v %v", err, tasks)
	}
	desc, err := c.ECS.DescribeTasks(ctx, call, &ecstypes.DescribeTasksRequest{Cluster: "my-cluster", Tasks: tasks.TaskArns})
	if err != nil || len(desc.Tasks) != 10 {
		t.Fatalf("DescribeTasks: %v", err)
	}
	for _, tk := range desc.Tasks {
		if tk.ContainerInstanceArn != "" || tk.LaunchType != ecstypes.LaunchTypeFargate || tk.PlatformVersion != "1.4.0" || tk.AvailabilityZone != "local-1a" {
			t.Fatalf("a Fargate task as ECS shows it: %+v", tk)
		}
	}
	if l, err := c.ECS.ListTasks(ctx, call, &ecstypes.ListTasksRequest{}); err != nil || len(l.TaskArns) != 0 {
		t.Fatalf("the pool hosts' cluster lists the Fargate tasks of my-cluster: %v %v", err, l)
	}
	if l, err := c.ECS.ListContainerInstances(ctx, call, &ecstypes.ListContainerInstancesRequest{Cluster: "my-cluster"}); err != nil || len(l.ContainerInstanceArns) != 0 {
		t.Fatalf("my-cluster has container instances: %v %v", err, l)
	}

	// Draining host b (of the default cluster) moves the service's tasks
	// of my-cluster off it: the controller finds a FARGATE task's host in
	// the host's own cluster.
	drain := func(id string, status ecstypes.ContainerInstanceStatus) {
		t.Helper()
		if _, err := c.ECS.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{
			ContainerInstances: []string{id}, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	drain(hostB.InstanceID, ecstypes.ContainerInstanceStatusDraining)
	c.Eventually(60*time.Second, "the tasks of the draining host moved to the other", func() (bool, string) {
		s := service()
		onA, onB := runningOn(t, hostA), runningOn(t, hostB)
		return s.RunningCount == 10 && len(onA) == 10 && len(onB) == 0, fmt.Sprintf("running %d, %d on a, %d on b", s.RunningCount, len(onA), len(onB))
	})
	drain(hostB.InstanceID, ecstypes.ContainerInstanceStatusActive)
	onA = runningOn(t, hostA)

	// Host a is lost: its ten tasks are stopped and replaced on b.
	t0 := time.Now()
	hostA.Stop()
	c.Eventually(60*time.Second, "the tasks of the lost host replaced on the other", func() (bool, string) {
		s := service()
		onB := runningOn(t, hostB)
		return s.RunningCount == 10 && len(onB) == 10, fmt.Sprintf("running %d, %d on b", s.RunningCount, len(onB))
	})
	t.Logf("replaced after %v", time.Since(t0))
	stopped, err := c.ECS.ListTasks(ctx, call, &ecstypes.ListTasksRequest{Cluster: "my-cluster", DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil {
		t.Fatal(err)
	}
	desc, err = c.ECS.DescribeTasks(ctx, call, &ecstypes.DescribeTasksRequest{Cluster: "my-cluster", Tasks: stopped.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, tk := range desc.Tasks {
		if onA[taskIDOf(tk.TaskArn)] && tk.LastStatus == "STOPPED" && tk.StopCode == ecstypes.TaskStopCodeInfrastructureHealth {
			lost++
		}
	}
	if lost != 10 {
		t.Fatalf("%d of the lost host's 10 tasks are STOPPED with stopCode InfrastructureHealth: %+v", lost, desc.Tasks)
	}
}

func taskIDOf(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}
