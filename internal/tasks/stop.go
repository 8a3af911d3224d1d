package tasks

import (
	"context"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// HoldsTargets reports whether a task is registered as a load balancer
// target that has not been deregistered.
func HoldsTargets(t state.Task) bool { return len(t.Targets) > 0 && !t.TargetsReleased }

// drainsFirst reports whether a task asked to stop goes through
// DEACTIVATING first: a RUNNING load balancer target is deregistered and
// drained before its agent stops it, as ECS does.
func drainsFirst(t state.Task) bool {
	return HoldsTargets(t) && t.LastStatus() == core.TaskRunning
}

// AgentDesiredStatus is the status a task's agent is to keep it in. A
// DEACTIVATING task is to stop, but keeps running until the load balancer
// has drained its targets: FinishDeactivation then moves it to STOPPING.
func AgentDesiredStatus(t state.Task) core.TaskStatus {
	if t.LastStatus() == core.TaskDeactivating {
		return core.TaskRunning
	}
	return t.DesiredStatus()
}

// Stop sets a task's desired status to STOPPED with code and reason
// (unless it had a stop code already) and returns the task. A task whose
// instance is gone is STOPPED at once; a RUNNING task that is a load
// balancer target becomes DEACTIVATING, to be drained before its agent
// stops it. A task whose desired status is STOPPED already is returned as
// it is. A task that does not exist is ECS's InvalidParameterException.
func (m *Manager) Stop(ctx context.Context, cluster, id string, code ecstypes.TaskStopCode, reason string) (state.Task, error) {
	var out state.Task
	stopped := false // this call set the desired status
	err := store.RetryConflicts(ctx, func() error {
		stopped = false
		it, err := state.Get[state.Task](ctx, m.store, state.TaskKey(cluster, id))
		if state.IsNotFound(err) {
			return invalidParam("The referenced task was not found.")
		}
		if err != nil {
			return err
		}
		t := it.Value
		out = t
		if t.DesiredStatus() == core.TaskStopped {
			return nil
		}
		t.Task.DesiredStatus = core.TaskStopped.String()
		if t.Task.StopCode == "" {
			t.Task.StopCode, t.Task.StoppedReason = code, reason
		}
		now := m.clock.Now()
		t.Task.StoppingAt = shape.NewTimestamp(now)
		t.Task.Version++
		conds := []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}
		var ops []store.Op
		if drainsFirst(t) {
			// The service scheduler deregisters and drains it, then has
			// its agent stop it (FinishDeactivation); the agent keeps it
			// running meanwhile.
			t.Task.LastStatus, t.DeactivatingAt = core.TaskDeactivating.String(), now
		} else if ops, err = m.stopOps(ctx, cluster, &t); err != nil {
			return err
		}
		tb, err := state.Encode(t)
		if err != nil {
			return err
		}
		ops = append(ops, store.Put(it.Key, tb))
		if _, err := m.store.Txn(ctx, conds, ops); err != nil {
			return err
		}
		out, stopped = t, true
		return nil
	})
	if err == nil && stopped {
		m.logTaskStopping(out)
	}
	return out, err
}

// StopServiceTask stops a service's task as its scheduler does (stopCode
// ServiceSchedulerInitiated) and reports whether it is now DEACTIVATING:
// a RUNNING load balancer target is not handed to its agent to stop until
// FinishDeactivation, so that the load balancer can drain it first.
func (m *Manager) StopServiceTask(ctx context.Context, cluster, id, reason string) (deactivating bool, err error) {
	t, err := m.Stop(ctx, cluster, id, ecstypes.TaskStopCodeServiceSchedulerInitiated, reason)
	return t.LastStatus() == core.TaskDeactivating, err
}

// FinishDeactivation tells the agent of a DEACTIVATING task to stop it
// (lastStatus STOPPING) once the load balancer has drained it: the caller
// deregistered its targets. Any other task is left as it is.
func (m *Manager) FinishDeactivation(ctx context.Context, cluster, id string) error {
	return store.RetryConflicts(ctx, func() error {
		it, err := state.Get[state.Task](ctx, m.store, state.TaskKey(cluster, id))
		if state.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		t := it.Value
		if t.LastStatus() != core.TaskDeactivating {
			return nil
		}
		t.Task.LastStatus = core.TaskStopping.String()
		t.TargetsReleased = true
		t.Task.Version++
		ops, err := m.stopOps(ctx, cluster, &t)
		if err != nil {
			return err
		}
		b, err := state.Encode(t)
		if err != nil {
			return err
		}
		ops = append(ops, store.Put(it.Key, b))
		_, err = m.store.Txn(ctx, []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}, ops)
		return err
	})
}

// stopOps returns the writes, besides the task record, that tell the
// task's agent to stop it, and marks it STOPPED at once when no agent is
// left to do so (its instance is gone) or it holds nothing any more.
func (m *Manager) stopOps(ctx context.Context, cluster string, t *state.Task) ([]store.Op, error) {
	inst, ierr := state.Get[state.ContainerInstance](ctx, m.store, state.ContainerInstanceKey(t.InstanceCluster(), t.InstanceID))
	gone := state.IsNotFound(ierr) || (ierr == nil && inst.Value.Status == state.InstanceInactive)
	if ierr != nil && !gone {
		return nil, ierr
	}
	if gone || t.Released {
		t.Task.LastStatus = core.TaskStopped.String()
		t.Task.StoppedAt = t.Task.StoppingAt
		t.Task.ExecutionStoppedAt = t.Task.StoppingAt
		t.Released = true
		return []store.Op{store.Delete(state.InstanceTaskKey(t.InstanceID, t.ID))}, nil
	}
	ib, err := state.Encode(state.IndexEntry{Cluster: cluster, DesiredStatus: core.TaskStopped.String()})
	if err != nil {
		return nil, err
	}
	return []store.Op{store.Put(state.InstanceTaskKey(t.InstanceID, t.ID), ib)}, nil
}

// StopOnLostHost stops a task of the Fargate pool whose host was lost (its
// agent has not been heard from for longer than the agents' timeout): as on
// ECS, where a Fargate task whose infrastructure fails is stopped, it is
// STOPPED at once with stopCode InfrastructureHealth and reason, what it
// held on the host is given back and it leaves the host's index, in one
// transaction. Its service then replaces it. Should the host's agent come
// back, the task is no longer assigned to it and its containers go. A task
// already STOPPED, or not on the pool, is left as it is.
func (m *Manager) StopOnLostHost(ctx context.Context, cluster, id, reason string) error {
	var done state.Task
	err := store.RetryConflicts(ctx, func() error {
		done = state.Task{}
		it, err := state.Get[state.Task](ctx, m.store, state.TaskKey(cluster, id))
		if state.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		t := it.Value
		if !t.OnPool() || t.LastStatus().Terminal() {
			return nil
		}
		now := shape.NewTimestamp(m.clock.Now())
		t.Task.DesiredStatus, t.Task.LastStatus = core.TaskStopped.String(), core.TaskStopped.String()
		if t.Task.StopCode == "" {
			t.Task.StopCode, t.Task.StoppedReason = ecstypes.TaskStopCodeInfrastructureHealth, reason
		}
		if t.Task.StoppingAt.IsZero() {
			t.Task.StoppingAt = now
		}
		t.Task.StoppedAt, t.Task.ExecutionStoppedAt = now, now
		for i := range t.Task.Containers {
			if t.Task.Containers[i].LastStatus != core.TaskStopped.String() {
				t.Task.Containers[i].LastStatus = core.TaskStopped.String()
			}
		}
		t.Task.Version++
		conds := []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}
		ops := []store.Op{store.Delete(state.InstanceTaskKey(t.InstanceID, t.ID))}
		var instOps []store.Op // after the task's, as Launch orders them
		if !t.Released {
			inst, err := state.Get[state.ContainerInstance](ctx, m.store, state.ContainerInstanceKey(t.InstanceCluster(), t.InstanceID))
			if err != nil && !state.IsNotFound(err) {
				return err
			}
			if err == nil {
				ci := inst.Value
				ci.Used = Release(ci.Used, t.Holds)
				ci.Version++
				b, err := state.Encode(ci)
				if err != nil {
					return err
				}
				conds = append(conds, store.Cond{Key: inst.Key, ModRevision: inst.ModRevision})
				instOps = append(instOps, store.Put(inst.Key, b))
			}
			t.Released = true
		}
		b, err := state.Encode(t)
		if err != nil {
			return err
		}
		ops = append(append(ops, store.Put(it.Key, b)), instOps...)
		if _, err := m.store.Txn(ctx, conds, ops); err != nil {
			return err
		}
		done = t
		return nil
	})
	if err == nil && done.ID != "" {
		m.logTaskStopping(done)
	}
	return err
}
