// Package events is minato's EventBridge: the event envelope every
// producer writes, and (in its sub-packages) what makes and moves events.
//
//   - pattern: the event pattern language (pure).
//   - schedule: rate() and cron() (pure).
//   - transform: InputPath, Input and InputTransformer (pure).
//   - ecsevents: the ECS events a change of a task, container instance or
//     service makes (pure: old record, new record -> events).
//   - outbox: the store decorator that writes those events in the same
//     transaction as the change, and the writer PutEvents uses.
//   - delivery: the controller that matches outbox events against rules,
//     delivers them to targets with retries, and fires schedules.
//
// The API (internal/api/events) keeps buses, rules, targets, connections
// and API destinations in the state store (internal/state).
package events

import (
	"encoding/json"
	"time"
)

// Event is EventBridge's event envelope.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// TimeFormat is how an envelope's time is written.
const TimeFormat = "2006-01-02T15:04:05Z"

// FormatTime formats t as an envelope's time (UTC, seconds).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// UUID formats a 32-hex-digit ID as a UUID (other IDs are returned as
// they are).
func UUID(id string) string {
	if len(id) != 32 {
		return id
	}
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}
