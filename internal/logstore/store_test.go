package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

func TestRecordRoundTrip(t *testing.T) {
	recs := []record{
		{stream: 1, timestamp: 1700000000000, ingestion: 1700000000001, seq: 0, message: []byte("hello")},
		{stream: 1<<32 - 1, timestamp: -5, ingestion: 0, seq: 1 << 60, message: []byte("")},
		{stream: 7, timestamp: 42, ingestion: 43, seq: 9, message: make([]byte, 300000)},
	}
	var b []byte
	for _, r := range recs {
		b = appendRecord(b, r)
	}
	for i, want := range recs {
		got, n, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.stream != want.stream || got.timestamp != want.timestamp || got.ingestion != want.ingestion ||
			got.seq != want.seq || string(got.message) != string(want.message) {
			t.Fatalf("record %d: got %+v, want %+v", i, got, want)
		}
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
	one := appendRecord(nil, recs[0])
	for cut := 0; cut < len(one); cut++ {
		if _, _, err := decodeRecord(one[:cut]); err != errShort && !(cut >= recHeader && err == errCorrupt) {
			t.Fatalf("cut at %d: %v, want errShort", cut, err)
		}
	}
	bad := append([]byte(nil), one...)
	bad[len(bad)-1] ^= 1
	if _, _, err := decodeRecord(bad); err != errCorrupt {
		t.Fatalf("flipped bit: %v, want errCorrupt", err)
	}
}

type testClock struct{ ms atomic.Int64 }

func (c *testClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

func openT(t *testing.T, dir string, clock core.Clock, opts Options) *Store {
	t.Helper()
	opts.Clock = clock
	opts.SweepInterval = -1
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func messages(evs []StoredEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Message
	}
	return out
}

func TestAppendQueryOrderAndReopen(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{}
	clock.ms.Store(1_000_000)
	s := openT(t, dir, clock, Options{BlockBytes: 256, SegmentBytes: 2048})
	if err := s.CreateGroup("/ecs/app", map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup("/ecs/app", nil); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("second create: %v", err)
	}
	for _, st := range []string{"a", "b"} {
		if err := s.CreateStream("/ecs/app", st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateStream("/ecs/app", "a"); !errors.Is(err, ErrStreamExists) {
		t.Fatalf("second stream create: %v", err)
	}
	if _, err := s.Append("/ecs/app", "nope", []Event{{Timestamp: 1, Message: "x"}}); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("append to a missing stream: %v", err)
	}
	// Stream a gets even timestamps, b odd ones, in batches; b's second
	// batch is older than a's last (late arrival).
	for i := 0; i < 100; i += 10 {
		var ea, eb []Event
		for j := i; j < i+10; j++ {
			ea = append(ea, Event{Timestamp: int64(2 * j), Message: fmt.Sprintf("a%03d", 2*j)})
			eb = append(eb, Event{Timestamp: int64(2*j + 1), Message: fmt.Sprintf("b%03d", 2*j+1)})
		}
		if _, err := s.Append("/ecs/app", "a", ea); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append("/ecs/app", "b", eb); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		res, err := s.Query(Query{Group: "/ecs/app"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != 200 || res.More {
			t.Fatalf("all: %d events, more %v", len(res.Events), res.More)
		}
		for i, e := range res.Events {
			if e.Timestamp != int64(i) {
				t.Fatalf("event %d has timestamp %d: not in time order", i, e.Timestamp)
			}
		}
		// Forward pages of 7 through stream b between 50 and 150.
		var got []string
		var after *Cursor
		for {
			res, err := s.Query(Query{Group: "/ecs/app", Streams: []string{"b"}, Start: 50, End: 150, Limit: 7, After: after})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, messages(res.Events)...)
			if !res.More {
				break
			}
			after = &res.Events[len(res.Events)-1].Cursor
		}
		if len(got) != 50 || got[0] != "b051" || got[49] != "b149" {
			t.Fatalf("forward pages: %d events %v...", len(got), got[:min(3, len(got))])
		}
		// Backward: the newest 5 of stream a, then the 5 before.
		res, err = s.Query(Query{Group: "/ecs/app", StreamPrefix: "a", Backward: true, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(messages(res.Events)) != "[a190 a192 a194 a196 a198]" || !res.More {
			t.Fatalf("backward page: %v more=%v", messages(res.Events), res.More)
		}
		res, err = s.Query(Query{Group: "/ecs/app", StreamPrefix: "a", Backward: true, Limit: 5, Before: &res.Events[0].Cursor})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(messages(res.Events)) != "[a180 a182 a184 a186 a188]" {
			t.Fatalf("second backward page: %v", messages(res.Events))
		}
		// Match.
		res, err = s.Query(Query{Group: "/ecs/app", Match: func(m string) bool { return m[len(m)-1] == '7' }})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != 20 {
			t.Fatalf("match: %d events", len(res.Events))
		}
		streams, err := s.Streams("/ecs/app", "")
		if err != nil || len(streams) != 2 {
			t.Fatalf("streams: %v %v", streams, err)
		}
		if a := streams[0]; a.Name != "a" || a.FirstEvent != 0 || a.LastEvent != 198 || a.StoredBytes != 400 || a.LastIngestion != 1_000_000 {
			t.Fatalf("stream a: %+v", a)
		}
		if g, _ := s.Group("/ecs/app"); g.StoredBytes != 800 || g.Tags["team"] != "a" {
			t.Fatalf("group: %+v", g)
		}
	}
	check(s)
	segs, _ := listSegments(filepath.Join(dir, "groups", groupDirName("/ecs/app")))
	if len(segs) < 2 {
		t.Fatalf("%d segments; want the log split", len(segs))
	}
	s.Close()
	check(openT(t, dir, clock, Options{BlockBytes: 256, SegmentBytes: 2048}))
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{}
	s := openT(t, dir, clock, Options{})
	s.CreateGroup("g", nil)
	s.CreateStream("g", "s")
	s.Append("g", "s", []Event{{Timestamp: 1, Message: "one"}, {Timestamp: 2, Message: "two"}})
	s.Close()
	seg := filepath.Join(dir, "groups", groupDirName("g"), segName(1))
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	half := appendRecord(nil, record{stream: 1, timestamp: 3, message: []byte("three")})
	f.Write(half[:len(half)-2])
	f.Close()
	s = openT(t, dir, clock, Options{})
	if _, err := s.Append("g", "s", []Event{{Timestamp: 4, Message: "four"}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(Query{Group: "g"})
	if err != nil || fmt.Sprint(messages(res.Events)) != "[one two four]" {
		t.Fatalf("after a torn write: %v %v", messages(res.Events), err)
	}
}

func TestSeqDedupeSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{}
	s := openT(t, dir, clock, Options{})
	if err := s.EnsureStream("g", "s", false); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("ensure without create-group: %v", err)
	}
	if err := s.EnsureStream("g", "s", true); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureStream("g", "s", true); err != nil {
		t.Fatal(err)
	}
	batch := func(from, to int) []Event {
		var evs []Event
		for i := from; i <= to; i++ {
			evs = append(evs, Event{Timestamp: int64(i), Message: fmt.Sprint("line ", i), Seq: uint64(i)})
		}
		return evs
	}
	if r, err := s.Append("g", "s", batch(1, 10)); err != nil || r.Stored != 10 {
		t.Fatalf("%+v %v", r, err)
	}
	s.Close()
	s = openT(t, dir, clock, Options{})
	r, err := s.Append("g", "s", batch(5, 15)) // a resend overlapping what is stored
	if err != nil || r.Stored != 5 || r.Duplicates != 6 {
		t.Fatalf("resend: %+v %v", r, err)
	}
	res, _ := s.Query(Query{Group: "g"})
	if len(res.Events) != 15 {
		t.Fatalf("%d events, want 15", len(res.Events))
	}
	for i, e := range res.Events {
		if e.Message != fmt.Sprint("line ", i+1) {
			t.Fatalf("event %d: %q", i, e.Message)
		}
	}
}

func TestRetentionDropsWholeSegments(t *testing.T) {
	dir := t.TempDir()
	day := int64(24 * 3600 * 1000)
	clock := &testClock{}
	clock.ms.Store(100 * day)
	s := openT(t, dir, clock, Options{SegmentAge: time.Hour})
	s.CreateGroup("g", nil)
	s.CreateStream("g", "s")
	s.Append("g", "s", []Event{{Timestamp: 90 * day, Message: "old"}})
	clock.ms.Add(2 * 3600 * 1000) // the first segment is now closed to appends
	s.Append("g", "s", []Event{{Timestamp: 100 * day, Message: "new"}})
	gdir := filepath.Join(dir, "groups", groupDirName("g"))
	if segs, _ := listSegments(gdir); len(segs) != 2 {
		t.Fatalf("segments: %v", segs)
	}
	if err := s.SetRetention("g", 5); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(gdir); len(segs) != 1 {
		t.Fatalf("segments after retention: %v", segs)
	}
	res, _ := s.Query(Query{Group: "g"})
	if fmt.Sprint(messages(res.Events)) != "[new]" {
		t.Fatalf("after retention: %v", messages(res.Events))
	}
	if g, _ := s.Group("g"); g.StoredBytes != 3 || g.RetentionDays != 5 {
		t.Fatalf("group after retention: %+v", g)
	}
	// Time passes: the newest segment expires too, and events past
	// retention are hidden before the sweep removes them.
	clock.ms.Add(6 * day)
	if res, _ := s.Query(Query{Group: "g"}); len(res.Events) != 0 {
		t.Fatalf("expired events visible: %v", messages(res.Events))
	}
	if n, err := s.Sweep(); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := s.Append("g", "s", []Event{{Timestamp: 106 * day, Message: "later"}}); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Query(Query{Group: "g"})
	if fmt.Sprint(messages(res.Events)) != "[later]" {
		t.Fatalf("after sweep: %v", messages(res.Events))
	}
}

func TestDeleteGroupAndStream(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, &testClock{}, Options{})
	s.CreateGroup("g", nil)
	s.CreateStream("g", "s")
	s.Append("g", "s", []Event{{Timestamp: 1, Message: "x"}})
	if err := s.DeleteStream("g", "s"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream("g", "s"); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	s.CreateStream("g", "s")
	if res, _ := s.Query(Query{Group: "g"}); len(res.Events) != 0 {
		t.Fatalf("a deleted stream's events came back: %v", messages(res.Events))
	}
	if err := s.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(Query{Group: "g"}); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("query of a deleted group: %v", err)
	}
	s.Close()
	s = openT(t, dir, &testClock{}, Options{})
	if len(s.Groups("")) != 0 {
		t.Fatalf("deleted group back after reopen: %v", s.Groups(""))
	}
}

// Readers run beside a writer and always see a prefix of its events, in
// order (run with -race).
func TestReadersBesideWriter(t *testing.T) {
	s := openT(t, t.TempDir(), core.SystemClock{}, Options{BlockBytes: 512, SegmentBytes: 8 << 10, NoSync: true})
	s.CreateGroup("g", nil)
	s.CreateStream("g", "s")
	const n = 3000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < n; i += 10 {
			var evs []Event
			for j := i; j < i+10; j++ {
				evs = append(evs, Event{Timestamp: int64(j + 1), Message: fmt.Sprint(j + 1)})
			}
			if _, err := s.Append("g", "s", evs); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for r := 0; r < 2; r++ {
		wg.Go(func() {
			for seen := 0; seen < n; {
				res, err := s.Query(Query{Group: "g", Limit: n})
				if err != nil {
					t.Error(err)
					return
				}
				for i, e := range res.Events {
					if e.Message != fmt.Sprint(i+1) {
						t.Errorf("reader saw %q at %d", e.Message, i)
						return
					}
				}
				seen = len(res.Events)
			}
		})
	}
	wg.Wait()
}
