package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/tasks"
)

// Targets is the load balancer as the service controller uses it: a
// service with loadBalancers registers each RUNNING task as a target,
// reads the target's health, and deregisters the target (and waits for it
// to drain) before the task stops.
type Targets interface {
	TargetGroupInfo(ctx context.Context, arn string) (TargetGroupInfo, error)
	// RegisterTarget and DeregisterTarget are idempotent; deregistering
	// a target that is draining or gone changes nothing.
	RegisterTarget(ctx context.Context, tgARN string, t lb.Key, az string) error
	DeregisterTarget(ctx context.Context, tgARN string, t lb.Key) error
	// TargetHealth says how the load balancer sees a target; false when
	// the target is not registered (any more).
	TargetHealth(tgARN string, t lb.Key) (lb.TargetStatus, bool)
}

// TargetGroupInfo is what the controller needs of a target group.
type TargetGroupInfo struct {
	TargetType          string // "instance" or "ip"
	DeregistrationDelay time.Duration
}

// drainSlack is how long past a target group's deregistration delay the
// controller waits for the load balancer to report a target drained
// before it stops the task anyway.
const drainSlack = 5 * time.Second

// targetPass registers the targets of a load-balanced service's RUNNING
// tasks, deregisters those of tasks that stopped, finishes the
// deactivation of tasks the load balancer has drained, and returns the
// targets' health for the decider, by task ID. It returns events to
// record and whether some task is still draining (look again soon).
func (c *Services) targetPass(ctx context.Context, svc state.Service, svcTasks []state.Task) (map[string]taskTargets, []string, bool) {
	lbs := svc.Service.LoadBalancers
	if len(lbs) == 0 || c.Targets == nil {
		return nil, nil, false
	}
	health := map[string]taskTargets{}
	var events []string
	draining := false
	for _, t := range svcTasks {
		last := t.LastStatus()
		switch {
		case last == core.TaskRunning && t.DesiredStatus() == core.TaskRunning:
			if len(t.Targets) == 0 {
				refs, ok := c.targetsOf(svc, t)
				if !ok {
					continue // its address is not known yet
				}
				evs, err := c.register(ctx, svc, t, refs)
				events = append(events, evs...)
				if err != nil {
					c.Logger.Warn("registering targets", "service", svc.Name, "task", t.ID, "err", err)
					continue
				}
				t.Targets = refs
			}
			health[t.ID] = c.healthOf(t.Targets)
		case last == core.TaskDeactivating:
			if c.drain(ctx, svc, t) {
				if err := c.Tasks.FinishDeactivation(ctx, t.Cluster, t.ID); err != nil {
					c.Logger.Warn("finishing deactivation", "service", svc.Name, "task", t.ID, "err", err)
				}
			} else {
				draining = true
			}
		case tasks.HoldsTargets(t) && last.Terminal():
			// Stopped on its own (it crashed, or someone stopped it):
			// its targets go at once.
			events = append(events, c.deregister(ctx, svc, t.Targets)...)
			if err := c.Tasks.MarkTargetsReleased(ctx, t.Cluster, t.ID); err != nil {
				c.Logger.Warn("releasing targets", "service", svc.Name, "task", t.ID, "err", err)
			}
		}
	}
	return health, events, draining
}

// taskTargets is the health of one task's targets, for the decider.
type taskTargets struct {
	health      string // reconcile.TargetHealthy, reconcile.TargetUnhealthy or ""
	targetGroup string // of an unhealthy target
}

func (c *Services) healthOf(refs []state.TargetRef) taskTargets {
	all := true
	for _, r := range refs {
		st, ok := c.Targets.TargetHealth(r.TargetGroupARN, lb.Key{ID: r.ID, Port: r.Port})
		switch {
		case ok && st.State == lb.StateUnhealthy:
			return taskTargets{health: reconcile.TargetUnhealthy, targetGroup: r.TargetGroupARN}
		case !ok || st.State != lb.StateHealthy:
			all = false
		}
	}
	if all {
		return taskTargets{health: reconcile.TargetHealthy}
	}
	return taskTargets{}
}

// targetsOf works out the targets of a task, one per loadBalancers entry:
// in bridge and host mode the container instance and the host port bound
// to the container port, in awsvpc mode the task's IP and the container
// port.
func (c *Services) targetsOf(svc state.Service, t state.Task) ([]state.TargetRef, bool) {
	var refs []state.TargetRef
	for _, l := range svc.Service.LoadBalancers {
		if l.TargetGroupArn == "" || l.ContainerPort == nil {
			continue
		}
		port := int(*l.ContainerPort)
		var ctr *ecstypes.Container
		for i := range t.Task.Containers {
			if t.Task.Containers[i].Name == l.ContainerName {
				ctr = &t.Task.Containers[i]
			}
		}
		if ctr == nil {
			return nil, false
		}
		ref := state.TargetRef{TargetGroupARN: targetGroupOf(svc, l, t.DeploymentID), ContainerName: l.ContainerName, ContainerPort: port}
		if len(ctr.NetworkInterfaces) > 0 && ctr.NetworkInterfaces[0].PrivateIpv4Address != "" {
			ref.ID, ref.Port = ctr.NetworkInterfaces[0].PrivateIpv4Address, port
		} else {
			inst, ok := c.View.Instance(t.InstanceCluster(), t.InstanceID)
			if !ok {
				return nil, false
			}
			ref.ID = inst.Record.EC2InstanceID
			for _, b := range ctr.NetworkBindings {
				if b.ContainerPort != nil && int(*b.ContainerPort) == port && b.HostPort != nil &&
					(b.Protocol == "" || b.Protocol == ecstypes.TransportProtocolTcp) {
					ref.Port = int(*b.HostPort)
					break
				}
			}
		}
		if ref.ID == "" || ref.Port == 0 {
			return nil, false
		}
		refs = append(refs, ref)
	}
	return refs, len(refs) > 0
}

// register registers a task's targets and then records them in the task,
// so that a crash in between registers them again (which is harmless)
// rather than losing them.
func (c *Services) register(ctx context.Context, svc state.Service, t state.Task, refs []state.TargetRef) ([]string, error) {
	az := ""
	if inst, ok := c.View.Instance(t.InstanceCluster(), t.InstanceID); ok {
		for _, a := range inst.Record.Attributes {
			if a.Name == "ecs.availability-zone" {
				az = a.Value
			}
		}
	}
	var events []string
	for _, r := range refs {
		if err := c.Targets.RegisterTarget(ctx, r.TargetGroupARN, lb.Key{ID: r.ID, Port: r.Port}, az); err != nil {
			return events, err
		}
		events = append(events, fmt.Sprintf("(service %s) registered 1 targets in (target-group %s)", svc.Name, r.TargetGroupARN))
	}
	return events, c.Tasks.SetTargets(ctx, t.Cluster, t.ID, refs)
}

func (c *Services) deregister(ctx context.Context, svc state.Service, refs []state.TargetRef) []string {
	var events []string
	for _, r := range refs {
		if err := c.Targets.DeregisterTarget(ctx, r.TargetGroupARN, lb.Key{ID: r.ID, Port: r.Port}); err != nil {
			c.Logger.Warn("deregistering target", "service", svc.Name, "target", r.ID, "port", r.Port, "err", err)
			continue
		}
		events = append(events, fmt.Sprintf("(service %s) deregistered 1 targets in (target-group %s)", svc.Name, r.TargetGroupARN))
	}
	return events
}

// drain deregisters a DEACTIVATING task's targets if the load balancer
// does not show them draining yet, and says whether every one of them is
// drained (or the deregistration delay is well past).
func (c *Services) drain(ctx context.Context, svc state.Service, t state.Task) bool {
	done := true
	for _, r := range t.Targets {
		key := lb.Key{ID: r.ID, Port: r.Port}
		st, ok := c.Targets.TargetHealth(r.TargetGroupARN, key)
		if !ok || st.Drained {
			continue
		}
		if st.State != lb.StateDraining {
			if err := c.Targets.DeregisterTarget(ctx, r.TargetGroupARN, key); err != nil {
				c.Logger.Warn("deregistering target", "service", svc.Name, "target", r.ID, "port", r.Port, "err", err)
			}
		}
		delay := 300 * time.Second
		if info, err := c.Targets.TargetGroupInfo(ctx, r.TargetGroupARN); err == nil {
			delay = info.DeregistrationDelay
		}
		if c.Clock.Now().Before(t.DeactivatingAt.Add(delay + drainSlack)) {
			done = false
		}
	}
	return done
}

// stopTask stops a task the decider chose. A task that is a load balancer
// target becomes DEACTIVATING (see tasks.Manager.StopServiceTask) and its
// targets are deregistered, to be drained before its agent stops it.
func (c *Services) stopTask(ctx context.Context, svc state.Service, t *state.Task, reason string) ([]string, error) {
	deactivating, err := c.Tasks.StopServiceTask(ctx, svc.Cluster, t.ID, reason)
	if err != nil || !tasks.HoldsTargets(*t) || c.Targets == nil {
		return nil, err
	}
	events := c.deregister(ctx, svc, t.Targets)
	if !deactivating {
		// It was not RUNNING and stopped at once; its targets are gone.
		if err := c.Tasks.MarkTargetsReleased(ctx, svc.Cluster, t.ID); err != nil {
			c.Logger.Warn("releasing targets", "service", svc.Name, "task", t.ID, "err", err)
		}
	}
	return events, nil
}
