package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/elbv2types"
	sm "github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/state"
)

// lastSegment is what follows an ARN's last '/' (or the whole string).
func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }

func (c *Console) clusters(ctx context.Context) ([]ecstypes.Cluster, error) {
	var arns []string
	in := &ecstypes.ListClustersRequest{}
	for {
		out, err := c.cfg.ECS.ListClusters(ctx, c.callFor(""), in)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.ClusterArns...)
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	var all []ecstypes.Cluster
	for b := range slices.Chunk(arns, 100) {
		out, err := c.cfg.ECS.DescribeClusters(ctx, c.callFor(""), &ecstypes.DescribeClustersRequest{Clusters: b})
		if err != nil {
			return nil, err
		}
		all = append(all, out.Clusters...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ClusterName < all[j].ClusterName })
	return all, nil
}

func (c *Console) services(ctx context.Context, cluster string) ([]ecstypes.Service, error) {
	var arns []string
	in := &ecstypes.ListServicesRequest{Cluster: cluster}
	for {
		out, err := c.cfg.ECS.ListServices(ctx, c.callFor(""), in)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.ServiceArns...)
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	var all []ecstypes.Service
	for b := range slices.Chunk(arns, 10) {
		out, err := c.cfg.ECS.DescribeServices(ctx, c.callFor(""), &ecstypes.DescribeServicesRequest{Cluster: cluster, Services: b})
		if err != nil {
			return nil, err
		}
		all = append(all, out.Services...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ServiceName < all[j].ServiceName })
	return all, nil
}

func (c *Console) service(ctx context.Context, cluster, name string) (ecstypes.Service, error) {
	out, err := c.cfg.ECS.DescribeServices(ctx, c.callFor(""), &ecstypes.DescribeServicesRequest{Cluster: cluster, Services: []string{name}})
	if err != nil {
		return ecstypes.Service{}, err
	}
	if len(out.Services) == 0 {
		return ecstypes.Service{}, core.Errorf(core.KindNotFound, "ServiceNotFoundException", "service %s not found in cluster %s", name, cluster)
	}
	return out.Services[0], nil
}

// tasks lists a cluster's tasks (of a service, when named) with the given
// desired status, newest first, at most limit.
func (c *Console) tasks(ctx context.Context, cluster, service string, desired ecstypes.DesiredStatus, limit int) ([]ecstypes.Task, error) {
	var arns []string
	in := &ecstypes.ListTasksRequest{Cluster: cluster, ServiceName: service, DesiredStatus: desired}
	for {
		out, err := c.cfg.ECS.ListTasks(ctx, c.callFor(""), in)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.TaskArns...)
		if out.NextToken == "" || len(arns) >= 1000 {
			break
		}
		in.NextToken = out.NextToken
	}
	var all []ecstypes.Task
	for b := range slices.Chunk(arns, 100) {
		out, err := c.cfg.ECS.DescribeTasks(ctx, c.callFor(""), &ecstypes.DescribeTasksRequest{Cluster: cluster, Tasks: b})
		if err != nil {
			return nil, err
		}
		all = append(all, out.Tasks...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.Time().After(all[j].CreatedAt.Time()) })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// Problem is something going wrong, shown first.
type Problem struct {
	Cluster, Service string
	Task             string // a task's ID, for a task problem
	Kind             string // "deployment" or "stopping"
	Title            string
	Detail           string
}

type overviewData struct {
	Problems []Problem
	Clusters []ecstypes.Cluster
	Services []clusterServices
}

type clusterServices struct {
	Cluster  string
	Services []ecstypes.Service
}

func (c *Console) overview(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	cls, err := c.clusters(ctx)
	if err != nil {
		return "", nil, err
	}
	d := overviewData{Clusters: cls}
	for _, cl := range cls {
		svcs, err := c.services(ctx, cl.ClusterName)
		if err != nil {
			return "", nil, err
		}
		d.Services = append(d.Services, clusterServices{Cluster: cl.ClusterName, Services: svcs})
		stopped, err := c.tasks(ctx, cl.ClusterName, "", ecstypes.DesiredStatusStopped, 0)
		if err != nil {
			return "", nil, err
		}
		hist := map[string][]ecstypes.ServiceDeploymentBrief{}
		for _, s := range svcs {
			out, err := c.cfg.ECS.ListServiceDeployments(ctx, c.callFor(""), &ecstypes.ListServiceDeploymentsRequest{Cluster: cl.ClusterName, Service: s.ServiceName})
			if err == nil {
				hist[s.ServiceName] = out.ServiceDeployments
			}
		}
		d.Problems = append(d.Problems, Problems(cl.ClusterName, svcs, hist, stopped)...)
	}
	return "overview", d, nil
}

// failedStop says whether a stopped task stopped because something went
// wrong (not because it was asked to).
func failedStop(t ecstypes.Task) bool {
	switch t.StopCode {
	case ecstypes.TaskStopCodeEssentialContainerExited, ecstypes.TaskStopCodeTaskFailedToStart:
		return true
	}
	return strings.Contains(strings.ToLower(t.StoppedReason), "health")
}

// Problems finds what is going wrong in a cluster: deployments that
// failed or were rolled back, and services whose tasks keep stopping
// (with the newest reason). Pure: it reads the values it is given.
func Problems(cluster string, svcs []ecstypes.Service, history map[string][]ecstypes.ServiceDeploymentBrief, stopped []ecstypes.Task) []Problem {
	var ps []Problem
	for _, s := range svcs {
		for _, d := range s.Deployments {
			if d.RolloutState == ecstypes.DeploymentRolloutStateFailed {
				ps = append(ps, Problem{Cluster: cluster, Service: s.ServiceName, Kind: "deployment",
					Title:  "Deployment " + d.Id + " of " + s.ServiceName + " failed",
					Detail: d.RolloutStateReason})
			}
		}
		if h := history[s.ServiceName]; len(h) > 0 {
			newest := h[0]
			for _, b := range h[1:] {
				if b.CreatedAt.Time().After(newest.CreatedAt.Time()) {
					newest = b
				}
			}
			switch newest.Status {
			case ecstypes.ServiceDeploymentStatusRollbackRequested, ecstypes.ServiceDeploymentStatusRollbackInProgress,
				ecstypes.ServiceDeploymentStatusRollbackSuccessful, ecstypes.ServiceDeploymentStatusRollbackFailed:
				ps = append(ps, Problem{Cluster: cluster, Service: s.ServiceName, Kind: "deployment",
					Title:  "The last deployment of " + s.ServiceName + " was rolled back (" + string(newest.Status) + ")",
					Detail: newest.StatusReason})
			}
		}
	}
	type group struct {
		n    int
		last ecstypes.Task
	}
	groups := map[string]*group{}
	var order []string
	for _, t := range stopped {
		if !failedStop(t) {
			continue
		}
		g := groups[t.Group]
		if g == nil {
			g = &group{last: t}
			groups[t.Group] = g
			order = append(order, t.Group)
		}
		g.n++
		if t.StoppedAt.Time().After(g.last.StoppedAt.Time()) {
			g.last = t
		}
	}
	for _, name := range order {
		g := groups[name]
		p := Problem{Cluster: cluster, Kind: "stopping", Task: lastSegment(g.last.TaskArn), Detail: stopDetail(g.last)}
		if svc, ok := strings.CutPrefix(name, "service:"); ok {
			p.Service = svc
		}
		if g.n == 1 {
			p.Title = "A task of " + name + " stopped unexpectedly"
		} else {
			p.Title = itoa(g.n) + " tasks of " + name + " stopped unexpectedly"
		}
		ps = append(ps, p)
	}
	return ps
}

// stopDetail says why a task stopped: its stop code and reason, and its
// containers' exit codes and reasons.
func stopDetail(t ecstypes.Task) string {
	parts := []string{string(t.StopCode) + ": " + t.StoppedReason}
	for _, ct := range t.Containers {
		s := ct.Name
		if ct.ExitCode != nil {
			s += " exited " + itoa(int(*ct.ExitCode))
		}
		if ct.Reason != "" {
			s += " (" + ct.Reason + ")"
		}
		if s != ct.Name {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

type clusterData struct {
	Cluster  ecstypes.Cluster
	Services []ecstypes.Service
	Tasks    []ecstypes.Task
}

func (c *Console) clusterPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx, name := r.Context(), r.PathValue("cluster")
	out, err := c.cfg.ECS.DescribeClusters(ctx, c.callFor(""), &ecstypes.DescribeClustersRequest{Clusters: []string{name}})
	if err != nil {
		return "", nil, err
	}
	if len(out.Clusters) == 0 || out.Clusters[0].Status == "INACTIVE" {
		return "", nil, core.Errorf(core.KindNotFound, "ClusterNotFoundException", "cluster %s not found", name)
	}
	d := clusterData{Cluster: out.Clusters[0]}
	if d.Services, err = c.services(ctx, name); err != nil {
		return "", nil, err
	}
	if d.Tasks, err = c.tasks(ctx, name, "", ecstypes.DesiredStatusRunning, 200); err != nil {
		return "", nil, err
	}
	return "cluster", d, nil
}

// Step is one stage of a progressive deployment as the console shows it.
type Step struct {
	Stage string
	State string // "done", "current", "pending"
}

type serviceData struct {
	Service  ecstypes.Service
	Rollout  *state.Rollout
	Steps    []Step
	History  []ecstypes.ServiceDeployment
	Running  []ecstypes.Task
	Stopped  []ecstypes.Task
	Rollback RollbackPlan
	Back     string
}

func (c *Console) servicePage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx, cluster, name := r.Context(), r.PathValue("cluster"), r.PathValue("service")
	svc, err := c.service(ctx, cluster, name)
	if err != nil {
		return "", nil, err
	}
	d := serviceData{Service: svc, Back: r.URL.Path}
	rec, hist, err := c.serviceRecords(ctx, cluster, name)
	if err != nil {
		return "", nil, err
	}
	if rec.Rollout != nil {
		d.Rollout = rec.Rollout
		d.Steps = Steps(string(rec.Rollout.Stage), rec.Rollout.Result)
	}
	d.Rollback = PlanRollback(rec, hist)
	out, err := c.cfg.ECS.ListServiceDeployments(ctx, c.callFor(""), &ecstypes.ListServiceDeploymentsRequest{Cluster: cluster, Service: name})
	if err != nil {
		return "", nil, err
	}
	var arns []string
	for _, b := range out.ServiceDeployments {
		arns = append(arns, b.ServiceDeploymentArn)
	}
	for b := range slices.Chunk(arns, 20) {
		desc, err := c.cfg.ECS.DescribeServiceDeployments(ctx, c.callFor(""), &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: b})
		if err != nil {
			return "", nil, err
		}
		d.History = append(d.History, desc.ServiceDeployments...)
	}
	sort.SliceStable(d.History, func(i, j int) bool { return d.History[i].CreatedAt.Time().After(d.History[j].CreatedAt.Time()) })
	if len(d.History) > 10 {
		d.History = d.History[:10]
	}
	if d.Running, err = c.tasks(ctx, cluster, name, ecstypes.DesiredStatusRunning, 0); err != nil {
		return "", nil, err
	}
	if d.Stopped, err = c.tasks(ctx, cluster, name, ecstypes.DesiredStatusStopped, 20); err != nil {
		return "", nil, err
	}
	if len(d.Service.Events) > 30 {
		d.Service.Events = d.Service.Events[:30]
	}
	return "service", d, nil
}

// serviceRecords reads a service's stored record and deployment history.
func (c *Console) serviceRecords(ctx context.Context, cluster, name string) (state.Service, []state.ServiceDeployment, error) {
	it, err := state.Get[state.Service](ctx, c.cfg.Store, state.ServiceKey(cluster, name))
	if err != nil {
		if state.IsNotFound(err) {
			return state.Service{}, nil, core.Errorf(core.KindNotFound, "ServiceNotFoundException", "service %s not found in cluster %s", name, cluster)
		}
		return state.Service{}, nil, err
	}
	items, err := state.List[state.ServiceDeployment](ctx, c.cfg.Store, state.ServiceDeploymentsPrefix(cluster, name), storeAll)
	if err != nil {
		return state.Service{}, nil, err
	}
	hist := make([]state.ServiceDeployment, 0, len(items))
	for _, it := range items {
		hist = append(hist, it.Value)
	}
	return it.Value, hist, nil
}

type taskData struct {
	Task    ecstypes.Task
	ID      string
	Service string
	Logs    []string // containers whose logs the log store has (awslogs)
	Back    string
}

func (c *Console) task(ctx context.Context, cluster, id string) (ecstypes.Task, error) {
	out, err := c.cfg.ECS.DescribeTasks(ctx, c.callFor(""), &ecstypes.DescribeTasksRequest{Cluster: cluster, Tasks: []string{id}})
	if err != nil {
		return ecstypes.Task{}, err
	}
	if len(out.Tasks) == 0 {
		return ecstypes.Task{}, core.Errorf(core.KindNotFound, "InvalidParameterException", "task %s not found in cluster %s", id, cluster)
	}
	return out.Tasks[0], nil
}

func (c *Console) taskPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx, cluster, id := r.Context(), r.PathValue("cluster"), r.PathValue("task")
	t, err := c.task(ctx, cluster, id)
	if err != nil {
		return "", nil, err
	}
	d := taskData{Task: t, ID: lastSegment(t.TaskArn), Back: r.URL.Path}
	d.Service, _ = strings.CutPrefix(t.Group, "service:")
	if d.Service == t.Group {
		d.Service = ""
	}
	if td, err := c.cfg.ECS.DescribeTaskDefinition(ctx, c.callFor(""), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: t.TaskDefinitionArn}); err == nil && td.TaskDefinition != nil {
		for _, cd := range td.TaskDefinition.ContainerDefinitions {
			if _, ok := logTarget(cd, d.ID); ok {
				d.Logs = append(d.Logs, cd.Name)
			}
		}
	}
	return "task", d, nil
}

type instanceData struct {
	Instances []ecstypes.ContainerInstance
}

func (c *Console) instancesPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx, cluster := r.Context(), r.PathValue("cluster")
	var arns []string
	in := &ecstypes.ListContainerInstancesRequest{Cluster: cluster}
	for {
		out, err := c.cfg.ECS.ListContainerInstances(ctx, c.callFor(""), in)
		if err != nil {
			return "", nil, err
		}
		arns = append(arns, out.ContainerInstanceArns...)
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	var d instanceData
	for b := range slices.Chunk(arns, 100) {
		out, err := c.cfg.ECS.DescribeContainerInstances(ctx, c.callFor(""), &ecstypes.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: b})
		if err != nil {
			return "", nil, err
		}
		d.Instances = append(d.Instances, out.ContainerInstances...)
	}
	return "instances", d, nil
}

// Resource is one of an instance's resources, registered and remaining.
type Resource struct {
	Name                  string
	Registered, Remaining string
}

// Resources pairs an instance's registered and remaining resources.
func Resources(ci ecstypes.ContainerInstance) []Resource {
	val := func(r ecstypes.Resource) string {
		switch r.Type {
		case "INTEGER":
			return itoa(int(r.IntegerValue))
		case "LONG":
			return itoa(int(r.LongValue))
		case "STRINGSET":
			if len(r.StringSetValue) == 0 {
				return "none"
			}
			return strings.Join(r.StringSetValue, ", ")
		}
		return ""
	}
	var out []Resource
	for _, reg := range ci.RegisteredResources {
		res := Resource{Name: reg.Name, Registered: val(reg)}
		for _, rem := range ci.RemainingResources {
			if rem.Name == reg.Name {
				res.Remaining = val(rem)
			}
		}
		out = append(out, res)
	}
	return out
}

type lbData struct {
	LoadBalancers []lbView
	Orphans       []tgView // target groups of no load balancer
}

type lbView struct {
	LB        elbv2types.LoadBalancer
	Listeners []listenerView
	Groups    []tgView
}

type listenerView struct {
	Listener elbv2types.Listener
	Rules    []elbv2types.Rule
}

type tgView struct {
	Group   elbv2types.TargetGroup
	Targets []elbv2types.TargetHealthDescription
}

func (c *Console) targetGroup(ctx context.Context, g elbv2types.TargetGroup) (tgView, error) {
	h, err := c.cfg.ELB.DescribeTargetHealth(ctx, c.callFor(""), &elbv2types.DescribeTargetHealthInput{TargetGroupArn: g.TargetGroupArn})
	if err != nil {
		return tgView{}, err
	}
	return tgView{Group: g, Targets: h.TargetHealthDescriptions}, nil
}

func (c *Console) loadBalancersPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	ctx := r.Context()
	lbs, err := c.cfg.ELB.DescribeLoadBalancers(ctx, c.callFor(""), &elbv2types.DescribeLoadBalancersInput{})
	if err != nil {
		return "", nil, err
	}
	var d lbData
	for _, lb := range lbs.LoadBalancers {
		v := lbView{LB: lb}
		ls, err := c.cfg.ELB.DescribeListeners(ctx, c.callFor(""), &elbv2types.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		if err != nil {
			return "", nil, err
		}
		for _, l := range ls.Listeners {
			rs, err := c.cfg.ELB.DescribeRules(ctx, c.callFor(""), &elbv2types.DescribeRulesInput{ListenerArn: l.ListenerArn})
			if err != nil {
				return "", nil, err
			}
			v.Listeners = append(v.Listeners, listenerView{Listener: l, Rules: rs.Rules})
		}
		d.LoadBalancers = append(d.LoadBalancers, v)
	}
	tgs, err := c.cfg.ELB.DescribeTargetGroups(ctx, c.callFor(""), &elbv2types.DescribeTargetGroupsInput{})
	if err != nil {
		return "", nil, err
	}
	for _, g := range tgs.TargetGroups {
		tv, err := c.targetGroup(ctx, g)
		if err != nil {
			return "", nil, err
		}
		placed := false
		for i := range d.LoadBalancers {
			if slices.Contains(g.LoadBalancerArns, d.LoadBalancers[i].LB.LoadBalancerArn) {
				d.LoadBalancers[i].Groups = append(d.LoadBalancers[i].Groups, tv)
				placed = true
			}
		}
		if !placed {
			d.Orphans = append(d.Orphans, tv)
		}
	}
	return "loadbalancers", d, nil
}

// targetGroupName names a target group by its ARN ("targetgroup/NAME/id").
func targetGroupName(arn string) string {
	parts := strings.Split(arn, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-2]
	}
	return arn
}

func (c *Console) taskDefsPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	var arns []string
	in := &ecstypes.ListTaskDefinitionsRequest{Sort: ecstypes.SortOrderDesc}
	for {
		out, err := c.cfg.ECS.ListTaskDefinitions(r.Context(), c.callFor(""), in)
		if err != nil {
			return "", nil, err
		}
		arns = append(arns, out.TaskDefinitionArns...)
		if out.NextToken == "" || len(arns) >= 1000 {
			break
		}
		in.NextToken = out.NextToken
	}
	names := make([]string, len(arns))
	for i, a := range arns {
		names[i] = lastSegment(a)
	}
	return "taskdefs", names, nil
}

type taskDefData struct {
	Name string
	JSON string
}

func (c *Console) taskDefPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	out, err := c.cfg.ECS.DescribeTaskDefinition(r.Context(), c.callFor(""), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: r.PathValue("taskdef")})
	if err != nil {
		return "", nil, err
	}
	b, err := json.MarshalIndent(out.TaskDefinition, "", "  ")
	if err != nil {
		return "", nil, err
	}
	return "taskdef", taskDefData{Name: r.PathValue("taskdef"), JSON: string(b)}, nil
}

// secretView is what the console shows of a secret: never its value.
type secretView struct {
	Name, Description, LastChanged string
}

func (c *Console) secretsPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	var views []secretView
	in := &sm.ListSecretsRequest{}
	for {
		out, err := c.cfg.Secrets.ListSecrets(r.Context(), c.callFor(""), in)
		if err != nil {
			return "", nil, err
		}
		for _, s := range out.SecretList {
			views = append(views, secretView{Name: s.Name, Description: s.Description, LastChanged: fmtTime(s.LastChangedDate)})
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return "secrets", views, nil
}
