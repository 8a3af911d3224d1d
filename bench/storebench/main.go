// Command storebench measures durable state transitions per second: minato's
// store (store/bolt, every Txn fsync'd, concurrent Txns group-committed)
// against raw bbolt on the same disk, one put per db.Update (one fsync
// each) and db.Batch (bbolt's own batching), serial and with many writers;
// with -store etcd, also the etcd engine (store/etcd) on an embedded
// single-member etcd on the same disk, fsync on, side by side with bolt.
//
// A transition is what a task state change costs the store: one Txn that
// checks a condition and writes one task-sized record (-value bytes). Raw
// bbolt writes the same record with no condition. Every case runs -time on
// a fresh file, the cases take turns (-count rounds), and the medians are
// compared as ratios.
//
//	go run ./bench/storebench                 # on $TMPDIR
//	go run ./bench/storebench -dir /var/lib/x # on another disk
//	go run ./bench/storebench -store etcd     # bolt and etcd engines side by side
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

// Result is the JSON storebench writes.
type Result struct {
	Command string             `json:"command"`
	Started time.Time          `json:"started"`
	Machine harness.Machine    `json:"machine"`
	Dir     string             `json:"dir"`
	Disk    string             `json:"disk"`
	Value   int                `json:"valueBytes"`
	Writers int                `json:"writers"`
	Seconds float64            `json:"secondsPerRun"`
	Rounds  int                `json:"rounds"`
	Cases   []CaseResult       `json:"cases"`
	Ratios  map[string]float64 `json:"ratios"`
}

// CaseResult is one case over every round.
type CaseResult struct {
	Name   string    `json:"name"`
	What   string    `json:"what"`
	Rates  []float64 `json:"perSec"`
	Median float64   `json:"medianPerSec"`
}

type benchCase struct {
	name, what string
	run        func(dir string, d time.Duration) (int64, time.Duration, error)
}

func run(args []string) error {
	fs := flag.NewFlagSet("storebench", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the disk to measure")
	d := fs.Duration("time", 3*time.Second, "length of each run")
	rounds := fs.Int("count", 5, "rounds (every case once per round)")
	writers := fs.Int("writers", 16, "concurrent writers of the parallel cases")
	value := fs.Int("value", 2048, "bytes per record (a task record is about 2 KiB of JSON)")
	out := fs.String("out", filepath.Join(os.TempDir(), "minato-bench", "store.json"), "JSON result path")
	engines := fs.String("store", "bolt", "engines to measure besides raw bbolt: bolt, or etcd (bolt and etcd side by side)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var withEtcd bool
	switch *engines {
	case "bolt":
	case "etcd":
		withEtcd = true
	default:
		return fmt.Errorf("-store %q: want bolt or etcd", *engines)
	}
	work, err := os.MkdirTemp(*dir, "minato-storebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	val := make([]byte, *value)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	w := *writers
	cases := []benchCase{
		{"minato-serial", "store/bolt Txn (cond + put), one writer", func(dir string, d time.Duration) (int64, time.Duration, error) {
			return minato(dir, d, 1, val)
		}},
		{"minato-parallel", fmt.Sprintf("store/bolt Txn (cond + put), %d writers (group commit)", w), func(dir string, d time.Duration) (int64, time.Duration, error) {
			return minato(dir, d, w, val)
		}},
		{"raw-update-serial", "bbolt db.Update, one put each, one writer", func(dir string, d time.Duration) (int64, time.Duration, error) {
			return raw(dir, d, 1, val, false)
		}},
		{"raw-update-parallel", fmt.Sprintf("bbolt db.Update, one put each, %d writers", w), func(dir string, d time.Duration) (int64, time.Duration, error) {
			return raw(dir, d, w, val, false)
		}},
		{"raw-batch-serial", "bbolt db.Batch, one put each, one writer", func(dir string, d time.Duration) (int64, time.Duration, error) {
			return raw(dir, d, 1, val, true)
		}},
		{"raw-batch-parallel", fmt.Sprintf("bbolt db.Batch, one put each, %d writers", w), func(dir string, d time.Duration) (int64, time.Duration, error) {
			return raw(dir, d, w, val, true)
		}},
		{fmt.Sprintf("raw-multiput-%d", w), fmt.Sprintf("bbolt db.Update with %d puts, one writer (the batch %d writers would form)", w, w), func(dir string, d time.Duration) (int64, time.Duration, error) {
			return rawMulti(dir, d, w, val)
		}},
		{"raw-multiput-256", "bbolt db.Update with 256 puts, one writer", func(dir string, d time.Duration) (int64, time.Duration, error) {
			return rawMulti(dir, d, 256, val)
		}},
	}
	if withEtcd {
		cases = append(cases,
			benchCase{"etcd-serial", "store/etcd Txn (cond + put) on an embedded single-member etcd, one writer", func(dir string, d time.Duration) (int64, time.Duration, error) {
				return etcdEngine(dir, d, 1, val)
			}},
			benchCase{"etcd-parallel", fmt.Sprintf("store/etcd Txn (cond + put) on an embedded single-member etcd, %d writers", w), func(dir string, d time.Duration) (int64, time.Duration, error) {
				return etcdEngine(dir, d, w, val)
			}})
	}
	res := Result{Command: "go run ./bench/storebench " + strings.Join(args, " "), Started: time.Now().UTC(),
		Machine: harness.ThisMachine(), Dir: *dir, Disk: diskOf(*dir), Value: *value, Writers: w, Seconds: d.Seconds(), Rounds: *rounds,
		Ratios: map[string]float64{}}
	rates := make([][]float64, len(cases))
	fmt.Printf("storebench: %s (%s), %d-byte records, %d writers, %d rounds of %v\n", *dir, res.Disk, *value, w, *rounds, *d)
	for r := range *rounds {
		for i, c := range cases {
			sub := filepath.Join(work, fmt.Sprintf("%s-%d", c.name, r))
			if err := os.MkdirAll(sub, 0o700); err != nil {
				return err
			}
			n, el, err := c.run(sub, *d)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			os.RemoveAll(sub)
			rate := float64(n) / el.Seconds()
			rates[i] = append(rates[i], harness.Round(rate, 1))
			fmt.Printf("  round %d  %-20s %9.0f /s\n", r+1, c.name, rate)
		}
	}
	med := map[string]float64{}
	for i, c := range cases {
		m := harness.Median(rates[i])
		med[c.name] = m
		res.Cases = append(res.Cases, CaseResult{Name: c.name, What: c.what, Rates: rates[i], Median: m})
	}
	ratio := func(name, a, b string) {
		if med[b] > 0 {
			res.Ratios[name] = harness.Round(med[a]/med[b], 3)
		}
	}
	ratio("minato-parallel/raw-batch-parallel", "minato-parallel", "raw-batch-parallel")
	ratio("minato-parallel/raw-update-parallel", "minato-parallel", "raw-update-parallel")
	ratio(fmt.Sprintf("minato-parallel/raw-multiput-%d", w), "minato-parallel", fmt.Sprintf("raw-multiput-%d", w))
	ratio("minato-parallel/raw-multiput-256", "minato-parallel", "raw-multiput-256")
	ratio("minato-serial/raw-update-serial", "minato-serial", "raw-update-serial")
	ratio("minato-serial/raw-batch-serial", "minato-serial", "raw-batch-serial")
	if withEtcd {
		ratio("etcd-serial/minato-serial", "etcd-serial", "minato-serial")
		ratio("etcd-parallel/minato-parallel", "etcd-parallel", "minato-parallel")
	}
	fmt.Println("medians:")
	for _, c := range res.Cases {
		fmt.Printf("  %-20s %9.0f /s   %s\n", c.Name, c.Median, c.What)
	}
	keys := make([]string, 0, len(res.Ratios))
	for k := range res.Ratios {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("  %-40s %.3f\n", k, res.Ratios[k])
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println("result:", *out)
	return os.WriteFile(*out, append(b, '\n'), 0o644)
}

// minato runs writers goroutines doing one transition Txn at a time on a
// fresh store for d and returns how many committed.
func minato(dir string, d time.Duration, writers int, val []byte) (int64, time.Duration, error) {
	s, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	return transitions(s, d, writers, val)
}

// etcdEngine is minato on the etcd engine: a fresh single-member etcd in
// dir, fsync on, reached over loopback as a server reaches its member.
func etcdEngine(dir string, d time.Duration, writers int, val []byte) (int64, time.Duration, error) {
	srv, err := etcdtest.StartDir(filepath.Join(dir, "etcd"), etcdtest.Options{Fsync: true})
	if err != nil {
		return 0, 0, err
	}
	defer srv.Close()
	cli, err := srv.Client()
	if err != nil {
		return 0, 0, err
	}
	s := etcdstore.New(cli, etcdstore.Options{OwnClient: true})
	defer s.Close()
	return transitions(s, d, writers, val)
}

// transitions runs writers goroutines doing one transition Txn at a time
// on s for d and returns how many committed.
func transitions(s store.Store, d time.Duration, writers int, val []byte) (int64, time.Duration, error) {
	ctx := context.Background()
	var n, next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range writers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				k := fmt.Sprintf("ecs/tasks/default/%016x", next.Add(1))
				if _, err := s.Txn(ctx, []store.Cond{store.MustNotExist(k)}, []store.Op{store.Put(k, val)}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return n.Load(), el, nil
}

// raw runs writers goroutines putting one record per bbolt transaction
// (db.Update, or db.Batch with batch) for d.
func raw(dir string, d time.Duration, writers int, val []byte, batch bool) (int64, time.Duration, error) {
	db, err := bbolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	bucket := []byte("kv")
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		return 0, 0, err
	}
	var n, next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range writers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				k := make([]byte, 8)
				binary.BigEndian.PutUint64(k, uint64(next.Add(1)))
				put := func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put(k, val) }
				var err error
				if batch {
					err = db.Batch(put)
				} else {
					err = db.Update(put)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return n.Load(), el, nil
}

// rawMulti writes per puts in each bbolt transaction, one writer, for d,
// and counts puts: batching's upper bound on this disk.
func rawMulti(dir string, d time.Duration, per int, val []byte) (int64, time.Duration, error) {
	db, err := bbolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	bucket := []byte("kv")
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		return 0, 0, err
	}
	var n uint64
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		err := db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucket)
			for i := range per {
				k := make([]byte, 8)
				binary.BigEndian.PutUint64(k, n+uint64(i)+1)
				if err := b.Put(k, val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
		n += uint64(per)
	}
	return int64(n), time.Since(start), nil
}

// diskOf names the device and file system dir lives on, from
// /proc/self/mounts (the longest mount point that prefixes it).
func diskOf(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	abs, _ = filepath.EvalSymlinks(abs)
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	best, out := -1, ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, out = len(mp), f[0]+" "+f[2]+" on "+mp
		}
	}
	return out
}
