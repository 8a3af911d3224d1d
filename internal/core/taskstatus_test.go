package core

import (
	"encoding/json"
	"testing"
)

// ECS's lifecycle, in order.
var lifecycle = []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}

func TestTaskStatusOrderAndNames(t *testing.T) {
	prev := TaskStatusUnknown
	for _, name := range lifecycle {
		s := ParseTaskStatus(name)
		if !s.Known() || s.String() != name {
			t.Fatalf("ParseTaskStatus(%q) = %d (%q), known %v", name, s, s, s.Known())
		}
		if s <= prev {
			t.Fatalf("%s does not come after %s", s, prev)
		}
		prev = s
	}
	for _, bad := range []string{"", "running", "BOGUS", "INACTIVE"} {
		if s := ParseTaskStatus(bad); s != TaskStatusUnknown || s.Known() {
			t.Errorf("ParseTaskStatus(%q) = %v, want unknown", bad, s)
		}
	}
	if TaskStatus(200).Known() || TaskStatus(200).String() != "" {
		t.Error("a value out of range is a status")
	}
}

func TestTaskStatusQuestions(t *testing.T) {
	for _, tc := range []struct {
		s                            TaskStatus
		terminal, starting, stopping bool
	}{
		{TaskStatusUnknown, false, false, false},
		{TaskProvisioning, false, true, false},
		{TaskPending, false, true, false},
		{TaskActivating, false, true, false},
		{TaskRunning, false, false, false},
		{TaskDeactivating, false, false, true},
		{TaskStopping, false, false, true},
		{TaskDeprovisioning, false, false, true},
		{TaskStopped, true, false, true},
	} {
		if tc.s.Terminal() != tc.terminal || tc.s.Starting() != tc.starting || tc.s.Stopping() != tc.stopping {
			t.Errorf("%q: terminal %v starting %v stopping %v", tc.s, tc.s.Terminal(), tc.s.Starting(), tc.s.Stopping())
		}
	}
}

// A status moves forward only, may be reported again, never leaves
// STOPPED, and an unknown status is never taken.
func TestTaskStatusMayBecome(t *testing.T) {
	for _, tc := range []struct {
		from, to TaskStatus
		want     bool
	}{
		{TaskProvisioning, TaskPending, true},
		{TaskPending, TaskPending, true},
		{TaskRunning, TaskPending, false},
		{TaskRunning, TaskStopped, true},
		{TaskStopped, TaskStopped, false},
		{TaskStopped, TaskRunning, false},
		{TaskRunning, TaskStatusUnknown, false},
		{TaskStatusUnknown, TaskRunning, true}, // a record holding no known status takes one
	} {
		if got := tc.from.MayBecome(tc.to); got != tc.want {
			t.Errorf("%q.MayBecome(%q) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestTaskStatusJSON(t *testing.T) {
	type msg struct {
		S TaskStatus `json:"s"`
	}
	for _, name := range lifecycle {
		b, err := json.Marshal(msg{ParseTaskStatus(name)})
		if err != nil || string(b) != `{"s":"`+name+`"}` {
			t.Fatalf("marshal %s: %s %v", name, b, err)
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil || m.S.String() != name {
			t.Fatalf("unmarshal %s: %v %v", b, m.S, err)
		}
	}
	var m msg
	if err := json.Unmarshal([]byte(`{"s":"SOMETHING_NEW"}`), &m); err != nil || m.S != TaskStatusUnknown {
		t.Fatalf("an unknown name: %v %v, want unknown and no error", m.S, err)
	}
	if b, err := json.Marshal(msg{}); err != nil || string(b) != `{"s":""}` {
		t.Fatalf("marshal unknown: %s %v", b, err)
	}
	if _, err := json.Marshal(msg{TaskStatus(99)}); err == nil {
		t.Fatal("a value out of range marshalled")
	}
}
