// Package leader makes exactly one control-plane server run the
// controllers at a time.
//
// Every server answers the API; the loops that act on the cluster on
// their own (the service controller, the Fargate pool, the registry's
// lifecycle, and every later one) run only on the leader. A Runner holds
// the list of those loops, campaigns through an Elector, runs every loop
// for as long as its Term lasts and cancels them all when it ends, then
// campaigns again.
//
// A Term may end without the server knowing at once (a partition, a
// pause longer than the lease): for that time two servers may believe
// they lead. Their writes are kept apart by fencing: a Term's Fence is a
// store condition (the election key at the revision this server created
// it) that the loops' context carries (WithFence) and that the store
// wrapper Fence adds to every transaction made with that context. Once
// another server leads, the old key is gone and every write of the old
// leader fails with ErrDeposed; nothing it decided is committed.
//
// One server with the embedded bbolt store always leads (Always): there
// is nobody to elect, and no fence.
package leader

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/store"
)

// Elector chooses the leader among the servers.
type Elector interface {
	// Campaign blocks until this server leads, or ctx ends.
	Campaign(ctx context.Context) (Term, error)
}

// Term is one server's leadership, from its election until it is lost.
type Term interface {
	// Lost is closed when the leadership ends: the lease expired or was
	// revoked, or the server cannot reach the store to keep it.
	Lost() <-chan struct{}
	// Fence is the condition every write of the term carries; ok is
	// false when there is none to carry (one server alone).
	Fence() (c store.Cond, ok bool)
	// Resign ends the term at once, so that another server need not wait
	// for the lease to expire.
	Resign(ctx context.Context) error
}

// Always is the Elector of a server alone: it leads at once, for ever.
type Always struct{}

// Campaign returns a term that is never lost.
func (Always) Campaign(ctx context.Context) (Term, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return alwaysTerm{}, nil
}

type alwaysTerm struct{}

func (alwaysTerm) Lost() <-chan struct{}            { return nil }
func (alwaysTerm) Fence() (store.Cond, bool)        { return store.Cond{}, false }
func (alwaysTerm) Resign(ctx context.Context) error { return nil }

// Loop is one loop only the leader runs. Run is called at the start of
// every term with a context that ends with the term (and carries its
// fence); it returns once that context has ended. A loop that keeps state
// should build it afresh in each call.
type Loop struct {
	Name string
	Run  func(ctx context.Context)
}

// Runner runs its loops while this server leads.
type Runner struct {
	Elector Elector
	Logger  *slog.Logger
	// Retry is the wait after a failed campaign (default 1 s).
	Retry time.Duration

	mu      sync.Mutex
	loops   []Loop
	started bool
	leading atomic.Bool
	terms   atomic.Int64
}

// Add registers a loop. Every loop is added before Run.
func (r *Runner) Add(name string, run func(ctx context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		panic("leader: Add after Run")
	}
	r.loops = append(r.loops, Loop{Name: name, Run: run})
}

// Loops returns the names of the loops registered.
func (r *Runner) Loops() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, len(r.loops))
	for i, l := range r.loops {
		names[i] = l.Name
	}
	return names
}

// Leading reports whether this server leads now.
func (r *Runner) Leading() bool { return r.leading.Load() }

// Terms is how many terms this server has led.
func (r *Runner) Terms() int64 { return r.terms.Load() }

// Run campaigns and leads, again and again, until ctx ends. When ctx ends
// during a term, the loops stop and the term is resigned, so that another
// server takes over without waiting for the lease.
func (r *Runner) Run(ctx context.Context) {
	r.mu.Lock()
	r.started = true
	loops := r.loops
	r.mu.Unlock()
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retry := r.Retry
	if retry == 0 {
		retry = time.Second
	}
	for ctx.Err() == nil {
		term, err := r.Elector.Campaign(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("leader election failed; retrying", "err", err)
				sleep(ctx, retry)
			}
			continue
		}
		r.lead(ctx, term, loops, log)
	}
}

// lead runs loops for the term and returns once they have all stopped,
// after the term is lost or ctx ended.
func (r *Runner) lead(ctx context.Context, term Term, loops []Loop, log *slog.Logger) {
	tctx, cancel := context.WithCancel(ctx)
	if c, ok := term.Fence(); ok {
		tctx = WithFence(tctx, c)
	}
	r.terms.Add(1)
	r.leading.Store(true)
	log.Info("leading: starting the controllers", "loops", len(loops))
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { l.Run(tctx) })
	}
	select {
	case <-ctx.Done():
	case <-term.Lost():
		log.Warn("leadership lost: stopping the controllers")
	}
	cancel()
	wg.Wait()
	r.leading.Store(false)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if err := term.Resign(rctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Debug("resign", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
