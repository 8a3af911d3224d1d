package controller

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/tasks"
)

// PoolTasks is the task domain as the Fargate pool's loop uses it.
type PoolTasks interface {
	// StopOnLostHost stops a task of the pool whose host was lost.
	StopOnLostHost(ctx context.Context, cluster, id, reason string) error
}

var _ PoolTasks = (*tasks.Manager)(nil)

// Pool is the leader's loop over the hosts of the Fargate pool. On ECS a
// FARGATE task whose infrastructure fails is stopped, and its service
// starts another; nobody has a container instance to look after. minato's
// pool hosts are machines whose agents can go away, so the loop does the
// same: the pool tasks of a host that is lost (its agent silent for longer
// than the agents' timeout) or deregistered are stopped, and their services
// replace them on the hosts left. EC2 tasks of a lost instance are left
// alone, as ECS leaves them.
type Pool struct {
	Tasks PoolTasks
	View  *clusterview.View
	// Lost says whether the agent of a container instance is lost (see
	// liveness.Reader.Lost).
	Lost   func(instanceID string) bool
	Logger *slog.Logger
	// Interval is how often the pool is looked at (default 2 s).
	Interval time.Duration
	// Observe, when set, is told how long each pass took (/metrics).
	Observe func(time.Duration)
}

// Run runs the loop until ctx ends.
func (p *Pool) Run(ctx context.Context) error {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Interval == 0 {
		p.Interval = 2 * time.Second
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		p.pass(ctx)
		if p.Observe != nil {
			p.Observe(time.Since(start))
		}
	}
}

// pass stops the pool tasks of every host that is gone.
func (p *Pool) pass(ctx context.Context) {
	if err := p.View.Sync(ctx); err != nil {
		return
	}
	for _, h := range p.View.PoolHosts() {
		lost := h.Status == state.InstanceInactive || p.Lost(h.ID)
		for _, s := range lostHostStops(h, lost, p.View.TasksOn(h.Cluster, h.ID)) {
			if err := p.Tasks.StopOnLostHost(ctx, s.cluster, s.id, s.reason); err != nil && ctx.Err() == nil {
				p.Logger.Warn("stopping a task of a lost Fargate host", "cluster", s.cluster, "task", s.id, "instance", h.ID, "err", err)
			}
		}
	}
}

// poolStop is a task to stop because its host is gone.
type poolStop struct{ cluster, id, reason string }

// lostHostStops decides which tasks on host to stop: when the host is
// lost, its tasks of the Fargate pool that are not STOPPED yet, with the
// reason to give. Its own cluster's EC2 tasks stay.
func lostHostStops(host state.ContainerInstance, lost bool, onHost []state.Task) []poolStop {
	if !lost {
		return nil
	}
	reason := fmt.Sprintf("Task stopped because the Fargate host running it was lost (minato: the agent of container instance %s of cluster %s stopped answering)", host.ID, host.Cluster)
	if host.Status == state.InstanceInactive {
		reason = fmt.Sprintf("Task stopped because the Fargate host running it was deregistered (minato: container instance %s of cluster %s)", host.ID, host.Cluster)
	}
	var out []poolStop
	for _, t := range onHost {
		if t.OnPool() && !t.LastStatus().Terminal() {
			out = append(out, poolStop{cluster: t.Cluster, id: t.ID, reason: reason})
		}
	}
	return out
}
