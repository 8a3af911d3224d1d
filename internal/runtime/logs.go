package runtime

import (
	"context"
	"time"
)

// LogLine is one line a container wrote, with the engine's timestamp.
type LogLine struct {
	Time   time.Time
	Stderr bool
	Text   string // without the trailing newline
	// Partial: the engine split a long line and more of it follows in
	// the next LogLine.
	Partial bool
}

// LogReader is implemented by runtimes whose containers' output the agent
// can read (runtime/docker). The agent uses it for the
// awslogs driver, which it implements itself.
type LogReader interface {
	// FollowLogs calls fn with each line of a container's stdout and
	// stderr, in order, from the first line stamped at or after since,
	// and follows the output until the container stops (then it returns
	// nil), ctx ends, or fn returns an error (returned as is). A
	// container that does not exist is ErrNotFound.
	FollowLogs(ctx context.Context, id string, since time.Time, fn func(LogLine) error) error
}
