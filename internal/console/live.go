package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/store"
)

var storeAll = store.ListOptions{}

// livePrefix is what a page follows: every ECS record (clusters, services
// and their deployments, tasks, container instances) and the load
// balancers'.
var livePrefixes = []string{"ecs/", "elbv2/"}

const (
	liveDebounce  = 250 * time.Millisecond
	liveKeepalive = 20 * time.Second
)

// acquire takes one of the bounded stream slots.
func (c *Console) acquire(w http.ResponseWriter) bool {
	select {
	case c.streams <- struct{}{}:
		return true
	default:
		http.Error(w, "too many live streams open; try again later", http.StatusServiceUnavailable)
		return false
	}
}

func (c *Console) release() { <-c.streams }

// stream flushes an event stream, and keeps the API listener's read and
// write timeouts (made for API calls) from ending it: no read deadline,
// and a write deadline renewed before each write.
type stream struct{ rc *http.ResponseController }

func (s stream) Flush() {
	s.rc.SetWriteDeadline(time.Now().Add(3 * liveKeepalive))
	s.rc.Flush()
}

func sseHeaders(w http.ResponseWriter) (stream, bool) {
	f := stream{rc: http.NewResponseController(w)}
	if err := f.rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return f, false
	}
	f.rc.SetWriteDeadline(time.Now().Add(3 * liveKeepalive))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	f.Flush()
	return f, true
}

// live streams a "change" event (at most one per liveDebounce) whenever a
// record under livePrefixes changes. It ends with the request, or when
// the watch ends (the browser then reconnects).
func (c *Console) live(w http.ResponseWriter, r *http.Request) {
	if !c.acquire(w) {
		return
	}
	defer c.release()
	ctx := r.Context()
	rev, err := c.cfg.Store.Revision(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	// The watches end with the request; one that ends before (it fell
	// behind, the store closed) ends the stream, and the browser
	// reconnects from a fresh revision.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan int64, 1)
	ended := make(chan struct{}, len(livePrefixes))
	for _, p := range livePrefixes {
		wt, err := c.cfg.Store.Watch(ctx, p, rev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		go func() {
			defer func() { ended <- struct{}{} }()
			for ev := range wt.Events() { // closed when ctx ends
				select {
				case changed <- ev.KV.ModRevision:
				default: // a change is already pending
				}
			}
		}()
	}
	f, ok := sseHeaders(w)
	if !ok {
		return
	}
	keep := time.NewTicker(liveKeepalive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
			return
		case <-keep.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case rev := <-changed:
			// Let the rest of a burst land before the page reloads.
			t := time.NewTimer(liveDebounce)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			select {
			case r2 := <-changed:
				rev = max(rev, r2)
			default:
			}
			fmt.Fprintf(w, "event: change\ndata: %d\n\n", rev)
		}
		f.Flush()
	}
}

// logTarget is the log group and stream of a task's container when its
// definition sends its logs to the log store (awslogs with a stream
// prefix: prefix/container/task, as ECS names it).
func logTarget(cd ecstypes.ContainerDefinition, taskID string) (logstore.Query, bool) {
	lc := cd.LogConfiguration
	if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs {
		return logstore.Query{}, false
	}
	g, p := lc.Options["awslogs-group"], lc.Options["awslogs-stream-prefix"]
	if g == "" || p == "" {
		return logstore.Query{}, false
	}
	return logstore.Query{Group: g, Streams: []string{p + "/" + cd.Name + "/" + taskID}}, true
}

type logsData struct {
	Task, Container string
	Group, Stream   string
	Events          []logLine
	After           string // the cursor of the newest event shown
	Error           string
	Back            string
}

type logLine struct {
	Time    string `json:"time"`
	Message string `json:"message"`
}

func toLines(evs []logstore.StoredEvent) []logLine {
	out := make([]logLine, len(evs))
	for i, e := range evs {
		out[i] = logLine{Time: time.UnixMilli(e.Timestamp).UTC().Format("15:04:05.000"), Message: e.Message}
	}
	return out
}

// logQuery finds where a task's container logs go.
func (c *Console) logQuery(r *http.Request) (logstore.Query, error) {
	ctx, cluster, id, name := r.Context(), r.PathValue("cluster"), r.PathValue("task"), r.PathValue("container")
	t, err := c.task(ctx, cluster, id)
	if err != nil {
		return logstore.Query{}, err
	}
	td, err := c.cfg.ECS.DescribeTaskDefinition(ctx, c.callFor(""), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: t.TaskDefinitionArn})
	if err != nil {
		return logstore.Query{}, err
	}
	for _, cd := range td.TaskDefinition.ContainerDefinitions {
		if cd.Name == name {
			if q, ok := logTarget(cd, lastSegment(t.TaskArn)); ok {
				return q, nil
			}
			return logstore.Query{}, invalid("container %s does not send its logs to minato (awslogs with awslogs-stream-prefix)", name)
		}
	}
	return logstore.Query{}, invalid("task %s has no container %s", id, name)
}

const logPage = 200

func (c *Console) logsPage(_ http.ResponseWriter, r *http.Request) (string, any, error) {
	q, err := c.logQuery(r)
	if err != nil {
		return "", nil, err
	}
	d := logsData{Task: r.PathValue("task"), Container: r.PathValue("container"), Group: q.Group, Stream: q.Streams[0],
		Back: "/console/clusters/" + r.PathValue("cluster") + "/tasks/" + r.PathValue("task")}
	q.Backward, q.Limit = true, logPage
	res, err := c.cfg.Logs.Query(q)
	if err != nil {
		d.Error = err.Error() // no events yet: the group may not exist yet
	} else {
		d.Events = toLines(res.Events)
		if len(res.Events) > 0 {
			cur := res.Events[len(res.Events)-1].Cursor
			d.After = fmt.Sprintf("%d.%d", cur.TS, cur.Pos)
		}
	}
	return "logs", d, nil
}

// tail streams a container's new log events as they reach the log store
// (it reads the store every PollInterval after the newest event sent),
// starting after the newest event the page showed.
func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	q, err := c.logQuery(r)
	if err != nil {
		http.Error(w, errorMessage(err), statusOf(err))
		return
	}
	if !c.acquire(w) {
		return
	}
	defer c.release()
	ctx := r.Context()
	// Start after the newest event the page showed (?after=TS.POS), or
	// after the newest there is now.
	var after *logstore.Cursor
	var cur logstore.Cursor
	if _, err := fmt.Sscanf(r.URL.Query().Get("after"), "%d.%d", &cur.TS, &cur.Pos); err == nil {
		after = &cur
	} else {
		last := q
		last.Backward, last.Limit = true, 1
		if res, err := c.cfg.Logs.Query(last); err == nil && len(res.Events) > 0 {
			cur = res.Events[len(res.Events)-1].Cursor
			after = &cur
		}
	}
	f, ok := sseHeaders(w)
	if !ok {
		return
	}
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	idle := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		q.After, q.Limit = after, 500
		res, err := c.cfg.Logs.Query(q)
		if err != nil || len(res.Events) == 0 {
			if idle++; idle*int(c.cfg.PollInterval/time.Millisecond) >= int(liveKeepalive/time.Millisecond) {
				idle = 0
				fmt.Fprint(w, ": keepalive\n\n")
				f.Flush()
			}
			continue
		}
		idle = 0
		cur := res.Events[len(res.Events)-1].Cursor
		after = &cur
		b, _ := json.Marshal(toLines(res.Events))
		fmt.Fprintf(w, "event: logs\ndata: %s\n\n", b)
		f.Flush()
	}
}
