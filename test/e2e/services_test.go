package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

func describeService(t *testing.T, n *node, name string) types.Service {
	t.Helper()
	out, err := n.ecs().DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describe-services %s: %v %+v", name, err, out)
	}
	return out.Services[0]
}

// waitStable waits as `aws ecs wait services-stable` does: one deployment
// and runningCount == desiredCount.
func waitStable(t *testing.T, n *node, name string, timeout time.Duration) types.Service {
	t.Helper()
	var svc types.Service
	waitFor(t, timeout, "service "+name+" to be stable", func() (bool, string) {
		svc = describeService(t, n, name)
		return len(svc.Deployments) == 1 && svc.RunningCount == svc.DesiredCount,
			fmt.Sprintf("deployments=%d running=%d desired=%d events=%v", len(svc.Deployments), svc.RunningCount, svc.DesiredCount, firstEvents(svc, 3))
	})
	return svc
}

// waitCompleted waits for the PRIMARY deployment to be COMPLETED, which
// ECS (and minato) mark once its tasks have run for a while, after the
// services-stable waiter may already have returned.
func waitCompleted(t *testing.T, n *node, name string) types.Service {
	t.Helper()
	var svc types.Service
	waitFor(t, 60*time.Second, "service "+name+" to complete its deployment", func() (bool, string) {
		svc = describeService(t, n, name)
		return len(svc.Deployments) == 1 && svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted,
			fmt.Sprint(len(svc.Deployments), " deployments")
	})
	return svc
}

func firstEvents(svc types.Service, n int) []string {
	var out []string
	for i, e := range svc.Events {
		if i == n {
			break
		}
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

func hasEvent(svc types.Service, substr string) bool {
	return slices.ContainsFunc(svc.Events, func(e types.ServiceEvent) bool { return strings.Contains(aws.ToString(e.Message), substr) })
}

func serviceTasks(t *testing.T, n *node, name string) []types.Task {
	t.Helper()
	ctx := context.Background()
	list, err := n.ecs().ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TaskArns) == 0 {
		return nil
	}
	out, err := n.ecs().DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	return out.Tasks
}

// The seed documents' service steps with the aws CLI: create a service of
// 3, wait for stable, lose a container and see it replaced, roll to a new
// revision, force a new deployment, and read the deployments as the guide
// does.
func TestServiceRollingCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "web", nil)
	registerApp(t, n, "web", func(c *types.ContainerDefinition) {
		c.Environment = []types.KeyValuePair{{Name: aws.String("VERSION"), Value: aws.String("2")}}
	})
	var created struct{ Service map[string]any }
	n.cliJSON(t, &created, "ecs", "create-service", "--cluster", "default", "--service-name", "web",
		"--task-definition", "web:1", "--desired-count", "3",
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=100,deploymentCircuitBreaker={enable=true,rollback=true}")
	if created.Service["status"] != "ACTIVE" || created.Service["desiredCount"] != float64(3) {
		t.Fatalf("create-service: %v", created.Service)
	}
	n.cliJSON(t, nil, "ecs", "wait", "services-stable", "--cluster", "default", "--services", "web")
	svc := waitCompleted(t, n, "web")
	if svc.RunningCount != 3 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted ||
		!hasEvent(svc, "(service web) has reached a steady state.") || !hasEvent(svc, "(service web) has started 3 tasks:") {
		t.Fatalf("stable service: running %d rollout %s events %v", svc.RunningCount, svc.Deployments[0].RolloutState, firstEvents(svc, 5))
	}

	// docker kill one container: the service replaces the task.
	tasks := serviceTasks(t, n, "web")
	victim := tasks[0]
	cli := testimage.RequireDocker(t)
	if err := cli.ContainerKill(context.Background(), aws.ToString(victim.Containers[0].RuntimeId), "KILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the killed task to be replaced", func() (bool, string) {
		ts := serviceTasks(t, n, "web")
		running := 0
		for _, tk := range ts {
			if aws.ToString(tk.LastStatus) == "RUNNING" && aws.ToString(tk.TaskArn) != aws.ToString(victim.TaskArn) {
				running++
			}
		}
		return running == 3, fmt.Sprint(running)
	})
	stopped := describeTask(t, n, aws.ToString(victim.TaskArn))
	if stopped.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Fatalf("killed task: %s %s", stopped.StopCode, aws.ToString(stopped.StoppedReason))
	}

	// Roll to revision 2, watching the bounds: never more than 6 tasks,
	// never fewer than 3 running.
	var mu sync.Mutex
	maxTasks, minRunning, samples := 0, 99, 0
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(150 * time.Millisecond):
			}
			// One DescribeServices reads its counts from one snapshot;
			// ListTasks followed by DescribeTasks would race the rollout
			// between the two calls. runningCount counts the tasks the
			// scheduler counts as healthy (RUNNING and not asked to stop),
			// pendingCount the others that count toward maximumPercent.
			out, err := n.ecs().DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{"web"}})
			if err != nil || len(out.Services) != 1 {
				continue
			}
			running := int(out.Services[0].RunningCount)
			live := running + int(out.Services[0].PendingCount)
			mu.Lock()
			maxTasks = max(maxTasks, live)
			minRunning = min(minRunning, running)
			samples++
			mu.Unlock()
		}
	}()
	n.cliJSON(t, nil, "ecs", "update-service", "--cluster", "default", "--service", "web", "--task-definition", "web:2")
	svc = waitStable(t, n, "web", 120*time.Second)
	close(stopWatch)
	<-watchDone
	if !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "web:2") || !strings.HasSuffix(aws.ToString(svc.Deployments[0].TaskDefinition), "web:2") {
		t.Fatalf("after the rollout: %s", aws.ToString(svc.TaskDefinition))
	}
	for _, tk := range serviceTasks(t, n, "web") {
		if !strings.HasSuffix(aws.ToString(tk.TaskDefinitionArn), "web:2") {
			t.Fatalf("task %s still on %s", aws.ToString(tk.TaskArn), aws.ToString(tk.TaskDefinitionArn))
		}
	}
	mu.Lock()
	if samples == 0 {
		t.Fatal("the rollout watcher took no sample")
	}
	if maxTasks > 6 || minRunning < 3 {
		t.Fatalf("rollout broke the bounds: max %d tasks (limit 6), min %d running (limit 3)", maxTasks, minRunning)
	}
	mu.Unlock()

	// The guide's force-new-deployment and its describe query.
	before := map[string]bool{}
	for _, tk := range serviceTasks(t, n, "web") {
		before[aws.ToString(tk.TaskArn)] = true
	}
	var deployments []map[string]any
	n.cliJSON(t, &deployments, "ecs", "update-service", "--cluster", "default", "--service", "web", "--force-new-deployment",
		"--query", "service.deployments")
	if len(deployments) != 2 || deployments[0]["status"] != "PRIMARY" || deployments[1]["status"] != "ACTIVE" ||
		deployments[0]["rolloutState"] != "IN_PROGRESS" {
		t.Fatalf("deployments in the force-new-deployment reply: %v", deployments)
	}
	// The seed's command to look at them.
	n.cliJSON(t, &deployments, "ecs", "describe-services", "--cluster", "default", "--services", "web", "--query", "services[0].deployments")
	if len(deployments) == 0 || deployments[0]["status"] != "PRIMARY" {
		t.Fatalf("describe-services --query 'services[0].deployments': %v", deployments)
	}
	waitStable(t, n, "web", 120*time.Second)
	for _, tk := range serviceTasks(t, n, "web") {
		if before[aws.ToString(tk.TaskArn)] {
			t.Fatalf("task %s survived force-new-deployment", aws.ToString(tk.TaskArn))
		}
	}
	var table struct {
		Status       string
		RunningCount int
		DesiredCount int
	}
	n.cliJSON(t, &table, "ecs", "describe-services", "--cluster", "default", "--services", "web",
		"--query", "services[0].{Status:status,RunningCount:runningCount,DesiredCount:desiredCount}")
	if table.Status != "ACTIVE" || table.RunningCount != 3 || table.DesiredCount != 3 {
		t.Fatalf("the guide's query: %+v", table)
	}

	// History.
	hist, err := n.ecs().ListServiceDeployments(context.Background(), &ecs.ListServiceDeploymentsInput{Service: aws.String("web")})
	if err != nil || len(hist.ServiceDeployments) != 3 {
		t.Fatalf("list-service-deployments: %+v %v", hist, err)
	}

	// Delete: scale to 0, then delete; the tasks go.
	n.cliJSON(t, nil, "ecs", "delete-service", "--cluster", "default", "--service", "web", "--force")
	waitFor(t, 60*time.Second, "the service to be INACTIVE", func() (bool, string) {
		s := describeService(t, n, "web")
		return aws.ToString(s.Status) == "INACTIVE", aws.ToString(s.Status)
	})
	if ts := serviceTasks(t, n, "web"); len(ts) != 0 {
		t.Fatalf("tasks left after delete-service: %d", len(ts))
	}
}

// A deployment whose containers exit at once trips the circuit breaker:
// with rollback the service goes back to the last completed revision.
func TestCircuitBreakerRollback(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "cb", nil)
	registerApp(t, n, "cb", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "1"} })
	ctx := context.Background()
	_, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{
		ServiceName: aws.String("cb"), TaskDefinition: aws.String("cb:1"), DesiredCount: aws.Int32(3),
		DeploymentConfiguration: &types.DeploymentConfiguration{
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
			MaximumPercent:           aws.Int32(200), MinimumHealthyPercent: aws.Int32(100),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStable(t, n, "cb", 60*time.Second)
	waitCompleted(t, n, "cb")
	if _, err := n.ecs().UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("cb"), TaskDefinition: aws.String("cb:2")}); err != nil {
		t.Fatal(err)
	}
	var svc types.Service
	waitFor(t, 120*time.Second, "the circuit breaker to roll back", func() (bool, string) {
		svc = describeService(t, n, "cb")
		return len(svc.Deployments) == 1 && strings.HasSuffix(aws.ToString(svc.TaskDefinition), "cb:1") &&
				svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted && svc.RunningCount == 3,
			fmt.Sprintf("%s deployments=%d events=%v", aws.ToString(svc.TaskDefinition), len(svc.Deployments), firstEvents(svc, 4))
	})
	if !hasEvent(svc, "circuit breaker") && !hasEvent(svc, "rolling back") && !hasEvent(svc, "rolled back") {
		t.Fatalf("no event explains the rollback: %v", firstEvents(svc, 10))
	}
	hist, err := n.ecs().ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Service: aws.String("cb")})
	if err != nil || len(hist.ServiceDeployments) != 2 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	desc, err := n.ecs().DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(hist.ServiceDeployments[0].ServiceDeploymentArn)}})
	if err != nil || len(desc.ServiceDeployments) != 1 {
		t.Fatalf("describe-service-deployments: %+v %v", desc, err)
	}
	if d := desc.ServiceDeployments[0]; d.Status != types.ServiceDeploymentStatusRollbackSuccessful || d.Rollback == nil {
		t.Fatalf("the failed deployment's history: status %s rollback %+v", d.Status, d.Rollback)
	}
	// Launches were throttled, not a tight loop: a handful of failed tasks.
	stopped, err := n.ecs().ListTasks(ctx, &ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped, ServiceName: aws.String("cb")})
	if err != nil || len(stopped.TaskArns) > 12 {
		t.Fatalf("%d stopped tasks: the broken revision was launched in a tight loop (%v)", len(stopped.TaskArns), err)
	}
}

// Without rollback the failed deployment is left FAILED for the user.
func TestCircuitBreakerWithoutRollback(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "cbn", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "1"} })
	ctx := context.Background()
	_, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{
		ServiceName: aws.String("cbn"), TaskDefinition: aws.String("cbn:1"), DesiredCount: aws.Int32(2),
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "the deployment to fail", func() (bool, string) {
		svc := describeService(t, n, "cbn")
		return svc.Deployments[0].RolloutState == types.DeploymentRolloutStateFailed, string(svc.Deployments[0].RolloutState)
	})
	var failed int32
	waitFor(t, 60*time.Second, "the last launched task to be gone", func() (bool, string) {
		svc := describeService(t, n, "cbn")
		failed = svc.Deployments[0].FailedTasks
		return svc.PendingCount == 0 && svc.RunningCount == 0, fmt.Sprintf("pending %d, running %d", svc.PendingCount, svc.RunningCount)
	})
	holdsFor(t, 6*time.Second, "a FAILED deployment kept launching", func() (bool, string) {
		svc := describeService(t, n, "cbn")
		return svc.Deployments[0].FailedTasks == failed && svc.PendingCount == 0 && svc.RunningCount == 0,
			fmt.Sprintf("failed %d -> %d, pending %d, running %d", failed, svc.Deployments[0].FailedTasks, svc.PendingCount, svc.RunningCount)
	})
}

// A task that turns UNHEALTHY is replaced, with ECS's stoppedReason.
func TestUnhealthyTaskReplaced(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "hc", func(c *types.ContainerDefinition) {
		c.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "/testapp", "health", "http://127.0.0.1:8080/health"},
			Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(1)}
	})
	ctx := context.Background()
	if _, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("hc"), TaskDefinition: aws.String("hc"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, n, "hc", 60*time.Second)
	var first types.Task
	waitFor(t, 60*time.Second, "the task to be HEALTHY", func() (bool, string) {
		ts := serviceTasks(t, n, "hc")
		if len(ts) != 1 {
			return false, fmt.Sprint(len(ts))
		}
		first = ts[0]
		return first.HealthStatus == types.HealthStatusHealthy, string(first.HealthStatus)
	})
	port := aws.ToInt32(first.Containers[0].NetworkBindings[0].HostPort)
	resp, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/fail", port))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp
	waitFor(t, 90*time.Second, "the unhealthy task to be replaced", func() (bool, string) {
		tk := describeTask(t, n, aws.ToString(first.TaskArn))
		return aws.ToString(tk.LastStatus) == "STOPPED", aws.ToString(tk.LastStatus) + " " + string(tk.HealthStatus)
	})
	tk := describeTask(t, n, aws.ToString(first.TaskArn))
	if !strings.Contains(aws.ToString(tk.StoppedReason), "health checks") || tk.StopCode != types.TaskStopCodeServiceSchedulerInitiated {
		t.Fatalf("stopped unhealthy task: %s %q", tk.StopCode, aws.ToString(tk.StoppedReason))
	}
	waitStable(t, n, "hc", 60*time.Second)
}

// kill -9 the server in the middle of a rolling deployment: after the
// restart the deployment finishes, and no task is started twice.
func TestKillServerMidDeployment(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "mid", nil)
	registerApp(t, n, "mid", func(c *types.ContainerDefinition) { c.Command = []string{"serve"} })
	ctx := context.Background()
	if _, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("mid"), TaskDefinition: aws.String("mid:1"), DesiredCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, n, "mid", 60*time.Second)
	if _, err := n.ecs().UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("mid"), TaskDefinition: aws.String("mid:2")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the rollout to start", func() (bool, string) {
		for _, tk := range serviceTasks(t, n, "mid") {
			if strings.HasSuffix(aws.ToString(tk.TaskDefinitionArn), "mid:2") {
				return true, ""
			}
		}
		return false, "no new task yet"
	})
	n.kill()
	n.start()
	svc := waitStable(t, n, "mid", 120*time.Second)
	if !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "mid:2") {
		t.Fatalf("after restart: %s", aws.ToString(svc.TaskDefinition))
	}
	ts := serviceTasks(t, n, "mid")
	if len(ts) != 3 {
		t.Fatalf("%d tasks after the restarted rollout, want 3", len(ts))
	}
	cli := testimage.RequireDocker(t)
	for _, tk := range ts {
		cs := containersOfTask(t, taskID(aws.ToString(tk.TaskArn)))
		if len(cs) != 1 {
			t.Fatalf("task %s has %d containers", aws.ToString(tk.TaskArn), len(cs))
		}
	}
	// The node's own containers: other tests (and other test runs) share
	// the Docker engine.
	instance := agentInstanceID(filepath.Join(n.dataDir, "agent"))
	all, err := cli.ContainerList(ctx, container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "minato.container-instance="+instance))})
	if err != nil || instance == "" {
		t.Fatalf("containers of instance %q: %v", instance, err)
	}
	running := 0
	for _, c := range all {
		if strings.HasPrefix(c.Names[0], "/minato-mid-") {
			running++
		}
	}
	if running != 3 {
		t.Fatalf("%d containers of the service run, want 3", running)
	}
}

// A DAEMON service runs one task on every instance, including one that
// joins later; draining an instance moves a REPLICA service's tasks.
func TestDaemonAndDraining(t *testing.T) {
	e2eTest(t)
	testimage.RequireDocker(t)
	n := startNode(t)
	a := startAgent(t, n, "--availability-zone", "zone-a")
	b := startAgent(t, n, "--availability-zone", "zone-b")
	waitForInstances(t, n, "default", 2)
	ctx := context.Background()
	registerApp(t, n, "daemon", func(c *types.ContainerDefinition) { c.Memory = aws.Int32(16) })
	if _, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("daemon"), TaskDefinition: aws.String("daemon"),
		SchedulingStrategy: types.SchedulingStrategyDaemon}); err != nil {
		t.Fatal(err)
	}
	perInstance := func(name string) map[string]int {
		out := map[string]int{}
		for _, tk := range serviceTasks(t, n, name) {
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				out[taskID(aws.ToString(tk.ContainerInstanceArn))]++
			}
		}
		return out
	}
	waitFor(t, 60*time.Second, "a daemon task on each instance", func() (bool, string) {
		m := perInstance("daemon")
		return len(m) == 2 && m[a.instanceID()] == 1 && m[b.instanceID()] == 1, fmt.Sprint(m)
	})
	c3 := startAgent(t, n, "--availability-zone", "zone-c")
	waitFor(t, 60*time.Second, "a daemon task on the new instance", func() (bool, string) {
		m := perInstance("daemon")
		return len(m) == 3 && m[c3.instanceID()] == 1, fmt.Sprint(m)
	})

	registerApp(t, n, "rep", func(c *types.ContainerDefinition) { c.Memory = aws.Int32(16) })
	if _, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("rep"), TaskDefinition: aws.String("rep"), DesiredCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	waitStable(t, n, "rep", 60*time.Second)
	if _, err := n.ecs().UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		ContainerInstances: []string{b.instanceID()}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the draining instance to be emptied", func() (bool, string) {
		rep, dm := perInstance("rep"), perInstance("daemon")
		total := rep[a.instanceID()] + rep[c3.instanceID()]
		return rep[b.instanceID()] == 0 && total == 3 && dm[b.instanceID()] == 0, fmt.Sprint(rep, dm)
	})
}
