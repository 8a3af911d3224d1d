package core

import "fmt"

// TaskStatus is a task's (or a container's) status in ECS's lifecycle
// order: PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING,
// STOPPING, DEPROVISIONING, STOPPED. A container's statuses (PENDING,
// RUNNING, STOPPED) are a part of the same order. A status only moves
// forward along it; STOPPED is the end.
//
// The ECS records keep statuses as the strings ECS writes (the generated
// ecstypes fields): ParseTaskStatus turns such a string into a TaskStatus
// and String turns one back. In JSON a TaskStatus is its name.
type TaskStatus uint8

// Task statuses, in lifecycle order. TaskStatusUnknown is the zero value:
// what a string no status is named parses to. It sorts before every
// status.
const (
	TaskStatusUnknown TaskStatus = iota
	TaskProvisioning
	TaskPending
	TaskActivating
	TaskRunning
	TaskDeactivating
	TaskStopping
	TaskDeprovisioning
	TaskStopped
)

var taskStatusNames = [...]string{
	TaskStatusUnknown:  "",
	TaskProvisioning:   "PROVISIONING",
	TaskPending:        "PENDING",
	TaskActivating:     "ACTIVATING",
	TaskRunning:        "RUNNING",
	TaskDeactivating:   "DEACTIVATING",
	TaskStopping:       "STOPPING",
	TaskDeprovisioning: "DEPROVISIONING",
	TaskStopped:        "STOPPED",
}

// ParseTaskStatus returns the status named s, or TaskStatusUnknown when
// s names none.
func ParseTaskStatus(s string) TaskStatus {
	// A switch, not a map: the cluster view parses every task it indexes.
	switch s {
	case "PROVISIONING":
		return TaskProvisioning
	case "PENDING":
		return TaskPending
	case "ACTIVATING":
		return TaskActivating
	case "RUNNING":
		return TaskRunning
	case "DEACTIVATING":
		return TaskDeactivating
	case "STOPPING":
		return TaskStopping
	case "DEPROVISIONING":
		return TaskDeprovisioning
	case "STOPPED":
		return TaskStopped
	}
	return TaskStatusUnknown
}

// String is the status's ECS name ("" for TaskStatusUnknown).
func (s TaskStatus) String() string {
	if int(s) < len(taskStatusNames) {
		return taskStatusNames[s]
	}
	return ""
}

// Known reports whether s is one of the lifecycle's statuses.
func (s TaskStatus) Known() bool { return s > TaskStatusUnknown && s <= TaskStopped }

// Terminal reports whether s is the end of the lifecycle (STOPPED).
func (s TaskStatus) Terminal() bool { return s == TaskStopped }

// MayBecome reports whether a task (or container) whose status is s may
// take status next: next is a status, and it does not go backwards from
// s, nor leave STOPPED. Reporting the same status again is allowed (its
// other fields may have changed), so repeated or reordered reports are
// harmless.
func (s TaskStatus) MayBecome(next TaskStatus) bool {
	return next.Known() && !s.Terminal() && next >= s
}

// Starting reports whether s is before RUNNING (PROVISIONING, PENDING or
// ACTIVATING): what ECS counts as pending.
func (s TaskStatus) Starting() bool { return s.Known() && s < TaskRunning }

// Stopping reports whether s is at or past DEACTIVATING: the task is on
// its way out, or out (STOPPED).
func (s TaskStatus) Stopping() bool { return s >= TaskDeactivating }

// MarshalText encodes s as its name; TaskStatusUnknown is "".
func (s TaskStatus) MarshalText() ([]byte, error) {
	if s != TaskStatusUnknown && !s.Known() {
		return nil, fmt.Errorf("core: task status %d out of range", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a status name. A name it does not know decodes as
// TaskStatusUnknown, without an error: a message that carries a status
// this version does not know is still read, and MayBecome refuses the
// status (a tolerant reader, as the agent protocol wants).
func (s *TaskStatus) UnmarshalText(b []byte) error {
	*s = ParseTaskStatus(string(b))
	return nil
}
