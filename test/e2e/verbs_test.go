package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// minatoVerb runs a user verb of the minato binary against n the way a
// user on n's machine would: the endpoint from n's data dir (no
// --endpoint-url, no profile), the key pair from the environment (the
// harness gives n its keys that way, so credentials.json is not written).
func minatoVerb(t *testing.T, n *node, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, minatoBin, append(args, "--data-dir", n.dataDir)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret,
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	res := cliResult{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("minato %v: %v", args, err)
	}
	return res
}

// derivedImage builds, from the local image base, an image tagged tag
// with the given Dockerfile lines after FROM (no registry is reached: the
// base is local).
func derivedImage(t *testing.T, base, tag string, lines ...string) string {
	t.Helper()
	cli, err := dockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	df := "FROM " + base + "\n" + strings.Join(lines, "\n") + "\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(df))
	tw.Close()
	resp, err := cli.ImageBuild(context.Background(), &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, Version: build.BuilderV1})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("docker build %s: %s", tag, out)
	}
	t.Cleanup(func() {
		if c, err := dockerClient(); err == nil {
			c.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true})
			c.Close()
		}
	})
	return tag
}

// `minato deploy --image` rolls a service onto a new image and exits 0
// once the deployment is COMPLETED; an image whose container exits at
// once trips the circuit breaker, which rolls back, and deploy exits
// non-zero. status, ps and logs show the service, its tasks and its logs.
func TestMinatoDeployStatusPsLogs(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	base := testimage.Build(t, "")
	suffix := fmt.Sprint(time.Now().UnixNano())
	v2 := derivedImage(t, base, "minato-testapp-h19:v2-"+suffix, "LABEL minato.test=v2")
	broken := derivedImage(t, base, "minato-testapp-h19:broken-"+suffix, `CMD ["exit", "1"]`)
	ctx := ctxT(t)
	if _, err := n.ecs().CreateCluster(ctx, &ecs.CreateClusterInput{}); err != nil {
		t.Fatal(err)
	}
	registerApp(t, n, "web", func(c *types.ContainerDefinition) {
		c.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/ecs/web", "awslogs-region": testRegion, "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}
	})
	_, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{
		ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2),
		DeploymentConfiguration: &types.DeploymentConfiguration{
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
			MaximumPercent:           aws.Int32(200), MinimumHealthyPercent: aws.Int32(100),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStable(t, n, "web", 60*time.Second)
	waitCompleted(t, n, "web")

	// A rolling deployment of a new image: exit 0, the new revision runs.
	r := minatoVerb(t, n, 3*time.Minute, "deploy", "web", "--image", v2, "--timeout", "150s")
	if r.exit != 0 || !strings.Contains(r.stdout, "COMPLETED") {
		t.Fatalf("deploy v2: exit %d\nstdout:\n%s\nstderr:\n%s", r.exit, r.stdout, r.stderr)
	}
	t.Logf("minato deploy (v2), exit %d:\n%s", r.exit, r.stdout)
	svc := describeService(t, n, "web")
	if !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "web:2") || svc.RunningCount != 2 {
		t.Fatalf("after deploy: %s running %d", aws.ToString(svc.TaskDefinition), svc.RunningCount)
	}
	td, err := n.ecs().DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
	if err != nil || aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image) != v2 ||
		td.TaskDefinition.ContainerDefinitions[0].LogConfiguration == nil {
		t.Fatalf("web:2: %+v %v", td, err)
	}

	// status and ps, as tables and as JSON.
	r = minatoVerb(t, n, time.Minute, "status")
	t.Logf("minato status:\n%s", r.stdout)
	if r.exit != 0 || !strings.Contains(r.stdout, "web") || !strings.Contains(r.stdout, "2/2") || !strings.Contains(r.stdout, "connected") {
		t.Fatalf("status: exit %d\n%s\n%s", r.exit, r.stdout, r.stderr)
	}
	r = minatoVerb(t, n, time.Minute, "ps", "--service", "web", "--output", "json")
	var tasks []struct {
		TaskDefinition string `json:"taskDefinition"`
		LastStatus     string `json:"lastStatus"`
		ID             string `json:"taskId"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tasks); r.exit != 0 || err != nil || len(tasks) != 2 ||
		tasks[0].TaskDefinition != "web:2" || tasks[0].LastStatus != "RUNNING" {
		t.Fatalf("ps: exit %d %v %+v\n%s", r.exit, err, tasks, r.stderr)
	}
	// logs: the test app logs a line when it starts.
	waitFor(t, 60*time.Second, "the service's logs", func() (bool, string) {
		r = minatoVerb(t, n, time.Minute, "logs", "web", "--since", "10m")
		return r.exit == 0 && strings.Contains(r.stdout, "app/"+tasks[0].ID[:8]), r.stdout + r.stderr
	})
	r = minatoVerb(t, n, time.Minute, "logs", tasks[0].ID)
	if r.exit != 0 || r.stdout == "" || strings.Contains(r.stdout, tasks[1].ID[:8]) {
		t.Fatalf("logs of task %s: exit %d\n%s\n%s", tasks[0].ID, r.exit, r.stdout, r.stderr)
	}

	// A service that does not exist yet: deploy --image creates it (task
	// definition, log group, service) with no aws CLI involved, and its
	// logs are readable at once.
	r = minatoVerb(t, n, 3*time.Minute, "deploy", "hello", "--image", v2, "--port", "8080", "--count", "1", "--timeout", "150s")
	t.Logf("minato deploy (new service), exit %d:\n%s", r.exit, r.stdout)
	if r.exit != 0 || !strings.Contains(r.stdout, "created service hello") || !strings.Contains(r.stdout, "COMPLETED") {
		t.Fatalf("deploy hello: exit %d\nstdout:\n%s\nstderr:\n%s", r.exit, r.stdout, r.stderr)
	}
	if svc := describeService(t, n, "hello"); svc.RunningCount != 1 || !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "hello:1") {
		t.Fatalf("hello after deploy: %s running %d", aws.ToString(svc.TaskDefinition), svc.RunningCount)
	}
	waitFor(t, 60*time.Second, "the new service's logs", func() (bool, string) {
		r = minatoVerb(t, n, time.Minute, "logs", "hello", "--since", "10m")
		return r.exit == 0 && strings.Contains(r.stdout, "hello/"), r.stdout + r.stderr
	})
	// --count is refused for a service that exists, and a missing service
	// without --image says how to create it.
	if r = minatoVerb(t, n, time.Minute, "deploy", "hello", "--image", v2, "--count", "3"); r.exit != 2 {
		t.Fatalf("deploy --count on an existing service: exit %d, want 2\n%s", r.exit, r.stderr)
	}
	if r = minatoVerb(t, n, time.Minute, "deploy", "nope", "--task-definition", "web:2"); r.exit != 1 || !strings.Contains(r.stderr, "give --image to create it") {
		t.Fatalf("deploy of a missing service: exit %d\n%s", r.exit, r.stderr)
	}

	// An image whose container exits at once: the circuit breaker rolls
	// back, and deploy says so with a non-zero exit.
	r = minatoVerb(t, n, 4*time.Minute, "deploy", "web", "--image", broken, "--timeout", "200s")
	t.Logf("minato deploy (broken image), exit %d:\n%s", r.exit, r.stdout)
	if r.exit != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "rolled back to web:2") {
		t.Fatalf("deploy broken: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.exit, r.stdout, r.stderr)
	}
}
