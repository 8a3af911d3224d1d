package fakeclock

import (
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

func TestAfterFuncRunsWhenTheClockGetsThere(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(t0)
	ran := make(chan string, 3)
	core.AfterFunc(c, 5*time.Second, func() { ran <- "5s" })
	stopped := core.AfterFunc(c, 2*time.Second, func() { ran <- "stopped" })
	core.AfterFunc(c, 0, func() { ran <- "now" })
	if got := <-ran; got != "now" {
		t.Fatalf("first call %q, want the one due at once", got)
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop of a pending call should report true once")
	}
	c.Advance(4 * time.Second)
	if c.Pending() != 1 {
		t.Fatalf("%d pending after 4s, want 1", c.Pending())
	}
	c.Advance(time.Second)
	if got := <-ran; got != "5s" {
		t.Fatalf("call %q after 5s", got)
	}
	if c.Pending() != 0 || !c.Now().Equal(t0.Add(5*time.Second)) {
		t.Fatalf("pending %d, now %v", c.Pending(), c.Now())
	}
	select {
	case got := <-ran:
		t.Fatalf("unexpected call %q", got)
	default:
	}
}
