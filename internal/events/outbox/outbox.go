// Package outbox makes events durable with the change that caused them.
//
// Store wraps the node's store: a Txn that puts a task, container
// instance or service record also puts, in the same transaction, the ECS
// events the change makes (ecsevents) as outbox entries. A change that
// committed has its events committed; one that did not has none; a crash
// in between loses nothing, because there is no in between. The delivery
// worker (events/delivery) reads the outbox in key order, which is the
// order of the transactions that wrote it, so a resource's events stay in
// order.
//
// The node puts it between the engine and the cluster view's wrapper, so
// that every writer of task, instance and service records (internal/tasks,
// internal/controller, internal/agentserver, internal/api/ecs) gets this
// store from the composition root; none of them knows about events.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/events/ecsevents"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// DefaultBus is the name of the default event bus, where ECS events go.
const DefaultBus = "default"

// Sequencer hands out increasing outbox sequence numbers: the clock's
// nanoseconds, or one more than the last when the clock has not moved on.
type Sequencer struct {
	Clock core.Clock
	mu    sync.Mutex
	last  uint64
}

// Next returns the next sequence number.
func (s *Sequencer) Next() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := uint64(s.Clock.Now().UnixNano())
	if n <= s.last {
		n = s.last + 1
	}
	s.last = n
	return n
}

// Store is a store.Store that writes the ECS events of the changes it
// commits into the outbox in the same transaction.
type Store struct {
	store.Store
	Scope arn.Scope
	Clock core.Clock
	IDs   core.IDs
	Seq   *Sequencer
}

// Wrap returns st with ECS events written into the outbox.
func Wrap(st store.Store, scope arn.Scope, clock core.Clock, ids core.IDs) *Store {
	if clock == nil {
		clock = core.SystemClock{}
	}
	if ids == nil {
		ids = core.RandomIDs{}
	}
	return &Store{Store: st, Scope: scope, Clock: clock, IDs: ids, Seq: &Sequencer{Clock: clock}}
}

var _ store.Store = (*Store)(nil)

// Compact passes a compaction on to the engine (the cluster view's
// wrapper keeps it for whoever compacts).
func (s *Store) Compact(ctx context.Context, rev int64) error {
	c, ok := s.Store.(interface {
		Compact(ctx context.Context, rev int64) error
	})
	if !ok {
		return errors.New("outbox: the store cannot compact")
	}
	return c.Compact(ctx, rev)
}

// Txn commits ops with the outbox entries of the events they make. The
// old value of a watched key is read here; conds guarantee it is what the
// writer read (when the caller conditioned on the key's revision, a
// different value means the Txn fails with ErrConflict anyway).
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	extra, err := s.eventOps(ctx, conds, ops)
	if err != nil {
		return 0, err
	}
	if len(extra) == 0 {
		return s.Store.Txn(ctx, conds, ops)
	}
	all := make([]store.Op, 0, len(ops)+len(extra))
	all = append(all, ops...)
	all = append(all, extra...)
	return s.Store.Txn(ctx, conds, all)
}

func (s *Store) eventOps(ctx context.Context, conds []store.Cond, ops []store.Op) ([]store.Op, error) {
	var extra []store.Op
	var maker *ecsevents.Maker
	for _, op := range ops {
		if op.Kind != store.OpPut || !ecsevents.Watched(op.Key) {
			continue
		}
		if maker == nil {
			maker = &ecsevents.Maker{Scope: s.Scope, Now: s.Clock.Now(), NewID: s.IDs.NewID}
		}
		old, err := s.old(ctx, conds, op.Key)
		if err != nil {
			return nil, err
		}
		evs, err := maker.Changes(op.Key, old, op.Value)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			o, err := Entry(s.Seq, DefaultBus, ev)
			if err != nil {
				return nil, err
			}
			extra = append(extra, o)
		}
	}
	return extra, nil
}

// old reads key's value as the transaction's conditions expect it (nil:
// absent).
func (s *Store) old(ctx context.Context, conds []store.Cond, key string) ([]byte, error) {
	for _, c := range conds {
		if c.Key == key && c.ModRevision == 0 {
			return nil, nil // must not exist
		}
	}
	kv, err := s.Store.Get(ctx, key)
	if err == store.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return kv.Value, nil
}

// Entry is the outbox Put of event ev on bus.
func Entry(seq *Sequencer, bus string, ev events.Event) (store.Op, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return store.Op{}, err
	}
	v, err := state.Encode(state.OutboxEvent{Bus: bus, Event: b})
	if err != nil {
		return store.Op{}, err
	}
	return store.Put(state.OutboxKey(seq.Next()), v), nil
}

// Put writes events on bus into the outbox in one transaction (PutEvents
// and the bus-to-bus target): they are durable once it returns.
func Put(ctx context.Context, st store.Store, seq *Sequencer, bus string, evs []events.Event) error {
	ops := make([]store.Op, 0, len(evs))
	for _, ev := range evs {
		o, err := Entry(seq, bus, ev)
		if err != nil {
			return err
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := st.Txn(ctx, nil, ops)
	return err
}
