package fence_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/store/fence"
)

const parent = "parents/p"

func open(t *testing.T) (store.Store, int64) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rev, err := st.Txn(context.Background(), nil, []store.Op{store.Put(parent, []byte(`"live"`))})
	if err != nil {
		t.Fatal(err)
	}
	return st, rev
}

// createChild commits a child with what Enter returned and the condition
// on the parent.
func createChild(st store.Store, name string, parentRev int64, conds []store.Cond, ops []store.Op) error {
	conds = append(conds, store.MustBeAt(parent, parentRev))
	ops = append(ops, store.Put("children/"+name, []byte(`{}`)))
	_, err := st.Txn(context.Background(), conds, ops)
	return err
}

// deleteParent is a deleter's last step.
func deleteParent(st store.Store, parentRev, fenceRev int64) error {
	c, op := fence.Drop(parent, fenceRev)
	_, err := st.Txn(context.Background(), []store.Cond{store.MustBeAt(parent, parentRev), c},
		[]store.Op{store.Put(parent, []byte(`"deleted"`)), op})
	return err
}

func fenceUp(t *testing.T, st store.Store) bool {
	t.Helper()
	_, err := st.Get(context.Background(), fence.Key(parent))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// Without a deletion under way, creators carry only a condition and
// write nothing to the fence: they do not contend with each other.
func TestEnterWithoutDeleter(t *testing.T) {
	st, prev := open(t)
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		conds, ops, err := fence.Enter(ctx, st, parent)
		if err != nil || len(ops) != 0 || len(conds) != 1 {
			t.Fatalf("Enter = %v %v %v, want one condition and no write", conds, ops, err)
		}
		if err := createChild(st, name, prev, conds, ops); err != nil {
			t.Fatal(err)
		}
	}
}

// A child that read the fence before it was raised and commits after
// fails; the deleter then succeeds.
func TestChildEnteredBeforeRaiseFails(t *testing.T) {
	st, prev := open(t)
	ctx := context.Background()
	conds, ops, err := fence.Enter(ctx, st, parent)
	if err != nil {
		t.Fatal(err)
	}
	frev, err := fence.Raise(ctx, st, parent, prev)
	if err != nil {
		t.Fatal(err)
	}
	if err := createChild(st, "late", prev, conds, ops); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("child committed across a raised fence: %v", err)
	}
	if err := deleteParent(st, prev, frev); err != nil {
		t.Fatal(err)
	}
	if fenceUp(t, st) {
		t.Fatal("the deletion left its fence")
	}
}

// A child that read the raised fence commits and takes the fence down;
// the deleter's last step then fails, and its retry would see the child.
func TestChildInsideFenceStopsDeleter(t *testing.T) {
	st, prev := open(t)
	ctx := context.Background()
	frev, err := fence.Raise(ctx, st, parent, prev)
	if err != nil {
		t.Fatal(err)
	}
	conds, ops, err := fence.Enter(ctx, st, parent)
	if err != nil || len(ops) != 1 {
		t.Fatalf("Enter on a raised fence = %v %v %v, want its deletion", conds, ops, err)
	}
	if err := createChild(st, "c", prev, conds, ops); err != nil {
		t.Fatal(err)
	}
	if err := deleteParent(st, prev, frev); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("deleter committed over a child created inside its fence: %v", err)
	}
	// Lowering a fence a creator took down already is no error.
	if err := fence.Lower(ctx, st, parent, frev); err != nil {
		t.Fatal(err)
	}
}

// A child after the deletion fails on its condition on the parent, and
// Raise fails on a parent that changed.
func TestAfterDeletion(t *testing.T) {
	st, prev := open(t)
	ctx := context.Background()
	frev, err := fence.Raise(ctx, st, parent, prev)
	if err != nil {
		t.Fatal(err)
	}
	if err := deleteParent(st, prev, frev); err != nil {
		t.Fatal(err)
	}
	conds, ops, err := fence.Enter(ctx, st, parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := createChild(st, "after", prev, conds, ops); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("child of a deleted parent: %v", err)
	}
	if _, err := fence.Raise(ctx, st, parent, prev); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Raise on a changed parent: %v", err)
	}
}

// A deleter that gives up lowers its fence; a fence left behind (a
// deleter that stopped) is taken down by the next creator.
func TestLowerAndLeftBehind(t *testing.T) {
	st, prev := open(t)
	ctx := context.Background()
	frev, err := fence.Raise(ctx, st, parent, prev)
	if err != nil {
		t.Fatal(err)
	}
	if err := fence.Lower(ctx, st, parent, frev); err != nil || fenceUp(t, st) {
		t.Fatalf("Lower: %v, fence up %v", err, fenceUp(t, st))
	}
	if _, err := fence.Raise(ctx, st, parent, prev); err != nil {
		t.Fatal(err)
	}
	conds, ops, err := fence.Enter(ctx, st, parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := createChild(st, "c", prev, conds, ops); err != nil || fenceUp(t, st) {
		t.Fatalf("creator over a fence left behind: %v, fence up %v", err, fenceUp(t, st))
	}
}
