package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// startDockerNode runs `minato up` with its in-process agent on the local
// Docker engine, and returns it once the agent has registered.
func startDockerNode(t *testing.T, args ...string) *node {
	t.Helper()
	testimage.RequireDocker(t)
	n := newNode(t)
	// The test's own dynamic host ports (see reservePorts).
	n.args = append([]string{"--stop-timeout", "5s", "--dynamic-ports", n.ports.dynamicPorts()}, args...)
	n.launch()
	waitForInstances(t, n, "default", 1)
	return n
}

func waitForInstances(t *testing.T, n *node, cluster string, want int) []string {
	t.Helper()
	var arns []string
	waitFor(t, 60*time.Second, "container instances to register", func() (bool, string) {
		out, err := n.ecs().ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err != nil {
			return false, err.Error()
		}
		arns = out.ContainerInstanceArns
		return len(arns) >= want, fmt.Sprint(arns)
	})
	return arns
}

// registerApp registers a bridge-mode task definition of the test image.
func registerApp(t *testing.T, n *node, family string, mutate func(*types.ContainerDefinition)) string {
	t.Helper()
	image := testimage.Build(t, "")
	c := types.ContainerDefinition{
		Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
		PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
	}
	if mutate != nil {
		mutate(&c)
	}
	out, err := n.ecs().RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{c},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func describeTask(t *testing.T, n *node, arn string) types.Task {
	t.Helper()
	out, err := n.ecs().DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("describe-tasks %s: %v %+v", arn, err, out)
	}
	return out.Tasks[0]
}

func waitTaskStatus(t *testing.T, n *node, arn, status string, timeout time.Duration) types.Task {
	t.Helper()
	var task types.Task
	waitFor(t, timeout, "task "+taskID(arn)+" to be "+status, func() (bool, string) {
		task = describeTask(t, n, arn)
		return aws.ToString(task.LastStatus) == status, aws.ToString(task.LastStatus) + " " + aws.ToString(task.StoppedReason)
	})
	return task
}

// The seed flow with the aws CLI: run-task, wait tasks-running, reach the
// container on its dynamic host port, stop-task, wait tasks-stopped, and
// read the stop reason with list-tasks --desired-status STOPPED.
func TestCLIRunTaskDynamicPortAndStop(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "web", nil)

	var run struct {
		Tasks    []map[string]any
		Failures []any
	}
	n.cliJSON(t, &run, "ecs", "run-task", "--cluster", "default", "--task-definition", "web", "--started-by", "e2e")
	if len(run.Tasks) != 1 || len(run.Failures) != 0 {
		t.Fatalf("run-task: %+v", run)
	}
	arn := run.Tasks[0]["taskArn"].(string)
	if run.Tasks[0]["lastStatus"] != "PROVISIONING" || run.Tasks[0]["desiredStatus"] != "RUNNING" {
		t.Fatalf("run-task reply: %v", run.Tasks[0])
	}
	n.cliJSON(t, nil, "ecs", "wait", "tasks-running", "--cluster", "default", "--tasks", arn)

	task := describeTask(t, n, arn)
	c := task.Containers[0]
	if len(c.NetworkBindings) != 1 || aws.ToInt32(c.NetworkBindings[0].ContainerPort) != 8080 {
		t.Fatalf("networkBindings: %+v", c.NetworkBindings)
	}
	hostPort := int(aws.ToInt32(c.NetworkBindings[0].HostPort))
	if from := n.ports.base + dynamicFirst; hostPort < from || hostPort >= n.ports.base+blockSize {
		t.Fatalf("dynamic host port %d is outside the node's --dynamic-ports %s", hostPort, n.ports.dynamicPorts())
	}
	getOK(t, fmt.Sprintf("http://127.0.0.1:%d/health", hostPort))
	// Every field describe-tasks shows is true of the real container.
	ctrs := containersOfTask(t, taskID(arn))
	if len(ctrs) != 1 || ctrs[0].ID != aws.ToString(c.RuntimeId) || ctrs[0].State != "running" {
		t.Fatalf("docker has %+v for runtimeId %s", ctrs, aws.ToString(c.RuntimeId))
	}
	if task.PullStartedAt == nil || task.PullStoppedAt == nil || task.StartedAt == nil || task.CreatedAt == nil ||
		task.ContainerInstanceArn == nil || aws.ToString(task.StartedBy) != "e2e" || aws.ToString(c.LastStatus) != "RUNNING" {
		t.Fatalf("task fields: %+v", task)
	}

	n.cliJSON(t, nil, "ecs", "stop-task", "--cluster", "default", "--task", arn, "--reason", "done testing")
	n.cliJSON(t, nil, "ecs", "wait", "tasks-stopped", "--cluster", "default", "--tasks", arn)
	task = describeTask(t, n, arn)
	if task.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(task.StoppedReason) != "done testing" ||
		task.StoppingAt == nil || task.StoppedAt == nil || task.ExecutionStoppedAt == nil {
		t.Fatalf("stopped task: %+v", task)
	}
	if ctrs := containersOfTask(t, taskID(arn)); len(ctrs) != 1 || ctrs[0].State == "running" {
		t.Fatalf("container after stop: %+v", ctrs)
	}

	// The seed's troubleshooting command.
	var stopped string
	r := n.cli(t, "ecs", "list-tasks", "--cluster", "default", "--desired-status", "STOPPED", "--query", "taskArns[0]", "--output", "text")
	stopped = strings.TrimSpace(r.stdout)
	if stopped != arn {
		t.Fatalf("list-tasks --desired-status STOPPED: %q (exit %d %s)", stopped, r.exit, r.stderr)
	}
	r = n.cli(t, "ecs", "describe-tasks", "--cluster", "default", "--tasks", stopped,
		"--query", "tasks[0].{StopCode:stopCode,StoppedReason:stoppedReason}", "--output", "json")
	var why map[string]string
	json.Unmarshal([]byte(r.stdout), &why)
	if why["StopCode"] != "UserInitiated" || why["StoppedReason"] != "done testing" {
		t.Fatalf("describe-tasks --query: %s %s", r.stdout, r.stderr)
	}
}

func TestEssentialContainerExit(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "crash", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "3", "after", "1s"} })
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("crash")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	task := waitTaskStatus(t, n, aws.ToString(out.Tasks[0].TaskArn), "STOPPED", 60*time.Second)
	if task.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(task.StoppedReason) != "Essential container in task exited" {
		t.Fatalf("stopCode %q reason %q", task.StopCode, aws.ToString(task.StoppedReason))
	}
	if c := task.Containers[0]; aws.ToInt32(c.ExitCode) != 3 || aws.ToString(c.LastStatus) != "STOPPED" {
		t.Fatalf("container: exit %v status %s", c.ExitCode, aws.ToString(c.LastStatus))
	}
}

func TestMissingImageFailsToStart(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "ghost", func(c *types.ContainerDefinition) { c.Image = aws.String("minato-e2e-no-such-image:never") })
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("ghost")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	task := waitTaskStatus(t, n, aws.ToString(out.Tasks[0].TaskArn), "STOPPED", 90*time.Second)
	if task.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(task.StoppedReason), "CannotPullContainerError: ") {
		t.Fatalf("stopCode %q reason %q", task.StopCode, aws.ToString(task.StoppedReason))
	}
	if task.PullStartedAt == nil {
		t.Fatal("pullStartedAt not set")
	}
}

func TestDependsOnOrder(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	image := testimage.Build(t, "")
	_, err := n.ecs().RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("ordered"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(32),
				DependsOn: []types.ContainerDependency{{ContainerName: aws.String("migrate"), Condition: types.ContainerConditionSuccess}}},
			{Name: aws.String("migrate"), Image: aws.String(image), Memory: aws.Int32(32), Essential: aws.Bool(false),
				Command: []string{"exit", "0", "after", "2s"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("ordered")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	waitTaskStatus(t, n, arn, "RUNNING", 60*time.Second)
	cli := testimage.RequireDocker(t)
	times := map[string][2]time.Time{}
	for _, c := range containersOfTask(t, taskID(arn)) {
		ins, err := cli.ContainerInspect(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		started, _ := time.Parse(time.RFC3339Nano, ins.State.StartedAt)
		finished, _ := time.Parse(time.RFC3339Nano, ins.State.FinishedAt)
		times[c.Labels["minato.container"]] = [2]time.Time{started, finished}
	}
	if !times["app"][0].After(times["migrate"][1]) || times["migrate"][1].IsZero() {
		t.Fatalf("app started at %v, before migrate finished at %v", times["app"][0], times["migrate"][1])
	}
}

func TestHealthChecks(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	hc := func(c *types.ContainerDefinition) {
		c.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "/testapp", "health", "http://127.0.0.1:8080/health"},
			Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(1), StartPeriod: aws.Int32(0)}
	}
	registerApp(t, n, "healthy", hc)
	registerApp(t, n, "sick", func(c *types.ContainerDefinition) {
		hc(c)
		c.Environment = []types.KeyValuePair{{Name: aws.String("HEALTH"), Value: aws.String("fail")}}
	})
	ctx := context.Background()
	good, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("healthy")})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("sick")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arn  string
		want types.HealthStatus
	}{{aws.ToString(good.Tasks[0].TaskArn), types.HealthStatusHealthy}, {aws.ToString(bad.Tasks[0].TaskArn), types.HealthStatusUnhealthy}} {
		waitFor(t, 60*time.Second, "health "+string(tc.want), func() (bool, string) {
			task := describeTask(t, n, tc.arn)
			return task.HealthStatus == tc.want && task.Containers[0].HealthStatus == tc.want,
				string(task.HealthStatus) + "/" + string(task.Containers[0].HealthStatus)
		})
	}
}

// Nothing is lost or duplicated when the server is killed with tasks
// running: the restarted node adopts its containers.
func TestKillServerWithTasksRunning(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "durable", nil)
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("durable"), Count: aws.Int32(2)})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	before := map[string]string{}
	for _, tk := range out.Tasks {
		task := waitTaskStatus(t, n, aws.ToString(tk.TaskArn), "RUNNING", 60*time.Second)
		before[aws.ToString(tk.TaskArn)] = aws.ToString(task.Containers[0].RuntimeId)
	}
	n.kill()
	n.start()
	waitForInstances(t, n, "default", 1)
	arns := make([]string, 0, len(before))
	for arn := range before {
		arns = append(arns, arn)
	}
	waitResumed(t, n.out, arns)
	for arn, runtimeID := range before {
		task := describeTask(t, n, arn)
		if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(task.Containers[0].RuntimeId) != runtimeID {
			t.Fatalf("task %s after kill -9: %s, runtime %s (was %s)", arn, aws.ToString(task.LastStatus), aws.ToString(task.Containers[0].RuntimeId), runtimeID)
		}
		if cs := containersOfTask(t, taskID(arn)); len(cs) != 1 || cs[0].ID != runtimeID || cs[0].State != "running" {
			t.Fatalf("containers of %s after kill -9: %+v", arn, cs)
		}
	}
	list, err := n.ecs().ListTasks(context.Background(), &ecs.ListTasksInput{})
	if err != nil || len(list.TaskArns) != 2 {
		t.Fatalf("list-tasks after restart: %v %v", list, err)
	}
	ci, err := n.ecs().DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: waitForInstances(t, n, "default", 1)})
	if err != nil || len(ci.ContainerInstances) != 1 || ci.ContainerInstances[0].RunningTasksCount != 2 || !ci.ContainerInstances[0].AgentConnected {
		t.Fatalf("container instance after restart: %+v %v", ci, err)
	}
}
