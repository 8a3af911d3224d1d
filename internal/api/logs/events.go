package logs

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/logstore/filterpattern"
	"github.com/minato-project/minato/internal/model/logstypes"
)

// Limits of PutLogEvents.
const (
	maxBatchEvents = 10000
	maxBatchBytes  = 1048576
	maxEventBytes  = 262144 - 26 // 256 KiB with the 26 bytes of per-event overhead
	eventOverhead  = 26
	day            = int64(24 * 3600 * 1000)
)

type rejectedInfo struct {
	TooNewLogEventStartIndex *int32 `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int32 `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int32 `json:"expiredLogEventEndIndex,omitempty"`
}

type putLogEventsResponse struct {
	NextSequenceToken     string        `json:"nextSequenceToken,omitempty"`
	RejectedLogEventsInfo *rejectedInfo `json:"rejectedLogEventsInfo,omitempty"`
}

// PutLogEvents appends a batch of events to a stream, durably.
func (a *API) PutLogEvents(_ context.Context, c *awsproto.Call, in *logstypes.PutLogEventsRequest) (*putLogEventsResponse, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	if err := logstore.CheckStreamName(in.LogStreamName); err != nil {
		return nil, invalidParam("%v", err)
	}
	if len(in.LogEvents) > maxBatchEvents {
		return nil, invalidParam("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000")
	}
	size := 0
	for i, e := range in.LogEvents {
		if len(e.Message) > maxEventBytes {
			return nil, invalidParam("Log event too large: %d bytes exceeds limit of %d", len(e.Message)+eventOverhead, maxEventBytes+eventOverhead)
		}
		size += len(e.Message) + eventOverhead
		if i > 0 && e.Timestamp < in.LogEvents[i-1].Timestamp {
			return nil, invalidParam("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if size > maxBatchBytes {
		return nil, invalidParam("Upload too large: %d bytes exceeds limit of %d", size, maxBatchBytes)
	}
	if n := len(in.LogEvents); n > 1 && in.LogEvents[n-1].Timestamp-in.LogEvents[0].Timestamp > day {
		return nil, invalidParam("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	now := a.now().UnixMilli()
	oldest := now - 14*day
	if days, err := a.store.Retention(in.LogGroupName); err != nil {
		return nil, storeErr(err)
	} else if days > 0 {
		oldest = max(oldest, now-int64(days)*day)
	}
	newest := now + 2*3600*1000
	out := &putLogEventsResponse{}
	var evs []logstore.Event
	tooOld, tooNew := -1, -1
	for i, e := range in.LogEvents {
		switch {
		case e.Timestamp < oldest:
			tooOld = i
			continue
		case e.Timestamp > newest:
			if tooNew < 0 {
				tooNew = i
			}
			continue
		}
		evs = append(evs, logstore.Event{Timestamp: e.Timestamp, Message: e.Message})
	}
	if tooOld >= 0 || tooNew >= 0 {
		out.RejectedLogEventsInfo = &rejectedInfo{}
		if tooOld >= 0 {
			out.RejectedLogEventsInfo.TooOldLogEventEndIndex = new(int32(tooOld))
		}
		if tooNew >= 0 {
			out.RejectedLogEventsInfo.TooNewLogEventStartIndex = new(int32(tooNew))
		}
	}
	if len(evs) > 0 {
		if _, err := a.store.Append(in.LogGroupName, in.LogStreamName, evs); err != nil {
			return nil, storeErr(err)
		}
	} else if _, err := a.store.Streams(in.LogGroupName, in.LogStreamName); err != nil {
		return nil, storeErr(err)
	}
	out.NextSequenceToken = fmt.Sprintf("%056d", now)
	return out, nil
}

// GetLogEvents tokens are "f/" (forward) or "b/" (backward) and 40
// digits: the cursor's timestamp and position, as AWS's are "f/" or "b/"
// and digits.
func encodeEventToken(dir byte, c logstore.Cursor) string {
	return fmt.Sprintf("%c/%020d%020d", dir, max(c.TS, 0), c.Pos)
}

func decodeEventToken(tok string) (dir byte, c logstore.Cursor, ok bool) {
	if len(tok) != 42 || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/' {
		return 0, c, false
	}
	ts, err1 := strconv.ParseInt(tok[2:22], 10, 64)
	pos, err2 := strconv.ParseUint(tok[22:], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, c, false
	}
	return tok[0], logstore.Cursor{TS: ts, Pos: pos}, true
}

type getLogEventsResponse struct {
	Events            []logstypes.OutputLogEvent `json:"events"`
	NextForwardToken  string                     `json:"nextForwardToken"`
	NextBackwardToken string                     `json:"nextBackwardToken"`
}

// GetLogEvents reads a stream's events: the newest page by default, the
// oldest with startFromHead, and onwards from a token.
func (a *API) GetLogEvents(_ context.Context, c *awsproto.Call, in *logstypes.GetLogEventsRequest) (*getLogEventsResponse, error) {
	name, err := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if in.Limit < 0 || in.Limit > 10000 {
		return nil, invalidParam("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000", in.Limit)
	}
	if _, err := a.store.Streams(name, ""); err != nil {
		return nil, storeErr(err)
	}
	if ss, _ := a.store.Streams(name, in.LogStreamName); !hasStream(ss, in.LogStreamName) {
		return nil, errStreamNotFound()
	}
	q := logstore.Query{Group: name, Streams: []string{in.LogStreamName}, Start: in.StartTime, Limit: int(in.Limit)}
	if in.EndTime > 0 {
		q.End = in.EndTime - 1 // endTime is exclusive here
	}
	q.Backward = !in.StartFromHead
	if in.NextToken != "" {
		dir, cur, ok := decodeEventToken(in.NextToken)
		if !ok {
			return nil, invalidParam("The specified nextToken is invalid.")
		}
		if dir == 'f' {
			q.Backward, q.After = false, &cur
		} else {
			q.Backward, q.Before = true, &cur
		}
	}
	res, err := a.store.Query(q)
	if err != nil {
		return nil, storeErr(err)
	}
	out := &getLogEventsResponse{Events: make([]logstypes.OutputLogEvent, len(res.Events))}
	for i, e := range res.Events {
		out.Events[i] = logstypes.OutputLogEvent{Timestamp: e.Timestamp, Message: e.Message, IngestionTime: e.Ingestion}
	}
	if n := len(res.Events); n > 0 {
		out.NextForwardToken = encodeEventToken('f', res.Events[n-1].Cursor)
		out.NextBackwardToken = encodeEventToken('b', res.Events[0].Cursor)
		return out, nil
	}
	// Nothing (more) in that direction: the same token back, as AWS does
	// at the end of a stream, and its mirror.
	if in.NextToken != "" {
		_, cur, _ := decodeEventToken(in.NextToken)
		out.NextForwardToken, out.NextBackwardToken = encodeEventToken('f', cur), encodeEventToken('b', cur)
		return out, nil
	}
	start := logstore.Cursor{TS: in.StartTime}
	end := logstore.Cursor{TS: 1<<62 - 1, Pos: 1<<64 - 1}
	if in.EndTime > 0 {
		end = logstore.Cursor{TS: in.EndTime}
	}
	out.NextForwardToken, out.NextBackwardToken = encodeEventToken('f', start), encodeEventToken('b', end)
	if q.Backward {
		// Polling forward from an empty tail must see what comes later.
		out.NextForwardToken = encodeEventToken('f', start)
	}
	return out, nil
}

func hasStream(ss []logstore.StreamInfo, name string) bool {
	for _, s := range ss {
		if s.Name == name {
			return true
		}
	}
	return false
}

type filteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type filterLogEventsResponse struct {
	Events    []filteredLogEvent `json:"events"`
	NextToken string             `json:"nextToken,omitempty"`
}

// FilterLogEvents searches a group's events, interleaved across its
// streams in time order.
func (a *API) FilterLogEvents(_ context.Context, c *awsproto.Call, in *logstypes.FilterLogEventsRequest) (*filterLogEventsResponse, error) {
	name, err := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if in.Limit < 0 || in.Limit > 10000 {
		return nil, invalidParam("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000", in.Limit)
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, invalidParam("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, invalidParam("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	pat, err := filterpattern.Parse(in.FilterPattern)
	if err != nil {
		return nil, invalidParam("%v", err)
	}
	q := logstore.Query{Group: name, StreamPrefix: in.LogStreamNamePrefix, Start: in.StartTime, End: in.EndTime,
		Limit: int(in.Limit), Match: pat.Match}
	if strings.TrimSpace(in.FilterPattern) == "" {
		q.Match = nil
	}
	if len(in.LogStreamNames) > 0 {
		q.Streams = in.LogStreamNames
	}
	if in.NextToken != "" {
		cur, ok := decodeFilterToken(in.NextToken)
		if !ok {
			return nil, invalidParam("The specified nextToken is invalid.")
		}
		q.After = &cur
	}
	if in.EndTime != 0 && in.EndTime < in.StartTime {
		return &filterLogEventsResponse{Events: []filteredLogEvent{}}, nil
	}
	res, err := a.store.Query(q)
	if err != nil {
		return nil, storeErr(err)
	}
	out := &filterLogEventsResponse{Events: make([]filteredLogEvent, len(res.Events))}
	for i, e := range res.Events {
		out.Events[i] = filteredLogEvent{LogStreamName: e.Stream, Timestamp: e.Timestamp, Message: e.Message,
			IngestionTime: e.Ingestion, EventID: eventID(e.Cursor)}
	}
	if res.More && len(res.Events) > 0 {
		out.NextToken = encodeFilterToken(res.Events[len(res.Events)-1].Cursor)
	}
	return out, nil
}

// eventID is unique within a group and stable: the event's cursor as
// digits.
func eventID(c logstore.Cursor) string { return fmt.Sprintf("%020d%020d", max(c.TS, 0), c.Pos) }

func encodeFilterToken(c logstore.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte("m1:" + strconv.FormatInt(c.TS, 10) + ":" + strconv.FormatUint(c.Pos, 10)))
}

func decodeFilterToken(tok string) (logstore.Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return logstore.Cursor{}, false
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "m1" {
		return logstore.Cursor{}, false
	}
	ts, err1 := strconv.ParseInt(parts[1], 10, 64)
	pos, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return logstore.Cursor{}, false
	}
	return logstore.Cursor{TS: ts, Pos: pos}, true
}
