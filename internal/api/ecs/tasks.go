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
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/taskdef"
	"github.com/minato-project/minato/internal/tasks"
)

// taskOps are the task operations.
func (a *API) taskOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"RunTask":       awsproto.Op(a.RunTask),
		"StartTask":     awsproto.Op(a.StartTask),
		"StopTask":      awsproto.Op(a.StopTask),
		"DescribeTasks": awsproto.Op(a.DescribeTasks),
		"ListTasks":     awsproto.Op(a.ListTasks),
		// exec.go
		"ExecuteCommand": awsproto.Op(a.ExecuteCommand),
	}
}

// renderTask fills in the ARNs of a task for the caller's scope.
func renderTask(scope arn.Scope, t state.Task) ecstypes.Task {
	out := t.Task
	out.TaskArn = scope.New("ecs", "task/"+t.Cluster+"/"+t.ID)
	out.ClusterArn = scope.New("ecs", "cluster/"+t.Cluster)
	out.TaskDefinitionArn = taskDefARN(scope, t.Family, t.Revision)
	if t.InstanceID != "" && !t.OnPool() {
		// A FARGATE task names no container instance, as on ECS: the host
		// of the Fargate pool that runs it is minato's business.
		out.ContainerInstanceArn = scope.New("ecs", "container-instance/"+t.Cluster+"/"+t.InstanceID)
	}
	out.Containers = slices.Clone(t.Task.Containers)
	for i := range out.Containers {
		out.Containers[i].TaskArn = out.TaskArn
		if i < len(t.ContainerIDs) {
			out.Containers[i].ContainerArn = scope.New("ecs", "container/"+t.Cluster+"/"+t.ID+"/"+t.ContainerIDs[i])
		}
		out.Containers[i].ManagedAgents = managedAgents(t, out.Containers[i])
	}
	return out
}

// taskRef resolves a task ID or ARN (arn:...:task/CLUSTER/ID, or the old
// arn:...:task/ID) to its ID and, when the ARN names one, its cluster.
func taskRef(ref string) (cluster, id string, err error) {
	if !arn.IsARN(ref) {
		return "", ref, nil
	}
	p, perr := arn.Parse(ref)
	rest, ok := strings.CutPrefix(p.Resource, "task/")
	if perr != nil || p.Service != "ecs" || !ok || rest == "" {
		return "", "", invalidParam("Invalid task ARN %q.", ref)
	}
	if c, id, has := strings.Cut(rest, "/"); has {
		return c, id, nil
	}
	return "", rest, nil
}

// checkTaskLaunch checks what RunTask, StartTask and CreateService check of
// a task definition, launch type, network configuration and overrides.
func checkTaskLaunch(td ecstypes.TaskDefinition, lt ecstypes.LaunchType, nc *ecstypes.NetworkConfiguration, o *ecstypes.TaskOverride) error {
	if lt == ecstypes.LaunchTypeFargate && !slices.Contains(td.Compatibilities, ecstypes.CompatibilityFargate) {
		return invalidParam("Task definition does not support launch_type FARGATE.")
	}
	awsvpc := td.NetworkMode == ecstypes.NetworkModeAwsvpc
	switch {
	case awsvpc && (nc == nil || nc.AwsvpcConfiguration == nil):
		return invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case !awsvpc && nc != nil && nc.AwsvpcConfiguration != nil:
		return invalidParam("Network Configuration is not valid for the given networkMode of this task definition.")
	case awsvpc && len(nc.AwsvpcConfiguration.Subnets) == 0:
		return invalidParam("subnets can not be empty.")
	}
	if o != nil && lt == ecstypes.LaunchTypeFargate && (o.Cpu != "" || o.Memory != "") {
		if err := checkFargateSize(firstSet(o.Cpu, td.Cpu), firstSet(o.Memory, td.Memory)); err != nil {
			return err
		}
	}
	if o != nil {
		for _, co := range o.ContainerOverrides {
			if !slices.ContainsFunc(td.ContainerDefinitions, func(c ecstypes.ContainerDefinition) bool { return c.Name == co.Name }) {
				return invalidParam("Override for container named %s is not a container in the TaskDefinition.", co.Name)
			}
		}
		if o.Cpu != "" {
			if _, err := strconv.Atoi(o.Cpu); err != nil {
				return invalidParam("Invalid cpu override %q.", o.Cpu)
			}
		}
		if o.Memory != "" {
			if _, err := strconv.Atoi(o.Memory); err != nil {
				return invalidParam("Invalid memory override %q.", o.Memory)
			}
		}
	}
	return nil
}

// checkFargateSize checks a FARGATE task's size, the task definition's
// with RunTask's overrides, against Fargate's cpu and memory combinations,
// as ECS does.
func checkFargateSize(cpu, memory string) error {
	c, err1 := taskdef.ParseCPU(cpu)
	m, err2 := taskdef.ParseMemory(memory)
	if err1 != nil || err2 != nil || !taskdef.FargateSupports(c, m) {
		return clientErr("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid combinations.", cpu, memory)
	}
	return nil
}

func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// launchCapacity picks the launch type and capacity provider strategy of a
// RunTask or CreateService call as ECS does: the launch type or strategy
// given (not both), else the cluster's default capacity provider
// strategy, else EC2. A strategy may name only providers associated with
// the cluster, at most one of them with a base, and one at least with a
// weight.
func launchCapacity(cl ecstypes.Cluster, lt ecstypes.LaunchType, cps []ecstypes.CapacityProviderStrategyItem) (ecstypes.LaunchType, []ecstypes.CapacityProviderStrategyItem, error) {
	if lt != "" && len(cps) > 0 {
		return "", nil, invalidParam("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	if lt == "" && len(cps) == 0 {
		cps = cl.DefaultCapacityProviderStrategy
		if len(cps) == 0 {
			lt = ecstypes.LaunchTypeEc2
		}
	}
	if err := checkStrategy(cl, cps); err != nil {
		return "", nil, err
	}
	return lt, cps, nil
}

// checkStrategy checks a capacity provider strategy against the cluster.
func checkStrategy(cl ecstypes.Cluster, cps []ecstypes.CapacityProviderStrategyItem) error {
	if len(cps) > 20 {
		return invalidParam("A capacity provider strategy can hold at most 20 capacity providers, not %d.", len(cps))
	}
	bases, weighted := 0, false
	for i, s := range cps {
		if !slices.Contains(cl.CapacityProviders, s.CapacityProvider) {
			return invalidParam("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		}
		if slices.ContainsFunc(cps[:i], func(o ecstypes.CapacityProviderStrategyItem) bool { return o.CapacityProvider == s.CapacityProvider }) {
			return invalidParam("The capacity provider %s is specified more than once in the capacity provider strategy.", s.CapacityProvider)
		}
		if s.Weight < 0 || s.Weight > 1000 {
			return invalidParam("The weight of capacity provider %s must be between 0 and 1000, not %d.", s.CapacityProvider, s.Weight)
		}
		if s.Base < 0 || s.Base > 100000 {
			return invalidParam("The base of capacity provider %s must be between 0 and 100000, not %d.", s.CapacityProvider, s.Base)
		}
		if s.Base > 0 {
			bases++
		}
		weighted = weighted || s.Weight > 0
	}
	switch {
	case bases > 1:
		return invalidParam("Only one capacity provider in a capacity provider strategy can have a base defined.")
	case len(cps) > 0 && !weighted:
		return invalidParam("At least one capacity provider in a capacity provider strategy must have a weight greater than zero.")
	}
	return nil
}

// checkPlatform checks the platform version a call asks for: FARGATE runs
// LATEST (1.4.0) and accepts 1.4.0 and 1.3.0 by name; EC2 takes none.
func checkPlatform(lt ecstypes.LaunchType, version string) error {
	switch {
	case version == "":
		return nil
	case lt != ecstypes.LaunchTypeFargate:
		return invalidParam("The platform version must be null when specifying an EC2 launch type.")
	case version == "LATEST" || version == "1.4.0" || version == "1.3.0":
		return nil
	}
	return invalidParam("The specified platform version (%s) does not exist. Valid Fargate Linux platform versions: LATEST, 1.4.0, 1.3.0.", version)
}

// launched renders the tasks a launch created, and the failures of the
// copies it could not place with the instances named by ARN (the domain
// names them by ID; a FARGATE capacity shortage names none).
func launched(scope arn.Scope, cluster string, created []state.Task, failures []ecstypes.Failure) ([]ecstypes.Task, []ecstypes.Failure) {
	out := make([]ecstypes.Task, 0, len(created))
	for _, t := range created {
		out = append(out, renderTask(scope, t))
	}
	fs := make([]ecstypes.Failure, len(failures))
	for i, f := range failures {
		if f.Arn != "" {
			f.Arn = instanceARN(scope, cluster, f.Arn)
		}
		fs[i] = f
	}
	return out, fs
}

// RunTask places and starts tasks from a task definition.
func (a *API) RunTask(ctx context.Context, c *awsproto.Call, in *ecstypes.RunTaskRequest) (*ecstypes.RunTaskResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	count := 1
	if in.Count != nil {
		count = int(*in.Count)
	}
	if count < 1 || count > 10 {
		return nil, invalidParam("count must be between 1 and 10.")
	}
	if len(in.StartedBy) > 128 {
		return nil, invalidParam("startedBy may hold at most 128 characters.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	td, err := a.runnableTaskDef(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	lt, cps, err := launchCapacity(cl.Value, in.LaunchType, in.CapacityProviderStrategy)
	if err != nil {
		return nil, err
	}
	lt = tasks.LaunchTypeOf(lt, cps)
	if err := checkPlatform(lt, in.PlatformVersion); err != nil {
		return nil, err
	}
	if err := checkTaskLaunch(td, lt, in.NetworkConfiguration, in.Overrides); err != nil {
		return nil, err
	}
	group := in.Group
	if group == "" {
		group = "family:" + td.Family
	}
	cluster := cl.Value.ClusterName
	created, res, err := a.tasks.Launch(ctx, tasks.Launch{
		Cluster: cluster, TaskDefinition: td, Count: count, LaunchType: lt, Overrides: in.Overrides,
		Network: in.NetworkConfiguration, Group: group, StartedBy: in.StartedBy, Tags: in.Tags,
		ExecuteCommand: in.EnableExecuteCommand, Strategies: in.PlacementStrategy, Constraints: in.PlacementConstraints,
		CapacityProviderStrategy: cps, PlatformVersion: in.PlatformVersion,
	})
	if err != nil {
		return nil, err
	}
	out := &ecstypes.RunTaskResponse{}
	out.Tasks, out.Failures = launched(scopeOf(c), cluster, created, res.Failures)
	if len(created) == count {
		out.Failures = []ecstypes.Failure{}
	}
	return out, nil
}

// runnableTaskDef finds the task definition RunTask names: a bare family
// means its latest ACTIVE revision; a revision being deleted cannot run.
func (a *API) runnableTaskDef(ctx context.Context, ref string) (ecstypes.TaskDefinition, error) {
	it, err := a.lookupTaskDef(ctx, ref)
	if err != nil {
		if e, ok := core.AsError(err); ok && e.Kind == core.KindInvalid {
			return ecstypes.TaskDefinition{}, invalidParam("TaskDefinition not found.")
		}
		return ecstypes.TaskDefinition{}, err
	}
	if it.Value.TaskDefinition.Status == tdDeleteInProgress {
		return ecstypes.TaskDefinition{}, clientErr("TaskDefinition is being deleted.")
	}
	return it.Value.TaskDefinition, nil
}

// StartTask starts one task on each named container instance.
func (a *API) StartTask(ctx context.Context, c *awsproto.Call, in *ecstypes.StartTaskRequest) (*ecstypes.StartTaskResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if n := len(in.ContainerInstances); n < 1 || n > 10 {
		return nil, invalidParam("containerInstances must name between 1 and 10 container instances.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	td, err := a.runnableTaskDef(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if err := checkTaskLaunch(td, ecstypes.LaunchTypeEc2, in.NetworkConfiguration, in.Overrides); err != nil {
		return nil, err
	}
	group := in.Group
	if group == "" {
		group = "family:" + td.Family
	}
	scope := scopeOf(c)
	out := &ecstypes.StartTaskResponse{Tasks: []ecstypes.Task{}, Failures: []ecstypes.Failure{}}
	for _, ref := range in.ContainerInstances {
		id := ref
		if arn.IsARN(ref) {
			id = state.LastSegment(ref)
		}
		created, res, err := a.tasks.Launch(ctx, tasks.Launch{
			Cluster: cl.Value.ClusterName, TaskDefinition: td, Count: 1, LaunchType: ecstypes.LaunchTypeEc2, Overrides: in.Overrides,
			Network: in.NetworkConfiguration, Group: group, StartedBy: in.StartedBy, Tags: in.Tags,
			ExecuteCommand: in.EnableExecuteCommand, OnlyInstances: []string{id},
			Strategies: []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeRandom}},
		})
		if err != nil {
			return nil, err
		}
		rendered, failures := launched(scope, cl.Value.ClusterName, created, res.Failures)
		out.Tasks = append(out.Tasks, rendered...)
		if len(created) == 0 {
			if len(failures) == 0 {
				failures = []ecstypes.Failure{{Arn: scope.New("ecs", "container-instance/"+cl.Value.ClusterName+"/"+id), Reason: "MISSING"}}
			}
			out.Failures = append(out.Failures, failures...)
		}
	}
	return out, nil
}

// StopTask asks a task to stop. The agent stops its containers (SIGTERM,
// then SIGKILL after stopTimeout) and reports it STOPPED.
func (a *API) StopTask(ctx context.Context, c *awsproto.Call, in *ecstypes.StopTaskRequest) (*ecstypes.StopTaskResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if len(in.Reason) > 1024 {
		return nil, invalidParam("reason may hold at most 1024 characters.")
	}
	reason := in.Reason
	if reason == "" {
		reason = "Task stopped by user"
	}
	t, err := a.stopTask(ctx, in.Cluster, in.Task, ecstypes.TaskStopCodeUserInitiated, reason)
	if err != nil {
		return nil, err
	}
	return &ecstypes.StopTaskResponse{Task: new(renderTask(scopeOf(c), t))}, nil
}

// stopTask resolves a task reference and asks the domain to stop it.
func (a *API) stopTask(ctx context.Context, clusterRef, ref string, code ecstypes.TaskStopCode, reason string) (state.Task, error) {
	refCluster, id, err := taskRef(ref)
	if err != nil {
		return state.Task{}, err
	}
	if clusterRef == "" && refCluster != "" {
		clusterRef = refCluster
	}
	cluster, err := clusterName(clusterRef)
	if err != nil {
		return state.Task{}, err
	}
	return a.tasks.Stop(ctx, cluster, id, code, reason)
}

// DescribeTasks describes tasks by ID or ARN.
func (a *API) DescribeTasks(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeTasksRequest) (*ecstypes.DescribeTasksResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if len(in.Tasks) > 100 {
		return nil, invalidParam("At most 100 tasks can be described at once.")
	}
	cluster, err := clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := a.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	tags := slices.Contains(in.Include, ecstypes.TaskFieldTags)
	scope := scopeOf(c)
	out := &ecstypes.DescribeTasksResponse{Tasks: []ecstypes.Task{}, Failures: []ecstypes.Failure{}}
	for _, ref := range in.Tasks {
		_, id, err := taskRef(ref)
		if err != nil {
			return nil, err
		}
		it, err := state.Get[state.Task](ctx, a.store, state.TaskKey(cluster, id))
		if state.IsNotFound(err) {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: scope.New("ecs", "task/"+cluster+"/"+id), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		t := renderTask(scope, it.Value)
		if !tags {
			t.Tags = nil
		} else {
			t.Tags = nonNil(t.Tags)
		}
		out.Tasks = append(out.Tasks, t)
	}
	return out, nil
}

// ListTasks lists task ARNs with ECS's filters. Without desiredStatus it
// lists tasks whose desired status is RUNNING, as ECS does.
func (a *API) ListTasks(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTasksRequest) (*ecstypes.ListTasksResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit, ok := pagingLimit(in.MaxResults)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := pagingAfter(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	desired := core.ParseTaskStatus(string(in.DesiredStatus))
	if in.DesiredStatus == "" {
		desired = core.TaskRunning
	}
	instance := in.ContainerInstance
	if arn.IsARN(instance) {
		instance = state.LastSegment(instance)
	}
	if in.ServiceName != "" && (in.Family != "" || in.StartedBy != "") {
		return nil, invalidParam("serviceName may not be combined with family or startedBy.")
	}
	v, err := a.synced(ctx)
	if err != nil {
		return nil, err
	}
	// The token is the last key returned; keys of one cluster sort as
	// their IDs.
	prefix := state.TasksPrefix(cluster)
	scope := scopeOf(c)
	out := &ecstypes.ListTasksResponse{TaskArns: []string{}}
	afterID, ok := strings.CutPrefix(after, prefix)
	if !ok {
		if after > prefix {
			return out, nil // a token past every key of the cluster
		}
		afterID = "" // a token before them
	}
	ids, more := v.ListTasks(cluster, clusterview.TaskFilter{
		DesiredStatus: desired, InstanceID: instance, Family: in.Family, StartedBy: in.StartedBy,
		ServiceName: in.ServiceName, LaunchType: in.LaunchType,
	}, afterID, limit)
	for _, id := range ids {
		out.TaskArns = append(out.TaskArns, scope.New("ecs", "task/"+cluster+"/"+id))
	}
	if more {
		out.NextToken = paging.Encode(prefix + ids[len(ids)-1])
	}
	return out, nil
}
