package e2e

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// logsClient is a CloudWatch Logs client of the real AWS SDK for Go v2.
func (n *node) logs() *cwl.Client {
	return cwl.New(cwl.Options{
		BaseEndpoint: aws.String(n.url()),
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
	})
}

// registerLogger registers a task definition whose container "app" runs
// testapp with args and logs with awslogs and the given options.
func registerLogger(t *testing.T, n *node, family string, opts map[string]string, args ...string) {
	t.Helper()
	registerApp(t, n, family, func(c *types.ContainerDefinition) {
		c.PortMappings = nil
		c.Command = args
		c.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: opts}
	})
}

func runOne(t *testing.T, n *node, family string) string {
	t.Helper()
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(family)})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

// groupMessages reads every event of a group with FilterLogEvents (all
// pages), in the order the API returns them.
func groupMessages(t *testing.T, n *node, group string) (msgs []string, streams map[string]int) {
	t.Helper()
	streams = map[string]int{}
	p := cwl.NewFilterLogEventsPaginator(n.logs(), &cwl.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("filter-log-events: %v", err)
		}
		for _, e := range out.Events {
			msgs = append(msgs, aws.ToString(e.Message))
			streams[aws.ToString(e.LogStreamName)]++
		}
	}
	return msgs, streams
}

var lineRE = regexp.MustCompile(`^line (\d+) t=\d+$`)

// checkNumbered requires lines 1..want, each once, in order.
func checkNumbered(t *testing.T, msgs []string, want int) {
	t.Helper()
	next := 1
	for i, m := range msgs {
		sm := lineRE.FindStringSubmatch(m)
		if sm == nil {
			t.Fatalf("event %d is not a numbered line: %q", i, m)
		}
		k, _ := strconv.Atoi(sm[1])
		if k != next {
			t.Fatalf("event %d is line %d, want line %d (lost, duplicated or out of order)", i, k, next)
		}
		next++
	}
	if next-1 != want {
		t.Fatalf("%d lines arrived, want %d", next-1, want)
	}
}

// linesDone is the line testapp's lines mode prints after its numbered
// lines ("end" argument): once it is in the group, every line before it
// has been shipped.
const linesDone = "lines done"

// waitLines waits until the group holds the line linesDone, which the
// container prints after its numbered lines, and returns the lines before
// it. Lines are shipped in order, so a duplicate of any numbered line
// would be there by then.
func waitLines(t *testing.T, n *node, group string, timeout time.Duration) []string {
	t.Helper()
	var msgs []string
	waitFor(t, timeout, fmt.Sprintf("%q in %s", linesDone, group), func() (bool, string) {
		msgs, _ = groupMessages(t, n, group)
		return slices.Contains(msgs, linesDone), fmt.Sprintf("%d lines", len(msgs))
	})
	if i := slices.Index(msgs, linesDone); i != len(msgs)-1 {
		t.Fatalf("%q is event %d of %d, want it last", linesDone, i, len(msgs))
	}
	return msgs[:len(msgs)-1]
}

// lastWritten is the number of the last numbered line a container of
// testapp's lines mode has written, read from Docker (0 before the first).
func lastWritten(t *testing.T, containerID string) int {
	t.Helper()
	cli := testimage.RequireDocker(t)
	rc, err := cli.ContainerLogs(context.Background(), containerID, container.LogsOptions{ShowStdout: true, Tail: "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, io.Discard, rc); err != nil {
		t.Fatal(err)
	}
	last := 0
	for line := range strings.Lines(out.String()) {
		if sm := lineRE.FindStringSubmatch(strings.TrimSpace(line)); sm != nil {
			last, _ = strconv.Atoi(sm[1])
		}
	}
	return last
}

// waitWritten waits until the container has written more lines: while
// some part of minato is down, so that its lines wait to be shipped.
func waitWritten(t *testing.T, containerID string, more, total int) {
	t.Helper()
	want := min(lastWritten(t, containerID)+more, total)
	waitFor(t, 60*time.Second, fmt.Sprintf("line %d to be written", want), func() (bool, string) {
		got := lastWritten(t, containerID)
		return got >= want, strconv.Itoa(got)
	})
}

// A container's numbered lines arrive once each and in order, in the
// stream ECS would name, stamped with Docker's times; the task's logs stay
// readable after it stopped.
func TestLogsNumberedLinesArriveOnceInOrder(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	testimage.Build(t, "")
	registerLogger(t, n, "logger", map[string]string{
		"awslogs-group": "/ecs/logger", "awslogs-region": testRegion, "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true",
	}, "lines", "3000", "0", "end", linesDone, "exit", "0")
	before := time.Now()
	arn := runOne(t, n, "logger")
	waitTaskStatus(t, n, arn, "STOPPED", 60*time.Second)
	msgs := waitLines(t, n, "/ecs/logger", 60*time.Second)
	checkNumbered(t, msgs, 3000)
	_, streams := groupMessages(t, n, "/ecs/logger")
	want := "ecs/app/" + taskID(arn)
	if len(streams) != 1 || streams[want] != 3000+1 {
		t.Fatalf("streams %v, want all in %s", streams, want)
	}
	ge, err := n.logs().GetLogEvents(context.Background(), &cwl.GetLogEventsInput{LogGroupName: aws.String("/ecs/logger"),
		LogStreamName: aws.String(want), StartFromHead: aws.Bool(true), Limit: aws.Int32(1)})
	if err != nil || len(ge.Events) != 1 {
		t.Fatalf("get-log-events of the stopped task: %v %+v", err, ge)
	}
	ts := time.UnixMilli(aws.ToInt64(ge.Events[0].Timestamp))
	sm := strings.TrimPrefix(aws.ToString(ge.Events[0].Message), "line 1 t=")
	written, _ := strconv.ParseInt(sm, 10, 64)
	if d := ts.Sub(time.Unix(0, written)); ts.Before(before.Add(-time.Second)) || d < -time.Millisecond || d > 5*time.Second {
		t.Fatalf("event timestamp %v; the line was written at %v", ts, time.Unix(0, written))
	}
}

// Across a kill -9 of the agent and then of the server, while the
// container keeps writing, every line arrives once and in order.
func TestLogsSurviveAgentAndServerKill(t *testing.T) {
	e2eTest(t)
	testimage.RequireDocker(t)
	n := startNode(t)
	a := startAgent(t, n)
	waitForInstances(t, n, "default", 1)
	testimage.Build(t, "")
	const total = 8000
	registerLogger(t, n, "durable-logs", map[string]string{
		"awslogs-group": "/ecs/durable", "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true",
	}, "lines", strconv.Itoa(total), "800", "end", linesDone)
	arn := runOne(t, n, "durable-logs")
	waitTaskStatus(t, n, arn, "RUNNING", 60*time.Second)
	ctr := containersOfTask(t, taskID(arn))[0].ID
	count := func() int { msgs, _ := groupMessages(t, n, "/ecs/durable"); return len(msgs) }
	waitFor(t, 60*time.Second, "the first lines", func() (bool, string) { c := count(); return c > 500, strconv.Itoa(c) })

	a.kill()
	waitWritten(t, ctr, 800, total) // the container writes on meanwhile
	a.start()
	shipped := count()
	waitFor(t, 60*time.Second, "lines after the agent restart", func() (bool, string) { c := count(); return c > shipped, strconv.Itoa(c) })

	mark := len(a.out.String())
	n.kill()
	waitFor(t, 60*time.Second, "the agent to notice the server is gone", func() (bool, string) {
		return strings.Contains(a.out.String()[mark:], "failed; retrying"), ""
	})
	waitWritten(t, ctr, 800, total)
	n.start()
	msgs := waitLines(t, n, "/ecs/durable", 120*time.Second)
	checkNumbered(t, msgs, total)
}

// A missing group without awslogs-create-group fails the task as ECS
// does; other log drivers go to Docker unchanged.
func TestLogsMissingGroupAndOtherDrivers(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerLogger(t, n, "nogroup", map[string]string{"awslogs-group": "/ecs/absent", "awslogs-stream-prefix": "ecs"}, "pause")
	task := waitTaskStatus(t, n, runOne(t, n, "nogroup"), "STOPPED", 60*time.Second)
	if !strings.Contains(aws.ToString(task.StoppedReason), "ResourceNotFoundException") || task.StopCode != types.TaskStopCodeTaskFailedToStart {
		t.Fatalf("stopped: %s %s", task.StopCode, aws.ToString(task.StoppedReason))
	}
	registerApp(t, n, "jsonfile", func(c *types.ContainerDefinition) {
		c.PortMappings = nil
		c.Command = []string{"pause"}
		c.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverJsonFile, Options: map[string]string{"max-size": "1m"}}
	})
	arn := runOne(t, n, "jsonfile")
	waitTaskStatus(t, n, arn, "RUNNING", 60*time.Second)
	cli := testimage.RequireDocker(t)
	cs := containersOfTask(t, taskID(arn))
	info, err := cli.ContainerInspect(context.Background(), cs[0].ID)
	if err != nil || info.HostConfig.LogConfig.Type != "json-file" || info.HostConfig.LogConfig.Config["max-size"] != "1m" {
		t.Fatalf("json-file container's log config: %+v %v", info.HostConfig.LogConfig, err)
	}
}
