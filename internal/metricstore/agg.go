package metricstore

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"
)

// Stats is a CloudWatch statistic set: the samples folded into one bucket.
// The zero Stats holds no samples.
type Stats struct {
	Count float64 // SampleCount
	Sum   float64
	Min   float64
	Max   float64
}

// Value is the Stats of one sample v.
func Value(v float64) Stats { return Stats{Count: 1, Sum: v, Min: v, Max: v} }

// Empty reports whether s holds no samples.
func (s Stats) Empty() bool { return s.Count == 0 }

// Merge folds o into s.
func (s Stats) Merge(o Stats) Stats {
	if o.Empty() {
		return s
	}
	if s.Empty() {
		return o
	}
	return Stats{Count: s.Count + o.Count, Sum: s.Sum + o.Sum, Min: math.Min(s.Min, o.Min), Max: math.Max(s.Max, o.Max)}
}

// Average is Sum/SampleCount; 0 for an empty set.
func (s Stats) Average() float64 {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / s.Count
}

// Statistic returns the named CloudWatch statistic (SampleCount, Average,
// Sum, Minimum, Maximum) and whether the name is one of them.
func (s Stats) Statistic(name string) (float64, bool) {
	switch name {
	case "SampleCount":
		return s.Count, true
	case "Average":
		return s.Average(), true
	case "Sum":
		return s.Sum, true
	case "Minimum":
		return s.Min, true
	case "Maximum":
		return s.Max, true
	}
	return 0, false
}

const statsSize = 32

func (s Stats) encode() []byte {
	b := make([]byte, statsSize)
	for i, f := range []float64{s.Count, s.Sum, s.Min, s.Max} {
		binary.BigEndian.PutUint64(b[i*8:], math.Float64bits(f))
	}
	return b
}

func decodeStats(b []byte) Stats {
	if len(b) < statsSize {
		return Stats{}
	}
	f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b[i*8:])) }
	return Stats{Count: f(0), Sum: f(1), Min: f(2), Max: f(3)}
}

// Tier is one resolution of buckets and how long they are kept.
type Tier struct {
	Name       string
	Resolution time.Duration
	Retention  time.Duration
}

// Tiers are CloudWatch's for standard-resolution metrics, finest first.
var Tiers = []Tier{
	{"m1", time.Minute, 15 * 24 * time.Hour},
	{"m5", 5 * time.Minute, 63 * 24 * time.Hour},
	{"h1", time.Hour, 455 * 24 * time.Hour},
}

// ChooseTier returns the finest tier that still holds data from start at
// now and whose resolution divides period, as CloudWatch answers: a
// one-minute period works for the last 15 days, older data needs periods of
// five minutes, and data older than 63 days periods of an hour. ok is false
// when no tier fits (the period is not a multiple of a minute, or start is
// older than every retention).
func ChooseTier(now, start time.Time, period time.Duration) (Tier, bool) {
	for _, t := range Tiers {
		if period%t.Resolution != 0 {
			continue
		}
		if !start.Before(now.Add(-t.Retention)) {
			return t, true
		}
	}
	return Tier{}, false
}

// Point is a bucket or period's statistics and its start.
type Point struct {
	Time  time.Time
	Stats Stats
}

// Rollup folds buckets (sorted by time) into periods of length period
// starting at start: the result has one Point per period in [start, end)
// holding data, in time order. Buckets outside [start, end) are ignored.
func Rollup(buckets []Point, start, end time.Time, period time.Duration) []Point {
	var out []Point
	for _, b := range buckets {
		if b.Time.Before(start) || !b.Time.Before(end) || b.Stats.Empty() {
			continue
		}
		p := start.Add(b.Time.Sub(start) / period * period)
		if n := len(out); n > 0 && out[n-1].Time.Equal(p) {
			out[n-1].Stats = out[n-1].Stats.Merge(b.Stats)
			continue
		}
		out = append(out, Point{Time: p, Stats: b.Stats})
	}
	return out
}

// Dimension is a metric dimension.
type Dimension struct {
	Name  string
	Value string
}

// Metric names a series: namespace, metric name and dimensions. The order
// of the dimensions does not matter; a metric is the same whatever order its
// dimensions are given in, as in CloudWatch.
type Metric struct {
	Namespace  string
	Name       string
	Dimensions []Dimension
}

// Key is the metric's canonical identity, dimensions sorted by name.
func (m Metric) Key() string {
	dims := slices.Clone(m.Dimensions)
	slices.SortFunc(dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	b.WriteString(m.Namespace)
	b.WriteByte(0)
	b.WriteString(m.Name)
	for _, d := range dims {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte(1)
		b.WriteString(d.Value)
	}
	return b.String()
}

// Sorted returns m with its dimensions sorted by name.
func (m Metric) Sorted() Metric {
	m.Dimensions = slices.Clone(m.Dimensions)
	slices.SortFunc(m.Dimensions, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	return m
}

// Filter selects metrics as ListMetrics does: an empty Namespace or Name
// matches any; every dimension filter must name a dimension of the metric,
// and when its Value is not empty match that value too.
type Filter struct {
	Namespace  string
	Name       string
	Dimensions []Dimension
}

// Match reports whether m passes f.
func (f Filter) Match(m Metric) bool {
	if f.Namespace != "" && f.Namespace != m.Namespace {
		return false
	}
	if f.Name != "" && f.Name != m.Name {
		return false
	}
	for _, want := range f.Dimensions {
		if !slices.ContainsFunc(m.Dimensions, func(d Dimension) bool {
			return d.Name == want.Name && (want.Value == "" || d.Value == want.Value)
		}) {
			return false
		}
	}
	return true
}
