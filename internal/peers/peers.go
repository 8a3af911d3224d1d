// Package peers lets the control-plane servers that share a store (etcd)
// know of each other. Each server publishes a record of itself under
// servers/ every few seconds: its name and API address, whether it leads,
// and the agents whose long polls it holds. Every server watches those
// records: an agent connected to another server counts as connected here
// too (placement and the controllers ask), and `minato server members`
// lists them.
//
// A record is rewritten as a whole, with no condition: each server owns
// its own key. A server that is gone leaves its record behind, ageing;
// readers judge it by when they last saw it change, not by the writer's
// clock.
package peers

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/store"
)

// Prefix is where the servers' records live.
const Prefix = "servers/"

// DefaultInterval is how often a server rewrites its record.
const DefaultInterval = 3 * time.Second

// staleAfter is how old a record found in the first listing may be and
// still count: generous, since the writer's clock is not the reader's.
const staleAfter = 30 * time.Second

// Record is what a server says of itself.
type Record struct {
	Name    string    `json:"name"`
	APIURL  string    `json:"apiUrl"`
	Leading bool      `json:"leading"`
	Agents  []string  `json:"agents,omitempty"`
	Started time.Time `json:"started"`
	At      time.Time `json:"at"`
	Version string    `json:"version,omitempty"`
}

// Key is where server name's record lives.
func Key(name string) string { return Prefix + name }

// Publisher keeps this server's record current and tells Heard of the
// agents the other servers hold.
type Publisher struct {
	Store store.Store
	// Self returns this server's record as of now (At is set here).
	Self func() Record
	// Heard is told the agents another server reports connected to it.
	Heard    func(agents []string)
	Clock    core.Clock
	Logger   *slog.Logger
	Interval time.Duration
}

// Run publishes and watches until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.Clock == nil {
		p.Clock = core.SystemClock{}
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.watch(ctx)
	}()
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		p.publish(ctx)
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
		}
	}
}

func (p *Publisher) publish(ctx context.Context) {
	r := p.Self()
	r.At = p.Clock.Now().UTC()
	slices.Sort(r.Agents)
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	if _, err := p.Store.Txn(ctx, nil, []store.Op{store.Put(Key(r.Name), b)}); err != nil && ctx.Err() == nil {
		p.Logger.Warn("publishing this server's record", "err", err)
	}
}

// watch feeds Heard from the other servers' records until ctx ends.
func (p *Publisher) watch(ctx context.Context) {
	self := p.Self().Name
	for ctx.Err() == nil {
		kvs, rev, err := p.Store.List(ctx, Prefix, store.ListOptions{})
		if err == nil {
			for _, kv := range kvs {
				p.heard(self, kv.Value)
			}
			var w store.Watcher
			if w, err = p.Store.Watch(ctx, Prefix, rev); err == nil {
				for ev := range w.Events() {
					if ev.Type == store.EventPut {
						p.heard(self, ev.KV.Value)
					}
				}
				err = w.Err()
			}
		}
		if ctx.Err() == nil {
			if err != nil {
				p.Logger.Debug("watching the servers' records", "err", err)
			}
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

func (p *Publisher) heard(self string, value []byte) {
	var r Record
	if json.Unmarshal(value, &r) != nil || r.Name == self || p.Heard == nil {
		return
	}
	// The record of a server gone long ago (seen in the first listing)
	// says nothing of now.
	if p.Clock.Now().Sub(r.At) > staleAfter {
		return
	}
	p.Heard(r.Agents)
}

// List returns every server's record, by name.
func List(ctx context.Context, st store.Store) ([]Record, error) {
	kvs, _, err := st.List(ctx, Prefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(kvs))
	for _, kv := range kvs {
		var r Record
		if json.Unmarshal(kv.Value, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
