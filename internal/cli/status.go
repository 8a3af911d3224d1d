package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/controlplane"
)

// statusReport is what `minato status` shows; --output json prints it.
type statusReport struct {
	Endpoint  string                `json:"endpoint"`
	Servers   *controlplane.Members `json:"servers,omitempty"`
	Clusters  []clusterRow          `json:"clusters"`
	Instances []instanceRow         `json:"containerInstances"`
	Services  []serviceRow          `json:"services"`
}

type clusterRow struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	Instances int32  `json:"registeredContainerInstances"`
	Services  int32  `json:"activeServices"`
	Running   int32  `json:"runningTasks"`
	Pending   int32  `json:"pendingTasks"`
}

type instanceRow struct {
	Cluster        string    `json:"cluster"`
	ID             string    `json:"containerInstanceId"`
	Status         string    `json:"status"`
	AgentConnected bool      `json:"agentConnected"`
	Running        int32     `json:"runningTasks"`
	Pending        int32     `json:"pendingTasks"`
	CPU            string    `json:"cpu"`    // remaining/registered
	Memory         string    `json:"memory"` // remaining/registered MiB
	RegisteredAt   time.Time `json:"registeredAt,omitzero"`
}

type serviceRow struct {
	Cluster        string `json:"cluster"`
	Name           string `json:"name"`
	Status         string `json:"status"`
	TaskDefinition string `json:"taskDefinition"`
	Desired        int32  `json:"desired"`
	Running        int32  `json:"running"`
	Pending        int32  `json:"pending"`
	// Rollout is the primary deployment's rolloutState, and Deployments
	// how many deployments the service has (more than one: a rollout is
	// under way).
	Rollout       string `json:"rolloutState"`
	RolloutReason string `json:"rolloutStateReason,omitempty"`
	Deployments   int    `json:"deployments"`
}

// runStatus is `minato status`.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	var cf connectFlags
	cf.register(fs)
	var out outputFlag
	out.register(fs)
	cluster := fs.String("cluster", "", "show this cluster only (default: every cluster)")
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
	r, err := gatherStatus(ctx, cfg, *cluster)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(stdout, r)
	}
	renderStatus(stdout, r, time.Now())
	return nil
}

func gatherStatus(ctx context.Context, cfg awsSettings, only string) (statusReport, error) {
	r := statusReport{Endpoint: cfg.endpoint, Clusters: []clusterRow{}, Instances: []instanceRow{}, Services: []serviceRow{}}
	if m, ok := cfg.members(ctx); ok {
		r.Servers = &m
	}
	c := cfg.ecs()
	var arns []string
	if only != "" {
		arns = []string{only}
	} else {
		p := ecs.NewListClustersPaginator(c, &ecs.ListClustersInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return r, err
			}
			arns = append(arns, page.ClusterArns...)
		}
	}
	for chunk := range slices.Chunk(arns, 100) {
		out, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: chunk})
		if err != nil {
			return r, err
		}
		if only != "" && len(out.Clusters) == 0 {
			return r, fmt.Errorf("cluster %q not found", only)
		}
		for _, cl := range out.Clusters {
			r.Clusters = append(r.Clusters, clusterRow{Name: aws.ToString(cl.ClusterName), Status: aws.ToString(cl.Status),
				Instances: cl.RegisteredContainerInstancesCount, Services: cl.ActiveServicesCount,
				Running: cl.RunningTasksCount, Pending: cl.PendingTasksCount})
		}
	}
	slices.SortFunc(r.Clusters, func(a, b clusterRow) int { return cmpString(a.Name, b.Name) })
	for _, cl := range r.Clusters {
		name := cl.Name
		ip := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: &name})
		var ids []string
		for ip.HasMorePages() {
			page, err := ip.NextPage(ctx)
			if err != nil {
				return r, err
			}
			ids = append(ids, page.ContainerInstanceArns...)
		}
		for chunk := range slices.Chunk(ids, 100) {
			out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: &name, ContainerInstances: chunk})
			if err != nil {
				return r, err
			}
			for _, ci := range out.ContainerInstances {
				r.Instances = append(r.Instances, instanceRow{Cluster: name, ID: lastPart(aws.ToString(ci.ContainerInstanceArn)),
					Status: aws.ToString(ci.Status), AgentConnected: ci.AgentConnected, Running: ci.RunningTasksCount,
					Pending: ci.PendingTasksCount, CPU: resourcePair(ci, "CPU", ""), Memory: resourcePair(ci, "MEMORY", " MiB"),
					RegisteredAt: aws.ToTime(ci.RegisteredAt)})
			}
		}
		sp := ecs.NewListServicesPaginator(c, &ecs.ListServicesInput{Cluster: &name})
		var svcs []string
		for sp.HasMorePages() {
			page, err := sp.NextPage(ctx)
			if err != nil {
				return r, err
			}
			svcs = append(svcs, page.ServiceArns...)
		}
		for chunk := range slices.Chunk(svcs, 10) {
			out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &name, Services: chunk})
			if err != nil {
				return r, err
			}
			for _, s := range out.Services {
				r.Services = append(r.Services, serviceRowOf(name, s))
			}
		}
	}
	slices.SortFunc(r.Services, func(a, b serviceRow) int { return cmpString(a.Cluster+"\x00"+a.Name, b.Cluster+"\x00"+b.Name) })
	return r, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func serviceRowOf(cluster string, s ecstypes.Service) serviceRow {
	row := serviceRow{Cluster: cluster, Name: aws.ToString(s.ServiceName), Status: aws.ToString(s.Status),
		TaskDefinition: lastPart(aws.ToString(s.TaskDefinition)), Desired: s.DesiredCount, Running: s.RunningCount,
		Pending: s.PendingCount, Deployments: len(s.Deployments)}
	for _, d := range s.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			row.Rollout, row.RolloutReason = string(d.RolloutState), aws.ToString(d.RolloutStateReason)
		}
	}
	return row
}

// resourcePair is "remaining/registered" of a container instance's
// resource.
func resourcePair(ci ecstypes.ContainerInstance, name, unit string) string {
	get := func(rs []ecstypes.Resource) int32 {
		for _, r := range rs {
			if aws.ToString(r.Name) == name {
				return r.IntegerValue
			}
		}
		return 0
	}
	return fmt.Sprintf("%d/%d%s", get(ci.RemainingResources), get(ci.RegisteredResources), unit)
}

// renderStatus prints r as tables. It is pure: now is when "ago" is from.
func renderStatus(w io.Writer, r statusReport, now time.Time) {
	if m := r.Servers; m != nil && len(m.Servers) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVER\tAPI\tLEADER\tAGENTS\tLAST SEEN\tVERSION")
		for _, s := range m.Servers {
			lead := ""
			if s.Name == m.Leader {
				lead = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s ago\t%s\n", s.Name, s.APIURL, lead, len(s.Agents), age(now, s.At), dash(s.Version))
		}
		tw.Flush()
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "API %s\n\n", r.Endpoint)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSTATUS\tINSTANCES\tSERVICES\tRUNNING\tPENDING")
	for _, c := range r.Clusters {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", c.Name, c.Status, c.Instances, c.Services, c.Running, c.Pending)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(r.Instances) == 0 {
		fmt.Fprintln(w, "No container instances: start `minato up` with Docker running, or join a host with `minato agent`.")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tCLUSTER\tSTATUS\tAGENT\tRUNNING\tPENDING\tCPU FREE\tMEMORY FREE\tAGE")
		for _, i := range r.Instances {
			agent := "connected"
			if !i.AgentConnected {
				agent = "DISCONNECTED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", i.ID, i.Cluster, i.Status, agent, i.Running, i.Pending,
				i.CPU, i.Memory, age(now, i.RegisteredAt))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if len(r.Services) == 0 {
		fmt.Fprintln(w, "No services.")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCLUSTER\tTASK DEFINITION\tRUNNING/DESIRED\tPENDING\tROLLOUT")
	for _, s := range r.Services {
		rollout := dash(s.Rollout)
		if s.Deployments > 1 {
			rollout += fmt.Sprintf(" (%d deployments)", s.Deployments)
		}
		if s.Status != "" && s.Status != "ACTIVE" {
			rollout += " " + s.Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\n", s.Name, s.Cluster, s.TaskDefinition, s.Running, s.Desired, s.Pending, rollout)
	}
	tw.Flush()
	for _, s := range r.Services {
		if s.Rollout == "FAILED" && s.RolloutReason != "" {
			fmt.Fprintf(w, "\n%s/%s: %s\n", s.Cluster, s.Name, s.RolloutReason)
		}
	}
}
