package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
)

// The awslogs driver, done by the agent: Docker logs an awslogs container
// to json-file (runtime/docker), and the agent follows that log with
// Docker's timestamps, joins lines into events (awslogs-datetime-format,
// awslogs-multiline-pattern), and ships them to the control plane in
// batches. Docker's file is the on-disk buffer; in memory the agent holds
// at most maxPendingEvents / maxPendingBytes per container and stops
// reading while it is full.
//
// Exactly once: every event gets the next sequence number of its stream.
// After the control plane acknowledged a batch (it is then on disk
// there), the agent saves the position in the Docker log after the
// batch's last line (timestamp + lines read at that timestamp) and the
// last sequence number, in <data dir>/logs/<container>.json. After a
// restart it reads on from there and numbers events from there; a batch
// that was stored but whose acknowledgement was lost is sent again with
// the same numbers, and the control plane drops them.

const (
	maxPendingEvents = 50000
	maxPendingBytes  = 8 << 20
	maxBatchEvents   = 10000
	maxBatchBytes    = 1 << 20
	maxEventBytes    = 262144 - 26
	// multilineFlush: a multiline event with no new line for this long
	// is sent as it is.
	multilineFlush = time.Second
	// followIdle is how long a container may be quiet before its log is
	// followed anew (see collector.read), growing to maxFollowIdle.
	followIdle    = 3 * time.Second
	maxFollowIdle = time.Minute
)

// logTarget is where one container's awslogs output goes.
type logTarget struct {
	agentproto.LogStreamRequest
	start *regexp.Regexp // a line that starts an event; nil: every line is one
}

// awslogsTarget reads a container's awslogs options. ok is false for
// other drivers. The stream is prefix/container/task, as ECS names it,
// or the runtime container ID without a prefix, as Docker does.
func awslogsTarget(def ecstypes.ContainerDefinition, taskID, runtimeID string) (t logTarget, ok bool, err error) {
	lc := def.LogConfiguration
	if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs {
		return t, false, nil
	}
	o := lc.Options
	t.Group = o["awslogs-group"]
	if t.Group == "" {
		return t, true, errors.New("awslogs-group is required")
	}
	t.CreateGroup = strings.EqualFold(o["awslogs-create-group"], "true")
	if p := o["awslogs-stream-prefix"]; p != "" {
		t.Stream = p + "/" + def.Name + "/" + taskID
	} else {
		t.Stream = runtimeID
	}
	if df, mp := o["awslogs-datetime-format"], o["awslogs-multiline-pattern"]; df != "" {
		t.start, err = regexp.Compile("^" + strftimeRegexp(df))
	} else if mp != "" {
		t.start, err = regexp.Compile("^(?:" + mp + ")")
	}
	if err != nil {
		return t, true, fmt.Errorf("awslogs multiline pattern: %w", err)
	}
	return t, true, nil
}

// strftimeRegexp turns an awslogs-datetime-format (strftime) into a
// regular expression that matches such a timestamp.
func strftimeRegexp(f string) string {
	conv := map[byte]string{
		'a': `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)`,
		'A': `(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)`,
		'b': `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`,
		'B': `(?:January|February|March|April|May|June|July|August|September|October|November|December)`,
		'd': `(?:0[1-9]|[12][0-9]|3[01])`,
		'e': `(?: [1-9]|[12][0-9]|3[01])`,
		'H': `(?:[01][0-9]|2[0-3])`,
		'I': `(?:0[1-9]|1[0-2])`,
		'j': `(?:[0-2][0-9][0-9]|3[0-5][0-9]|36[0-6])`,
		'L': `\.[0-9]{3}`,
		'f': `[0-9]{1,9}`,
		'm': `(?:0[1-9]|1[0-2])`,
		'M': `[0-5][0-9]`,
		'p': `(?:AM|PM)`,
		'S': `(?:[0-5][0-9]|60)`,
		'U': `(?:[0-4][0-9]|5[0-3])`,
		'W': `(?:[0-4][0-9]|5[0-3])`,
		'w': `[0-6]`,
		'y': `[0-9]{2}`,
		'Y': `[0-9]{4}`,
		'z': `[+-][0-9]{2}:?[0-9]{2}`,
		'Z': `[A-Za-z]{1,5}`,
		'%': `%`,
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && i+1 < len(f) {
			if re, ok := conv[f[i+1]]; ok {
				b.WriteString(re)
				i++
				continue
			}
		}
		b.WriteString(regexp.QuoteMeta(f[i : i+1]))
	}
	return b.String()
}

// logPos is a position in a container's Docker log: after the n-th line
// stamped ts.
type logPos struct {
	TS time.Time `json:"ts"`
	N  int       `json:"n"`
}

// logCursor is what a container's collector saves after each acknowledged
// batch.
type logCursor struct {
	Pos  logPos `json:"pos"`
	Seq  uint64 `json:"seq"`
	Done bool   `json:"done,omitzero"` // the container stopped and all is shipped
}

// logEvent is an event with the log position after its last line.
type logEvent struct {
	agentproto.LogEvent
	end logPos
}

// logShipper runs the collectors of this agent's awslogs containers.
type logShipper struct {
	a   *Agent
	dir string

	mu     sync.Mutex
	active map[string]chan struct{} // runtime ID -> closed when the collector ends
}

func newLogShipper(a *Agent) *logShipper {
	return &logShipper{a: a, dir: filepath.Join(a.cfg.DataDir, "logs"), active: map[string]chan struct{}{}}
}

// prepare makes sure the container's stream exists before it starts,
// as the awslogs driver does. Its error reads as ECS's stop reason.
func (s *logShipper) prepare(ctx context.Context, t logTarget) error {
	for attempt := 0; ; attempt++ {
		err := s.a.client.do(ctx, http.MethodPost, agentproto.PathLogStream, t.LogStreamRequest, nil)
		var se *statusError
		if err == nil || errors.As(err, &se) && se.code < 500 {
			if err != nil {
				return fmt.Errorf("failed to initialize logging driver: failed to create Cloudwatch log stream: %s", se.msg)
			}
			return nil
		}
		if attempt >= 5 || ctx.Err() != nil {
			return fmt.Errorf("failed to initialize logging driver: %w", err)
		}
		sleep(ctx, backoff(attempt))
	}
}

// follow starts collecting a container's log unless a collector runs or
// its log was shipped whole already.
func (s *logShipper) follow(ctx context.Context, id string, t logTarget) {
	lr, ok := s.a.cfg.Runtime.(rt.LogReader)
	if !ok {
		return
	}
	s.mu.Lock()
	if _, running := s.active[id]; running {
		s.mu.Unlock()
		return
	}
	cur := s.load(id)
	if cur.Done {
		s.mu.Unlock()
		return
	}
	done := make(chan struct{})
	s.active[id] = done
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.active, id)
			s.mu.Unlock()
			close(done)
		}()
		c := &collector{s: s, lr: lr, id: id, t: t, cur: cur, log: s.a.log.With("container", id[:min(12, len(id))], "stream", t.Stream)}
		c.run(ctx)
	}()
}

// wait blocks until a container's collector has ended (its log shipped),
// or for at most d, so that the container is not removed before.
func (s *logShipper) wait(id string, d time.Duration) {
	s.mu.Lock()
	done := s.active[id]
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(d):
	}
}

// forget removes a removed container's cursor.
func (s *logShipper) forget(id string) { os.Remove(s.cursorPath(id)) }

func (s *logShipper) cursorPath(id string) string { return filepath.Join(s.dir, id+".json") }

func (s *logShipper) load(id string) logCursor {
	var c logCursor
	if b, err := os.ReadFile(s.cursorPath(id)); err == nil {
		json.Unmarshal(b, &c)
	}
	return c
}

// save writes a cursor atomically. It need not be synced: a cursor lost
// in a crash means resending what the control plane already holds, and
// it drops that by sequence number.
func (s *logShipper) save(id string, c logCursor) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	tmp := s.cursorPath(id) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.cursorPath(id))
}

// collector follows one container's log and ships it.
type collector struct {
	s   *logShipper
	lr  rt.LogReader
	id  string
	t   logTarget
	cur logCursor // acknowledged
	log interface {
		Warn(string, ...any)
		Debug(string, ...any)
	}

	mu      sync.Mutex
	cond    *sync.Cond
	pending []logEvent
	bytes   int
	ended   bool // the reader is done (container stopped, or ctx ended)
}

func (c *collector) run(ctx context.Context) {
	c.cond = sync.NewCond(&c.mu)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // wake the waiters when ctx ends
		<-ctx.Done()
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	shipped := make(chan struct{})
	go func() {
		defer close(shipped)
		c.ship(ctx)
	}()
	c.read(ctx)
	c.mu.Lock()
	c.ended = true
	c.cond.Broadcast()
	c.mu.Unlock()
	<-shipped
}

// read follows the Docker log from the cursor until the container stops,
// retrying after errors.
func (c *collector) read(ctx context.Context) {
	pos := c.cur.Pos
	seq := c.cur.Seq
	idleWait := followIdle
	for attempt := 0; ctx.Err() == nil; attempt++ {
		asm := &assembler{t: c.t}
		skip := pos // lines at or before it were read already
		tsCount := 0
		var tsAt time.Time
		flushTimer := time.NewTimer(time.Hour)
		idle := time.NewTimer(idleWait)
		restart := false
		lineCh := make(chan rt.LogLine, 256)
		errCh := make(chan error, 1)
		rctx, stop := context.WithCancel(ctx)
		go func() {
			errCh <- c.lr.FollowLogs(rctx, c.id, skip.TS, func(l rt.LogLine) error {
				select {
				case lineCh <- l:
					return nil
				case <-rctx.Done():
					return rctx.Err()
				}
			})
			close(lineCh)
		}()
		emit := func(evs []logEvent) {
			for i := range evs {
				seq++
				evs[i].Seq = seq
			}
			c.push(ctx, evs)
		}
	loop:
		for {
			select {
			case l, ok := <-lineCh:
				if !ok {
					break loop
				}
				attempt = 0
				if idleWait != followIdle {
					idleWait = followIdle
				}
				idle.Reset(idleWait)
				if !l.Time.Equal(tsAt) {
					tsAt, tsCount = l.Time, 0
				}
				tsCount++
				if l.Time.Before(skip.TS) || l.Time.Equal(skip.TS) && tsCount <= skip.N {
					continue
				}
				p := logPos{TS: l.Time, N: tsCount}
				pos = p
				emit(asm.line(l, p))
				if asm.pending() {
					flushTimer.Reset(multilineFlush)
				}
			case <-flushTimer.C:
				emit(asm.flush())
			case <-idle.C:
				// Docker 20.10 can stop following a json-file log when it
				// rotates (max-size): after a quiet spell, follow anew
				// from the position reached, waiting longer each time
				// nothing new turns up.
				restart = true
				c.log.Debug("container log quiet; following it anew", "after", idleWait)
				idleWait = min(2*idleWait, maxFollowIdle)
				break loop
			case <-ctx.Done():
				break loop
			}
		}
		stop()
		err := <-errCh
		flushTimer.Stop()
		idle.Stop()
		if ctx.Err() != nil {
			return
		}
		emit(asm.flush())
		if restart {
			attempt = -1
			continue
		}
		if err == nil || errors.Is(err, rt.ErrNotFound) {
			return // the container stopped (or is gone): all read
		}
		// Read on after the last line handed to the assembler. Its
		// pending part was flushed above.
		c.log.Warn("reading container log; retrying", "err", err)
		sleep(ctx, backoff(attempt))
	}
}

// push queues events for shipping, waiting while the buffer is full.
func (c *collector) push(ctx context.Context, evs []logEvent) {
	if len(evs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for (len(c.pending) >= maxPendingEvents || c.bytes >= maxPendingBytes) && ctx.Err() == nil {
		c.cond.Wait()
	}
	for _, e := range evs {
		c.pending = append(c.pending, e)
		c.bytes += len(e.Message)
	}
	c.cond.Broadcast()
}

// ship sends queued events in batches, one request at a time, until the
// reader ended and everything is acknowledged.
func (c *collector) ship(ctx context.Context) {
	for attempt := 0; ; {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.ended && ctx.Err() == nil {
			c.cond.Wait()
		}
		if ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		if len(c.pending) == 0 && c.ended {
			c.mu.Unlock()
			c.cur.Done = true
			if err := c.s.save(c.id, c.cur); err != nil {
				c.log.Warn("saving log cursor", "err", err)
			}
			return
		}
		n, size := 0, 0
		for n < len(c.pending) && n < maxBatchEvents && size+len(c.pending[n].Message)+26 <= maxBatchBytes {
			size += len(c.pending[n].Message) + 26
			n++
		}
		batch := agentproto.LogBatch{LogStreamRequest: c.t.LogStreamRequest, Events: make([]agentproto.LogEvent, n)}
		for i := 0; i < n; i++ {
			batch.Events[i] = c.pending[i].LogEvent
		}
		last := c.pending[n-1]
		c.mu.Unlock()

		err := c.s.a.client.do(ctx, http.MethodPost, agentproto.PathLogEvents, batch, nil)
		var se *statusError
		if err != nil && !(errors.As(err, &se) && se.code >= 400 && se.code < 500 && se.code != 401) {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("shipping logs failed; retrying", "err", err)
			sleep(ctx, backoff(attempt))
			attempt++
			continue
		}
		if err != nil {
			// The control plane refuses the batch for good (the group
			// was deleted, say): it is dropped, as the awslogs driver
			// drops what CloudWatch rejects.
			c.log.Warn("log events dropped", "events", n, "err", err)
		}
		attempt = 0
		c.mu.Lock()
		for i := 0; i < n; i++ {
			c.bytes -= len(c.pending[i].Message)
		}
		c.pending = append(c.pending[:0], c.pending[n:]...)
		c.cond.Broadcast()
		c.mu.Unlock()
		c.cur.Pos, c.cur.Seq = last.end, last.Seq
		if err := c.s.save(c.id, c.cur); err != nil {
			c.log.Warn("saving log cursor", "err", err)
		}
	}
}

// assembler joins lines into events.
type assembler struct {
	t    logTarget
	cur  *logEvent
	part strings.Builder // a line Docker split, until its end
}

func (a *assembler) pending() bool { return a.cur != nil }

// line takes the next line and returns the events it completes.
func (a *assembler) line(l rt.LogLine, p logPos) []logEvent {
	if l.Partial {
		a.part.WriteString(l.Text)
		return nil
	}
	text := l.Text
	if a.part.Len() > 0 {
		a.part.WriteString(text)
		text = a.part.String()
		a.part.Reset()
	}
	ts := l.Time.UnixMilli()
	if a.t.start == nil {
		if text == "" {
			return nil // CloudWatch takes no empty events
		}
		return splitEvent(logEvent{LogEvent: agentproto.LogEvent{Timestamp: ts, Message: text}, end: p})
	}
	var out []logEvent
	if a.cur != nil && a.t.start.MatchString(text) {
		out = a.flush()
	}
	if a.cur == nil {
		a.cur = &logEvent{LogEvent: agentproto.LogEvent{Timestamp: ts, Message: text}, end: p}
		return out
	}
	a.cur.Message += "\n" + text
	a.cur.end = p
	return out
}

// flush returns the event being joined, if any.
func (a *assembler) flush() []logEvent {
	if a.cur == nil {
		return nil
	}
	e := *a.cur
	a.cur = nil
	if strings.TrimSpace(e.Message) == "" {
		return nil
	}
	return splitEvent(e)
}

// splitEvent cuts an event over CloudWatch's size limit into several.
func splitEvent(e logEvent) []logEvent {
	if len(e.Message) <= maxEventBytes {
		return []logEvent{e}
	}
	var out []logEvent
	msg := e.Message
	for len(msg) > 0 {
		n := min(len(msg), maxEventBytes)
		part := e
		part.Message = msg[:n]
		out = append(out, part)
		msg = msg[n:]
	}
	return out
}

// prepareLogs sets up the log stream of a container just created; a
// failure is the task's stop reason, as the awslogs driver's failure to
// start is in ECS.
func (r *runner) prepareLogs(ctx context.Context, name, id string) string {
	t, ok, err := awslogsTarget(r.defs[name], r.base.TaskID, id)
	if !ok {
		return ""
	}
	if err == nil {
		err = r.a.logs.prepare(ctx, t)
	}
	if err != nil {
		return "CannotStartContainerError: Error response from daemon: " + err.Error()
	}
	return ""
}

// followLogs starts shipping the log of each started awslogs container
// of the task that is not shipped yet (after a start, or after the agent
// restarted).
func (r *runner) followLogs(ctx context.Context) {
	cs := r.lifecycleView()
	for name, id := range r.ids {
		if !cs[name].Started {
			continue
		}
		if t, ok, err := awslogsTarget(r.defs[name], r.base.TaskID, id); ok && err == nil {
			r.a.logs.follow(ctx, id, t)
		}
	}
}
