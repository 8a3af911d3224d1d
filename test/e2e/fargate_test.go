package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// seed000TaskDefinition is seed 000's FARGATE task definition as a new
// user registers it with --cli-input-json, with what cannot work here
// replaced: the image is the locally built test image (told to listen on
// the container port 80 the definition maps), and the health check runs
// the image's own probe (it has no shell and no curl), every 5 s.
func seed000TaskDefinition(image string) string {
	return `{
"family": "my-task",
"networkMode": "awsvpc",
"requiresCompatibilities": ["FARGATE"],
"cpu": "256",
"memory": "512",
"executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
"containerDefinitions": [
{
"name": "my-container",
"image": "` + image + `",
"portMappings": [
{
"containerPort": 80,
"protocol": "tcp"
}
],
"environment": [
{"name": "ENV", "value": "production"},
{"name": "DATABASE_URL", "value": "postgresql://..."},
{"name": "PORT", "value": "80"}
],
"logConfiguration": {
"logDriver": "awslogs",
"options": {
"awslogs-group": "/ecs/my-task",
"awslogs-region": "us-east-1",
"awslogs-stream-prefix": "ecs"
}
},
"healthCheck": {
"command": ["CMD", "/testapp", "health", "http://127.0.0.1:80/health"],
"interval": 5,
"timeout": 5,
"retries": 3,
"startPeriod": 60
}
}
]
}`
}

// cliTask is what the tests read of describe-tasks.
type cliTask struct {
	TaskArn, LastStatus, LaunchType, PlatformVersion, PlatformFamily string
	AvailabilityZone, CapacityProviderName, StopCode                 string
	ContainerInstanceArn                                             *string
	Attachments                                                      []struct {
		Type, Status string
		Details      []struct{ Name, Value string }
	}
}

func (t cliTask) detail(name string) string {
	for _, a := range t.Attachments {
		for _, d := range a.Details {
			if d.Name == name {
				return d.Value
			}
		}
	}
	return ""
}

// The seeds' first run, with the aws CLI and only `minato up`: a cluster
// of its own with no container instance runs seed 000's FARGATE task
// definition (its agent serves the Fargate pool), a FARGATE service of ten
// 256-CPU tasks fits this two-core machine and answers through the load
// balancer (target type ip), a FARGATE_SPOT strategy names its capacity
// provider, a task the pool cannot hold fails with ECS's capacity
// shortage, an EC2 task still needs container instances, and services
// minato does not serve say so.
func TestFargateSeedCLI(t *testing.T) {
	t.Parallel()
	n := startDockerNode(t)
	image := testimage.Build(t, "")
	nc := "awsvpcConfiguration={subnets=[subnet-local],assignPublicIp=ENABLED}"

	n.cliJSON(t, nil, "ecs", "create-cluster", "--cluster-name", "my-cluster")
	n.cliJSON(t, nil, "logs", "create-log-group", "--log-group-name", "/ecs/my-task")
	td := filepath.Join(t.TempDir(), "td.json")
	if err := os.WriteFile(td, []byte(seed000TaskDefinition(image)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cliJSON(t, nil, "ecs", "register-task-definition", "--cli-input-json", "file://"+td)

	// awsvpc needs a network configuration, as on ECS; any subnet ID does.
	r := n.cli(t, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "my-task", "--launch-type", "FARGATE")
	if r.exit == 0 || !strings.Contains(r.stderr, "Network Configuration must be provided when networkMode 'awsvpc' is specified.") {
		t.Fatalf("run-task without --network-configuration: %d %s", r.exit, r.stderr)
	}
	var run struct{ Tasks []cliTask }
	n.cliJSON(t, &run, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "my-task", "--launch-type", "FARGATE",
		"--network-configuration", nc)
	if len(run.Tasks) != 1 {
		t.Fatalf("run-task: %+v", run)
	}
	arn := run.Tasks[0].TaskArn
	n.cliJSON(t, nil, "ecs", "wait", "tasks-running", "--cluster", "my-cluster", "--tasks", arn)
	var desc struct{ Tasks []cliTask }
	n.cliJSON(t, &desc, "ecs", "describe-tasks", "--cluster", "my-cluster", "--tasks", arn)
	tk := desc.Tasks[0]
	if tk.ContainerInstanceArn != nil || tk.LaunchType != "FARGATE" || tk.PlatformVersion != "1.4.0" || tk.PlatformFamily != "Linux" ||
		tk.AvailabilityZone == "" || tk.CapacityProviderName != "" || tk.detail("subnetId") != "subnet-local" ||
		net.ParseIP(tk.detail("privateIPv4Address")) == nil || tk.Attachments[0].Type != "ElasticNetworkInterface" || tk.Attachments[0].Status != "ATTACHED" {
		t.Fatalf("a FARGATE task as ECS shows it: %+v", tk)
	}
	var arns struct{ TaskArns, ContainerInstanceArns []string }
	n.cliJSON(t, &arns, "ecs", "list-container-instances", "--cluster", "my-cluster")
	if len(arns.ContainerInstanceArns) != 0 {
		t.Fatalf("my-cluster has container instances: %v", arns.ContainerInstanceArns)
	}
	n.cliJSON(t, &arns, "ecs", "list-tasks", "--cluster", "default")
	if len(arns.TaskArns) != 0 {
		t.Fatalf("the pool host's cluster lists the task of my-cluster: %v", arns.TaskArns)
	}
	n.cliJSON(t, nil, "ecs", "stop-task", "--cluster", "my-cluster", "--task", arn)

	// A FARGATE service of ten 256-CPU tasks behind the load balancer.
	var lbs struct {
		LoadBalancers []struct{ LoadBalancerArn, DNSName string }
	}
	n.cliJSON(t, &lbs, "elbv2", "create-load-balancer", "--name", "my-alb", "--subnets", "subnet-local")
	var tgs struct {
		TargetGroups []struct{ TargetGroupArn string }
	}
	n.cliJSON(t, &tgs, "elbv2", "create-target-group", "--name", "my-tg", "--protocol", "HTTP", "--port", "80", "--vpc-id", "vpc-local",
		"--target-type", "ip", "--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2", "--healthy-threshold-count", "2")
	tg := tgs.TargetGroups[0].TargetGroupArn
	_, port, _ := net.SplitHostPort(freeAddr(t))
	n.cliJSON(t, nil, "elbv2", "create-listener", "--load-balancer-arn", lbs.LoadBalancers[0].LoadBalancerArn, "--protocol", "HTTP",
		"--port", port, "--default-actions", "Type=forward,TargetGroupArn="+tg)
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "my-cluster", "--service-name", "my-service", "--task-definition", "my-task",
		"--desired-count", "10", "--launch-type", "FARGATE", "--network-configuration", nc,
		"--load-balancers", "targetGroupArn="+tg+",containerName=my-container,containerPort=80", "--health-check-grace-period-seconds", "60")
	waitFor(t, 4*time.Minute, "ten tasks of my-service healthy behind the load balancer", func() (bool, string) {
		var st []string
		n.cliJSON(t, &st, "elbv2", "describe-target-health", "--target-group-arn", tg, "--query", "TargetHealthDescriptions[*].TargetHealth.State")
		healthy := 0
		for _, s := range st {
			if s == "healthy" {
				healthy++
			}
		}
		return healthy == 10, fmt.Sprint(st)
	})
	n.cliJSON(t, nil, "ecs", "wait", "services-stable", "--cluster", "my-cluster", "--services", "my-service")
	url := fmt.Sprintf("http://%s:%s/", lbs.LoadBalancers[0].DNSName, port)
	if seen := hostnames(t, lbClient(), url, 60); len(seen) != 10 {
		t.Fatalf("60 requests through the load balancer reached %d tasks, want 10: %v", len(seen), seen)
	}

	// FARGATE_SPOT, once the cluster has it (as on ECS).
	r = n.cli(t, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "my-task", "--network-configuration", nc,
		"--capacity-provider-strategy", "capacityProvider=FARGATE_SPOT,weight=1")
	if r.exit == 0 || !strings.Contains(r.stderr, "not associated with the cluster") {
		t.Fatalf("FARGATE_SPOT on a cluster without it: %d %s", r.exit, r.stderr)
	}
	n.cliJSON(t, nil, "ecs", "put-cluster-capacity-providers", "--cluster", "my-cluster", "--capacity-providers", "FARGATE", "FARGATE_SPOT",
		"--default-capacity-provider-strategy", "capacityProvider=FARGATE,weight=1")
	n.cliJSON(t, &run, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "my-task", "--network-configuration", nc,
		"--capacity-provider-strategy", "capacityProvider=FARGATE_SPOT,weight=1")
	if len(run.Tasks) != 1 || run.Tasks[0].CapacityProviderName != "FARGATE_SPOT" || run.Tasks[0].LaunchType != "FARGATE" {
		t.Fatalf("run-task with FARGATE_SPOT: %+v", run.Tasks)
	}
	n.cliJSON(t, nil, "ecs", "wait", "tasks-running", "--cluster", "my-cluster", "--tasks", run.Tasks[0].TaskArn)

	// A task the pool cannot hold: ECS's capacity shortage, for RunTask
	// and in the service's events.
	big := `{"cpu": "16384", "memory": "122880"}`
	var failed struct {
		Tasks    []cliTask
		Failures []struct{ Reason, Detail string }
	}
	n.cliJSON(t, &failed, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "my-task", "--launch-type", "FARGATE",
		"--network-configuration", nc, "--overrides", big)
	const capacity = "Capacity is unavailable at this time. Please try again later or in a different availability zone"
	if len(failed.Tasks) != 0 || len(failed.Failures) != 1 || failed.Failures[0].Reason != capacity {
		t.Fatalf("run-task of a task larger than the pool: %+v", failed)
	}
	bigTD := strings.Replace(strings.Replace(seed000TaskDefinition(image), `"cpu": "256"`, `"cpu": "16384"`, 1), `"memory": "512"`, `"memory": "122880"`, 1)
	bigTD = strings.Replace(bigTD, `"family": "my-task"`, `"family": "huge"`, 1)
	if err := os.WriteFile(td, []byte(bigTD), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cliJSON(t, nil, "ecs", "register-task-definition", "--cli-input-json", "file://"+td)
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "my-cluster", "--service-name", "huge", "--task-definition", "huge",
		"--desired-count", "1", "--launch-type", "FARGATE", "--network-configuration", nc)
	want := "(service huge) was unable to place a task. Reason: " + capacity + "."
	waitFor(t, 60*time.Second, "the capacity event of service huge", func() (bool, string) {
		var events []string
		n.cliJSON(t, &events, "ecs", "describe-services", "--cluster", "my-cluster", "--services", "huge", "--query", "services[0].events[].message")
		for _, e := range events {
			if e == want {
				return true, ""
			}
		}
		return false, fmt.Sprint(events)
	})

	// EC2 keeps its ECS semantics: no container instance, no task.
	r = n.cli(t, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "my-task", "--launch-type", "EC2", "--network-configuration", nc)
	if r.exit == 0 || !strings.Contains(r.stderr, "(InvalidParameterException)") || !strings.Contains(r.stderr, "No Container Instances were found in your cluster.") {
		t.Fatalf("an EC2 task in a cluster without instances: %d %s", r.exit, r.stderr)
	}

	// The seeds' other services: the CLI prints that minato does not serve them.
	for _, args := range [][]string{{"eks", "list-clusters"}, {"appmesh", "list-meshes"}, {"deploy", "list-applications"}, {"cloudformation", "list-stacks"}} {
		r := n.cli(t, args...)
		if r.exit == 0 || !strings.Contains(r.stderr, "minato does not serve the ") || !strings.Contains(r.stderr, "see docs/compatibility.md") {
			t.Errorf("aws %s: %d %s", strings.Join(args, " "), r.exit, r.stderr)
		}
	}
}
