package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// taskRow is one task as `minato ps` shows it.
type taskRow struct {
	Cluster        string         `json:"cluster"`
	ID             string         `json:"taskId"`
	Group          string         `json:"group"`
	TaskDefinition string         `json:"taskDefinition"`
	LastStatus     string         `json:"lastStatus"`
	DesiredStatus  string         `json:"desiredStatus"`
	Health         string         `json:"healthStatus"`
	StartedAt      time.Time      `json:"startedAt,omitzero"`
	StoppedAt      time.Time      `json:"stoppedAt,omitzero"`
	StopCode       string         `json:"stopCode,omitempty"`
	StoppedReason  string         `json:"stoppedReason,omitempty"`
	Containers     []containerRow `json:"containers"`
}

type containerRow struct {
	Name     string `json:"name"`
	Status   string `json:"lastStatus"`
	ExitCode *int32 `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// runPs is `minato ps`.
func runPs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ps", stderr)
	var cf connectFlags
	cf.register(fs)
	var out outputFlag
	out.register(fs)
	cluster := fs.String("cluster", "default", "the cluster")
	service := fs.String("service", "", "this service's tasks only")
	all := fs.Bool("all", false, "stopped tasks too (ECS keeps them about an hour)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := out.check(); err != nil {
		return err
	}
	cfg, err := cf.resolve(getenv)
	if err != nil {
		return err
	}
	rows, err := listTasks(ctx, cfg.ecs(), *cluster, *service, *all)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(stdout, rows)
	}
	renderTasks(stdout, rows, time.Now())
	return nil
}

func listTasks(ctx context.Context, c *ecs.Client, cluster, service string, all bool) ([]taskRow, error) {
	statuses := []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning}
	if all {
		statuses = append(statuses, ecstypes.DesiredStatusStopped)
	}
	var arns []string
	for _, st := range statuses {
		p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: &cluster, ServiceName: nonEmpty(service), DesiredStatus: st})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			arns = append(arns, page.TaskArns...)
		}
	}
	rows := []taskRow{}
	for chunk := range slices.Chunk(arns, 100) {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &cluster, Tasks: chunk})
		if err != nil {
			return nil, err
		}
		for _, t := range out.Tasks {
			rows = append(rows, taskRowOf(cluster, t))
		}
	}
	slices.SortStableFunc(rows, func(a, b taskRow) int {
		if c := cmpString(a.Group, b.Group); c != 0 {
			return c
		}
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return rows, nil
}

func taskRowOf(cluster string, t ecstypes.Task) taskRow {
	r := taskRow{Cluster: cluster, ID: lastPart(aws.ToString(t.TaskArn)), Group: aws.ToString(t.Group),
		TaskDefinition: lastPart(aws.ToString(t.TaskDefinitionArn)), LastStatus: aws.ToString(t.LastStatus),
		DesiredStatus: aws.ToString(t.DesiredStatus), Health: string(t.HealthStatus), StartedAt: aws.ToTime(t.StartedAt),
		StoppedAt: aws.ToTime(t.StoppedAt), StopCode: string(t.StopCode), StoppedReason: aws.ToString(t.StoppedReason),
		Containers: []containerRow{}}
	for _, c := range t.Containers {
		r.Containers = append(r.Containers, containerRow{Name: aws.ToString(c.Name), Status: aws.ToString(c.LastStatus),
			ExitCode: c.ExitCode, Reason: aws.ToString(c.Reason)})
	}
	return r
}

// renderTasks prints the tasks as a table. It is pure: now is when the
// ages are from.
func renderTasks(w io.Writer, rows []taskRow, now time.Time) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No tasks.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tGROUP\tTASK DEFINITION\tSTATUS\tHEALTH\tSTARTED\tSTOPPED REASON")
	for _, r := range rows {
		status := r.LastStatus
		if r.DesiredStatus != "" && r.DesiredStatus != r.LastStatus {
			status += "→" + r.DesiredStatus
		}
		reason := r.StoppedReason
		for _, c := range r.Containers {
			if c.ExitCode != nil && *c.ExitCode != 0 {
				reason = strings.TrimSpace(fmt.Sprintf("%s (%s exit %d)", reason, c.Name, *c.ExitCode))
			}
		}
		started := age(now, r.StartedAt)
		if started != "-" {
			started += " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, dash(r.Group), r.TaskDefinition, status, dash(r.Health),
			started, dash(clipText(reason, 80)))
	}
	tw.Flush()
}
