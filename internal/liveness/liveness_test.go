package liveness

import (
	"fmt"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

func TestTracker(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := New(core.ClockFunc(func() time.Time { return now }), 30*time.Second)
	if tr.Connected("a") {
		t.Fatal("never-seen agent is connected")
	}
	tr.Touch("a")
	now = now.Add(29 * time.Second)
	if !tr.Connected("a") {
		t.Fatal("agent seen 29s ago is not connected")
	}
	now = now.Add(2 * time.Second)
	if tr.Connected("a") {
		t.Fatal("agent silent for 31s is connected")
	}
	release := tr.Hold("a")
	now = now.Add(time.Hour)
	if !tr.Connected("a") {
		t.Fatal("agent with an open poll is not connected")
	}
	release()
	now = now.Add(31 * time.Second)
	if tr.Connected("a") {
		t.Fatal("agent silent since its poll closed 31s ago is connected")
	}
}

// A Reader answers as of when it was made, for every agent, and a release
// called twice closes one poll only.
func TestReader(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := New(core.ClockFunc(func() time.Time { return now }), 30*time.Second)
	tr.Touch("a")
	r1 := tr.Hold("b")
	r2 := tr.Hold("b")
	now = now.Add(20 * time.Second)
	tr.Touch("c")
	r := tr.Reader()
	now = now.Add(15 * time.Second) // a: 35 s silent, c: 15 s
	if !r.Connected("a") || !r.Connected("b") || !r.Connected("c") || r.Connected("d") {
		t.Fatalf("reader made at 20 s: a %v b %v c %v d %v", r.Connected("a"), r.Connected("b"), r.Connected("c"), r.Connected("d"))
	}
	if now := tr.Reader(); now.Connected("a") || !now.Connected("c") {
		t.Fatalf("reader made at 35 s: a %v c %v", now.Connected("a"), now.Connected("c"))
	}
	r1()
	r1()
	now = now.Add(time.Hour)
	if !tr.Connected("b") {
		t.Fatal("b has a poll open but is not connected (a release counted twice?)")
	}
	r2()
	if !tr.Connected("b") {
		t.Fatal("b is not connected just after its poll closed")
	}
	now = now.Add(31 * time.Second)
	if tr.Connected("b") {
		t.Fatal("b silent for 31 s since its polls closed is connected")
	}
}

// Agents heard from after a Reader was made, or before the reader's copy
// of the agents was refreshed, are still found; concurrent use is safe
// (run with -race).
func TestReaderSeesNewAgents(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := New(core.ClockFunc(func() time.Time { return now }), 30*time.Second)
	r := tr.Reader()
	tr.Touch("late")
	if !r.Connected("late") {
		t.Fatal("an agent first heard from after the reader was made is not connected")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			release := tr.Hold(fmt.Sprint("a", i))
			release()
		}
	}()
	for range 200 {
		tr.Reader().Connected("a1")
	}
	<-done
	r = tr.Reader()
	for i := range 200 {
		if !r.Connected(fmt.Sprint("a", i)) {
			t.Fatalf("a%d not connected", i)
		}
	}
}

// An agent is lost once it is not connected and the tracker itself has
// run for longer than the timeout: right after a restart of the control
// plane nobody is lost, though nobody is connected yet.
func TestLost(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := New(core.ClockFunc(func() time.Time { return now }), 30*time.Second)
	if r := tr.Reader(); r.Connected("a") || r.Lost("a") {
		t.Fatal("an agent never heard of is lost before the tracker ran for the timeout")
	}
	release := tr.Hold("a")
	now = now.Add(20 * time.Second)
	if r := tr.Reader(); r.Lost("a") || r.Lost("never") {
		t.Fatalf("20 s after the start: a (poll open) lost %v, never-heard lost %v", r.Lost("a"), r.Lost("never"))
	}
	release()
	now = now.Add(29 * time.Second)
	if r := tr.Reader(); !r.Connected("a") || r.Lost("a") || !r.Lost("never") {
		t.Fatalf("29 s after a's poll closed, 49 s after the start: connected %v, lost %v, never-heard lost %v",
			r.Connected("a"), r.Lost("a"), r.Lost("never"))
	}
	now = now.Add(2 * time.Second)
	if r := tr.Reader(); !r.Lost("a") {
		t.Fatal("a silent for 31 s is not lost")
	}
}

func TestHeardElsewhere(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := New(core.ClockFunc(func() time.Time { return now }), 30*time.Second)
	tr.Touch("local")
	tr.HeardElsewhere([]string{"remote"})
	if !tr.Connected("remote") || !tr.Connected("local") {
		t.Fatal("an agent connected to another server is not connected")
	}
	if got := tr.Local(); len(got) != 1 || got[0] != "local" {
		t.Fatalf("Local() = %v, want [local]", got)
	}
	now = now.Add(31 * time.Second)
	if tr.Connected("remote") {
		t.Fatal("still connected after the timeout without word from the other server")
	}
	tr.HeardElsewhere([]string{"remote"})
	if !tr.Connected("remote") || tr.Reader().Lost("remote") {
		t.Fatal("not connected again after another word")
	}
}
