package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// logSource is one log group to read, and which of its streams.
type logSource struct {
	Group string
	// Streams are exact stream names; Prefix a stream name prefix (for a
	// service: every task of its task definitions).
	Streams []string
	Prefix  string
}

// logLine is one event as `minato logs` prints it.
type logLine struct {
	Time    time.Time `json:"timestamp"`
	Group   string    `json:"logGroup"`
	Stream  string    `json:"logStream"`
	Message string    `json:"message"`
	ID      string    `json:"eventId"`
}

var taskIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// runLogs is `minato logs SERVICE|TASK`.
func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logs", stderr)
	var cf connectFlags
	cf.register(fs)
	var out outputFlag
	out.register(fs)
	cluster := fs.String("cluster", "default", "the cluster")
	follow := fs.Bool("f", false, "follow: keep printing new events until interrupted (Ctrl-C)")
	since := fs.Duration("since", 10*time.Minute, "print the events of this long ago and later")
	poll := fs.Duration("poll", time.Second, "with -f, how often to ask for new events")
	// The name comes first (minato logs web -f) or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flagErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "" || len(rest) > 0 {
		fmt.Fprintln(stderr, "usage: minato logs SERVICE|TASK [flags]")
		return errUsage
	}
	if err := out.check(); err != nil {
		return err
	}
	cfg, err := cf.resolve(getenv)
	if err != nil {
		return err
	}
	srcs, err := logSources(ctx, cfg.ecs(), *cluster, name)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("%s: no log streams to read: no container of its task definition logs with the awslogs driver and an awslogs-stream-prefix (without a prefix the streams are named by container ID: give a task ID)", name)
	}
	t := &tailer{logs: cfg.logs(), srcs: srcs, seen: map[string]bool{}}
	start := time.Now().Add(-*since).UnixMilli()
	print := func(l logLine) error {
		if out.json() {
			return writeJSONLine(stdout, l)
		}
		_, err := fmt.Fprintln(stdout, formatLogLine(l, len(srcs) > 1))
		return err
	}
	if err := t.fetch(ctx, start, print); err != nil {
		return err
	}
	for *follow {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends a follow without an error
		case <-time.After(*poll):
		}
		if err := t.fetch(ctx, t.from(start), print); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// logSources finds the log groups and streams of a service (by name) or
// a task (by ID or ARN) from its task definition's awslogs configuration.
func logSources(ctx context.Context, c *ecs.Client, cluster, name string) ([]logSource, error) {
	if taskIDRE.MatchString(name) || strings.Contains(name, ":task/") {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &cluster, Tasks: []string{name}})
		if err != nil {
			return nil, err
		}
		if len(out.Tasks) == 0 {
			return nil, fmt.Errorf("task %s not found in cluster %s", name, cluster)
		}
		task := out.Tasks[0]
		td, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: task.TaskDefinitionArn})
		if err != nil {
			return nil, err
		}
		runtimeIDs := map[string]string{}
		for _, ct := range task.Containers {
			runtimeIDs[aws.ToString(ct.Name)] = aws.ToString(ct.RuntimeId)
		}
		return taskLogSources(td.TaskDefinition.ContainerDefinitions, lastPart(aws.ToString(task.TaskArn)), runtimeIDs), nil
	}
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &cluster, Services: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(out.Services) == 0 {
		return nil, fmt.Errorf("service %s not found in cluster %s (give a service name or a task ID)", name, cluster)
	}
	// Every deployment's task definition: during a rollout both the old
	// and the new tasks log.
	seen := map[string]bool{}
	var srcs []logSource
	tds := []string{aws.ToString(out.Services[0].TaskDefinition)}
	for _, d := range out.Services[0].Deployments {
		tds = append(tds, aws.ToString(d.TaskDefinition))
	}
	for _, arn := range tds {
		if arn == "" || seen[arn] {
			continue
		}
		seen[arn] = true
		td, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &arn})
		if err != nil {
			return nil, err
		}
		for _, s := range serviceLogSources(td.TaskDefinition.ContainerDefinitions) {
			if !seen[s.Group+"\x00"+s.Prefix] {
				seen[s.Group+"\x00"+s.Prefix] = true
				srcs = append(srcs, s)
			}
		}
	}
	return srcs, nil
}

// taskLogSources are the streams of one task's containers: prefix/
// container/task with an awslogs-stream-prefix, else the container's
// runtime ID (as the agent names them).
func taskLogSources(defs []ecstypes.ContainerDefinition, taskID string, runtimeIDs map[string]string) []logSource {
	byGroup := map[string]*logSource{}
	var order []string
	for _, d := range defs {
		group, prefix, ok := awslogsOf(d)
		if !ok {
			continue
		}
		stream := runtimeIDs[aws.ToString(d.Name)]
		if prefix != "" {
			stream = prefix + "/" + aws.ToString(d.Name) + "/" + taskID
		}
		if stream == "" {
			continue
		}
		if byGroup[group] == nil {
			byGroup[group] = &logSource{Group: group}
			order = append(order, group)
		}
		byGroup[group].Streams = append(byGroup[group].Streams, stream)
	}
	var out []logSource
	for _, g := range order {
		out = append(out, *byGroup[g])
	}
	return out
}

// serviceLogSources are the streams of every task of a task definition:
// prefix/container/ (a container without a stream prefix is named by its
// runtime ID, which cannot be told from other tasks' streams: skipped).
func serviceLogSources(defs []ecstypes.ContainerDefinition) []logSource {
	var out []logSource
	for _, d := range defs {
		group, prefix, ok := awslogsOf(d)
		if !ok || prefix == "" {
			continue
		}
		out = append(out, logSource{Group: group, Prefix: prefix + "/" + aws.ToString(d.Name) + "/"})
	}
	return out
}

func awslogsOf(d ecstypes.ContainerDefinition) (group, prefix string, ok bool) {
	lc := d.LogConfiguration
	if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs || lc.Options["awslogs-group"] == "" {
		return "", "", false
	}
	return lc.Options["awslogs-group"], lc.Options["awslogs-stream-prefix"], true
}

// tailer reads the events of its sources, each event once.
type tailer struct {
	logs *cloudwatchlogs.Client
	srcs []logSource
	// last is the newest timestamp printed, and seen the IDs of the
	// events printed at it: the next poll starts at last, and skips them.
	last int64
	seen map[string]bool
}

func (t *tailer) from(start int64) int64 { return max(start, t.last) }

// fetch prints the events from start on, oldest first across sources.
func (t *tailer) fetch(ctx context.Context, start int64, print func(logLine) error) error {
	var lines []logLine
	for _, s := range t.srcs {
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(s.Group), StartTime: aws.Int64(start)}
		if len(s.Streams) > 0 {
			in.LogStreamNames = s.Streams
		} else if s.Prefix != "" {
			in.LogStreamNamePrefix = aws.String(s.Prefix)
		}
		p := cloudwatchlogs.NewFilterLogEventsPaginator(t.logs, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				var nf interface{ ErrorCode() string }
				if errors.As(err, &nf) && nf.ErrorCode() == "ResourceNotFoundException" {
					break // the group is made with the first task's first line
				}
				return err
			}
			for _, e := range page.Events {
				lines = append(lines, logLine{Time: time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC(), Group: s.Group,
					Stream: aws.ToString(e.LogStreamName), Message: aws.ToString(e.Message), ID: aws.ToString(e.EventId)})
			}
		}
	}
	for _, l := range t.accept(lines) {
		if err := print(l); err != nil {
			return err
		}
	}
	return nil
}

// accept returns the lines not printed yet, oldest first, and remembers
// them: a poll that starts at the newest timestamp printed gets the
// events at it again, and those are dropped.
func (t *tailer) accept(lines []logLine) []logLine {
	sortLines(lines)
	var out []logLine
	for _, l := range lines {
		ms := l.Time.UnixMilli()
		key := l.Group + "\x00" + l.ID
		if ms < t.last || t.seen[key] {
			continue
		}
		if ms > t.last {
			t.last = ms
			clear(t.seen)
		}
		t.seen[key] = true
		out = append(out, l)
	}
	return out
}

func sortLines(ls []logLine) {
	// Stable: events of one stream keep the order the store gave them.
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Time.Before(ls[j-1].Time); j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// formatLogLine is how a log line prints: its time, its stream (the task
// and container, shortened), and its message.
func formatLogLine(l logLine, withGroup bool) string {
	src := shortStream(l.Stream)
	if withGroup {
		src = l.Group + " " + src
	}
	return l.Time.Format("2006-01-02T15:04:05.000Z07:00") + " " + src + " " + strings.TrimRight(l.Message, "\n")
}

// shortStream shortens prefix/container/taskid to container/taskid[:8].
func shortStream(s string) string {
	parts := strings.Split(s, "/")
	if len(parts) >= 3 {
		id := parts[len(parts)-1]
		if len(id) > 8 {
			id = id[:8]
		}
		return parts[len(parts)-2] + "/" + id
	}
	if len(s) > 12 && !strings.Contains(s, "/") {
		return s[:12]
	}
	return s
}
