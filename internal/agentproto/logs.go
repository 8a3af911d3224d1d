package agentproto

// Paths of the log channel: the agent ships the output of awslogs
// containers to the control plane's log store.
const (
	// PathLogStream (POST LogStreamRequest) makes sure a container's log
	// stream exists before the container starts, as the awslogs driver
	// does; a missing group without CreateGroup is 404.
	PathLogStream = "/minato/agent/v1/logs/stream"
	// PathLogEvents (POST LogBatch, answer LogAck) appends events.
	PathLogEvents = "/minato/agent/v1/logs/events"
)

// LogStreamRequest names a container's log stream.
type LogStreamRequest struct {
	Group  string `json:"group"`
	Stream string `json:"stream"`
	// CreateGroup is awslogs-create-group: create the group if missing.
	CreateGroup bool `json:"createGroup,omitzero"`
}

// LogBatch is a run of one stream's events, in order. Events carry the
// agent's sequence numbers for the stream (1, 2, 3, ...); the control
// plane stores each number once, so resending a batch whose answer was
// lost stores nothing twice.
type LogBatch struct {
	LogStreamRequest
	Events []LogEvent `json:"events"`
}

// LogEvent is one log event.
type LogEvent struct {
	Seq       uint64 `json:"q"`
	Timestamp int64  `json:"t"` // ms since the epoch
	Message   string `json:"m"`
}

// LogAck answers a LogBatch once every event of it is stored durably.
type LogAck struct {
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
}
