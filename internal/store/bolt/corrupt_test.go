package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
)

// corruptRecords is the content of the file the corruption tests damage:
// enough records for branch pages, some values larger than a page
// (overflow pages), and deletes (a freelist with entries).
func corruptRecords(t *testing.T, path string) map[string][]byte {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	ctx := context.Background()
	for i := range 300 {
		k := fmt.Sprintf("k/%04d", i)
		v := bytes.Repeat([]byte{byte(i)}, (i*37)%900)
		if i%50 == 0 {
			v = bytes.Repeat([]byte{byte(i)}, 9000)
		}
		if _, err := s.Txn(ctx, nil, []store.Op{store.Put(k, v)}); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	for i := 0; i < 300; i += 7 {
		k := fmt.Sprintf("k/%04d", i)
		if _, err := s.Txn(ctx, nil, []store.Op{store.Delete(k)}); err != nil {
			t.Fatal(err)
		}
		delete(want, k)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// corruptions are the ways one page is damaged, each deterministic.
var corruptions = []struct {
	name string
	fn   func(page []byte, seed uint64)
}{
	{"zeroed", func(p []byte, _ uint64) { clear(p) }},
	{"random", func(p []byte, seed uint64) { fill(p, seed) }},
	// The header kept, the elements garbage: positions and sizes point
	// anywhere, the case that made bbolt fault outside its map.
	{"random-body", func(p []byte, seed uint64) { fill(p[pageHeader:], seed) }},
	// Only the overflow count: the page claims to run far past the file.
	{"overflow", func(p []byte, _ uint64) { ne.PutUint32(p[12:], 0x7fffffff) }},
}

func fill(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x6d696e61746f))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestCorruptPagesAtOpen damages each page of a real state.db in turn, in
// each of several ways, and opens it: Open either refuses with an error
// that names the file and the remedy, or opens a file whose damage did not
// matter, and then every read, list, watch and Txn returns data or an
// error, never a panic (a panic fails the whole test binary).
func TestCorruptPagesAtOpen(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	want := corruptRecords(t, src)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const psz = 4096
	pages := len(orig) / psz
	refused, opened := 0, 0
	for p := range pages {
		for _, c := range corruptions {
			b := bytes.Clone(orig)
			c.fn(b[p*psz:(p+1)*psz], uint64(p))
			path := filepath.Join(dir, fmt.Sprintf("p%03d-%s.db", p, c.name))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
			if err != nil {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "minato backup") {
					t.Fatalf("page %d %s: Open: %v; want ErrDamaged naming the file and the remedy", p, c.name, err)
				}
				refused++
				continue
			}
			opened++
			// Open found nothing wrong, so the damage hit a page no
			// record uses: every record reads back whole. Except for a
			// meta page: bbolt then uses the other one, a transaction
			// older (what a crash during the last commit leaves), so
			// the last delete may be undone.
			exercise(t, s, fmt.Sprintf("page %d %s", p, c.name), want, p >= 2)
			if err := s.Close(); err != nil {
				t.Fatalf("page %d %s: Close: %v", p, c.name, err)
			}
		}
	}
	t.Logf("%d pages x %d corruptions: %d refused at open, %d opened", pages, len(corruptions), refused, opened)
	if refused == 0 || opened == 0 {
		t.Fatalf("refused %d, opened %d: the test no longer reaches both outcomes", refused, opened)
	}
}

// TestCorruptPagesWhileOpen damages each page of the file under a running
// store (bbolt reads through a shared map, so it sees the damage at once),
// as a failing disk would: every call returns data or an error, never a
// panic; a read that met damage marks the store failed, and the next write
// or Ready verifies the file and refuses writes with ErrDamaged.
func TestCorruptPagesWhileOpen(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	want := corruptRecords(t, src)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const psz = 4096
	pages := len(orig) / psz
	errored, damaged, wedged, cases := 0, 0, 0, 0
	for p := range pages {
		for _, c := range corruptions {
			if c.name == "overflow" {
				// Known gap (docs/operations.md): a branch or leaf page
				// whose overflow count grows while the store runs makes
				// bbolt's next commit that frees it loop over the claimed
				// pages until memory runs out; no guard catches that.
				// Open catches it at the next start.
				continue
			}
			cases++
			path := filepath.Join(dir, fmt.Sprintf("p%03d-%s.db", p, c.name))
			if err := os.WriteFile(path, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond, closeWait: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			b := bytes.Clone(orig[p*psz : (p+1)*psz])
			c.fn(b, uint64(p))
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(b, int64(p*psz)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			what := fmt.Sprintf("page %d %s", p, c.name)
			if exercise(t, s, what, want, false) {
				errored++
			}
			if err := s.Ready(context.Background()); errors.Is(err, ErrDamaged) {
				damaged++
				if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put("after", nil)}); !errors.Is(err, ErrDamaged) {
					t.Fatalf("%s: Ready found damage, but a Txn then returned %v", what, err)
				}
			}
			// A panic in bbolt's rollback (a bad freelist page) leaves
			// its writer lock held: the store then says it is wedged,
			// and Close cannot release the file.
			if err := s.Close(); err != nil {
				if s.Live() == nil {
					t.Fatalf("%s: Close: %v, but Live reports nothing wrong", what, err)
				}
				wedged++
			}
		}
	}
	t.Logf("%d cases: calls errored on %d, Ready reported damage on %d, bbolt wedged on %d", cases, errored, damaged, wedged)
	if errored == 0 || damaged == 0 {
		t.Fatal("no corruption was noticed: the test no longer reaches damaged pages")
	}
}

// exercise runs every kind of call on s. With whole, every record must read
// back as written; otherwise each call may fail but must not panic, and a
// record it returns must be one that was written or an error. It reports
// whether any call failed.
func exercise(t *testing.T, s *Store, what string, want map[string][]byte, whole bool) (failed bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	check := func(op string, err error) {
		if err != nil {
			if whole {
				t.Fatalf("%s: %s: %v", what, op, err)
			}
			failed = true
		}
	}
	for k, v := range want {
		kv, err := s.Get(ctx, k)
		check("Get "+k, err)
		// bbolt keeps no checksums of values: damage inside a value's
		// overflow page reads back as different bytes of the same size.
		if whole && len(kv.Value) != len(v) {
			t.Fatalf("%s: Get(%q): %d bytes, want %d", what, k, len(kv.Value), len(v))
		}
	}
	kvs, _, err := s.List(ctx, "k/", store.ListOptions{})
	check("List", err)
	if whole && len(kvs) != len(want) {
		t.Fatalf("%s: List: %d records, want %d", what, len(kvs), len(want))
	}
	_, _, err = s.List(ctx, "k/01", store.ListOptions{After: "k/0150", Limit: 10})
	check("List page", err)
	rev, err := s.Revision(ctx)
	check("Revision", err)
	w, err := s.Watch(ctx, "", rev)
	check("Watch", err)
	_, err = s.Txn(ctx, []store.Cond{store.MustNotExist("k/0001")}, nil)
	if errors.Is(err, store.ErrConflict) {
		err = nil
	}
	check("Txn conds only", err)
	wrev, err := s.Txn(ctx, nil, []store.Op{store.Put("k/0003", []byte("new")), store.Delete("k/0005"), store.Put("z", []byte("z"))})
	check("Txn", err)
	if err == nil && w != nil {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				check("Watch", w.Err())
			} else if ev.KV.ModRevision != wrev {
				t.Fatalf("%s: watch event at revision %d, Txn at %d", what, ev.KV.ModRevision, wrev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no watch event for a committed Txn", what)
		}
	}
	return failed
}
