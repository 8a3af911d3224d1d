package leader

import (
	"context"
	"errors"
	"fmt"

	"github.com/minato-project/minato/internal/store"
)

// ErrDeposed is what a write of a term that has ended gets: another server
// leads now (or nobody does), and the write was not made. It is not a
// store.ErrConflict, so that no retry loop tries it again.
var ErrDeposed = errors.New("leader: this server no longer leads; write refused")

type fenceKey struct{}

// WithFence returns a context whose store writes (through a store Fence
// wrapped) hold only while c holds.
func WithFence(ctx context.Context, c store.Cond) context.Context {
	return context.WithValue(ctx, fenceKey{}, c)
}

// FenceOf returns the fence ctx carries, if any.
func FenceOf(ctx context.Context) (store.Cond, bool) {
	c, ok := ctx.Value(fenceKey{}).(store.Cond)
	return c, ok
}

// Fence wraps st so that every Txn made with a context that carries a
// fence (WithFence) also holds the fence's condition. A Txn whose fence
// no longer holds fails with ErrDeposed. Other calls, and a Txn with a
// context without a fence, go to st unchanged. The wrapper keeps st's
// Compact, if it has one.
func Fence(st store.Store) store.Store {
	f := &fenced{Store: st}
	if c, ok := st.(compactor); ok {
		return &fencedCompacting{fenced: f, c: c}
	}
	return f
}

type compactor interface {
	Compact(ctx context.Context, rev int64) error
}

type fenced struct{ store.Store }

func (f *fenced) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	c, ok := FenceOf(ctx)
	if !ok {
		return f.Store.Txn(ctx, conds, ops)
	}
	all := make([]store.Cond, 0, len(conds)+1)
	all = append(append(all, conds...), c)
	rev, err := f.Store.Txn(ctx, all, ops)
	if !errors.Is(err, store.ErrConflict) {
		return rev, err
	}
	// Which condition failed? When the fence's did, this is no conflict
	// to retry: the term is over.
	if deposed(ctx, f.Store, c) {
		return 0, fmt.Errorf("%w (fence %s at revision %d)", ErrDeposed, c.Key, c.ModRevision)
	}
	return rev, err
}

// deposed reports whether fence c no longer holds. An error reading it
// says nothing: the caller's conflict stands.
func deposed(ctx context.Context, st store.Store, c store.Cond) bool {
	kv, err := st.Get(ctx, c.Key)
	if errors.Is(err, store.ErrNotFound) {
		return c.ModRevision != 0
	}
	return err == nil && kv.ModRevision != c.ModRevision
}

type fencedCompacting struct {
	*fenced
	c compactor
}

func (f *fencedCompacting) Compact(ctx context.Context, rev int64) error {
	return f.c.Compact(ctx, rev)
}
