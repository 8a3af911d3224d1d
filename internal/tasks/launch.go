package tasks

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Launch asks for tasks to be placed and created.
type Launch struct {
	Cluster        string
	TaskDefinition ecstypes.TaskDefinition
	Count          int
	LaunchType     ecstypes.LaunchType
	Overrides      *ecstypes.TaskOverride
	Network        *ecstypes.NetworkConfiguration
	Group          string
	StartedBy      string
	Tags           []ecstypes.Tag
	ExecuteCommand bool
	// Service and Deployment name the service deployment the tasks are
	// launched for ("" for RunTask and StartTask).
	Service    string
	Deployment string
	// Strategies and Constraints are the call's placement; RunTask's
	// default strategies apply when a task outside a service has none.
	Strategies  []ecstypes.PlacementStrategy
	Constraints []ecstypes.PlacementConstraint
	// OnlyInstances restricts placement to these instance IDs (StartTask,
	// DAEMON services).
	OnlyInstances []string
	// CapacityProviderStrategy, when the call's capacity came from a
	// strategy (FARGATE, FARGATE_SPOT), names each task's
	// capacityProviderName (scheduler.CapacityProviders); ProviderTasks
	// counts the tasks each provider holds already (a service's).
	CapacityProviderStrategy []ecstypes.CapacityProviderStrategyItem
	ProviderTasks            map[string]int
	// PlatformVersion is a FARGATE task's platform version as asked for
	// ("" and LATEST: the latest, PlatformVersionLatest).
	PlatformVersion string
}

// PlatformVersionLatest is the Fargate platform version minato's pool
// runs, and what LATEST resolves to.
const PlatformVersionLatest = "1.4.0"

// platformVersion resolves a FARGATE task's platform version.
func platformVersion(v string) string {
	if v == "" || v == "LATEST" {
		return PlatformVersionLatest
	}
	return v
}

// LaunchTypeOf picks the launch type of a RunTask or CreateService call:
// the one it names, else FARGATE when a capacity provider strategy names
// FARGATE or FARGATE_SPOT, else EC2.
func LaunchTypeOf(lt ecstypes.LaunchType, cps []ecstypes.CapacityProviderStrategyItem) ecstypes.LaunchType {
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

// Launch places and creates the tasks l asks for, atomically with the
// resources they take on their instances, and returns them with the
// scheduler's whole result. The result's failures name instances by ID in
// their Arn field (the caller knows the scope of an ARN).
//
// The scheduler proposes (propose, pure over a snapshot of the cluster
// view) and Launch commits (commit, one conditioned transaction); a
// conflict with a concurrent write proposes again from a newer snapshot.
func (m *Manager) Launch(ctx context.Context, l Launch) ([]state.Task, scheduler.Result, error) {
	var res scheduler.Result
	req, err := scheduler.RequestFor(&l.TaskDefinition, l.Overrides, l.Group, l.LaunchType)
	if err != nil {
		return nil, res, invalidParam("%v", err)
	}
	if l.LaunchType == ecstypes.LaunchTypeFargate {
		// The pool accounts a Fargate task's cpu overcommitted, and
		// counts its group per cluster.
		req.CPU = scheduler.FargateCPU(req.CPU, m.overcommit)
		req.Group = scheduler.PoolGroup(l.Cluster, req.Group)
	}
	constraints := scheduler.Constraints(&l.TaskDefinition, l.Constraints)
	strategies := l.Strategies
	if len(strategies) == 0 && l.Service == "" {
		strategies = scheduler.RunTaskDefaultStrategies()
	}
	if err := scheduler.ValidatePlacement(strategies, constraints); err != nil {
		return nil, res, invalidParam("%v", err)
	}
	var created []state.Task
	err = store.RetryConflicts(ctx, func() error {
		var hosts clusterview.Hosts
		var err error
		res, hosts, err = m.propose(ctx, l, req, strategies, constraints)
		if err != nil {
			return err
		}
		created, err = m.commit(ctx, l, res, hosts)
		return err
	})
	if err == nil {
		for _, t := range created {
			m.logTaskPlaced(t)
		}
	}
	if m.launched != nil {
		m.launched(len(created), max(l.Count-len(created), 0))
	}
	return created, res, err
}

// propose reads the cluster's container instances that are not INACTIVE
// (only those named by l.OnlyInstances, when it is not nil; for a FARGATE
// launch the hosts of the Fargate pool, whatever their cluster) from the
// view, as placement sees them, and asks the scheduler where the tasks go. It
// returns the scheduler's result and the snapshot it read, which holds
// the record (with its revision) each instance was computed from. It
// copies nothing of the view: its cost does not depend on the tasks
// stored.
func (m *Manager) propose(ctx context.Context, l Launch, req scheduler.Request, strategies []ecstypes.PlacementStrategy,
	constraints []ecstypes.PlacementConstraint) (scheduler.Result, clusterview.Hosts, error) {
	insts, hosts, err := m.snapshot(ctx, l.Cluster, l.OnlyInstances, l.LaunchType == ecstypes.LaunchTypeFargate)
	if err != nil {
		return scheduler.Result{}, hosts, err
	}
	res := scheduler.PlaceShared(insts, m.agents.Reader().Connected, req, l.Count, strategies, constraints, newRand())
	if res.Err != nil {
		return res, hosts, invalidParam("%v", res.Err)
	}
	if res.NoInstances && l.OnlyInstances == nil && l.Service == "" {
		return res, hosts, invalidParam("%s", scheduler.NoInstancesMessage)
	}
	return res, hosts, nil
}

// snapshot returns the instances placement reads (see propose) and the
// view they were read from, once the view holds every write committed
// before the call.
func (m *Manager) snapshot(ctx context.Context, cluster string, only []string, pool bool) ([]*scheduler.Instance, clusterview.Hosts, error) {
	if err := m.view.Sync(ctx); err != nil {
		return nil, clusterview.Hosts{}, err
	}
	hosts := m.view.Hosts(cluster)
	if pool {
		hosts = m.view.FargateHosts()
	}
	if only != nil {
		hosts = hosts.Only(only)
	}
	return hosts.Shared(), hosts, nil
}

// commit creates the tasks res places, with their index entries and the
// resources they take on their instances, in one transaction conditioned
// on the revision of each instance as the snapshot read it.
func (m *Manager) commit(ctx context.Context, l Launch, res scheduler.Result, hosts clusterview.Hosts) ([]state.Task, error) {
	items := map[string]state.Item[state.ContainerInstance]{}
	for _, p := range res.Placements {
		if _, ok := items[p.InstanceID]; !ok {
			if items[p.InstanceID], ok = hosts.Record(p.InstanceID); !ok {
				return nil, fmt.Errorf("tasks: placed on instance %s the snapshot does not hold", p.InstanceID)
			}
		}
	}
	var created []state.Task
	used := map[string]state.Resources{}
	var ops []store.Op
	providers := scheduler.CapacityProviders(l.CapacityProviderStrategy, l.ProviderTasks, len(res.Placements))
	for i, p := range res.Placements {
		t := NewRecord(l, p, items[p.InstanceID].Value, m.clock.Now(), m.ids)
		if i < len(providers) {
			t.Task.CapacityProviderName = providers[i]
		}
		created = append(created, t)
		u, ok := used[p.InstanceID]
		if !ok {
			u = items[p.InstanceID].Value.Used
		}
		used[p.InstanceID] = Take(u, t.Holds)
		tb, err := state.Encode(t)
		if err != nil {
			return nil, err
		}
		ib, err := state.Encode(state.IndexEntry{Cluster: l.Cluster, DesiredStatus: core.TaskRunning.String()})
		if err != nil {
			return nil, err
		}
		ops = append(ops, store.Put(state.TaskKey(l.Cluster, t.ID), tb), store.Put(state.InstanceTaskKey(p.InstanceID, t.ID), ib))
	}
	// The instances come after the tasks in the transaction: a reader of
	// the watch that sees an instance's new revision has seen the tasks
	// placed with it.
	var conds []store.Cond
	for id, u := range used {
		it := items[id]
		ci := it.Value
		ci.Used = u
		ci.Version++
		b, err := state.Encode(ci)
		if err != nil {
			return nil, err
		}
		conds = append(conds, store.Cond{Key: it.Key, ModRevision: it.ModRevision})
		ops = append(ops, store.Put(it.Key, b))
	}
	if len(ops) == 0 {
		return created, nil
	}
	_, err := m.store.Txn(ctx, conds, ops)
	return created, err
}

// NewRecord builds the record of a task of l that placement put where p
// says, on instance inst, at now: PROVISIONING, desired RUNNING, holding
// what p took.
func NewRecord(l Launch, p scheduler.Placement, inst state.ContainerInstance, now time.Time, ids core.IDs) state.Task {
	ts := shape.NewTimestamp(now)
	id := ids.NewID()
	t := state.Task{
		ID: id, Cluster: l.Cluster, InstanceID: p.InstanceID, Family: l.TaskDefinition.Family, Revision: l.TaskDefinition.Revision,
		Holds:        state.Resources{CPU: p.CPU, MemoryMiB: p.Memory, Ports: p.TCPPorts, PortsUDP: p.UDPPorts},
		HostPorts:    map[string][]int{},
		ServiceName:  l.Service,
		DeploymentID: l.Deployment,
	}
	for _, pm := range p.Ports {
		t.HostPorts[pm.Container] = append(t.HostPorts[pm.Container], pm.HostPort)
	}
	td := &l.TaskDefinition
	task := ecstypes.Task{
		Attributes:           []ecstypes.Attribute{{Name: "ecs.cpu-architecture", Value: attr(inst, "ecs.cpu-architecture")}},
		AvailabilityZone:     attr(inst, "ecs.availability-zone"),
		Cpu:                  td.Cpu,
		Memory:               td.Memory,
		CreatedAt:            ts,
		DesiredStatus:        core.TaskRunning.String(),
		LastStatus:           core.TaskProvisioning.String(),
		EnableExecuteCommand: l.ExecuteCommand,
		Group:                l.Group,
		LaunchType:           l.LaunchType,
		StartedBy:            l.StartedBy,
		Tags:                 l.Tags,
		Version:              1,
		Overrides:            &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{}, InferenceAcceleratorOverrides: []ecstypes.InferenceAcceleratorOverride{}},
	}
	if l.Overrides != nil {
		task.Overrides = l.Overrides
		if l.Overrides.Cpu != "" {
			task.Cpu = l.Overrides.Cpu
		}
		if l.Overrides.Memory != "" {
			task.Memory = l.Overrides.Memory
		}
	}
	if l.LaunchType == ecstypes.LaunchTypeFargate {
		// A host of the Fargate pool runs it: the task names no container
		// instance (renderers leave it out), but its record remembers the
		// host's cluster.
		t.HostCluster = cmp.Or(inst.Cluster, l.Cluster)
		task.PlatformVersion, task.PlatformFamily = platformVersion(l.PlatformVersion), "Linux"
	}
	if td.NetworkMode == ecstypes.NetworkModeAwsvpc {
		att := ecstypes.Attachment{Id: uuidFromID(ids.NewID()), Type: eniAttachment, Status: "PRECREATED",
			Details: []ecstypes.KeyValuePair{{Name: "networkInterfaceId", Value: "eni-" + ids.NewID()[:17]}}}
		if nc := l.Network; nc != nil && nc.AwsvpcConfiguration != nil && len(nc.AwsvpcConfiguration.Subnets) > 0 {
			att.Details = append([]ecstypes.KeyValuePair{{Name: "subnetId", Value: nc.AwsvpcConfiguration.Subnets[0]}}, att.Details...)
		}
		task.Attachments = []ecstypes.Attachment{att}
	} else {
		task.Attachments = []ecstypes.Attachment{}
	}
	for _, c := range td.ContainerDefinitions {
		if c.HealthCheck != nil && (c.Essential == nil || *c.Essential) {
			t.HealthChecked = true
		}
		ctr := ecstypes.Container{Name: c.Name, Image: c.Image, LastStatus: core.TaskPending.String(), Cpu: strconv.Itoa(int(c.Cpu)),
			NetworkInterfaces: []ecstypes.NetworkInterface{}, NetworkBindings: []ecstypes.NetworkBinding{}}
		if c.Memory != nil {
			ctr.Memory = strconv.Itoa(int(*c.Memory))
		}
		if c.MemoryReservation != nil {
			ctr.MemoryReservation = strconv.Itoa(int(*c.MemoryReservation))
		}
		task.Containers = append(task.Containers, ctr)
		t.ContainerIDs = append(t.ContainerIDs, uuidFromID(ids.NewID()))
	}
	t.Task = task
	return t
}

// eniAttachment is the attachment type of an awsvpc task's network
// interface.
const eniAttachment = "ElasticNetworkInterface"

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
