package tasks

import (
	"cmp"
	"context"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// ApplyReports merges an agent's task reports into the task records, read
// from the cluster view (decoded already), and commits every record that
// changed in one transaction, conditioned on the ModRevision of each
// record it read: a concurrent write makes it read again and retry, never
// lose that write. The view is synced first, so it holds every write
// committed before: a report is compared with the newest record, and one
// that changes nothing writes nothing. When a task reaches STOPPED, what it
// held on the instance is given back and it leaves the instance's index in
// the same transaction.
//
// cluster is the instance's cluster. Each report names its task's cluster
// (another one for a task of the Fargate pool); one that does not is the
// instance's, and "" for both (an older agent) finds the task through the
// instance's index. A report of a task that is not on instanceID (any
// more) is stale and ignored.
func (m *Manager) ApplyReports(ctx context.Context, instanceID, cluster string, reports []Report) error {
	now := m.clock.Now()
	type release struct {
		key  string
		rev  int64
		inst state.ContainerInstance
	}
	var changes []taskChange // logged once committed
	err := store.RetryConflicts(ctx, func() error {
		changes = changes[:0]
		if err := m.view.Sync(ctx); err != nil {
			return err
		}
		var conds []store.Cond
		var ops []store.Op
		releases := map[string]*release{} // by the instance's cluster; nil: no record
		for _, tr := range reports {
			taskCluster := cmp.Or(tr.Cluster, cluster)
			it, ok := state.Item[state.Task]{}, false
			if taskCluster != "" {
				it, ok = m.view.Task(taskCluster, tr.TaskID)
			}
			if !ok {
				// The view may hold the newest revision only in part
				// (a large transaction being delivered), or the agent
				// did not say the cluster: ask the store.
				var err error
				if it, _, err = m.findTask(ctx, instanceID, tr.TaskID); err != nil {
					return err
				}
				ok = it.ModRevision != 0
			}
			if !ok || it.Value.InstanceID != instanceID {
				continue // not on this instance (any more): a stale report
			}
			task := it.Value
			if !Apply(&task, tr, now) {
				continue
			}
			changes = append(changes, taskChange{from: it.Value.LastStatus(), task: task})
			conds = append(conds, store.Cond{Key: it.Key, ModRevision: it.ModRevision})
			if task.LastStatus().Terminal() && !task.Released {
				ic := task.InstanceCluster()
				rel, seen := releases[ic]
				if !seen {
					if in, ok := m.view.Instance(ic, instanceID); ok {
						rel = &release{key: in.Key, rev: in.ModRevision, inst: in.Record}
					} else {
						in, err := state.Get[state.ContainerInstance](ctx, m.store, state.ContainerInstanceKey(ic, instanceID))
						if err != nil && !state.IsNotFound(err) {
							return err
						}
						if err == nil {
							rel = &release{key: in.Key, rev: in.ModRevision, inst: in.Value}
						}
					}
					releases[ic] = rel
				}
				if rel != nil {
					rel.inst.Used = Release(rel.inst.Used, task.Holds)
				}
				task.Released = true
				ops = append(ops, store.Delete(state.InstanceTaskKey(instanceID, task.ID)))
			}
			b, err := state.Encode(task)
			if err != nil {
				return err
			}
			ops = append(ops, store.Put(it.Key, b))
		}
		for _, rel := range releases {
			if rel == nil {
				continue
			}
			rel.inst.Version++
			b, err := state.Encode(rel.inst)
			if err != nil {
				return err
			}
			conds = append(conds, store.Cond{Key: rel.key, ModRevision: rel.rev})
			ops = append(ops, store.Put(rel.key, b))
		}
		if len(ops) == 0 {
			return nil
		}
		_, err := m.store.Txn(ctx, conds, ops)
		return err
	})
	if err == nil {
		m.logTaskChanges(changes)
	}
	return err
}

// findTask finds a task of the instance through the instance's index (the
// index entry holds the cluster name). A task that is not on the instance
// any more yields a zero item and no error.
func (m *Manager) findTask(ctx context.Context, instanceID, taskID string) (state.Item[state.Task], string, error) {
	idx, err := state.Get[state.IndexEntry](ctx, m.store, state.InstanceTaskKey(instanceID, taskID))
	if state.IsNotFound(err) {
		return state.Item[state.Task]{}, "", nil
	}
	if err != nil {
		return state.Item[state.Task]{}, "", err
	}
	t, err := state.Get[state.Task](ctx, m.store, state.TaskKey(idx.Value.Cluster, taskID))
	if state.IsNotFound(err) || (err == nil && t.Value.InstanceID != instanceID) {
		return state.Item[state.Task]{}, "", nil
	}
	return t, idx.Value.Cluster, err
}
