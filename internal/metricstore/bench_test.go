package metricstore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkIngestReport is one agent report of 100 tasks (10 services of
// 10 tasks): CPU and memory by service and by cluster, 400 samples in one
// durable transaction. 1,000 tasks reporting every 15 s are 10 of these
// per 15 s.
func BenchmarkIngestReport(b *testing.B) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := t0
	s, err := Open(filepath.Join(b.TempDir(), "m.db"), Options{Clock: clockFunc(func() time.Time { return now })})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := func(at time.Time) []Sample {
		var out []Sample
		for task := range 100 {
			svc := fmt.Sprintf("svc-%d", task%10)
			for _, name := range []string{"CPUUtilization", "MemoryUtilization"} {
				out = append(out,
					Sample{Metric: Metric{"AWS/ECS", name, []Dimension{{"ClusterName", "c"}, {"ServiceName", svc}}}, Time: at, Stats: Value(float64(task)), Unit: "Percent"},
					Sample{Metric: Metric{"AWS/ECS", name, []Dimension{{"ClusterName", "c"}}}, Time: at, Stats: Value(float64(task)), Unit: "Percent"})
			}
		}
		return out
	}
	b.ResetTimer()
	for i := range b.N {
		now = t0.Add(time.Duration(i) * 15 * time.Second)
		if err := s.Put(batch(now)); err != nil {
			b.Fatal(err)
		}
	}
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// TestQueryP99 fills a day of one-minute data for 100 services and
// reports the p99 of a day-long one-minute query (1,440 points) of one of
// them. Run with -run TestQueryP99 -v; it only logs (a goal is in
// docs/BENCHMARKS.md, not asserted on a shared machine).
func TestQueryP99(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the query benchmark fills a day of data")
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	now := t0.Add(24 * time.Hour)
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "m.db"), Options{Clock: clockFunc(func() time.Time { return now })})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	metric := func(svc int) Metric {
		return Metric{"AWS/ECS", "CPUUtilization", []Dimension{{"ClusterName", "c"}, {"ServiceName", fmt.Sprintf("svc-%d", svc)}}}
	}
	for m := range 1440 {
		var batch []Sample
		for svc := range 100 {
			batch = append(batch, Sample{Metric: metric(svc), Time: t0.Add(time.Duration(m) * time.Minute), Stats: Value(float64(m % 100))})
		}
		if err := s.Put(batch); err != nil {
			t.Fatal(err)
		}
	}
	var d []time.Duration
	for i := range 1000 {
		start := time.Now()
		pts, err := s.Query(metric(i%100), t0, t0.Add(24*time.Hour), time.Minute)
		d = append(d, time.Since(start))
		if err != nil || len(pts) != 1440 {
			t.Fatalf("query: %d points, %v", len(pts), err)
		}
	}
	slices.Sort(d)
	n, _ := s.Buckets()
	fi, _ := os.Stat(filepath.Join(dir, "m.db"))
	t.Logf("day-long 1-minute query of 1 of 100 services: p50 %v p99 %v; %d buckets, file %d KiB", d[len(d)/2], d[len(d)*99/100], n, fi.Size()>>10)
}
