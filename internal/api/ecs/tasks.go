package ecs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// taskOps are the task operations.
func (a *API) taskOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"RunTask":       awsproto.Op(a.RunTask),
		"StartTask":     awsproto.Op(a.StartTask),
		"StopTask":      awsproto.Op(a.StopTask),
		"DescribeTasks": awsproto.Op(a.DescribeTasks),
		"ListTasks":     awsproto.Op(a.ListTasks),
	}
}

func newRand() *mrand.Rand {
	var b [16]byte
	rand.Read(b[:])
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
}

// renderTask fills in the ARNs of a task for the caller's scope.
func renderTask(scope arn.Scope, t state.Task) ecstypes.Task {
	out := t.Task
	out.TaskArn = scope.New("ecs", "task/"+t.Cluster+"/"+t.ID)
	out.ClusterArn = scope.New("ecs", "cluster/"+t.Cluster)
	out.TaskDefinitionArn = taskDefARN(scope, t.Family, t.Revision)
	if t.InstanceID != "" {
		out.ContainerInstanceArn = scope.New("ecs", "container-instance/"+t.Cluster+"/"+t.InstanceID)
	}
	out.Containers = slices.Clone(t.Task.Containers)
	for i := range out.Containers {
		out.Containers[i].TaskArn = out.TaskArn
		if i < len(t.ContainerIDs) {
			out.Containers[i].ContainerArn = scope.New("ecs", "container/"+t.Cluster+"/"+t.ID+"/"+t.ContainerIDs[i])
		}
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

// launchTypeOf picks the launch type of a RunTask or CreateService call.
func launchTypeOf(lt ecstypes.LaunchType, cps []ecstypes.CapacityProviderStrategyItem) ecstypes.LaunchType {
	if lt != "" {
		return lt
	}
	for _, cp := range cps {
		if strings.HasPrefix(cp.CapacityProvider, "FARGATE") {
			return ecstypes.LaunchTypeFargate
		}
	}
	return ecstypes.LaunchTypeEc2
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

// launch describes tasks to create.
type launch struct {
	cluster    string
	td         ecstypes.TaskDefinition
	count      int
	launchType ecstypes.LaunchType
	overrides  *ecstypes.TaskOverride
	network    *ecstypes.NetworkConfiguration
	group      string
	startedBy  string
	tags       []ecstypes.Tag
	execCmd    bool
	service    string
	deployment string
	strategies []ecstypes.PlacementStrategy
	constrs    []ecstypes.PlacementConstraint
	// onlyInstances restricts placement (StartTask).
	onlyInstances []string
}

// snapshot returns the cluster's container instances that are not
// INACTIVE (only those named by only, when it is not nil) as placement sees
// them, in ID order, and the view they were read from, which holds the
// record (with its revision) each was computed from. It reads the cluster
// view and copies nothing of it: its cost does not depend on the tasks
// stored. Whether the instances' agents are connected is for the caller to
// ask a.agents.
func (a *API) snapshot(ctx context.Context, cluster string, only []string) ([]*scheduler.Instance, clusterview.Hosts, error) {
	v, err := a.synced(ctx)
	if err != nil {
		return nil, clusterview.Hosts{}, err
	}
	hosts := v.Hosts(cluster)
	if only != nil {
		hosts = hosts.Only(only)
	}
	return hosts.Shared(), hosts, nil
}

// place places and creates the tasks of l, atomically with the resources
// they take on their instances, and returns them with the failures.
func (a *API) place(ctx context.Context, scope arn.Scope, l launch) ([]state.Task, []ecstypes.Failure, error) {
	tasks, res, err := a.placeResult(ctx, scope, l)
	return tasks, res.Failures, err
}

// placeResult is place that also returns the scheduler's whole result.
func (a *API) placeResult(ctx context.Context, scope arn.Scope, l launch) ([]state.Task, scheduler.Result, error) {
	var res scheduler.Result
	req, err := scheduler.RequestFor(&l.td, l.overrides, l.group, l.launchType)
	if err != nil {
		return nil, res, invalidParam("%v", err)
	}
	constraints := scheduler.Constraints(&l.td, l.constrs)
	strategies := l.strategies
	if len(strategies) == 0 && l.service == "" {
		strategies = scheduler.RunTaskDefaultStrategies()
	}
	if err := scheduler.ValidatePlacement(strategies, constraints); err != nil {
		return nil, res, invalidParam("%v", err)
	}
	var created []state.Task
	err = store.RetryConflicts(ctx, func() error {
		insts, hosts, err := a.snapshot(ctx, l.cluster, l.onlyInstances)
		if err != nil {
			return err
		}
		res = scheduler.PlaceShared(insts, a.agents.Reader().Connected, req, l.count, strategies, constraints, newRand())
		if res.Err != nil {
			return invalidParam("%v", res.Err)
		}
		// The snapshot leaves ARNs out (building 5,000 of them per
		// placement costs more than placing): failures name instances
		// by ID until here.
		for i := range res.Failures {
			res.Failures[i].Arn = instanceARN(scope, l.cluster, res.Failures[i].Arn)
		}
		items := map[string]state.Item[state.ContainerInstance]{}
		for i, p := range res.Placements {
			res.Placements[i].InstanceARN = instanceARN(scope, l.cluster, p.InstanceID)
			if _, ok := items[p.InstanceID]; !ok {
				if items[p.InstanceID], ok = hosts.Record(p.InstanceID); !ok {
					return fmt.Errorf("ecs: placed on instance %s the snapshot does not hold", p.InstanceID)
				}
			}
		}
		if res.NoInstances && l.onlyInstances == nil && l.service == "" {
			return invalidParam("%s", scheduler.NoInstancesMessage)
		}
		created = created[:0]
		used := map[string]state.Resources{}
		var ops []store.Op
		for _, p := range res.Placements {
			t := a.newTask(l, p, items[p.InstanceID].Value)
			created = append(created, t)
			u, ok := used[p.InstanceID]
			if !ok {
				u = items[p.InstanceID].Value.Used
			}
			u = addResources(u, t.Holds)
			used[p.InstanceID] = u
			tb, err := state.Encode(t)
			if err != nil {
				return err
			}
			ib, err := state.Encode(state.IndexEntry{Cluster: l.cluster, DesiredStatus: "RUNNING"})
			if err != nil {
				return err
			}
			ops = append(ops, store.Put(state.TaskKey(l.cluster, t.ID), tb), store.Put(state.InstanceTaskKey(p.InstanceID, t.ID), ib))
		}
		// The instances come after the tasks in the transaction: a reader
		// of the watch that sees an instance's new revision has seen the
		// tasks placed with it.
		var conds []store.Cond
		for id, u := range used {
			it := items[id]
			ci := it.Value
			ci.Used = u
			ci.Version++
			b, err := state.Encode(ci)
			if err != nil {
				return err
			}
			conds = append(conds, store.Cond{Key: it.Key, ModRevision: it.ModRevision})
			ops = append(ops, store.Put(it.Key, b))
		}
		if len(ops) == 0 {
			return nil
		}
		_, err = a.store.Txn(ctx, conds, ops)
		return err
	})
	if err == nil {
		for _, t := range created {
			a.logTaskPlaced(t)
		}
	}
	return created, res, err
}

func addResources(u, h state.Resources) state.Resources {
	return state.Resources{
		CPU: u.CPU + h.CPU, MemoryMiB: u.MemoryMiB + h.MemoryMiB,
		Ports: append(slices.Clone(u.Ports), h.Ports...), PortsUDP: append(slices.Clone(u.PortsUDP), h.PortsUDP...),
	}
}

// newTask builds the record of a task placed by p.
func (a *API) newTask(l launch, p scheduler.Placement, inst state.ContainerInstance) state.Task {
	now := shape.NewTimestamp(a.now())
	id := a.ids.NewID()
	t := state.Task{
		ID: id, Cluster: l.cluster, InstanceID: p.InstanceID, Family: l.td.Family, Revision: l.td.Revision,
		Holds:        state.Resources{CPU: p.CPU, MemoryMiB: p.Memory, Ports: p.TCPPorts, PortsUDP: p.UDPPorts},
		HostPorts:    map[string][]int{},
		ServiceName:  l.service,
		DeploymentID: l.deployment,
	}
	for _, pm := range p.Ports {
		t.HostPorts[pm.Container] = append(t.HostPorts[pm.Container], pm.HostPort)
	}
	task := ecstypes.Task{
		Attributes:           []ecstypes.Attribute{{Name: "ecs.cpu-architecture", Value: attr(inst, "ecs.cpu-architecture")}},
		AvailabilityZone:     attr(inst, "ecs.availability-zone"),
		Cpu:                  l.td.Cpu,
		Memory:               l.td.Memory,
		CreatedAt:            now,
		DesiredStatus:        "RUNNING",
		LastStatus:           "PROVISIONING",
		EnableExecuteCommand: l.execCmd,
		Group:                l.group,
		LaunchType:           l.launchType,
		StartedBy:            l.startedBy,
		Tags:                 l.tags,
		Version:              1,
		Overrides:            &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{}, InferenceAcceleratorOverrides: []ecstypes.InferenceAcceleratorOverride{}},
	}
	if l.overrides != nil {
		task.Overrides = l.overrides
		if l.overrides.Cpu != "" {
			task.Cpu = l.overrides.Cpu
		}
		if l.overrides.Memory != "" {
			task.Memory = l.overrides.Memory
		}
	}
	if l.launchType == ecstypes.LaunchTypeFargate {
		task.PlatformVersion, task.PlatformFamily = "1.4.0", "Linux"
	}
	if l.td.NetworkMode == ecstypes.NetworkModeAwsvpc {
		att := ecstypes.Attachment{Id: uuidFromID(a.ids.NewID()), Type: "ElasticNetworkInterface", Status: "PRECREATED",
			Details: []ecstypes.KeyValuePair{{Name: "networkInterfaceId", Value: "eni-" + a.ids.NewID()[:17]}}}
		if nc := l.network; nc != nil && nc.AwsvpcConfiguration != nil && len(nc.AwsvpcConfiguration.Subnets) > 0 {
			att.Details = append([]ecstypes.KeyValuePair{{Name: "subnetId", Value: nc.AwsvpcConfiguration.Subnets[0]}}, att.Details...)
		}
		task.Attachments = []ecstypes.Attachment{att}
	} else {
		task.Attachments = []ecstypes.Attachment{}
	}
	for _, c := range l.td.ContainerDefinitions {
		if c.HealthCheck != nil && (c.Essential == nil || *c.Essential) {
			t.HealthChecked = true
		}
		ctr := ecstypes.Container{Name: c.Name, Image: c.Image, LastStatus: "PENDING", Cpu: strconv.Itoa(int(c.Cpu)),
			NetworkInterfaces: []ecstypes.NetworkInterface{}, NetworkBindings: []ecstypes.NetworkBinding{}}
		if c.Memory != nil {
			ctr.Memory = strconv.Itoa(int(*c.Memory))
		}
		if c.MemoryReservation != nil {
			ctr.MemoryReservation = strconv.Itoa(int(*c.MemoryReservation))
		}
		task.Containers = append(task.Containers, ctr)
		t.ContainerIDs = append(t.ContainerIDs, uuidFromID(a.ids.NewID()))
	}
	t.Task = task
	return t
}

func attr(ci state.ContainerInstance, name string) string {
	for _, at := range ci.Attributes {
		if at.Name == name {
			return at.Value
		}
	}
	return ""
}

// uuidFromID formats a 32-hex-digit ID as a UUID.
func uuidFromID(id string) string {
	if len(id) != 32 {
		return id
	}
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
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
	lt := launchTypeOf(in.LaunchType, in.CapacityProviderStrategy)
	if err := checkTaskLaunch(td, lt, in.NetworkConfiguration, in.Overrides); err != nil {
		return nil, err
	}
	group := in.Group
	if group == "" {
		group = "family:" + td.Family
	}
	scope := scopeOf(c)
	tasks, failures, err := a.place(ctx, scope, launch{
		cluster: cl.Value.ClusterName, td: td, count: count, launchType: lt, overrides: in.Overrides,
		network: in.NetworkConfiguration, group: group, startedBy: in.StartedBy, tags: in.Tags,
		execCmd: in.EnableExecuteCommand, strategies: in.PlacementStrategy, constrs: in.PlacementConstraints,
	})
	if err != nil {
		return nil, err
	}
	out := &ecstypes.RunTaskResponse{Tasks: []ecstypes.Task{}, Failures: nonNil(failures)}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, renderTask(scope, t))
	}
	if len(tasks) == count {
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
		tasks, failures, err := a.place(ctx, scope, launch{
			cluster: cl.Value.ClusterName, td: td, count: 1, launchType: ecstypes.LaunchTypeEc2, overrides: in.Overrides,
			network: in.NetworkConfiguration, group: group, startedBy: in.StartedBy, tags: in.Tags,
			execCmd: in.EnableExecuteCommand, onlyInstances: []string{id},
			strategies: []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeRandom}},
		})
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			out.Tasks = append(out.Tasks, renderTask(scope, t))
		}
		if len(tasks) == 0 {
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

// stopTask sets a task's desired status to STOPPED. A task whose instance
// is gone is STOPPED at once; a RUNNING task that is a load balancer target
// becomes DEACTIVATING, to be drained before its agent stops it.
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
	var out state.Task
	stopped := false // this call set the desired status
	err = store.RetryConflicts(ctx, func() error {
		stopped = false
		it, err := state.Get[state.Task](ctx, a.store, state.TaskKey(cluster, id))
		if state.IsNotFound(err) {
			return invalidParam("The referenced task was not found.")
		}
		if err != nil {
			return err
		}
		t := it.Value
		out = t
		if t.Task.DesiredStatus == "STOPPED" {
			return nil
		}
		t.Task.DesiredStatus = "STOPPED"
		if t.Task.StopCode == "" {
			t.Task.StopCode, t.Task.StoppedReason = code, reason
		}
		now := a.now()
		t.Task.StoppingAt = shape.NewTimestamp(now)
		t.Task.Version++
		conds := []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}
		var ops []store.Op
		if len(t.Targets) > 0 && !t.TargetsReleased && t.Task.LastStatus == "RUNNING" {
			// A load balancer target: the service scheduler deregisters
			// and drains it, then has its agent stop it (see
			// FinishDeactivation); the agent keeps it running meanwhile.
			t.Task.LastStatus, t.DeactivatingAt = "DEACTIVATING", now
		} else if ops, err = a.stopOps(ctx, cluster, &t); err != nil {
			return err
		}
		tb, err := state.Encode(t)
		if err != nil {
			return err
		}
		ops = append(ops, store.Put(it.Key, tb))
		if _, err := a.store.Txn(ctx, conds, ops); err != nil {
			return err
		}
		out, stopped = t, true
		return nil
	})
	if err == nil && stopped {
		a.logTaskStopping(out)
	}
	return out, err
}

// stopOps returns the writes, besides the task record, that tell the
// task's agent to stop it, and marks it STOPPED at once when no agent is
// left to do so (its instance is gone) or it holds nothing any more.
func (a *API) stopOps(ctx context.Context, cluster string, t *state.Task) ([]store.Op, error) {
	inst, ierr := state.Get[state.ContainerInstance](ctx, a.store, state.ContainerInstanceKey(cluster, t.InstanceID))
	gone := state.IsNotFound(ierr) || (ierr == nil && inst.Value.Status == "INACTIVE")
	if ierr != nil && !gone {
		return nil, ierr
	}
	if gone || t.Released {
		t.Task.LastStatus = "STOPPED"
		t.Task.StoppedAt = t.Task.StoppingAt
		t.Task.ExecutionStoppedAt = t.Task.StoppingAt
		t.Released = true
		return []store.Op{store.Delete(state.InstanceTaskKey(t.InstanceID, t.ID))}, nil
	}
	ib, err := state.Encode(state.IndexEntry{Cluster: cluster, DesiredStatus: "STOPPED"})
	if err != nil {
		return nil, err
	}
	return []store.Op{store.Put(state.InstanceTaskKey(t.InstanceID, t.ID), ib)}, nil
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
