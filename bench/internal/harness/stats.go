package harness

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Summary summarizes latencies, in milliseconds.
type Summary struct {
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
	// ErrorSamples are the first few distinct errors.
	ErrorSamples []string `json:"errorSamples,omitempty"`
}

// Recorder collects latencies and errors; it is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	d       []time.Duration
	errors  int
	samples []string
}

// Add records one successful call.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// Fail records one failed call.
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	r.errors++
	if len(r.samples) < 5 && err != nil {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300]
		}
		if !slices.Contains(r.samples, msg) {
			r.samples = append(r.samples, msg)
		}
	}
	r.mu.Unlock()
}

// Durations returns a copy of the successful calls' latencies.
func (r *Recorder) Durations() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.d)
}

// Summary summarizes what was recorded.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summarize(r.d)
	s.Errors, s.ErrorSamples = r.errors, slices.Clone(r.samples)
	return s
}

// Summarize summarizes latencies.
func Summarize(d []time.Duration) Summary {
	s := Summary{Count: len(d)}
	if len(d) == 0 {
		return s
	}
	d = slices.Clone(d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	s.MeanMs = ms(sum / time.Duration(len(d)))
	s.P50Ms = ms(Percentile(d, 0.50))
	s.P90Ms = ms(Percentile(d, 0.90))
	s.P99Ms = ms(Percentile(d, 0.99))
	s.MaxMs = ms(d[len(d)-1])
	return s
}

// Percentile returns the q-quantile (nearest rank) of sorted latencies.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return Round(float64(d)/float64(time.Millisecond), 3) }

// Round rounds x to n decimals.
func Round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}

// Median returns the median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
