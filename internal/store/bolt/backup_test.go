package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/minato-project/minato/internal/store"
)

// TestBackupWhileWriting copies a store while writers write: the copy
// verifies, holds every write acknowledged before Backup was called, at
// its revision, and nothing past the revision Backup announced.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "state.db"), Options{})
	var (
		mu    sync.Mutex
		acked = map[string]int64{}
		stop  atomic.Bool
		wg    sync.WaitGroup
		n     atomic.Int64
		// progress wakes waitFor after a write was acknowledged.
		progress = make(chan struct{}, 1)
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				k := fmt.Sprintf("k/%06d", n.Add(1))
				rev, err := s.Txn(ctx, nil, []store.Op{store.Put(k, bytes.Repeat([]byte("v"), int(len(k)*37%2000)))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[k] = rev
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	waitFor := func(count int) {
		for {
			mu.Lock()
			l := len(acked)
			mu.Unlock()
			if l >= count || t.Failed() {
				return
			}
			<-progress
		}
	}
	waitFor(300)
	mu.Lock()
	before := make(map[string]int64, len(acked))
	for k, v := range acked {
		before[k] = v
	}
	mu.Unlock()

	out := filepath.Join(dir, "backup.db")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	var size, rev int64
	if err := s.Backup(ctx, f, func(sz, r int64) { size, rev = sz, r }); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(len(before) + 100) // writes went on during and after the copy
	stop.Store(true)
	wg.Wait()

	info, err := Verify(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != rev || info.Size != size {
		t.Fatalf("copy: revision %d, %d bytes; Backup announced %d, %d bytes", info.Revision, info.Size, rev, size)
	}
	c := openAt(t, out, Options{})
	for k, r := range before {
		kv, err := c.Get(ctx, k)
		if err != nil || kv.ModRevision != r {
			t.Fatalf("write %q acknowledged at %d before the backup: revision %d, %v in the copy", k, r, kv.ModRevision, err)
		}
	}
	kvs, crev, err := c.List(ctx, "k/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if crev != rev || len(kvs) != info.Records {
		t.Fatalf("copy lists %d records at revision %d; Verify counted %d at %d", len(kvs), crev, info.Records, rev)
	}
	for _, kv := range kvs {
		if kv.ModRevision > rev {
			t.Fatalf("%q at revision %d in a copy of revision %d", kv.Key, kv.ModRevision, rev)
		}
	}
	t.Logf("copied revision %d (%d records, %d bytes) while writers wrote; %d acknowledged before", rev, info.Records, size, len(before))
}

// TestBackupWriterFails: a copy whose reader goes away ends with the
// writer's error and leaves the store healthy.
func TestBackupWriterFails(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	for i := range 50 {
		put(t, s, fmt.Sprintf("k%d", i), string(bytes.Repeat([]byte("x"), 1000)))
	}
	gone := errors.New("reader gone")
	err := s.Backup(ctx, writerFunc(func([]byte) (int, error) { return 0, gone }), func(int64, int64) {})
	if !errors.Is(err, gone) {
		t.Fatalf("Backup = %v, want the writer's error", err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready after a failed copy: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Backup(cctx, &bytes.Buffer{}, func(int64, int64) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup with a canceled context = %v", err)
	}
	s.Close()
	if err := s.Backup(ctx, &bytes.Buffer{}, func(int64, int64) {}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Backup of a closed store = %v, want ErrClosed", err)
	}
}

// TestVerifyRefuses: Verify names damage and a missing file, and needs the
// file's lock.
func TestVerifyRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Verify(filepath.Join(dir, "none.db"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Verify of a missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := Verify(empty, 0); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Verify of an empty file: %v", err)
	}
	path := filepath.Join(dir, "state.db")
	want := corruptRecords(t, path)
	info, err := Verify(path, 0)
	if err != nil || info.Records != len(want) {
		t.Fatalf("Verify = %+v, %v; want %d records", info, err, len(want))
	}
	b, _ := os.ReadFile(path)
	clear(b[:2*4096]) // both meta pages
	damaged := filepath.Join(dir, "damaged.db")
	os.WriteFile(damaged, b, 0o600)
	if _, err := Verify(damaged, 0); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Verify of a damaged file: %v", err)
	}
}
