package metricstore

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

func openTest(t *testing.T, path string, clock core.Clock, max int) *Store {
	t.Helper()
	s, err := Open(path, Options{Clock: clock, MaxSeries: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var cpu = Metric{"AWS/ECS", "CPUUtilization", []Dimension{{"ClusterName", "c"}, {"ServiceName", "web"}}}

func TestPutQueryDurable(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := &testClock{now: t0.Add(time.Hour)}
	path := filepath.Join(t.TempDir(), "metrics.db")
	s := openTest(t, path, clock, 0)
	var batch []Sample
	for i := range 60 { // one sample every 10 s for 10 minutes
		batch = append(batch, Sample{Metric: cpu, Time: t0.Add(time.Duration(i) * 10 * time.Second), Stats: Value(float64(i % 6)), Unit: "Percent"})
	}
	if err := s.Put(batch); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		pts, err := s.Query(cpu, t0.Add(20*time.Second), t0.Add(10*time.Minute), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 2 || !pts[0].Time.Equal(t0) {
			t.Fatalf("points = %+v", pts)
		}
		want := Stats{Count: 30, Sum: 75, Min: 0, Max: 5}
		if pts[0].Stats != want || pts[1].Stats != want {
			t.Errorf("stats = %+v, %+v; want %+v", pts[0].Stats, pts[1].Stats, want)
		}
		minutes, _ := s.Query(cpu, t0, t0.Add(time.Hour), time.Minute)
		if len(minutes) != 10 {
			t.Errorf("%d one-minute points, want 10", len(minutes))
		}
	}
	check(s)
	s.Close()
	s2 := openTest(t, path, clock, 0)
	check(s2)
	infos := s2.List(Filter{Namespace: "AWS/ECS"}, clock.now.Add(-14*24*time.Hour))
	if len(infos) != 1 || infos[0].Unit != "Percent" || infos[0].Metric.Key() != cpu.Key() {
		t.Errorf("List = %+v", infos)
	}
}

func TestPutRejectsBadSamplesAndStoresNothing(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := openTest(t, filepath.Join(t.TempDir(), "m.db"), &testClock{now: t0}, 0)
	good := Sample{Metric: cpu, Time: t0, Stats: Value(1)}
	for _, bad := range []Sample{
		{Metric: cpu, Time: t0, Stats: Value(math.NaN())},
		{Metric: cpu, Time: t0, Stats: Value(math.Inf(1))},
		{Metric: cpu, Stats: Value(1)},
	} {
		if err := s.Put([]Sample{good, bad}); !errors.Is(err, ErrInvalidSample) {
			t.Errorf("Put(%+v) = %v, want ErrInvalidSample", bad, err)
		}
	}
	if got := s.List(Filter{}, time.Time{}); len(got) != 0 {
		t.Errorf("a refused batch left %+v", got)
	}
}

func TestMaxSeries(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := openTest(t, filepath.Join(t.TempDir(), "m.db"), &testClock{now: t0}, 2)
	m := func(n string) Sample {
		return Sample{Metric: Metric{Namespace: "N", Name: n}, Time: t0, Stats: Value(1)}
	}
	if err := s.Put([]Sample{m("a"), m("b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put([]Sample{m("a"), m("c")}); !errors.Is(err, ErrTooManySeries) {
		t.Fatalf("third series: %v", err)
	}
	if got := s.List(Filter{}, time.Time{}); len(got) != 2 {
		t.Errorf("List = %+v", got)
	}
	pts, _ := s.Query(Metric{Namespace: "N", Name: "a"}, t0, t0.Add(time.Minute), time.Minute)
	if len(pts) != 1 || pts[0].Stats.Count != 1 {
		t.Errorf("the refused batch changed a: %+v", pts)
	}
}

func TestPruneKeepsEachTierForItsRetention(t *testing.T) {
	day := 24 * time.Hour
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &testClock{now: t0}
	s := openTest(t, filepath.Join(t.TempDir(), "m.db"), clock, 0)
	if err := s.Put([]Sample{{Metric: cpu, Time: t0, Stats: Value(7)}}); err != nil {
		t.Fatal(err)
	}
	has := func(period time.Duration) bool {
		t.Helper()
		pts, err := s.Query(cpu, t0, t0.Add(time.Hour), period)
		if err != nil {
			return false // no tier covers it any more
		}
		return len(pts) == 1
	}
	for _, step := range []struct {
		at             time.Duration
		m1, m5, h1     bool
		deletedAtLeast int
	}{
		{14 * day, true, true, true, 0},
		{16 * day, false, true, true, 1},
		{64 * day, false, false, true, 1},
		{456 * day, false, false, false, 1},
	} {
		clock.now = t0.Add(step.at)
		n, err := s.Prune()
		if err != nil {
			t.Fatal(err)
		}
		if n < step.deletedAtLeast {
			t.Errorf("at %v Prune deleted %d", step.at, n)
		}
		if has(time.Minute) != step.m1 || has(5*time.Minute) != step.m5 || has(time.Hour) != step.h1 {
			t.Errorf("at %v: m1 %v m5 %v h1 %v", step.at, has(time.Minute), has(5*time.Minute), has(time.Hour))
		}
	}
	if got := s.List(Filter{}, time.Time{}); len(got) != 0 {
		t.Errorf("a series silent past every retention is still listed: %+v", got)
	}
}

// TestSizeIsBoundedBySeriesNotSamples: writing a series a hundred times as
// often keeps the same buckets.
func TestSizeIsBoundedBySeriesNotSamples(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	buckets := func(perMinute int) int {
		s := openTest(t, filepath.Join(t.TempDir(), "m.db"), &testClock{now: t0.Add(time.Hour)}, 0)
		for range perMinute {
			var batch []Sample
			for m := range 60 {
				batch = append(batch, Sample{Metric: cpu, Time: t0.Add(time.Duration(m) * time.Minute), Stats: Value(1)})
			}
			if err := s.Put(batch); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.Buckets()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// An hour of minutes: 60 one-minute, 12 five-minute and 1 one-hour buckets.
	if a, b := buckets(1), buckets(100); a != 73 || b != 73 {
		t.Errorf("buckets: %d at 1 sample a minute, %d at 100; want 73", a, b)
	}
}
