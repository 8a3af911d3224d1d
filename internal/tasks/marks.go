package tasks

import (
	"context"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// What the service controller records about its tasks. Each is idempotent:
// a task that does not exist, or has the mark already, is left as it is.
// And a task's tags, which TagResource edits.

// MarkCounted records that the circuit breaker counted a stopped task as
// failed, so that it is not counted twice.
func (m *Manager) MarkCounted(ctx context.Context, cluster, id string) error {
	return m.update(ctx, cluster, id, func(t *state.Task) bool {
		if t.FailureCounted {
			return false
		}
		t.FailureCounted = true
		return true
	})
}

// MarkHealthSeen records that the circuit breaker saw a task healthy, so
// that the task resets the failure count once.
func (m *Manager) MarkHealthSeen(ctx context.Context, cluster, id string) error {
	return m.update(ctx, cluster, id, func(t *state.Task) bool {
		if t.HealthSeen {
			return false
		}
		t.HealthSeen = true
		return true
	})
}

// SetTargets records the load balancer targets the service registered for
// a task, unless it has some already.
func (m *Manager) SetTargets(ctx context.Context, cluster, id string, refs []state.TargetRef) error {
	return m.update(ctx, cluster, id, func(t *state.Task) bool {
		if len(t.Targets) > 0 {
			return false
		}
		t.Targets = refs
		return true
	})
}

// MarkTargetsReleased records that a task's targets were deregistered.
func (m *Manager) MarkTargetsReleased(ctx context.Context, cluster, id string) error {
	return m.update(ctx, cluster, id, func(t *state.Task) bool {
		if t.TargetsReleased {
			return false
		}
		t.TargetsReleased = true
		return true
	})
}

// update changes a task record with compare-and-swap; f says whether it
// changed anything.
func (m *Manager) update(ctx context.Context, cluster, id string, f func(*state.Task) bool) error {
	key := state.TaskKey(cluster, id)
	return store.RetryConflicts(ctx, func() error {
		it, err := state.Get[state.Task](ctx, m.store, key)
		if state.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		t := it.Value
		if !f(&t) {
			return nil
		}
		b, err := state.Encode(t)
		if err != nil {
			return err
		}
		_, err = m.store.Txn(ctx, []store.Cond{{Key: key, ModRevision: it.ModRevision}}, []store.Op{store.Put(key, b)})
		return err
	})
}

// EditTags applies edit to a task's tags and returns them; a nil edit only
// reads them. found is false when the task does not exist. An error of
// edit is returned as it is, and nothing is written.
func (m *Manager) EditTags(ctx context.Context, cluster, id string, edit func([]ecstypes.Tag) ([]ecstypes.Tag, error)) (tags []ecstypes.Tag, found bool, err error) {
	key := state.TaskKey(cluster, id)
	err = store.RetryConflicts(ctx, func() error {
		it, err := state.Get[state.Task](ctx, m.store, key)
		if state.IsNotFound(err) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		t := it.Value
		if edit == nil {
			tags = t.Task.Tags
			return nil
		}
		if tags, err = edit(t.Task.Tags); err != nil {
			return err
		}
		t.Task.Tags = tags
		b, err := state.Encode(t)
		if err != nil {
			return err
		}
		_, err = m.store.Txn(ctx, []store.Cond{{Key: key, ModRevision: it.ModRevision}}, []store.Op{store.Put(key, b)})
		return err
	})
	return tags, found, err
}
