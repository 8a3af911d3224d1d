package logstore

import (
	"errors"
	"math"
	"os"
	"sort"
	"strings"
)

// Cursor is a position in a group's event order: by timestamp, then by
// where the event is stored (Pos), which is unique and stable.
type Cursor struct {
	TS  int64
	Pos uint64
}

// Less orders cursors.
func (c Cursor) Less(d Cursor) bool { return c.TS < d.TS || c.TS == d.TS && c.Pos < d.Pos }

func makePos(seg uint32, off int64) uint64 { return uint64(seg)<<40 | uint64(off) }

// Query selects events of one group.
type Query struct {
	Group string
	// Streams, when not nil, are the only streams read; StreamPrefix,
	// when not "", selects streams by name prefix.
	Streams      []string
	StreamPrefix string
	// Start and End bound event timestamps (ms), both inclusive; End 0
	// means no bound.
	Start, End int64
	// After and Before, when set, are exclusive cursor bounds.
	After, Before *Cursor
	// Backward returns the newest matching events (still in ascending
	// order) instead of the oldest.
	Backward bool
	// Limit bounds the number of events (default 10,000); MaxBytes their
	// size counted as CloudWatch does, message bytes + 26 (default 1 MiB).
	Limit    int
	MaxBytes int
	// Match, when set, keeps only the events it accepts.
	Match func(message string) bool
}

// StoredEvent is an event as read back.
type StoredEvent struct {
	Stream    string
	Timestamp int64
	Ingestion int64
	Message   string
	Cursor    Cursor
}

// Result is a page of events in ascending cursor order. More reports
// that events beyond the page (in the query's direction) may match.
type Result struct {
	Events []StoredEvent
	More   bool
}

type cand struct {
	seg          *segment
	off, len     int64
	minTS, maxTS int64
}

// query runs q. It holds the group's lock only to copy the index: reads
// from the files run without it, beside appends.
func (g *group) query(q Query, now int64) (Result, error) {
	if q.Limit <= 0 {
		q.Limit = 10000
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = 1 << 20
	}
	lo, hi := q.Start, q.End
	if hi == 0 {
		hi = math.MaxInt64
	}
	if q.After != nil {
		lo = max(lo, q.After.TS)
	}
	if q.Before != nil {
		hi = min(hi, q.Before.TS)
	}
	g.mu.RLock()
	if g.deleted {
		g.mu.RUnlock()
		return Result{}, ErrGroupNotFound
	}
	if g.meta.RetentionDays > 0 {
		// Events past retention are hidden until the sweep removes
		// their segment.
		lo = max(lo, retentionCutoff(now, g.meta.RetentionDays))
	}
	var want map[uint32]bool
	names := map[uint32]string{}
	switch {
	case q.Streams != nil:
		want = map[uint32]bool{}
		for _, n := range q.Streams {
			if st := g.streams[n]; st != nil && strings.HasPrefix(n, q.StreamPrefix) {
				want[st.id], names[st.id] = true, n
			}
		}
	case q.StreamPrefix != "":
		want = map[uint32]bool{}
		for n, st := range g.streams {
			if strings.HasPrefix(n, q.StreamPrefix) {
				want[st.id], names[st.id] = true, n
			}
		}
	default:
		for id, st := range g.byID {
			names[id] = st.name
		}
	}
	segs := map[uint32]*segment{}
	for _, s := range g.segs {
		segs[s.num] = s
	}
	var cands []cand
	if want == nil || len(want) > 0 {
		for i := range g.blocks {
			b := &g.blocks[i]
			if b.maxTS < lo || b.minTS > hi || !b.hasAny(want) {
				continue
			}
			cands = append(cands, cand{seg: segs[b.seg], off: b.off, len: b.len, minTS: b.minTS, maxTS: b.maxTS})
		}
	}
	g.mu.RUnlock()

	if q.Backward {
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].maxTS > cands[j].maxTS })
	} else {
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].minTS < cands[j].minTS })
	}
	var (
		out  []StoredEvent
		more bool
		buf  []byte
	)
	// order sorts out in the query's direction (nearest first).
	order := func() {
		if q.Backward {
			sort.Slice(out, func(i, j int) bool { return out[j].Cursor.Less(out[i].Cursor) })
		} else {
			sort.Slice(out, func(i, j int) bool { return out[i].Cursor.Less(out[j].Cursor) })
		}
	}
	for _, c := range cands {
		if len(out) >= q.Limit {
			// Blocks are visited nearest first: once the next one
			// starts beyond the limit-th event found, no later one can
			// displace it.
			order()
			if len(out) > q.Limit {
				out, more = out[:q.Limit], true
			}
			bound := out[q.Limit-1].Cursor.TS
			if (!q.Backward && c.minTS > bound) || (q.Backward && c.maxTS < bound) {
				more = true
				break
			}
		}
		if c.seg == nil {
			continue
		}
		if int64(cap(buf)) < c.len {
			buf = make([]byte, c.len)
		}
		buf = buf[:c.len]
		if _, err := c.seg.f.ReadAt(buf, c.off); err != nil {
			if errors.Is(err, os.ErrClosed) {
				continue // removed by retention meanwhile
			}
			return Result{}, err
		}
		for p := 0; p < len(buf); {
			r, n, err := decodeRecord(buf[p:])
			if err != nil {
				return Result{}, err
			}
			cur := Cursor{TS: r.timestamp, Pos: makePos(c.seg.num, c.off+int64(p))}
			p += n
			if r.timestamp < lo || r.timestamp > hi {
				continue
			}
			if want != nil && !want[r.stream] {
				continue
			}
			name, ok := names[r.stream]
			if !ok {
				continue // a deleted stream's event
			}
			if q.After != nil && !q.After.Less(cur) || q.Before != nil && !cur.Less(*q.Before) {
				continue
			}
			msg := string(r.message)
			if q.Match != nil && !q.Match(msg) {
				continue
			}
			out = append(out, StoredEvent{Stream: name, Timestamp: r.timestamp, Ingestion: r.ingestion, Message: msg, Cursor: cur})
		}
		if len(out) > 4*q.Limit {
			order()
			out, more = out[:q.Limit], true
		}
	}
	order()
	if len(out) > q.Limit {
		out, more = out[:q.Limit], true
	}
	size := 0
	for i, e := range out {
		size += len(e.Message) + 26
		if size > q.MaxBytes && i > 0 {
			out, more = out[:i], true
			break
		}
	}
	if q.Backward {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return Result{Events: out, More: more}, nil
}
