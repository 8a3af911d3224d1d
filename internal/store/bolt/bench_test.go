package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/minato-project/minato/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// Parallel benchmarks run benchParallelism*GOMAXPROCS goroutines: a control
// plane has many more concurrent writers than cores.
const benchParallelism = 8

var benchValue = make([]byte, 256)

var benchModes = []struct {
	name string
	mode commitMode
}{
	{"group", commitGroup},
	{"batch", commitBatch},
	{"update", commitUpdate},
}

func openBench(b *testing.B, mode commitMode) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkTxnSerial: one writer, one single-put Txn at a time.
func BenchmarkTxnSerial(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s := openBench(b, m.mode)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("k/%09d", i), benchValue)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTxnParallel: many writers, one single-put Txn each at a time.
func BenchmarkTxnParallel(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s := openBench(b, m.mode)
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := fmt.Sprintf("k/%09d", n.Add(1))
					if _, err := s.Txn(ctx, nil, []store.Op{store.Put(k, benchValue)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTxnParallelWatched is BenchmarkTxnParallel (group commit) with
// four watchers draining every event.
func BenchmarkTxnParallelWatched(b *testing.B) {
	s := openBench(b, commitGroup)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 4 {
		w, err := s.Watch(ctx, "k/", 0)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range w.Events() {
			}
		}()
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := fmt.Sprintf("k/%09d", n.Add(1))
			if _, err := s.Txn(ctx, nil, []store.Op{store.Put(k, benchValue)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Raw bbolt baselines on the same kind of temp dir: the floor under the store.

func openRaw(b *testing.B) *bbolt.DB {
	b.Helper()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket(bucketKV)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return db
}

func rawPut(tx *bbolt.Tx, i int64) error {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(i))
	return tx.Bucket(bucketKV).Put(k, benchValue)
}

// BenchmarkRawBoltUpdate: one db.Update (one fsync) per put.
func BenchmarkRawBoltUpdate(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		db := openRaw(b)
		for i := int64(0); b.Loop(); i++ {
			if err := db.Update(func(tx *bbolt.Tx) error { return rawPut(tx, i) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		db := openRaw(b)
		var n atomic.Int64
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if err := db.Update(func(tx *bbolt.Tx) error { return rawPut(tx, i) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRawBoltBatch: db.Batch per put, default MaxBatchDelay (10ms).
func BenchmarkRawBoltBatch(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		db := openRaw(b)
		for i := int64(0); b.Loop(); i++ {
			if err := db.Batch(func(tx *bbolt.Tx) error { return rawPut(tx, i) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		db := openRaw(b)
		var n atomic.Int64
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if err := db.Batch(func(tx *bbolt.Tx) error { return rawPut(tx, i) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
