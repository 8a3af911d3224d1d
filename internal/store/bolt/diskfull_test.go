package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
)

// TestDiskFullTmpfs fills a real file system (a small tmpfs) under a
// running store: the commit that finds no space fails with ENOSPC and is
// not acknowledged, and once space returns the store takes writes again by
// itself, with every acknowledged write intact. Mounting needs root (and
// CAP_SYS_ADMIN in a container); elsewhere TestDiskFullInjected covers the
// same path.
func TestDiskFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "minato-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); run as root to include this test, TestDiskFullInjected covers the same path",
			err, bytes.TrimSpace(out))
	}
	// Registered after TempDir's own cleanup, so it runs first.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	filler := filepath.Join(dir, "filler")
	diskFull(t, filepath.Join(dir, "state.db"), diskFullSetup{
		fill: func() {
			// Most of the 2 MiB: the store's writes use up the rest.
			if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		free: func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
		full: syscall.ENOSPC,
	})
}

// fsizeChildEnv makes TestDiskFullInjected run its body: in a child
// process, since a file size limit holds for the whole process.
const fsizeChildEnv = "MINATO_BOLT_FSIZE_CHILD"

// TestDiskFullInjected is TestDiskFullTmpfs without a mount: the kernel
// refuses to let the file grow (RLIMIT_FSIZE, EFBIG) until the limit is
// lifted. bbolt's Options.OpenFile must return an *os.File, so writes
// cannot be failed through a wrapper; the limit makes the real file
// system fail them, in the commit path a full disk takes (bbolt grows the
// file before it writes past its end).
func TestDiskFullInjected(t *testing.T) {
	if os.Getenv(fsizeChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFullInjected$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), fsizeChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestDiskFullInjected")) {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", out)
		return
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	diskFull(t, path, diskFullSetup{
		fill: func() {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			lim := old
			lim.Cur = uint64(st.Size()) // no growth at all
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				t.Fatal(err)
			}
		},
		free: func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		},
		full: syscall.EFBIG,
	})
}

type diskFullSetup struct {
	fill, free func()
	full       syscall.Errno // what a write returns while the disk is full
}

// diskFull runs the disk-full scenario on a store at path.
func diskFull(t *testing.T, path string, d diskFullSetup) {
	ctx := context.Background()
	// ReadyHold: Ready must report the failure however long the machine
	// takes to get there; the successful write after it clears it.
	s, err := Open(path, Options{ReadyHold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	acked := map[string]int64{} // key -> acknowledged revision
	value := func(k string) []byte { return bytes.Repeat([]byte(k), 8192/len(k)) }
	put := func(k string) error {
		rev, err := s.Txn(ctx, nil, []store.Op{store.Put(k, value(k))})
		if err == nil {
			acked[k] = rev
		}
		return err
	}
	for i := range 20 {
		if err := put(fmt.Sprintf("before/%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.Watch(ctx, "", acked["before/019"])
	if err != nil {
		t.Fatal(err)
	}
	// Reads go on throughout, beside the failures and the reopens.
	stopReads := make(chan struct{})
	readsDone := make(chan error, 1)
	go func() {
		reads := 0
		for {
			select {
			case <-stopReads:
				if reads == 0 {
					readsDone <- errors.New("no read ran")
					return
				}
				readsDone <- nil
				return
			default:
			}
			kv, err := s.Get(ctx, "before/007")
			if err == nil && !bytes.Equal(kv.Value, value("before/007")) {
				err = fmt.Errorf("read %d bytes", len(kv.Value))
			}
			if err == nil {
				_, _, err = s.List(ctx, "before/", store.ListOptions{Limit: 5})
			}
			if err != nil {
				readsDone <- fmt.Errorf("read %d: %w", reads, err)
				return
			}
			reads++
		}
	}()

	d.fill()
	var fullErr error
	for i := 0; fullErr == nil; i++ {
		if i == 10000 {
			t.Fatal("10000 writes of 8 KiB fit on a full disk")
		}
		fullErr = put(fmt.Sprintf("full/%05d", i))
	}
	// (bbolt wraps a failed grow with %s, so compare the text.)
	if !strings.Contains(fullErr.Error(), d.full.Error()) {
		t.Fatalf("write on a full disk: %v, want %v", fullErr, d.full)
	}
	t.Logf("disk full after %d writes: %v", len(acked)-20, fullErr)
	// Still full: the store says it cannot take writes. (A write may
	// still fit: the reopen turns pages freed while readers held them
	// into free pages of the file.)
	if err := s.Ready(ctx); err == nil {
		t.Fatal("Ready on a full disk after a failed write")
	} else {
		t.Logf("Ready: %v", err)
	}
	for i := range 3 {
		put(fmt.Sprintf("still-full/%d", i))
	}
	if kv, err := s.Get(ctx, "before/000"); err != nil || !bytes.Equal(kv.Value, value("before/000")) {
		t.Fatalf("read on a full disk: %v", err)
	}

	d.free()
	// The store recovers by itself: no reopen by the caller.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := put("after/000")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded within 2 minutes of space returning: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling for a condition
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready after recovery: %v", err)
	}
	for i := 1; i < 20; i++ {
		if err := put(fmt.Sprintf("after/%03d", i)); err != nil {
			t.Fatalf("write %d after recovery: %v", i, err)
		}
	}
	close(stopReads)
	if err := <-readsDone; err != nil {
		t.Fatalf("reads during the episode: %v", err)
	}
	// The watch either saw every change after it started, in order, or
	// was ended with ErrCompacted to relist (a failed commit that reached
	// the disk).
	var last int64
	for ev := range watchUntil(t, w, acked["after/019"]) {
		if ev.KV.ModRevision <= last {
			t.Fatalf("watch went back from revision %d to %d", last, ev.KV.ModRevision)
		}
		last = ev.KV.ModRevision
	}

	// Every acknowledged write is durable: it is there after a reopen, at
	// its revision.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, rev := range acked {
		kv, err := s.Get(ctx, k)
		if err != nil || kv.ModRevision != rev || !bytes.Equal(kv.Value, value(k)) {
			t.Fatalf("acknowledged %q at revision %d: got revision %d, %v", k, rev, kv.ModRevision, err)
		}
	}
	if cur != acked["after/019"] {
		t.Fatalf("store at revision %d after reopen, last acknowledged %d", cur, acked["after/019"])
	}
	kvs, _, err := s.List(ctx, "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if _, ok := acked[kv.Key]; !ok {
			// Possible only for a commit that failed after its meta page
			// was written (a failed fsync): it was never acknowledged.
			t.Logf("a write that failed is present: %q", kv.Key)
		}
	}
}

// watchUntil yields w's events up to revision rev, or none once w ended
// with ErrCompacted.
func watchUntil(t *testing.T, w store.Watcher, rev int64) func(func(store.Event) bool) {
	return func(yield func(store.Event) bool) {
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					if !errors.Is(w.Err(), store.ErrCompacted) {
						t.Fatalf("watch ended with %v", w.Err())
					}
					return
				}
				if !yield(ev) || ev.KV.ModRevision >= rev {
					return
				}
			case <-timeout:
				t.Fatalf("watch did not reach revision %d", rev)
			}
		}
	}
}
