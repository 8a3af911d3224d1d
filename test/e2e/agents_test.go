package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// agentProc is one `minato agent` process.
type agentProc struct {
	t       *testing.T
	args    []string
	dataDir string
	proc    *proc
	out     *syncBuffer
	// in is the network namespace the agent runs in (nil: the host's).
	in *labNode
}

// startAgent runs `minato agent` against n, with dynamic host ports of
// its own.
func startAgent(t *testing.T, n *node, args ...string) *agentProc {
	t.Helper()
	return startAgentURL(t, n, n.url(), args...)
}

// startAgentURL runs `minato agent` against n at server.
func startAgentURL(t *testing.T, n *node, server string, args ...string) *agentProc {
	t.Helper()
	token := strings.TrimSpace(readFileT(t, filepath.Join(n.dataDir, "agent-token")))
	a := &agentProc{t: t, dataDir: t.TempDir()}
	// Its own dynamic host ports: agents on one Docker engine must not
	// share any (see reservePorts).
	a.args = append([]string{"agent", "--server", server, "--token", token, "--data-dir", a.dataDir,
		"--stop-timeout", "5s", "--log-level", "debug", "--dynamic-ports", agentPorts(t)}, args...)
	a.start()
	t.Cleanup(func() {
		a.kill()
		removeInstanceContainers(t, agentInstanceID(a.dataDir))
	})
	return a
}

func (a *agentProc) start() {
	a.t.Helper()
	a.out = &syncBuffer{}
	cmd := exec.Command(minatoBin, a.args...)
	if a.in != nil {
		cmd = a.in.command(minatoBin, a.args...)
	}
	a.proc = startProc(a.t, cmd, a.out)
	waitFor(a.t, 60*time.Second, "the agent to register", func() (bool, string) {
		if a.proc.exited() {
			a.t.Fatalf("the agent exited (%v):\n%s", a.proc.err, a.out.String())
		}
		return agentInstanceID(a.dataDir) != "", a.out.String()
	})
}

func (a *agentProc) kill() {
	if a.proc != nil {
		a.proc.kill()
		a.proc = nil
	}
}

func (a *agentProc) instanceID() string { return agentInstanceID(a.dataDir) }

// waitResumed waits until the log of a restarted agent shows it resumed
// each of the tasks with the containers it found, starting none.
func waitResumed(t *testing.T, out *syncBuffer, taskArns []string) {
	t.Helper()
	waitFor(t, 60*time.Second, "the restarted agent to resume its tasks", func() (bool, string) {
		log := out.String()
		for _, arn := range taskArns {
			line := logLine(log, `msg="task resumed"`, "task="+taskID(arn))
			if line == "" {
				return false, "not yet: " + taskID(arn)
			}
			if !strings.Contains(line, " started=0") {
				t.Fatalf("the restarted agent started containers again: %s", line)
			}
		}
		return true, ""
	})
}

// logLine is the first line of log that has every one of parts.
func logLine(log string, parts ...string) string {
	for line := range strings.Lines(log) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return line
		}
	}
	return ""
}

func readFileT(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// placedOn runs count tasks and returns how many landed on each instance ID.
func placedOn(t *testing.T, n *node, in *ecs.RunTaskInput) (map[string]int, []types.Failure) {
	t.Helper()
	out, err := n.ecs().RunTask(context.Background(), in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	got := map[string]int{}
	for _, task := range out.Tasks {
		got[taskID(aws.ToString(task.ContainerInstanceArn))]++
	}
	return got, out.Failures
}

// Two agents on one machine are two container instances in different
// availability zones: spread, constraints, placement failures, draining and
// StartTask work across them for real, and an agent restart loses nothing.
func TestTwoAgents(t *testing.T) {
	e2eTest(t)
	testimage.RequireDocker(t)
	n := startNode(t)
	a := startAgent(t, n, "--availability-zone", "zone-a", "--attribute", "disk=ssd")
	b := startAgent(t, n, "--availability-zone", "zone-b")
	waitForInstances(t, n, "default", 2)
	ctx := context.Background()
	c := n.ecs()

	// Registration: resources and attributes as ECS shows them.
	ci, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{a.instanceID(), b.instanceID()}})
	if err != nil || len(ci.ContainerInstances) != 2 {
		t.Fatalf("describe-container-instances: %v %+v", err, ci)
	}
	for _, inst := range ci.ContainerInstances {
		if !inst.AgentConnected || aws.ToString(inst.Status) != "ACTIVE" {
			t.Fatalf("instance %s: connected=%v status=%s", aws.ToString(inst.ContainerInstanceArn), inst.AgentConnected, aws.ToString(inst.Status))
		}
		res := map[string]types.Resource{}
		for _, r := range inst.RegisteredResources {
			res[aws.ToString(r.Name)] = r
		}
		if res["CPU"].IntegerValue%1024 != 0 || res["CPU"].IntegerValue == 0 || res["MEMORY"].IntegerValue <= 0 || !slices.Contains(res["PORTS"].StringSetValue, "22") {
			t.Fatalf("registered resources: %+v", inst.RegisteredResources)
		}
	}
	list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Filter: aws.String("attribute:ecs.availability-zone == zone-a")})
	if err != nil || len(list.ContainerInstanceArns) != 1 || taskID(list.ContainerInstanceArns[0]) != a.instanceID() {
		t.Fatalf("list-container-instances --filter: %v %v", list, err)
	}

	registerApp(t, n, "spread", func(c *types.ContainerDefinition) { c.Memory = aws.Int32(32) })
	got, failures := placedOn(t, n, &ecs.RunTaskInput{TaskDefinition: aws.String("spread"), Count: aws.Int32(4),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}}})
	if got[a.instanceID()] != 2 || got[b.instanceID()] != 2 || len(failures) != 0 {
		t.Fatalf("spread over zones: %v %v", got, failures)
	}

	got, _ = placedOn(t, n, &ecs.RunTaskInput{TaskDefinition: aws.String("spread"), Count: aws.Int32(2),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:disk == ssd")}}})
	if got[a.instanceID()] != 2 {
		t.Fatalf("memberOf attribute:disk == ssd: %v", got)
	}

	got, failures = placedOn(t, n, &ecs.RunTaskInput{TaskDefinition: aws.String("spread"), Count: aws.Int32(3),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}},
		Group:                aws.String("distinct")})
	if len(got) != 2 || got[a.instanceID()] != 1 || got[b.instanceID()] != 1 || len(failures) == 0 {
		t.Fatalf("distinctInstance with 3 tasks on 2 instances: %v %v", got, failures)
	}

	registerApp(t, n, "huge", func(c *types.ContainerDefinition) { c.Memory = aws.Int32(64 << 20) })
	got, failures = placedOn(t, n, &ecs.RunTaskInput{TaskDefinition: aws.String("huge")})
	if len(got) != 0 || len(failures) != 2 || aws.ToString(failures[0].Reason) != "RESOURCE:MEMORY" {
		t.Fatalf("a task too large for every instance: %v %+v", got, failures)
	}

	// A DRAINING instance receives no new task.
	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		ContainerInstances: []string{b.instanceID()}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	got, _ = placedOn(t, n, &ecs.RunTaskInput{TaskDefinition: aws.String("spread"), Count: aws.Int32(3)})
	if got[a.instanceID()] != 3 {
		t.Fatalf("placement with b draining: %v", got)
	}
	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		ContainerInstances: []string{b.instanceID()}, Status: types.ContainerInstanceStatusActive}); err != nil {
		t.Fatal(err)
	}

	// StartTask on a named instance.
	st, err := c.StartTask(ctx, &ecs.StartTaskInput{TaskDefinition: aws.String("spread"), ContainerInstances: []string{b.instanceID()}})
	if err != nil || len(st.Tasks) != 1 || taskID(aws.ToString(st.Tasks[0].ContainerInstanceArn)) != b.instanceID() {
		t.Fatalf("StartTask: %v %+v", err, st)
	}

	// Every task reaches RUNNING on its instance.
	all, err := c.ListTasks(ctx, &ecs.ListTasksInput{})
	if err != nil || len(all.TaskArns) != 12 {
		t.Fatalf("list-tasks: %v %v", all, err)
	}
	for _, arn := range all.TaskArns {
		waitTaskStatus(t, n, arn, "RUNNING", 60*time.Second)
	}
	onA, err := c.ListTasks(ctx, &ecs.ListTasksInput{ContainerInstance: aws.String(a.instanceID())})
	if err != nil || len(onA.TaskArns) != 8 {
		t.Fatalf("list-tasks --container-instance a: %d %v", len(onA.TaskArns), err)
	}

	// Restart agent a with kill -9: its tasks keep running in the same
	// containers, nothing is started twice, and it is connected again.
	runtimeIDs := map[string]string{}
	for _, arn := range onA.TaskArns {
		runtimeIDs[arn] = aws.ToString(describeTask(t, n, arn).Containers[0].RuntimeId)
	}
	a.kill()
	a.start()
	waitResumed(t, a.out, onA.TaskArns)
	for arn, id := range runtimeIDs {
		task := describeTask(t, n, arn)
		cs := containersOfTask(t, taskID(arn))
		if aws.ToString(task.LastStatus) != "RUNNING" || len(cs) != 1 || cs[0].ID != id || cs[0].State != "running" {
			t.Fatalf("task %s after the agent restart: %s, containers %+v (was %s)", arn, aws.ToString(task.LastStatus), cs, id)
		}
	}
	ci, err = c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{a.instanceID()}})
	if err != nil || !ci.ContainerInstances[0].AgentConnected || ci.ContainerInstances[0].RunningTasksCount != 8 {
		t.Fatalf("instance a after restart: %+v %v", ci, err)
	}
	if a.instanceID() != taskID(aws.ToString(ci.ContainerInstances[0].ContainerInstanceArn)) {
		t.Fatal("the restarted agent registered as a new instance")
	}
	// kill -9 the control plane: the agents keep their containers running,
	// reconnect when it is back, and nothing is lost or duplicated.
	marks := []int{len(a.out.String()), len(b.out.String())}
	n.kill()
	for i, ag := range []*agentProc{a, b} {
		waitFor(t, 60*time.Second, "the agents to notice the control plane is gone", func() (bool, string) {
			return strings.Contains(ag.out.String()[marks[i]:], "failed; retrying"), ""
		})
	}
	n.start()
	c = n.ecs()
	waitFor(t, 30*time.Second, "both agents to reconnect", func() (bool, string) {
		ci, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{a.instanceID(), b.instanceID()}})
		if err != nil || len(ci.ContainerInstances) != 2 {
			return false, fmt.Sprint(err)
		}
		return ci.ContainerInstances[0].AgentConnected && ci.ContainerInstances[1].AgentConnected, "not connected yet"
	})
	all2, err := c.ListTasks(ctx, &ecs.ListTasksInput{})
	if err != nil || len(all2.TaskArns) != 12 {
		t.Fatalf("list-tasks after the server restart: %v %v", all2, err)
	}
	for arn, id := range runtimeIDs {
		if cs := containersOfTask(t, taskID(arn)); len(cs) != 1 || cs[0].ID != id || cs[0].State != "running" {
			t.Fatalf("task %s after the server restart: containers %+v", arn, cs)
		}
	}
	ci, err = c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{a.instanceID()}})
	if err != nil || ci.ContainerInstances[0].RunningTasksCount != 8 {
		t.Fatalf("instance a after the server restart: %+v %v", ci, err)
	}
	// Remaining resources are exact: registered minus what the 8 tasks hold.
	for _, r := range ci.ContainerInstances[0].RemainingResources {
		if aws.ToString(r.Name) != "MEMORY" {
			continue
		}
		for _, reg := range ci.ContainerInstances[0].RegisteredResources {
			if aws.ToString(reg.Name) == "MEMORY" && reg.IntegerValue-r.IntegerValue != 8*32 {
				t.Fatalf("remaining memory %d of %d: want 8×32 MiB held", r.IntegerValue, reg.IntegerValue)
			}
		}
	}
}
