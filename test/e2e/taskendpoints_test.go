package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// probeResult is what testapp's awsprobe mode prints.
type probeResult struct {
	Metadata struct {
		Cluster, TaskARN, Family, KnownStatus string
		Containers                            []struct {
			Name, DockerId string
			Networks       []struct {
				NetworkMode   string
				IPv4Addresses []string
			}
		}
	}
	Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	Tasks       []string
	Secret      string
	Identity    string
	Forbidden   string
	Errors      map[string]string
}

// An application in a task, in bridge, host and awsvpc mode: the AWS SDK
// for Go v2 with its default configuration reads the task metadata
// endpoint, lists its own cluster's tasks, reads a secret and asks who it
// is, all through the credentials endpoint of the task's role and the
// endpoint minato sets (AWS_ENDPOINT_URL); a call outside the trust model
// is refused; and the credentials are refused once the task has stopped.
func TestTaskMetadataAndCredentials(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sm := secretsmanager.New(secretsmanager.Options{BaseEndpoint: aws.String(n.url()), Region: testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")})
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("s3cr3t")}); err != nil {
		t.Fatal(err)
	}
	image := testimage.Build(t, "")
	role := "arn:aws:iam::000000000000:role/app-task-role"
	for _, mode := range []types.NetworkMode{types.NetworkModeBridge, types.NetworkModeHost, types.NetworkModeAwsvpc} {
		t.Run(string(mode), func(t *testing.T) {
			family := "probe-" + string(mode)
			c := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
				Command: []string{"pause"}}
			if _, err := n.ecs().RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
				NetworkMode: mode, TaskRoleArn: aws.String(role), ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/exec-role"),
				ContainerDefinitions: []types.ContainerDefinition{c}}); err != nil {
				t.Fatal(err)
			}
			in := &ecs.RunTaskInput{TaskDefinition: aws.String(family), EnableExecuteCommand: true}
			if mode == types.NetworkModeAwsvpc {
				in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
			}
			out, err := n.ecs().RunTask(ctx, in)
			if err != nil || len(out.Tasks) != 1 {
				t.Fatalf("run-task: %v %+v", err, out)
			}
			task := aws.ToString(out.Tasks[0].TaskArn)
			waitTaskStatus(t, n, task, "RUNNING", 90*time.Second)

			var buf lockedBuffer
			sess := openExec(t, ctx, n, task, "/testapp awsprobe app/db", &buf)
			code, err := sess.Wait(ctx)
			var res probeResult
			line := strings.TrimSpace(buf.String())
			if i := strings.Index(line, "{"); i >= 0 {
				line = line[i:]
			}
			if jerr := json.Unmarshal([]byte(line), &res); jerr != nil || err != nil {
				t.Fatalf("awsprobe: exit %d, %v, %v\n%s", code, err, jerr, buf.String())
			}
			if code != 0 || len(res.Errors) != 0 {
				t.Fatalf("awsprobe: exit %d, errors %v", code, res.Errors)
			}
			// ARNs name the caller's region: compare task IDs.
			if taskID(res.Metadata.TaskARN) != taskID(task) || !strings.HasSuffix(res.Metadata.Cluster, ":cluster/default") || res.Metadata.Family != family ||
				res.Metadata.KnownStatus != "RUNNING" || len(res.Metadata.Containers) != 1 || res.Metadata.Containers[0].DockerId == "" ||
				res.Metadata.Containers[0].Networks[0].NetworkMode != string(mode) {
				t.Errorf("metadata: %+v", res.Metadata)
			}
			found := false
			for _, a := range res.Tasks {
				found = found || taskID(a) == taskID(task)
			}
			if !found || res.Secret != "s3cr3t" || !strings.Contains(res.Identity, "assumed-role/app-task-role/") {
				t.Errorf("the SDK in the task: tasks %v, secret %q, identity %q", res.Tasks, res.Secret, res.Identity)
			}
			if mode == types.NetworkModeBridge {
				checkStats(t, ctx, res.Metadata.Containers[0].DockerId)
			}
			if !strings.Contains(res.Forbidden, "AccessDenied") {
				t.Errorf("DeleteCluster with task credentials: %q", res.Forbidden)
			}
			// The credentials from outside: accepted while the task runs,
			// refused once it stopped.
			cr := res.Credentials
			withTask := ecs.New(ecs.Options{BaseEndpoint: aws.String(n.url()), Region: testRegion,
				Credentials: credentials.NewStaticCredentialsProvider(cr.AccessKeyId, cr.SecretAccessKey, cr.SessionToken)})
			if _, err := withTask.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
				t.Fatalf("task credentials while the task runs: %v", err)
			}
			noToken := ecs.New(ecs.Options{BaseEndpoint: aws.String(n.url()), Region: testRegion,
				Credentials: credentials.NewStaticCredentialsProvider(cr.AccessKeyId, cr.SecretAccessKey, "")})
			if _, err := noToken.ListClusters(ctx, &ecs.ListClustersInput{}); err == nil {
				t.Error("task credentials without their session token were accepted")
			}
			if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(task)}); err != nil {
				t.Fatal(err)
			}
			waitTaskStatus(t, n, task, "STOPPED", 90*time.Second)
			if _, err := withTask.ListClusters(ctx, &ecs.ListClustersInput{}); err == nil || !strings.Contains(err.Error(), "UnrecognizedClient") {
				t.Errorf("task credentials after the task stopped: %v", err)
			}
		})
	}
}

// checkStats reads a container's /stats and /task/stats from this host
// (169.254.170.2 is an address of the host too), with the metadata URL the
// container was given.
func checkStats(t *testing.T, ctx context.Context, dockerID string) {
	t.Helper()
	in, err := testimage.RequireDocker(t).ContainerInspect(ctx, dockerID)
	if err != nil {
		t.Fatal(err)
	}
	var uri string
	for _, e := range in.Config.Env {
		if v, ok := strings.CutPrefix(e, "ECS_CONTAINER_METADATA_URI_V4="); ok {
			uri = v
		}
	}
	get := func(u string, v any) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
	}
	var one struct {
		Read        string
		MemoryStats struct{ Usage uint64 } `json:"memory_stats"`
	}
	get(uri+"/stats", &one)
	var all map[string]json.RawMessage
	get(uri+"/task/stats", &all)
	if one.Read == "" || one.MemoryStats.Usage == 0 || all[dockerID] == nil {
		t.Errorf("stats: %+v; task stats for %v", one, len(all))
	}
	resp, err := http.Get(strings.TrimSuffix(uri, uri[strings.LastIndex(uri, "-"):]) + "-000000000000000000000000/task")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("a guessed metadata URL answered %d", resp.StatusCode)
		}
	}
}
