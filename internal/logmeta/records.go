// Package logmeta keeps CloudWatch Logs' group and stream metadata (names,
// creation times, retention, tags) in the state store, so that every
// server of a cluster answers DescribeLogGroups, DescribeLogStreams and
// ListTagsForResource alike and a delete on one deletes on all. On one
// node the state store is the bbolt file, on several it is etcd: one code
// path.
//
// Records implements logstore.Meta: the log store asks it first on every
// change of metadata (compare-and-swap on the records) and then applies
// the answer to itself. Follower keeps each server's log store in step
// with the records that other servers write: it lists them, reconciles,
// and follows a watch of them. Log events stay out of the state store
// (internal/logrepl replicates them); a stream's statistics are derived
// from the events by each log store.
package logmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

var _ logstore.Meta = (*Records)(nil)

// callTimeout bounds each call to the store.
const callTimeout = 10 * time.Second

// maxOps is the most writes put in one transaction (etcd's default
// --max-txn-ops is 128).
const maxOps = 100

// Records keeps log metadata in a state store.
type Records struct {
	Store store.Store
}

func (r *Records) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

func toMeta(g state.LogGroup, rev int64) logstore.GroupMeta {
	return logstore.GroupMeta{Name: g.Name, Created: g.Created, RetentionDays: g.RetentionDays, Tags: g.Tags, Rev: rev}
}

func fromMeta(m logstore.GroupMeta) state.LogGroup {
	return state.LogGroup{Name: m.Name, Created: m.Created, RetentionDays: m.RetentionDays, Tags: m.Tags}
}

func (r *Records) getGroup(ctx context.Context, name string) (state.LogGroup, int64, error) {
	kv, err := r.Store.Get(ctx, state.LogGroupKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return state.LogGroup{}, 0, logstore.ErrGroupNotFound
	}
	if err != nil {
		return state.LogGroup{}, 0, err
	}
	var g state.LogGroup
	if err := json.Unmarshal(kv.Value, &g); err != nil {
		return state.LogGroup{}, 0, fmt.Errorf("log group record %s: %w", name, err)
	}
	return g, kv.ModRevision, nil
}

// CreateGroup creates a group record; ErrGroupExists if there is one.
// Stream records left by a delete that did not finish are removed first.
func (r *Records) CreateGroup(m logstore.GroupMeta) error {
	ctx, cancel := r.ctx()
	defer cancel()
	if _, _, err := r.getGroup(ctx, m.Name); err == nil {
		return logstore.ErrGroupExists
	} else if !errors.Is(err, logstore.ErrGroupNotFound) {
		return err
	}
	if err := r.deleteStreams(ctx, m.Name); err != nil {
		return err
	}
	v, _ := json.Marshal(fromMeta(m))
	_, err := r.Store.Txn(ctx, []store.Cond{store.MustNotExist(state.LogGroupKey(m.Name))}, []store.Op{store.Put(state.LogGroupKey(m.Name), v)})
	if errors.Is(err, store.ErrConflict) {
		return logstore.ErrGroupExists
	}
	return err
}

// Group returns a group's record.
func (r *Records) Group(name string) (logstore.GroupMeta, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	g, rev, err := r.getGroup(ctx, name)
	if err != nil {
		return logstore.GroupMeta{}, err
	}
	return toMeta(g, rev), nil
}

// UpdateGroup changes a group's record with f (compare-and-swap).
func (r *Records) UpdateGroup(name string, f func(m *logstore.GroupMeta)) (logstore.GroupMeta, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	var out logstore.GroupMeta
	err := store.RetryConflicts(ctx, func() error {
		g, rev, err := r.getGroup(ctx, name)
		if err != nil {
			return err
		}
		m := toMeta(g, rev)
		f(&m)
		m.Name, m.Created = g.Name, g.Created
		v, _ := json.Marshal(fromMeta(m))
		key := state.LogGroupKey(name)
		nrev, err := r.Store.Txn(ctx, []store.Cond{store.MustBeAt(key, rev)}, []store.Op{store.Put(key, v)})
		if err != nil {
			return err
		}
		m.Rev, out = nrev, m
		return nil
	})
	return out, err
}

// DeleteGroup deletes a group's record, then its streams'.
func (r *Records) DeleteGroup(name string) error {
	ctx, cancel := r.ctx()
	defer cancel()
	key := state.LogGroupKey(name)
	err := store.RetryConflicts(ctx, func() error {
		kv, err := r.Store.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return logstore.ErrGroupNotFound
		}
		if err != nil {
			return err
		}
		_, err = r.Store.Txn(ctx, []store.Cond{store.MustBeAt(key, kv.ModRevision)}, []store.Op{store.Delete(key)})
		return err
	})
	if err != nil {
		return err
	}
	// Streams cannot be created once the group is gone (CreateStream's
	// condition); what a failure here leaves, CreateGroup and the
	// followers' reconciliation clear.
	return r.deleteStreams(ctx, name)
}

// deleteStreams removes every stream record of a group that does not
// exist.
func (r *Records) deleteStreams(ctx context.Context, group string) error {
	for {
		kvs, _, err := r.Store.List(ctx, state.LogStreamsPrefix(group), store.ListOptions{Limit: maxOps})
		if err != nil || len(kvs) == 0 {
			return err
		}
		ops := make([]store.Op, len(kvs))
		for i, kv := range kvs {
			ops[i] = store.Delete(kv.Key)
		}
		// Only while the group is absent: not the streams of a group
		// created meanwhile.
		_, err = r.Store.Txn(ctx, []store.Cond{store.MustNotExist(state.LogGroupKey(group))}, ops)
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// CreateStream creates a stream record, only while its group exists.
func (r *Records) CreateStream(group, name string, created int64) (int64, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	skey, gkey := state.LogStreamKey(group, name), state.LogGroupKey(group)
	v, _ := json.Marshal(state.LogStream{Group: group, Name: name, Created: created})
	out := created
	err := store.RetryConflicts(ctx, func() error {
		gkv, err := r.Store.Get(ctx, gkey)
		if errors.Is(err, store.ErrNotFound) {
			return logstore.ErrGroupNotFound
		}
		if err != nil {
			return err
		}
		_, err = r.Store.Txn(ctx, []store.Cond{store.MustBeAt(gkey, gkv.ModRevision), store.MustNotExist(skey)}, []store.Op{store.Put(skey, v)})
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		c, serr := r.stream(ctx, group, name)
		if serr == nil {
			out = c
			return logstore.ErrStreamExists
		}
		return err // the group changed: try again
	})
	return out, err
}

func (r *Records) stream(ctx context.Context, group, name string) (int64, error) {
	kv, err := r.Store.Get(ctx, state.LogStreamKey(group, name))
	if errors.Is(err, store.ErrNotFound) {
		return 0, logstore.ErrStreamNotFound
	}
	if err != nil {
		return 0, err
	}
	var s state.LogStream
	if err := json.Unmarshal(kv.Value, &s); err != nil {
		return 0, fmt.Errorf("log stream record %s:%s: %w", group, name, err)
	}
	return s.Created, nil
}

// Stream returns a stream's creation time.
func (r *Records) Stream(group, name string) (int64, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.stream(ctx, group, name)
}

// DeleteStream deletes a stream's record.
func (r *Records) DeleteStream(group, name string) error {
	ctx, cancel := r.ctx()
	defer cancel()
	key := state.LogStreamKey(group, name)
	kv, err := r.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		if _, _, gerr := r.getGroup(ctx, group); gerr != nil {
			return gerr
		}
		return logstore.ErrStreamNotFound
	}
	if err != nil {
		return err
	}
	_, err = r.Store.Txn(ctx, []store.Cond{store.MustBeAt(key, kv.ModRevision)}, []store.Op{store.Delete(key)})
	if errors.Is(err, store.ErrConflict) {
		return logstore.ErrStreamNotFound // deleted (or made anew) meanwhile
	}
	return err
}
