package ecs

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scheduler/cql"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// instanceOps are the container instance and attribute operations.
func (a *API) instanceOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"DescribeContainerInstances":    awsproto.Op(a.DescribeContainerInstances),
		"ListContainerInstances":        awsproto.Op(a.ListContainerInstances),
		"UpdateContainerInstancesState": awsproto.Op(a.UpdateContainerInstancesState),
		"DeregisterContainerInstance":   awsproto.Op(a.DeregisterContainerInstance),
		"PutAttributes":                 awsproto.Op(a.PutAttributes),
		"DeleteAttributes":              awsproto.Op(a.DeleteAttributes),
		"ListAttributes":                awsproto.Op(a.ListAttributes),
	}
}

// Container instance statuses (see package state).
const (
	instanceActive   = state.InstanceActive
	instanceDraining = state.InstanceDraining
	instanceInactive = state.InstanceInactive
)

const (
	maxDescribeInstances = 100
	maxUpdateInstances   = 10
)

func instanceARN(scope arn.Scope, cluster, id string) string {
	return scope.New("ecs", "container-instance/"+cluster+"/"+id)
}

// parseInstanceARN returns the cluster and ID an ECS container instance ARN
// names. The cluster is empty for the old ARN form without it
// (container-instance/ID).
func parseInstanceARN(s string) (cluster, id string, ok bool) {
	p, err := arn.Parse(s)
	if err != nil || p.Service != "ecs" {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(p.Resource, "container-instance/")
	if !ok {
		return "", "", false
	}
	cluster, id, found := strings.Cut(rest, "/")
	if !found {
		cluster, id = "", rest
	}
	if id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return cluster, id, true
}

// instanceRef is a container instance named in a request.
type instanceRef struct {
	ref string // as given
	id  string
	// elsewhere is set for an ARN that names another cluster: the instance
	// is not in the cluster of the request.
	elsewhere bool
}

// resolveInstance resolves a container instance ID or ARN within cluster.
func resolveInstance(cluster, ref string) (instanceRef, error) {
	r := instanceRef{ref: ref, id: ref}
	if arn.IsARN(ref) {
		c, id, ok := parseInstanceARN(ref)
		if !ok {
			return r, invalidParam("Invalid container instance ARN %q.", ref)
		}
		r.id, r.elsewhere = id, c != "" && c != cluster
	}
	if r.id == "" || strings.Contains(r.id, "/") {
		r.elsewhere = true // no record can have this ID
	}
	return r, nil
}

// arn returns the ARN of the instance for failures: the ARN as given, or
// the one its ID has in the cluster.
func (r instanceRef) arn(scope arn.Scope, cluster string) string {
	if arn.IsARN(r.ref) {
		return r.ref
	}
	return instanceARN(scope, cluster, r.id)
}

// getInstance reads a container instance; found is false when there is
// none under ref in cluster.
func (a *API) getInstance(ctx context.Context, cluster string, r instanceRef) (it state.Item[state.ContainerInstance], found bool, err error) {
	if r.elsewhere {
		return it, false, nil
	}
	it, err = state.Get[state.ContainerInstance](ctx, a.store, state.ContainerInstanceKey(cluster, r.id))
	if state.IsNotFound(err) {
		return it, false, nil
	}
	return it, err == nil, err
}

// instanceFields says which optional parts of a container instance to render.
type instanceFields struct {
	tags, health bool
}

// agentConnected reports whether the agent of an instance is connected;
// a deregistered instance's never is.
func (a *API) agentConnected(ci state.ContainerInstance) bool {
	return ci.Status != instanceInactive && a.agents.Connected(ci.ID)
}

func (a *API) renderInstance(scope arn.Scope, ci state.ContainerInstance, tasks clusterview.InstanceTasks, f instanceFields) ecstypes.ContainerInstance {
	connected := a.agentConnected(ci)
	attrs := make([]ecstypes.Attribute, 0, len(ci.Attributes))
	for _, at := range ci.Attributes {
		attrs = append(attrs, ecstypes.Attribute{Name: at.Name, Value: at.Value})
	}
	out := ecstypes.ContainerInstance{
		ContainerInstanceArn: instanceARN(scope, ci.Cluster, ci.ID),
		Ec2InstanceId:        ci.EC2InstanceID,
		Version:              ci.Version,
		VersionInfo:          &ecstypes.VersionInfo{AgentVersion: ci.AgentVersion, DockerVersion: ci.DockerVer},
		RegisteredResources:  instanceResources(ci.Registered.CPU, ci.Registered.MemoryMiB, ci.Registered.Ports, ci.Registered.PortsUDP),
		RemainingResources: instanceResources(ci.Registered.CPU-ci.Used.CPU, ci.Registered.MemoryMiB-ci.Used.MemoryMiB,
			unionPorts(ci.Registered.Ports, ci.Used.Ports), unionPorts(ci.Registered.PortsUDP, ci.Used.PortsUDP)),
		Status:            ci.Status,
		StatusReason:      ci.StatusReason,
		AgentConnected:    connected,
		RunningTasksCount: tasks.Running,
		PendingTasksCount: tasks.Pending,
		Attributes:        attrs,
		RegisteredAt:      shape.NewTimestamp(ci.RegisteredAt),
		Attachments:       []ecstypes.Attachment{},
	}
	if f.tags {
		out.Tags = nonNil(slices.Clone(ci.Tags))
	}
	if f.health {
		out.HealthStatus = a.instanceHealth(connected)
	}
	return out
}

// instanceHealth reports what minato knows of an instance's health: whether
// its agent is connected.
func (a *API) instanceHealth(connected bool) *ecstypes.ContainerInstanceHealthStatus {
	status := ecstypes.InstanceHealthCheckStateOk
	reason := ""
	if !connected {
		status = ecstypes.InstanceHealthCheckStateImpaired
		reason = "The agent is not connected."
	}
	return &ecstypes.ContainerInstanceHealthStatus{
		OverallStatus: status,
		Details: []ecstypes.InstanceHealthCheckResult{{
			Type:         ecstypes.InstanceHealthCheckTypeAgentConnectivity,
			Status:       status,
			StatusReason: reason,
			LastUpdated:  shape.NewTimestamp(a.now()),
		}},
	}
}

// instanceResources renders amounts the way ECS does: CPU and MEMORY as INTEGER,
// PORTS and PORTS_UDP as STRINGSET.
func instanceResources(cpu, memory int, ports, portsUDP []int) []ecstypes.Resource {
	return []ecstypes.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: int32(cpu)},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: int32(memory)},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: portStrings(ports)},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: portStrings(portsUDP)},
	}
}

func portStrings(ports []int) []string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, strconv.Itoa(p))
	}
	return out
}

// unionPorts returns the ports reserved at registration followed by the
// ports tasks hold that are not among them: ECS's remaining PORTS lists
// every port that is not free.
func unionPorts(reserved, used []int) []int {
	out := slices.Clone(reserved)
	for _, p := range used {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// errNoInstances is ECS's answer to an empty containerInstances list.
func errNoInstances() error {
	return clientErr("Container Instances cannot be empty.")
}

// DescribeContainerInstances describes container instances by ID or ARN;
// missing ones are reported in failures.
func (a *API) DescribeContainerInstances(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeContainerInstancesRequest) (*ecstypes.DescribeContainerInstancesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, errNoInstances()
	}
	if len(in.ContainerInstances) > maxDescribeInstances {
		return nil, invalidParam("At most %d container instances can be described at once.", maxDescribeInstances)
	}
	var f instanceFields
	for _, inc := range in.Include {
		switch inc {
		case ecstypes.ContainerInstanceFieldTags:
			f.tags = true
		case ecstypes.ContainerInstanceFieldContainerInstanceHealth:
			f.health = true
		}
	}
	cluster := cl.Value.ClusterName
	refs := make([]instanceRef, 0, len(in.ContainerInstances))
	for _, ref := range in.ContainerInstances {
		r, err := resolveInstance(cluster, ref)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	v, err := a.synced(ctx)
	if err != nil {
		return nil, err
	}
	scope := scopeOf(c)
	out := &ecstypes.DescribeContainerInstancesResponse{ContainerInstances: []ecstypes.ContainerInstance{}, Failures: []ecstypes.Failure{}}
	seen := map[string]bool{}
	for _, r := range refs {
		it, found, err := a.getInstance(ctx, cluster, r)
		if err != nil {
			return nil, err
		}
		if !found {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: r.arn(scope, cluster), Reason: "MISSING"})
			continue
		}
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		out.ContainerInstances = append(out.ContainerInstances, a.renderInstance(scope, it.Value, v.InstanceTasks(cluster, r.id), f))
	}
	return out, nil
}

// ListContainerInstances lists the ARNs of a cluster's container instances
// in ID order, filtered by status and a cluster query language expression.
func (a *API) ListContainerInstances(ctx context.Context, c *awsproto.Call, in *ecstypes.ListContainerInstancesRequest) (*ecstypes.ListContainerInstancesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	limit, ok := paging.Limit(in.MaxResults, 100, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	cluster := cl.Value.ClusterName
	var query *cql.Query
	if in.Filter != "" {
		if query, err = cql.Parse(in.Filter); err != nil {
			return nil, invalidParam("%v", err)
		}
	}
	v, err := a.synced(ctx)
	if err != nil {
		return nil, err
	}
	// The token is the last key returned; keys of one cluster sort as
	// their IDs.
	prefix := state.ContainerInstancesPrefix(cluster)
	scope := scopeOf(c)
	out := &ecstypes.ListContainerInstancesResponse{ContainerInstanceArns: []string{}}
	afterID, ok := strings.CutPrefix(after, prefix)
	if !ok {
		if after > prefix {
			return out, nil // a token past every key of the cluster
		}
		afterID = "" // a token before them
	}
	lastKey := ""
	for inst := range v.Instances(cluster, afterID) {
		ci := inst.Record
		if in.Status == "" {
			if ci.Status == instanceInactive {
				continue
			}
		} else if ci.Status != string(in.Status) {
			continue
		}
		if query != nil && !query.Eval(a.cqlTarget(ci, inst.Tasks)) {
			continue
		}
		if len(out.ContainerInstanceArns) == limit {
			out.NextToken = paging.Encode(lastKey)
			break
		}
		lastKey = inst.Key
		out.ContainerInstanceArns = append(out.ContainerInstanceArns, instanceARN(scope, cluster, state.LastSegment(inst.Key)))
	}
	return out, nil
}

// cqlTarget is what a cluster query language expression sees of ci.
func (a *API) cqlTarget(ci state.ContainerInstance, tasks clusterview.InstanceTasks) *cql.Target {
	attrs := make(map[string]string, len(ci.Attributes))
	for _, at := range ci.Attributes {
		attrs[at.Name] = at.Value
	}
	return &cql.Target{
		AgentConnected:    a.agentConnected(ci),
		AgentVersion:      ci.AgentVersion,
		EC2InstanceID:     ci.EC2InstanceID,
		Attributes:        attrs,
		RegisteredAt:      ci.RegisteredAt,
		RunningTasksCount: int(tasks.Running),
		TaskGroups:        tasks.Groups,
	}
}

// UpdateContainerInstancesState sets container instances ACTIVE or
// DRAINING. The scheduler places no new tasks on a DRAINING instance.
func (a *API) UpdateContainerInstancesState(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateContainerInstancesStateRequest) (*ecstypes.UpdateContainerInstancesStateResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	status := string(in.Status)
	if status != instanceActive && status != instanceDraining {
		return nil, invalidParam("Container instances can only be set to ACTIVE or DRAINING, not %s.", status)
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, errNoInstances()
	}
	if len(in.ContainerInstances) > maxUpdateInstances {
		return nil, invalidParam("At most %d container instances can be updated at once.", maxUpdateInstances)
	}
	cluster := cl.Value.ClusterName
	refs := make([]instanceRef, 0, len(in.ContainerInstances))
	for _, ref := range in.ContainerInstances {
		r, err := resolveInstance(cluster, ref)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	scope := scopeOf(c)
	out := &ecstypes.UpdateContainerInstancesStateResponse{ContainerInstances: []ecstypes.ContainerInstance{}, Failures: []ecstypes.Failure{}}
	var updated []state.ContainerInstance
	seen := map[string]bool{}
	for _, r := range refs {
		var ci state.ContainerInstance
		var failure string
		err := store.RetryConflicts(ctx, func() error {
			it, found, err := a.getInstance(ctx, cluster, r)
			if err != nil || !found {
				failure = "MISSING"
				return err
			}
			failure = ""
			ci = it.Value
			if ci.Status == instanceInactive {
				failure = instanceInactive
				return nil
			}
			if ci.Status == status {
				return nil
			}
			ci.Status = status
			ci.Version++
			return a.put(ctx, it.Key, it.ModRevision, ci)
		})
		if err != nil {
			return nil, err
		}
		if failure != "" {
			f := ecstypes.Failure{Arn: r.arn(scope, cluster), Reason: failure}
			if failure == instanceInactive {
				f.Detail = "The container instance is deregistered."
			}
			out.Failures = append(out.Failures, f)
			continue
		}
		if !seen[ci.ID] {
			seen[ci.ID] = true
			updated = append(updated, ci)
		}
	}
	if len(updated) > 0 {
		v, err := a.synced(ctx)
		if err != nil {
			return nil, err
		}
		for _, ci := range updated {
			out.ContainerInstances = append(out.ContainerInstances, a.renderInstance(scope, ci, v.InstanceTasks(cluster, ci.ID), instanceFields{}))
		}
	}
	return out, nil
}

// DeregisterContainerInstance marks a container instance INACTIVE. An
// instance that still has tasks that are not STOPPED is refused unless
// force is set; with force those tasks are left to themselves (orphaned, as
// ECS calls them). The record stays describable.
func (a *API) DeregisterContainerInstance(ctx context.Context, c *awsproto.Call, in *ecstypes.DeregisterContainerInstanceRequest) (*ecstypes.DeregisterContainerInstanceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	r, err := resolveInstance(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	var ci state.ContainerInstance
	var tasks clusterview.InstanceTasks
	err = store.RetryConflicts(ctx, func() error {
		// The instance is read before its tasks: a task placed on it after
		// the tasks were read changes the instance (its Used resources), so
		// the write below fails and the check runs again. The view is
		// synced after the read, so it holds every task placed before.
		it, found, err := a.getInstance(ctx, cluster, r)
		if err != nil {
			return err
		}
		if !found {
			return invalidParam("The referenced container instance was not found.")
		}
		ci = it.Value
		v, err := a.synced(ctx)
		if err != nil {
			return err
		}
		tasks = v.InstanceTasks(cluster, r.id)
		if ci.Status == instanceInactive {
			return nil // already deregistered
		}
		if tasks.NotStopped > 0 && !force {
			return invalidParam("Found running tasks on the instance.")
		}
		ci.Status = instanceInactive
		ci.Version++
		return a.put(ctx, it.Key, it.ModRevision, ci)
	})
	if err != nil {
		return nil, err
	}
	out := a.renderInstance(scopeOf(c), ci, tasks, instanceFields{})
	return &ecstypes.DeregisterContainerInstanceResponse{ContainerInstance: &out}, nil
}
