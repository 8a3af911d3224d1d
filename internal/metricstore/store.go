package metricstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/minato-project/minato/internal/core"
)

// DefaultMaxSeries bounds the number of series a Store keeps when
// Options.MaxSeries is 0.
const DefaultMaxSeries = 100_000

// ErrTooManySeries: a Put would create a series past the store's bound.
var ErrTooManySeries = errors.New("metricstore: too many metrics")

// ErrInvalidSample: a sample's value is not finite or its time is zero.
var ErrInvalidSample = errors.New("metricstore: invalid sample")

// Sample is statistics for one metric at one time: one value (Value(v)) or
// a statistic set a client already aggregated.
type Sample struct {
	Metric Metric
	Time   time.Time
	Stats  Stats
	Unit   string
}

// Options configures a Store.
type Options struct {
	Clock     core.Clock // nil means the wall clock
	MaxSeries int        // 0 means DefaultMaxSeries
}

// Store is the metric store over one bbolt file. It is safe for concurrent
// use.
type Store struct {
	db        *bbolt.DB
	clock     core.Clock
	maxSeries int

	mu     sync.Mutex
	series map[string]*seriesInfo // by Metric.Key
}

type seriesInfo struct {
	id       uint64
	metric   Metric // dimensions sorted
	unit     string
	lastSeen time.Time // as stored
}

var bucketSeries = []byte("series")

// Open opens (creating if needed) the store in the bbolt file at path.
func Open(path string, opt Options) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("metricstore: open %s: %w", path, err)
	}
	s := &Store{db: db, clock: opt.Clock, maxSeries: opt.MaxSeries, series: map[string]*seriesInfo{}}
	if s.clock == nil {
		s.clock = core.SystemClock{}
	}
	if s.maxSeries <= 0 {
		s.maxSeries = DefaultMaxSeries
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range append([][]byte{bucketSeries}, tierBuckets()...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketSeries).ForEach(func(k, v []byte) error {
			info, err := decodeSeries(v)
			if err != nil {
				return fmt.Errorf("series %q: %w", k, err)
			}
			s.series[string(k)] = info
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("metricstore: %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func tierBuckets() [][]byte {
	var out [][]byte
	for _, t := range Tiers {
		out = append(out, []byte(t.Name))
	}
	return out
}

type seriesRecord struct {
	ID       uint64 `json:"id"`
	Metric   Metric `json:"metric"`
	Unit     string `json:"unit,omitempty"`
	LastSeen int64  `json:"lastSeen"` // Unix seconds
}

func decodeSeries(v []byte) (*seriesInfo, error) {
	var r seriesRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return &seriesInfo{id: r.ID, metric: r.Metric, unit: r.Unit, lastSeen: time.Unix(r.LastSeen, 0)}, nil
}

func (i *seriesInfo) encode() []byte {
	b, _ := json.Marshal(seriesRecord{ID: i.id, Metric: i.metric, Unit: i.unit, LastSeen: i.lastSeen.Unix()})
	return b
}

func bucketKey(id uint64, t time.Time) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, id)
	binary.BigEndian.PutUint64(k[8:], uint64(t.Unix()))
	return k
}

// Put folds samples into their series' buckets, creating series as needed,
// in one transaction that is on disk when Put returns. Nothing is stored if
// any sample is invalid (a value not finite, a zero time) or the batch would
// pass MaxSeries. Samples older than a tier's retention are not folded into
// that tier.
func (s *Store) Put(samples []Sample) error {
	for _, smp := range samples {
		st := smp.Stats
		if smp.Time.IsZero() || st.Count <= 0 || !finite(st.Count, st.Sum, st.Min, st.Max) {
			return fmt.Errorf("%w: %s %s at %v", ErrInvalidSample, smp.Metric.Namespace, smp.Metric.Name, smp.Time)
		}
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var created []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		sb := tx.Bucket(bucketSeries)
		dirty := map[*seriesInfo]bool{}
		for _, smp := range samples {
			key := smp.Metric.Key()
			info := s.series[key]
			if info == nil {
				if len(s.series) >= s.maxSeries {
					return ErrTooManySeries
				}
				id, err := sb.NextSequence()
				if err != nil {
					return err
				}
				info = &seriesInfo{id: id, metric: smp.Metric.Sorted()}
				s.series[key] = info
				created = append(created, key)
				dirty[info] = true
			}
			if smp.Unit != "" && smp.Unit != info.unit {
				info.unit = smp.Unit
				dirty[info] = true
			}
			// lastSeen serves ListMetrics' "active in the last two weeks";
			// a minute's precision spares a write per put.
			if seen := smp.Time.Truncate(time.Minute); seen.After(info.lastSeen) {
				info.lastSeen = seen
				dirty[info] = true
			}
			for _, t := range Tiers {
				if smp.Time.Before(now.Add(-t.Retention)) {
					continue
				}
				b := tx.Bucket([]byte(t.Name))
				k := bucketKey(info.id, smp.Time.Truncate(t.Resolution))
				merged := decodeStats(b.Get(k)).Merge(smp.Stats)
				if err := b.Put(k, merged.encode()); err != nil {
					return err
				}
			}
		}
		for info := range dirty {
			if err := sb.Put([]byte(info.metric.Key()), info.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The transaction rolled back: forget the series it created, and
		// reload what it changed in the ones it did not.
		for _, k := range created {
			delete(s.series, k)
		}
		_ = s.db.View(func(tx *bbolt.Tx) error {
			sb := tx.Bucket(bucketSeries)
			for _, smp := range samples {
				k := smp.Metric.Key()
				if v := sb.Get([]byte(k)); v != nil {
					if info, derr := decodeSeries(v); derr == nil {
						s.series[k] = info
					}
				}
			}
			return nil
		})
		return err
	}
	return nil
}

func finite(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// Query returns metric m's statistics per period in [start, end), from the
// finest tier that covers start with a resolution dividing period (see
// ChooseTier). Periods start at start rounded down to that resolution. A
// metric the store has never seen has no points; err is non-nil only when
// no tier fits or the file cannot be read.
func (s *Store) Query(m Metric, start, end time.Time, period time.Duration) ([]Point, error) {
	tier, ok := ChooseTier(s.clock.Now(), start, period)
	if !ok {
		return nil, fmt.Errorf("metricstore: no data at period %v from %v", period, start)
	}
	s.mu.Lock()
	info := s.series[m.Key()]
	s.mu.Unlock()
	if info == nil {
		return nil, nil
	}
	start = start.Truncate(tier.Resolution)
	var buckets []Point
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(tier.Name)).Cursor()
		stop := bucketKey(info.id, end)
		for k, v := c.Seek(bucketKey(info.id, start)); k != nil && bytes.Compare(k, stop) < 0; k, v = c.Next() {
			t := time.Unix(int64(binary.BigEndian.Uint64(k[8:])), 0).UTC()
			buckets = append(buckets, Point{Time: t, Stats: decodeStats(v)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Rollup(buckets, start, end, period), nil
}

// MetricInfo is a series as ListMetrics shows it.
type MetricInfo struct {
	Metric   Metric
	Unit     string
	LastSeen time.Time
}

// List returns the series f matches that were written at or after since,
// sorted by key.
func (s *Store) List(f Filter, since time.Time) []MetricInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MetricInfo
	for _, info := range s.series {
		if info.lastSeen.Before(since.Truncate(time.Minute)) || !f.Match(info.metric) {
			continue
		}
		out = append(out, MetricInfo{Metric: info.metric, Unit: info.unit, LastSeen: info.lastSeen})
	}
	sortInfos(out)
	return out
}

// Prune deletes the buckets past their tier's retention at now, and the
// series not written for the longest retention. It returns how many
// buckets it deleted.
func (s *Store) Prune() (int, error) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	deleted := 0
	var gone []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, t := range Tiers {
			b := tx.Bucket([]byte(t.Name))
			c := b.Cursor()
			cutoff := now.Add(-t.Retention)
			var old [][]byte
			for _, info := range s.series {
				stop := bucketKey(info.id, cutoff)
				for k, _ := c.Seek(bucketKey(info.id, time.Unix(0, 0))); k != nil && bytes.Compare(k, stop) < 0; k, _ = c.Next() {
					old = append(old, bytes.Clone(k))
				}
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			deleted += len(old)
		}
		oldest := now.Add(-Tiers[len(Tiers)-1].Retention)
		sb := tx.Bucket(bucketSeries)
		for key, info := range s.series {
			if info.lastSeen.Before(oldest) {
				if err := sb.Delete([]byte(key)); err != nil {
					return err
				}
				gone = append(gone, key)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range gone {
		delete(s.series, k)
	}
	return deleted, nil
}

// Buckets returns how many buckets the store holds over all tiers and
// series: with Tiers' retention at most 50,664 per series.
func (s *Store) Buckets() (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range tierBuckets() {
			n += tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	return n, err
}
