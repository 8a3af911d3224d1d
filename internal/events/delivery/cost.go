package delivery

import (
	"context"
	"time"

	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// MatchCost measures what matching costs (bench/eventbench): it loads the
// rules of st as the worker does and matches event (on the default bus)
// n times, with the index by source and without it. It returns the mean
// time per event of each and how many rules the event matched.
func MatchCost(ctx context.Context, st store.Store, event []byte, n int) (indexed, plain time.Duration, matched int) {
	w := &Worker{Store: st}
	w.defaults()
	if err := w.loadRules(ctx); err != nil {
		return 0, 0, 0
	}
	ob := state.OutboxEvent{Bus: outbox.DefaultBus, Event: event}
	measure := func() time.Duration {
		start := time.Now()
		for range n {
			matched = len(w.match(ob))
		}
		return time.Since(start) / time.Duration(n)
	}
	indexed = measure()
	w.indexes[outbox.DefaultBus] = &index{always: w.rules[outbox.DefaultBus]}
	plain = measure()
	return indexed, plain, matched
}
