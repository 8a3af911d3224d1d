package metricstore

import (
	"testing"
	"time"
)

func TestStatsMergeAndStatistics(t *testing.T) {
	s := Stats{}
	for _, v := range []float64{4, 10, 1} {
		s = s.Merge(Value(v))
	}
	want := map[string]float64{"SampleCount": 3, "Sum": 15, "Average": 5, "Minimum": 1, "Maximum": 10}
	for name, w := range want {
		if got, ok := s.Statistic(name); !ok || got != w {
			t.Errorf("%s = %v, %v; want %v", name, got, ok, w)
		}
	}
	if _, ok := s.Statistic("p99"); ok {
		t.Error("p99 is not a plain statistic")
	}
	if got := (Stats{}).Merge(Value(-3)); got != Value(-3) {
		t.Errorf("empty merge = %+v", got)
	}
	if got := Value(2).Merge(Stats{}); got != Value(2) {
		t.Errorf("merge empty = %+v", got)
	}
	if got := decodeStats(s.encode()); got != s {
		t.Errorf("round trip = %+v, want %+v", got, s)
	}
}

func TestChooseTier(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name   string
		ago    time.Duration
		period time.Duration
		want   string
	}{
		{"recent minute", time.Hour, time.Minute, "m1"},
		{"recent five minutes reads the minute tier", time.Hour, 5 * time.Minute, "m1"},
		{"14 days at a minute", 14 * day, time.Minute, "m1"},
		{"16 days at a minute", 16 * day, time.Minute, ""},
		{"16 days at five minutes", 16 * day, 5 * time.Minute, "m5"},
		{"64 days at five minutes", 64 * day, 5 * time.Minute, ""},
		{"64 days at an hour", 64 * day, time.Hour, "h1"},
		{"456 days at an hour", 456 * day, time.Hour, ""},
		{"90 seconds", time.Hour, 90 * time.Second, ""},
		{"10 seconds", time.Hour, 10 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier, ok := ChooseTier(now, now.Add(-tt.ago), tt.period)
			if tier.Name != tt.want || ok != (tt.want != "") {
				t.Errorf("ChooseTier = %q, %v; want %q", tier.Name, ok, tt.want)
			}
		})
	}
}

func TestRollup(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(min int, v float64) Point {
		return Point{Time: t0.Add(time.Duration(min) * time.Minute), Stats: Value(v)}
	}
	buckets := []Point{at(-1, 100), at(0, 1), at(1, 2), at(4, 3), at(5, 4), at(9, 5), at(10, 99)}
	got := Rollup(buckets, t0, t0.Add(10*time.Minute), 5*time.Minute)
	want := []Point{
		{Time: t0, Stats: Stats{Count: 3, Sum: 6, Min: 1, Max: 3}},
		{Time: t0.Add(5 * time.Minute), Stats: Stats{Count: 2, Sum: 9, Min: 4, Max: 5}},
	}
	if len(got) != len(want) {
		t.Fatalf("Rollup = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Stats != want[i].Stats {
			t.Errorf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := Rollup(buckets, t0.Add(2*time.Minute), t0.Add(3*time.Minute), time.Minute); len(got) != 0 {
		t.Errorf("a period without data has no point: %+v", got)
	}
}

func TestMetricKeyIgnoresDimensionOrder(t *testing.T) {
	a := Metric{"AWS/ECS", "CPUUtilization", []Dimension{{"ClusterName", "c"}, {"ServiceName", "s"}}}
	b := Metric{"AWS/ECS", "CPUUtilization", []Dimension{{"ServiceName", "s"}, {"ClusterName", "c"}}}
	if a.Key() != b.Key() {
		t.Error("dimension order changed the key")
	}
	c := Metric{"AWS/ECS", "CPUUtilization", []Dimension{{"ClusterName", "c"}}}
	if a.Key() == c.Key() {
		t.Error("a metric with fewer dimensions is a different metric")
	}
}

func TestFilter(t *testing.T) {
	m := Metric{"AWS/ECS", "CPUUtilization", []Dimension{{"ClusterName", "c"}, {"ServiceName", "s"}}}
	tests := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Namespace: "AWS/ECS"}, true},
		{Filter{Namespace: "AWS/EC2"}, false},
		{Filter{Name: "MemoryUtilization"}, false},
		{Filter{Dimensions: []Dimension{{Name: "ServiceName"}}}, true},
		{Filter{Dimensions: []Dimension{{Name: "ServiceName", Value: "s"}}}, true},
		{Filter{Dimensions: []Dimension{{Name: "ServiceName", Value: "x"}}}, false},
		{Filter{Dimensions: []Dimension{{Name: "TaskId"}}}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(m); got != tt.want {
			t.Errorf("%+v.Match = %v, want %v", tt.f, got, tt.want)
		}
	}
}
