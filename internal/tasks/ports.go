package tasks

import (
	"context"
	"maps"
	"slices"

	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// MovePorts gives a container of a task new dynamic host ports in place of
// busy, host ports its agent found taken on the host (by a program minato
// does not know of), and returns the container's host ports after the
// move. The task's host ports and holds and the instance's used ports
// change in one transaction, so placement's accounting stays exact: the
// ports the container will bind are held, the busy ones given back.
//
// Errors carry a kind: KindNotFound when the task is not assigned to the
// instance, KindConflict when it is stopping or its ports cannot move (a
// static port, a full range), KindInvalid when it has no such container.
func (m *Manager) MovePorts(ctx context.Context, instanceID, taskID, container string, busy []int) ([]int, error) {
	var out []int
	err := store.RetryConflicts(ctx, func() error {
		t, cluster, err := m.findTask(ctx, instanceID, taskID)
		if err != nil {
			return err
		}
		if t.ModRevision == 0 {
			return core.Errorf(core.KindNotFound, "", "task %s is not assigned to container instance %s", taskID, instanceID)
		}
		task := t.Value
		if task.Released || task.DesiredStatus() == core.TaskStopped {
			return core.Errorf(core.KindConflict, "", "task %s is stopping", taskID)
		}
		td, err := state.Get[state.TaskDef](ctx, m.store, state.TaskDefKey(task.Family, task.Revision))
		if err != nil {
			return err
		}
		defs := td.Value.TaskDefinition.ContainerDefinitions
		i := slices.IndexFunc(defs, func(c ecstypes.ContainerDefinition) bool { return c.Name == container })
		if i < 0 {
			return core.Errorf(core.KindInvalid, "", "task %s has no container %q", taskID, container)
		}
		ms, err := scheduler.MappingsOf(defs[i], td.Value.TaskDefinition.NetworkMode)
		if err != nil {
			return core.Errorf(core.KindConflict, "", "%s", err.Error())
		}
		inst, err := state.Get[state.ContainerInstance](ctx, m.store, state.ContainerInstanceKey(task.InstanceCluster(), instanceID))
		if err != nil {
			return err
		}
		in := inst.Value
		usedTCP, usedUDP := clusterview.BusyPorts(&in)
		mv, err := scheduler.MovePorts(scheduler.Instance{
			UsedTCP:      usedTCP,
			UsedUDP:      usedUDP,
			DynamicPorts: scheduler.PortRange{From: in.DynamicPorts[0], To: in.DynamicPorts[1]},
		}, ms, task.HostPorts[container], busy, newRand())
		if err != nil {
			return core.Errorf(core.KindConflict, "", "task %s container %s: %s", taskID, container, err.Error())
		}
		task.HostPorts = maps.Clone(task.HostPorts)
		task.HostPorts[container] = mv.HostPorts
		task.Holds = movePorts(task.Holds, mv)
		in.Used = movePorts(in.Used, mv)
		in.Version++
		tb, err := state.Encode(task)
		if err != nil {
			return err
		}
		ib, err := state.Encode(in)
		if err != nil {
			return err
		}
		_, err = m.store.Txn(ctx,
			[]store.Cond{{Key: t.Key, ModRevision: t.ModRevision}, {Key: inst.Key, ModRevision: inst.ModRevision}},
			[]store.Op{store.Put(t.Key, tb), store.Put(inst.Key, ib)})
		if err != nil {
			return err
		}
		m.log.Info("task's host ports were taken on its host; moved", "cluster", cluster, "task", taskID,
			"container", container, "freed", slices.Concat(mv.FreedTCP, mv.FreedUDP), "taken", slices.Concat(mv.TakenTCP, mv.TakenUDP))
		out = mv.HostPorts
		return nil
	})
	return out, err
}
