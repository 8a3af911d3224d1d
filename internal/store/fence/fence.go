// Package fence orders the deletion of a parent record (a cluster) with the
// creation of its children (services, container instances), which live
// under keys of their own.
//
// The store's transactions compare the revisions of single keys; none can
// say "no key under this prefix was created since I listed it". A deleter
// that checks that a parent is empty and then writes it deleted therefore
// misses a child created between its check and its write, even when the
// child's transaction conditions on the parent's revision: the deleter
// wrote nothing in between, so the condition held. Making every creator
// rewrite the parent would close the gap, but would make creators contend
// with each other on the parent record.
//
// A fence is one record per parent that turns the race into a
// compare-and-swap conflict, and that creators write only while a
// deletion is under way:
//
//	deleter                             creator of a child
//	1. Raise: write the fence, if the   read the parent (it must be live)
//	   parent is still as it read it    and, with Enter, the fence
//	2. check that the parent is empty   commit the child with conditions:
//	3. commit the deletion with           the parent as read; the fence
//	   conditions: the parent and the     absent, or as read, and then the
//	   fence unchanged (Drop); the        child's transaction deletes it
//	   fence goes with it
//
// A child committed before step 1 is seen by step 2. A child committed
// between steps 1 and 3 met the raised fence: its condition that the fence
// is absent failed, or it read the fence raised and deleted it, so that
// step 3 fails and is retried, and the retry sees the child. A child
// committed after step 3 finds the parent changed. A fence left behind by
// a deleter that stopped between its steps is harmless: the next creator
// deletes it.
package fence

import (
	"context"
	"errors"

	"github.com/minato-project/minato/internal/store"
)

// prefix is where fences live, apart from every record they guard.
const prefix = "fences/"

// Key is where the fence of the parent record at key parent is kept.
func Key(parent string) string { return prefix + parent }

// Enter returns what a transaction that creates a child of parent must
// carry: the condition that parent's fence is as read, and, when a
// deleter raised it, its deletion. The transaction must also hold the
// condition that the parent is still as the creator read it.
func Enter(ctx context.Context, s store.Store, parent string) ([]store.Cond, []store.Op, error) {
	key := Key(parent)
	kv, err := s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return []store.Cond{store.MustNotExist(key)}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return []store.Cond{store.MustBeAt(key, kv.ModRevision)}, []store.Op{store.Delete(key)}, nil
}

// Raise is a deleter's first step: it writes parent's fence, provided
// parent is still at revision parentRev, and returns the fence's revision
// for Drop. It fails with store.ErrConflict if parent changed.
func Raise(ctx context.Context, s store.Store, parent string, parentRev int64) (int64, error) {
	return s.Txn(ctx, []store.Cond{store.MustBeAt(parent, parentRev)},
		[]store.Op{store.Put(Key(parent), []byte(`{"deleting":true}`))})
}

// Drop returns the condition and the write a deleter's last transaction
// carries: the fence it raised at revision rev is still there, and goes.
func Drop(parent string, rev int64) (store.Cond, store.Op) {
	return store.MustBeAt(Key(parent), rev), store.Delete(Key(parent))
}

// Lower removes the fence a deleter raised at revision rev when it does
// not delete the parent after all. A fence that changed since (a creator
// deleted it, another deleter raised it again) is left as it is.
func Lower(ctx context.Context, s store.Store, parent string, rev int64) error {
	c, op := Drop(parent, rev)
	_, err := s.Txn(ctx, []store.Cond{c}, []store.Op{op})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}
