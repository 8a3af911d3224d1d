package lbsync

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// fakePlane records the configurations it is given and answers health
// from a table.
type fakePlane struct {
	mu      sync.Mutex
	cfgs    []*lb.Config
	health  map[string][]lb.TargetStatus
	updated chan struct{}
}

func newFakePlane() *fakePlane {
	return &fakePlane{health: map[string][]lb.TargetStatus{}, updated: make(chan struct{}, 100)}
}

func (p *fakePlane) Update(cfg *lb.Config) map[string]error {
	p.mu.Lock()
	p.cfgs = append(p.cfgs, cfg)
	p.mu.Unlock()
	p.updated <- struct{}{}
	return map[string]error{"x": nil}
}

func (p *fakePlane) Health(tg string) []lb.TargetStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.health[tg]
}

func (p *fakePlane) last() *lb.Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfgs[len(p.cfgs)-1]
}

func put(t *testing.T, st store.Store, key string, v any) {
	t.Helper()
	b, err := state.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put(key, b)}); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until the plane's last configuration satisfies ok.
func waitFor(t *testing.T, p *fakePlane, what string, ok func(*lb.Config) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.cfgs)
		p.mu.Unlock()
		if n > 0 && ok(p.last()) {
			return
		}
		select {
		case <-p.updated:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSyncerFollowsTheStore(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := newFakePlane()
	var now time.Time
	var nowMu sync.Mutex
	clock := core.ClockFunc(func() time.Time { nowMu.Lock(); defer nowMu.Unlock(); return now })
	setNow := func(t time.Time) { nowMu.Lock(); now = t; nowMu.Unlock() }
	setNow(t0)
	s := &Syncer{Store: st, Plane: p, Health: p, LBAddr: "127.0.0.1", Clock: clock, ReapInterval: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor(t, p, "the first (empty) configuration", func(c *lb.Config) bool { return len(c.Listeners) == 0 })
	snap := baseSnapshot()
	put(t, st, state.LoadBalancerKey(snap.LoadBalancers[0].ID), snap.LoadBalancers[0])
	for _, l := range snap.Listeners {
		put(t, st, state.ListenerKey(l.LoadBalancerID, l.ID), l)
	}
	g := snap.TargetGroups[1] // green, ip targets
	put(t, st, state.TargetGroupKey(g.ID), g)
	put(t, st, state.RegistrationKey(g.ID, "172.17.0.5", 8080), state.Registration{TargetGroupID: g.ID, TargetID: "172.17.0.5", Port: 8080, RegisteredAt: t0})
	waitFor(t, p, "two listeners and the target", func(c *lb.Config) bool {
		tg := c.TargetGroups[grnARN]
		return len(c.Listeners) == 2 && c.Listeners[0].Addr == "127.0.0.1:80" && tg != nil && len(tg.Targets) == 1
	})

	// An instance target follows its container instance's address.
	b := snap.TargetGroups[0]
	put(t, st, state.TargetGroupKey(b.ID), b)
	put(t, st, state.RegistrationKey(b.ID, "i-1", 32768), state.Registration{TargetGroupID: b.ID, TargetID: "i-1", Port: 32768, RegisteredAt: t0})
	put(t, st, state.ContainerInstanceKey("default", "ci-1"), state.ContainerInstance{ID: "ci-1", Cluster: "default", EC2InstanceID: "i-1", Status: "ACTIVE", Address: "10.0.0.1"})
	waitFor(t, p, "the instance target's address", func(c *lb.Config) bool {
		tg := c.TargetGroups[blueARN]
		return tg != nil && len(tg.Targets) == 1 && tg.Targets[0].Addr == "10.0.0.1:32768"
	})
	put(t, st, state.ContainerInstanceKey("default", "ci-1"), state.ContainerInstance{ID: "ci-1", Cluster: "default", EC2InstanceID: "i-1", Status: "ACTIVE", Address: "10.0.0.2"})
	waitFor(t, p, "the instance's new address", func(c *lb.Config) bool {
		return c.TargetGroups[blueARN].Targets[0].Addr == "10.0.0.2:32768"
	})

	// A draining target goes once the plane says it is drained, not before.
	key := state.RegistrationKey(g.ID, "172.17.0.5", 8080)
	put(t, st, key, state.Registration{TargetGroupID: g.ID, TargetID: "172.17.0.5", Port: 8080, RegisteredAt: t0, Draining: true, DeregisteredAt: t0})
	waitFor(t, p, "the draining target", func(c *lb.Config) bool { return c.TargetGroups[grnARN].Targets[0].Draining })
	time.Sleep(100 * time.Millisecond) // several reap passes
	if _, err := st.Get(ctx, key); err != nil {
		t.Fatalf("reaped before drained: %v", err)
	}
	p.mu.Lock()
	p.health[grnARN] = []lb.TargetStatus{{Key: lb.Key{ID: "172.17.0.5", Port: 8080}, State: lb.StateDraining, Drained: true}}
	p.mu.Unlock()
	waitFor(t, p, "the drained target gone", func(c *lb.Config) bool { return len(c.TargetGroups[grnARN].Targets) == 0 })
	if _, err := st.Get(ctx, key); !state.IsNotFound(err) {
		t.Fatalf("registration after reaping: %v", err)
	}

	// One the plane never reports drained goes after the delay and slack.
	bk := state.RegistrationKey(b.ID, "i-1", 32768)
	put(t, st, bk, state.Registration{TargetGroupID: b.ID, TargetID: "i-1", Port: 32768, RegisteredAt: t0, Draining: true, DeregisteredAt: t0})
	time.Sleep(100 * time.Millisecond)
	if _, err := st.Get(ctx, bk); err != nil {
		t.Fatalf("reaped before the delay: %v", err)
	}
	setNow(t0.Add(30*time.Second + DrainSlack)) // blue's delay is 30 s
	waitFor(t, p, "the timed-out target gone", func(c *lb.Config) bool { return len(c.TargetGroups[blueARN].Targets) == 0 })
}

// WaitApplied returns only once the plane runs a configuration with the
// change: what the caller records next is what the load balancer does.
func TestWaitAppliedMeansThePlaneHasIt(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := newFakePlane()
	s := &Syncer{Store: st, Plane: p, Health: p, LBAddr: "127.0.0.1", Debounce: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	snap := baseSnapshot()
	put(t, st, state.LoadBalancerKey(snap.LoadBalancers[0].ID), snap.LoadBalancers[0])
	for _, l := range snap.Listeners {
		put(t, st, state.ListenerKey(l.LoadBalancerID, l.ID), l)
	}
	rev, err := st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitApplied(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := len(p.last().Listeners); got != 2 {
		t.Fatalf("WaitApplied returned with %d listeners in the plane, want 2", got)
	}
	// A revision moved by a record the load balancer does not read: the
	// wait asks for a sync instead of waiting for the next change.
	put(t, st, "/unrelated/key", map[string]string{"a": "b"})
	rev, _ = st.Revision(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := s.WaitApplied(wctx, rev); err != nil {
		t.Fatalf("waiting for an unrelated revision: %v", err)
	}

	// Without a running syncer the wait ends with its context.
	idle := &Syncer{Store: st, Plane: p}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if err := idle.WaitApplied(cctx, rev); err == nil {
		t.Fatal("WaitApplied on a syncer that never ran returned nil")
	}
}
