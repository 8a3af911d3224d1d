package liveness

import (
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
