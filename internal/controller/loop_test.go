package controller

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/testutil/fakeclock"
)

// A decision's recheck (a backoff or grace period that ends) is timed by
// the controller's clock, not the wall clock: the service is looked at
// again when the clock reaches the time the decider named, not before.
func TestRecheckFollowsTheClock(t *testing.T) {
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // long past on the wall clock
	clock := fakeclock.New(t0)
	c := &Services{Clock: clock, dirty: map[serviceRef]bool{}, wake: make(chan struct{}, 1)}
	r := serviceRef{"c", "web"}
	dirty := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.dirty[r]
	}
	c.markAt(r, t0.Add(30*time.Second))
	clock.Advance(29 * time.Second)
	if clock.Pending() != 1 || dirty() {
		t.Fatalf("marked before its time (pending %d)", clock.Pending())
	}
	clock.Advance(time.Second)
	select {
	case <-c.wake:
	case <-time.After(10 * time.Second):
		t.Fatal("not marked once the clock reached the recheck")
	}
	if !dirty() {
		t.Fatal("woken but not marked")
	}
}

// markAll looks at every service that is not INACTIVE, by the service's
// own status: a status "INACTIVE" elsewhere in the record (a deployment's)
// does not hide it.
func TestMarkAllReadsTheServiceStatus(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for name, svc := range map[string]ecstypes.Service{
		"active":   {Status: "ACTIVE"},
		"draining": {Status: "DRAINING"},
		"gone":     {Status: "INACTIVE"},
		"nested":   {Status: "ACTIVE", Deployments: []ecstypes.Deployment{{Id: "d1", Status: "INACTIVE"}}},
	} {
		b, err := state.Encode(state.Service{Name: name, Cluster: "c", Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Txn(ctx, nil, []store.Op{store.Put(state.ServiceKey("c", name), b)}); err != nil {
			t.Fatal(err)
		}
	}
	c := &Services{Store: st, dirty: map[serviceRef]bool{}, wake: make(chan struct{}, 1)}
	c.markAll(ctx)
	want := map[serviceRef]bool{{"c", "active"}: true, {"c", "draining"}: true, {"c", "nested"}: true}
	if !maps.Equal(c.dirty, want) {
		t.Fatalf("marked %v, want %v", c.dirty, want)
	}
}
