package agentserver

import (
	"errors"
	"net/http"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/logstore"
)

// LogStore is where agents' log events go (a *logstore.Store).
type LogStore interface {
	EnsureStream(group, stream string, createGroup bool) error
	Append(group, stream string, events []logstore.Event) (logstore.AppendResult, error)
}

var _ LogStore = (*logstore.Store)(nil)

// Messages the awslogs driver reports when a container's log stream
// cannot be set up; the agent puts them in the stop reason.
const (
	msgNoLogGroup = "ResourceNotFoundException: The specified log group does not exist."
)

// LogsHandler serves the log channel (agentproto.PathLogStream and
// PathLogEvents) into ls, with the agent paths' authentication.
func (s *Server) LogsHandler(ls LogStore) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentproto.PathLogStream, s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return logStream(ls, r)
	}))
	mux.HandleFunc("POST "+agentproto.PathLogEvents, s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return logEvents(ls, r)
	}))
	return mux
}

func checkLogNames(group, stream string) error {
	if err := logstore.CheckGroupName(group); err != nil {
		return badRequest("InvalidParameterException: %v", err)
	}
	if err := logstore.CheckStreamName(stream); err != nil {
		return badRequest("InvalidParameterException: %v", err)
	}
	return nil
}

// logStream creates a container's log stream (and its group with
// awslogs-create-group).
func logStream(ls LogStore, r *http.Request) (any, error) {
	var req agentproto.LogStreamRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkLogNames(req.Group, req.Stream); err != nil {
		return nil, err
	}
	if err := ls.EnsureStream(req.Group, req.Stream, req.CreateGroup); err != nil {
		if errors.Is(err, logstore.ErrGroupNotFound) {
			return nil, &httpError{http.StatusNotFound, msgNoLogGroup}
		}
		return nil, err
	}
	return struct{}{}, nil
}

// logEvents stores a batch of a container's events; it answers once they
// are on disk.
func logEvents(ls LogStore, r *http.Request) (any, error) {
	var b agentproto.LogBatch
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	if err := checkLogNames(b.Group, b.Stream); err != nil {
		return nil, err
	}
	evs := make([]logstore.Event, len(b.Events))
	for i, e := range b.Events {
		if e.Seq == 0 {
			return nil, badRequest("event %d has no sequence number", i)
		}
		evs[i] = logstore.Event{Timestamp: e.Timestamp, Message: e.Message, Seq: e.Seq}
	}
	res, err := ls.Append(b.Group, b.Stream, evs)
	if errors.Is(err, logstore.ErrStreamNotFound) || errors.Is(err, logstore.ErrGroupNotFound) {
		// Deleted while the container runs: set up again, as far as
		// awslogs-create-group allows.
		if err := ls.EnsureStream(b.Group, b.Stream, b.CreateGroup); err != nil {
			if errors.Is(err, logstore.ErrGroupNotFound) {
				return nil, &httpError{http.StatusNotFound, msgNoLogGroup}
			}
			return nil, err
		}
		res, err = ls.Append(b.Group, b.Stream, evs)
	}
	if err != nil {
		return nil, err
	}
	return agentproto.LogAck{Stored: res.Stored, Duplicates: res.Duplicates}, nil
}
