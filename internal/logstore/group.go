package logstore

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// group is one log group on disk:
//
//	<dir>/meta.json       name, creation time, retention, tags (rewritten atomically)
//	<dir>/streams.journal one JSON line per stream created or deleted (appended, fsynced)
//	<dir>/NNNNNNNNNN.seg  the events, oldest segment first
type group struct {
	dir  string
	opts *Options

	metaMu  sync.Mutex // serializes writes of meta.json and the journal
	journal *os.File

	appendMu sync.Mutex // serializes appends, rolls and retention drops
	buf      []byte     // encode buffer, under appendMu

	mu      sync.RWMutex // guards everything below
	meta    groupMeta
	streams map[string]*stream
	byID    map[uint32]*stream
	nextID  uint32
	segs    []*segment
	blocks  []block // in (seg, off) order
	deleted bool
}

type groupMeta struct {
	Name          string            `json:"name"`
	Created       int64             `json:"created"`
	RetentionDays int32             `json:"retentionDays,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	Rev           int64             `json:"rev,omitempty"` // GroupMeta.Rev
}

// stream is a log stream and what is known of its stored events.
type stream struct {
	id         uint32
	name       string
	created    int64
	first      int64 // event timestamps; 0 when it has none
	last       int64
	lastIngest int64
	bytes      int64
	maxSeq     uint64 // highest producer sequence number stored
	n          int64  // events stored
	segBytes   map[uint32]int64
}

type journalEntry struct {
	Op   string `json:"op"` // "create" or "delete"
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	T    int64  `json:"t"`
}

func createGroup(dir string, meta groupMeta, opts *Options) (*group, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(meta)
	if err := writeFileSync(filepath.Join(dir, "meta.json"), b); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	return openGroup(dir, opts)
}

// openGroup loads a group: its metadata, its streams from the journal, and
// the time index and stream statistics from a scan of its segments.
func openGroup(dir string, opts *Options) (*group, error) {
	g := &group{dir: dir, opts: opts, streams: map[string]*stream{}, byID: map[uint32]*stream{}, nextID: 1}
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &g.meta); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := g.loadJournal(); err != nil {
		return nil, err
	}
	nums, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	now := opts.now()
	for i, n := range nums {
		path := filepath.Join(dir, segName(n))
		f, err := os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		seg := &segment{num: n, path: path, f: f, created: now, maxTS: -1 << 63}
		cur := newBlock(n, 0)
		valid, err := scanSegment(f, func(off int64, r record, size int) {
			if cur.len >= int64(opts.BlockBytes) {
				g.blocks = append(g.blocks, cur)
				cur = newBlock(n, off)
			}
			cur.add(r)
			cur.len += int64(size)
			seg.maxTS = max(seg.maxTS, r.timestamp)
			g.account(seg.num, r)
		})
		if err != nil {
			return nil, err
		}
		if cur.len > 0 {
			g.blocks = append(g.blocks, cur)
		}
		seg.size = valid
		if i == len(nums)-1 {
			// Cut a torn tail of the newest segment, so that appends
			// follow the last whole record.
			if st, err := f.Stat(); err == nil && st.Size() > valid {
				if err := f.Truncate(valid); err != nil {
					return nil, err
				}
			}
		}
		g.segs = append(g.segs, seg)
	}
	return g, nil
}

// account adds a scanned record to its stream's statistics.
func (g *group) account(seg uint32, r record) {
	st := g.byID[r.stream]
	if st == nil {
		return // a deleted stream's event
	}
	if st.n == 0 || r.timestamp < st.first {
		st.first = r.timestamp
	}
	st.n++
	st.last = max(st.last, r.timestamp)
	st.lastIngest = max(st.lastIngest, r.ingestion)
	st.bytes += int64(len(r.message))
	if st.segBytes == nil {
		st.segBytes = map[uint32]int64{}
	}
	st.segBytes[seg] += int64(len(r.message))
	st.maxSeq = max(st.maxSeq, r.seq)
}

func (g *group) loadJournal() error {
	path := filepath.Join(g.dir, "streams.journal")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	var good int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e journalEntry
		if err := json.Unmarshal(line, &e); err != nil {
			break // a torn last line
		}
		good += int64(len(line)) + 1
		switch e.Op {
		case "create":
			st := &stream{id: e.ID, name: e.Name, created: e.T}
			if old := g.streams[e.Name]; old != nil {
				delete(g.byID, old.id)
			}
			g.streams[e.Name], g.byID[e.ID] = st, st
		case "delete":
			if st := g.byID[e.ID]; st != nil {
				delete(g.streams, st.name)
				delete(g.byID, e.ID)
			}
		}
		g.nextID = max(g.nextID, e.ID+1)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		return err
	}
	g.journal = f
	return nil
}

func (g *group) writeJournal(e journalEntry) error {
	b, _ := json.Marshal(e)
	b = append(b, '\n')
	if _, err := g.journal.Write(b); err != nil {
		return err
	}
	return g.opts.sync(g.journal)
}

func (g *group) writeMeta(m groupMeta) error {
	b, _ := json.Marshal(m)
	return writeFileSync(filepath.Join(g.dir, "meta.json"), b)
}

// updateMeta changes the group's metadata durably.
func (g *group) updateMeta(f func(m *groupMeta)) error {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.mu.RLock()
	if g.deleted {
		g.mu.RUnlock()
		return ErrGroupNotFound
	}
	m := g.meta
	m.Tags = cloneTags(g.meta.Tags)
	g.mu.RUnlock()
	f(&m)
	if err := g.writeMeta(m); err != nil {
		return err
	}
	g.mu.Lock()
	g.meta = m
	g.mu.Unlock()
	return nil
}

func cloneTags(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// createStream adds a stream; exists reports that it was there already.
func (g *group) createStream(name string, now int64) (exists bool, err error) {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.mu.RLock()
	_, exists = g.streams[name]
	deleted := g.deleted
	id := g.nextID
	g.mu.RUnlock()
	if deleted {
		return false, ErrGroupNotFound
	}
	if exists {
		return true, nil
	}
	if err := g.writeJournal(journalEntry{Op: "create", ID: id, Name: name, T: now}); err != nil {
		return false, err
	}
	st := &stream{id: id, name: name, created: now}
	g.mu.Lock()
	g.streams[name], g.byID[id] = st, st
	g.nextID = id + 1
	g.mu.Unlock()
	return false, nil
}

func (g *group) deleteStream(name string) error {
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.appendMu.Lock() // no append to it in flight
	defer g.appendMu.Unlock()
	g.mu.RLock()
	st := g.streams[name]
	deleted := g.deleted
	g.mu.RUnlock()
	if deleted {
		return ErrGroupNotFound
	}
	if st == nil {
		return ErrStreamNotFound
	}
	if err := g.writeJournal(journalEntry{Op: "delete", ID: st.id, Name: name, T: g.opts.now()}); err != nil {
		return err
	}
	g.mu.Lock()
	delete(g.streams, name)
	delete(g.byID, st.id)
	g.mu.Unlock()
	return nil
}

// Event is one log event to append.
type Event struct {
	Timestamp int64 // ms since the epoch
	Message   string
	// Seq, when not 0, is the producer's sequence number of the event in
	// its stream (1, 2, 3, ... in order). An event whose Seq is not above
	// the highest one the stream holds is a resend and is dropped, which
	// makes a producer's retries exactly-once.
	Seq uint64
}

// AppendResult says what an append stored.
type AppendResult struct {
	Stored     int // events written
	Duplicates int // events dropped as resends (Event.Seq)
}

// hasStream says whether the group holds a stream of that name.
func (g *group) hasStream(name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.streams[name] != nil && !g.deleted
}

// append writes events to a stream and syncs them to disk before it
// returns; only then do readers see them.
func (g *group) append(name string, evs []Event) (AppendResult, error) {
	g.appendMu.Lock()
	defer g.appendMu.Unlock()
	g.mu.RLock()
	st, deleted := g.streams[name], g.deleted
	g.mu.RUnlock()
	if deleted {
		return AppendResult{}, ErrGroupNotFound
	}
	if st == nil {
		return AppendResult{}, ErrStreamNotFound
	}
	var res AppendResult
	now := g.opts.now()
	seg, err := g.activeSegment(now)
	if err != nil {
		return res, err
	}
	buf := g.buf[:0]
	blk := newBlock(seg.num, seg.size)
	maxSeq := st.maxSeq
	var first, last int64
	var nbytes int64
	for _, e := range evs {
		if e.Seq != 0 && e.Seq <= maxSeq {
			res.Duplicates++
			continue
		}
		r := record{stream: st.id, timestamp: e.Timestamp, ingestion: now, seq: e.Seq, message: []byte(e.Message)}
		buf = appendRecord(buf, r)
		blk.add(r)
		if res.Stored == 0 || e.Timestamp < first {
			first = e.Timestamp
		}
		last = max(last, e.Timestamp)
		nbytes += int64(len(e.Message))
		maxSeq = max(maxSeq, e.Seq)
		res.Stored++
	}
	if cap(buf) <= 4<<20 {
		g.buf = buf
	}
	if res.Stored == 0 {
		return res, nil
	}
	if _, err := seg.f.WriteAt(buf, seg.size); err != nil {
		seg.f.Truncate(seg.size)
		return AppendResult{}, err
	}
	if err := g.opts.sync(seg.f); err != nil {
		seg.f.Truncate(seg.size)
		return AppendResult{}, err
	}
	blk.len = int64(len(buf))
	g.mu.Lock()
	seg.size += blk.len
	seg.maxTS = max(seg.maxTS, blk.maxTS)
	if n := len(g.blocks); n > 0 {
		lb := &g.blocks[n-1]
		if lb.seg == blk.seg && lb.off+lb.len == blk.off && lb.len+blk.len <= int64(g.opts.BlockBytes) {
			lb.len += blk.len
			lb.minTS, lb.maxTS = min(lb.minTS, blk.minTS), max(lb.maxTS, blk.maxTS)
			if !blk.any && !lb.any {
				for _, s := range blk.streams {
					lb.add(record{stream: s, timestamp: blk.minTS})
				}
			} else {
				lb.streams, lb.any = nil, true
			}
			blk.len = 0
		}
	}
	if blk.len > 0 {
		g.blocks = append(g.blocks, blk)
	}
	if st.n == 0 || first < st.first {
		st.first = first
	}
	st.n += int64(res.Stored)
	st.last = max(st.last, last)
	st.lastIngest = now
	st.bytes += nbytes
	if st.segBytes == nil {
		st.segBytes = map[uint32]int64{}
	}
	st.segBytes[seg.num] += nbytes
	st.maxSeq = maxSeq
	g.mu.Unlock()
	return res, nil
}

// activeSegment returns the segment to append to, starting a new one when
// the newest is full or old. Called under appendMu.
func (g *group) activeSegment(now int64) (*segment, error) {
	g.mu.RLock()
	var cur *segment
	if n := len(g.segs); n > 0 {
		cur = g.segs[n-1]
	}
	g.mu.RUnlock()
	if cur != nil && cur.size < g.opts.SegmentBytes && (cur.size == 0 || now-cur.created < g.opts.SegmentAge.Milliseconds()) {
		return cur, nil
	}
	return g.roll(now, cur)
}

func (g *group) roll(now int64, cur *segment) (*segment, error) {
	num := uint32(1)
	if cur != nil {
		num = cur.num + 1
	}
	path := filepath.Join(g.dir, segName(num))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(g.dir); err != nil {
		f.Close()
		return nil, err
	}
	seg := &segment{num: num, path: path, f: f, created: now, maxTS: -1 << 63}
	g.mu.Lock()
	g.segs = append(g.segs, seg)
	g.mu.Unlock()
	return seg, nil
}

// expire removes the segments whose every event is older than cutoff (ms).
// The newest segment is first closed to appends if it qualifies. It
// returns how many segments it removed.
func (g *group) expire(cutoff, now int64) (int, error) {
	g.appendMu.Lock()
	defer g.appendMu.Unlock()
	g.mu.RLock()
	segs := append([]*segment(nil), g.segs...)
	g.mu.RUnlock()
	if n := len(segs); n > 0 && segs[n-1].size > 0 && segs[n-1].maxTS < cutoff {
		if _, err := g.roll(now, segs[n-1]); err != nil {
			return 0, err
		}
	}
	var drop []*segment
	for i, s := range segs {
		if i == len(segs)-1 && s.size == 0 {
			break
		}
		if s.maxTS < cutoff || s.size == 0 {
			drop = append(drop, s)
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	gone := map[uint32]bool{}
	for _, s := range drop {
		gone[s.num] = true
	}
	g.mu.Lock()
	keep := g.segs[:0:0]
	for _, s := range g.segs {
		if !gone[s.num] {
			keep = append(keep, s)
		}
	}
	g.segs = keep
	blocks := make([]block, 0, len(g.blocks))
	for _, b := range g.blocks {
		if !gone[b.seg] {
			blocks = append(blocks, b)
		}
	}
	g.blocks = blocks
	for _, st := range g.streams {
		for n := range gone {
			st.bytes -= st.segBytes[n]
			delete(st.segBytes, n)
		}
	}
	g.mu.Unlock()
	var errs []error
	for _, s := range drop {
		s.f.Close()
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return len(drop), errors.Join(errs...)
}

func (g *group) close() {
	g.appendMu.Lock()
	defer g.appendMu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.segs {
		s.f.Close()
	}
	if g.journal != nil {
		g.journal.Close()
	}
}

// info returns the group's description.
func (g *group) info() GroupInfo {
	g.mu.RLock()
	defer g.mu.RUnlock()
	gi := GroupInfo{Name: g.meta.Name, Created: g.meta.Created, RetentionDays: g.meta.RetentionDays, Tags: cloneTags(g.meta.Tags)}
	for _, st := range g.streams {
		gi.StoredBytes += st.bytes
	}
	return gi
}

func (g *group) streamInfos(prefix string) []StreamInfo {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]StreamInfo, 0, len(g.streams))
	for name, st := range g.streams {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		out = append(out, StreamInfo{Name: name, Created: st.created, FirstEvent: st.first, LastEvent: st.last,
			LastIngestion: st.lastIngest, StoredBytes: st.bytes, Events: st.n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
