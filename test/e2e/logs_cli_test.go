package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// tailProc is a running `aws logs tail ... --follow`.
type tailProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
}

func (n *node) startTail(t *testing.T, args ...string) *tailProc {
	t.Helper()
	bin := awsCLI(t)
	tp := &tailProc{cmd: exec.Command(bin, append([]string{"--endpoint-url", n.url(), "logs", "tail"}, args...)...)}
	tp.cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret, "AWS_SESSION_TOKEN=",
		"AWS_DEFAULT_REGION="+testRegion, "AWS_REGION="+testRegion, "AWS_PAGER=",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	out, err := tp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	tp.cmd.Stderr = &stderr
	if err := tp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			tp.mu.Lock()
			tp.lines = append(tp.lines, sc.Text())
			tp.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		tp.cmd.Process.Kill()
		tp.cmd.Wait()
		if t.Failed() {
			t.Logf("aws logs tail stderr:\n%s", stderr.String())
		}
	})
	return tp
}

func (tp *tailProc) output() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.lines...)
}

// The seed documents' flow with the aws CLI v2: a log group made
// beforehand, the seed's awslogs options (group, region, prefix),
// `aws logs tail --follow --format short` showing the output live,
// --since and --filter-pattern, get-log-events on ecs/<container>/<task>,
// describe-log-streams --order-by LastEventTime --descending, and the
// logs of a stopped, replaced task still there.
func TestLogsSeedCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	n.cliJSON(t, nil, "logs", "create-log-group", "--log-group-name", "/ecs/my-app")
	n.cliJSON(t, nil, "logs", "put-retention-policy", "--log-group-name", "/ecs/my-app", "--retention-in-days", "7")
	var groups struct {
		LogGroups []struct {
			LogGroupName    string
			RetentionInDays int
		}
	}
	n.cliJSON(t, &groups, "logs", "describe-log-groups", "--log-group-name-prefix", "/ecs/")
	if len(groups.LogGroups) != 1 || groups.LogGroups[0].RetentionInDays != 7 {
		t.Fatalf("describe-log-groups: %+v", groups)
	}
	if r := n.cli(t, "logs", "create-log-group", "--log-group-name", "/ecs/my-app"); r.exit == 0 || !strings.Contains(r.stderr, "ResourceAlreadyExistsException") {
		t.Fatalf("create-log-group twice: %d %s", r.exit, r.stderr)
	}

	image := testimage.Build(t, "")
	_, err := n.ecs().RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("my-app"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("my-container"), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
			Command: []string{"lines", "1000000", "20"},
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/ecs/my-app", "awslogs-region": "ap-northeast-1", "awslogs-stream-prefix": "ecs"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tail := n.startTail(t, "/ecs/my-app", "--follow", "--format", "short")
	first := runOne(t, n, "my-app")
	waitTaskStatus(t, n, first, "RUNNING", 60*time.Second)
	// tail polls every 5 s: lines show up within a few polls.
	waitFor(t, 40*time.Second, "aws logs tail --follow to show live lines", func() (bool, string) {
		out := tail.output()
		seen := 0
		for _, l := range out {
			// --format short: "<time> <message>"
			if f := strings.Fields(l); len(f) >= 3 && f[1] == "line" {
				seen++
			}
		}
		return seen >= 20, strings.Join(out[max(0, len(out)-3):], " | ")
	})

	stream := "ecs/my-container/" + taskID(first)
	var ge struct {
		Events []struct {
			Timestamp int64
			Message   string
		}
		NextForwardToken string
	}
	n.cliJSON(t, &ge, "logs", "get-log-events", "--log-group-name", "/ecs/my-app", "--log-stream-name", stream)
	if len(ge.Events) == 0 || !strings.HasPrefix(ge.Events[0].Message, "line 1 ") || !strings.HasPrefix(ge.NextForwardToken, "f/") {
		t.Fatalf("get-log-events: %+v", ge)
	}
	since := n.cli(t, "logs", "tail", "/ecs/my-app", "--since", "10m", "--format", "short")
	if since.exit != 0 || !strings.Contains(since.stdout, " line 1 t=") {
		t.Fatalf("tail --since 10m: %d %s %s", since.exit, since.stdout, since.stderr)
	}
	filtered := n.cli(t, "logs", "tail", "/ecs/my-app", "--filter-pattern", `"line 7 "`)
	if lines := strings.Split(strings.TrimSpace(filtered.stdout), "\n"); filtered.exit != 0 || len(lines) != 1 || !strings.Contains(lines[0], stream+" line 7 t=") {
		t.Fatalf("tail --filter-pattern: %d %q %s", filtered.exit, filtered.stdout, filtered.stderr)
	}

	// The task is replaced: its logs stay, and the new one's stream is
	// first by last event time.
	if _, err := n.ecs().StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(first)}); err != nil {
		t.Fatal(err)
	}
	waitTaskStatus(t, n, first, "STOPPED", 60*time.Second)
	second := runOne(t, n, "my-app")
	waitTaskStatus(t, n, second, "RUNNING", 60*time.Second)
	var top string
	waitFor(t, 30*time.Second, "the new task's stream to lead", func() (bool, string) {
		r := n.cli(t, "logs", "describe-log-streams", "--log-group-name", "/ecs/my-app", "--order-by", "LastEventTime",
			"--descending", "--query", "logStreams[0:3].logStreamName", "--output", "text")
		top = strings.Fields(r.stdout + " -")[0]
		return top == "ecs/my-container/"+taskID(second), r.stdout + r.stderr
	})
	table := n.cli(t, "logs", "describe-log-streams", "--log-group-name", "/ecs/my-app", "--order-by", "LastEventTime",
		"--descending", "--query", "logStreams[0:3].logStreamName", "--output", "table")
	if table.exit != 0 || !strings.Contains(table.stdout, stream) || !strings.Contains(table.stdout, top) {
		t.Fatalf("describe-log-streams table: %s %s", table.stdout, table.stderr)
	}
	n.cliJSON(t, &ge, "logs", "get-log-events", "--log-group-name", "/ecs/my-app", "--log-stream-name", stream, "--start-from-head", "--limit", "3")
	if len(ge.Events) != 3 || !strings.HasPrefix(ge.Events[2].Message, "line 3 ") {
		t.Fatalf("the stopped task's log: %+v", ge)
	}
	var fe struct {
		Events []struct{ LogStreamName, Message string }
	}
	n.cliJSON(t, &fe, "logs", "filter-log-events", "--log-group-name", "/ecs/my-app", "--log-stream-name-prefix", "ecs/my-container/", "--filter-pattern", `?"line 2 " ?"line 3 "`)
	if len(fe.Events) != 4 {
		t.Fatalf("filter-log-events across both tasks: %+v", fe)
	}
	if r := n.cli(t, "logs", "get-log-events", "--log-group-name", "/ecs/my-app", "--log-stream-name", "nope"); r.exit == 0 || !strings.Contains(r.stderr, "ResourceNotFoundException") {
		t.Fatalf("get-log-events of a missing stream: %d %s", r.exit, r.stderr)
	}
}
