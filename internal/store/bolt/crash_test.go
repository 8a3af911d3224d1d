package bolt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// The crash test re-executes the test binary as a writer child; these
// variables switch TestMain into the child.
const (
	crashPathEnv  = "MINATO_BOLT_CRASH_PATH"
	crashStartEnv = "MINATO_BOLT_CRASH_START"
	crashWriters  = 4
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashPathEnv); path != "" {
		start, _ := strconv.ParseInt(os.Getenv(crashStartEnv), 10, 64)
		crashChild(path, start)
		os.Exit(1) // crashChild only returns on failure
	}
	os.Exit(m.Run())
}

// crashValue is the value written at index i: sizes vary so pages split.
func crashValue(i int64) []byte {
	v := bytes.Repeat([]byte{byte(i)}, int(i%1500))
	return binary.BigEndian.AppendUint64(v, uint64(i))
}

func crashKeys(i int64) (string, string) {
	return fmt.Sprintf("a/%09d", i), fmt.Sprintf("b/%09d", i)
}

// crashChild writes until killed. Each Txn puts a/i and b/i; after Txn
// returns it prints "ack <i> <rev>" with one write(2), so every line the
// parent reads is an acknowledged write.
func crashChild(path string, start int64) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return
	}
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	next.Store(start)
	ctx := context.Background()
	for range crashWriters {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > start+1_000_000 {
					return
				}
				a, b := crashKeys(i)
				rev, err := s.Txn(ctx, []store.Cond{store.MustNotExist(a)},
					[]store.Op{store.Put(a, crashValue(i)), store.Put(b, crashValue(i))})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child txn:", err)
					os.Exit(3)
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "ack %d %d\n", i, rev)
				mu.Unlock()
				if err != nil {
					os.Exit(4) // parent gone
				}
			}
		})
	}
	wg.Wait()
	fmt.Fprintln(os.Stderr, "child: ran out of work before being killed")
}

// TestCrash SIGKILLs a writer child mid-stream, several times on one file,
// and checks after each kill that the file is consistent and holds every
// acknowledged write, whole.
func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	acked := map[int64]int64{} // index -> acknowledged revision
	for round := range 3 {
		start := int64(round) * 10_000_000
		got := runCrashChild(t, path, start, 100+round*75)
		for i, rev := range got {
			acked[i] = rev
		}
		checkCrashFile(t, path, acked)
	}
}

// runCrashChild starts a child, kills it once it has acknowledged n writes,
// and returns every write it acknowledged.
func runCrashChild(t *testing.T, path string, start int64, n int) map[int64]int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashStartEnv+"="+strconv.FormatInt(start, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	acked := map[int64]int64{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		var i, rev int64
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &i, &rev); err != nil {
			t.Fatalf("child printed %q: %v", sc.Text(), err)
		}
		acked[i] = rev
		if len(acked) == n && !killed {
			// Process.Kill is SIGKILL: no deferred code, no Close, no flush.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		// Keep reading: lines already in the pipe were acknowledged too.
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) || exit.Exited() {
		t.Fatalf("child was not killed by us (acked %d, wait: %v); stderr:\n%s", len(acked), err, stderr.String())
	}
	return acked
}

func checkCrashFile(t *testing.T, path string, acked map[int64]int64) {
	t.Helper()
	// 1. bbolt's own consistency check, on the raw file.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		var errs []string
		for err := range tx.Check() {
			errs = append(errs, err.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("tx.Check: %s", strings.Join(errs, "; "))
		}
		kv, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
		if kv == nil || meta == nil {
			return errors.New("missing bucket")
		}
		rev, err := readRev(meta)
		if err != nil {
			return err
		}
		// 2. Every record is well formed and not from the future.
		return kv.ForEach(func(k, v []byte) error {
			r, err := decode(string(k), v)
			if err != nil {
				return err
			}
			if r.CreateRevision < 1 || r.CreateRevision > r.ModRevision || r.ModRevision > rev {
				return fmt.Errorf("%q: create %d mod %d, store at %d", k, r.CreateRevision, r.ModRevision, rev)
			}
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("file inconsistent after kill: %v", err)
	}

	// 3. Through the store: every acknowledged Txn is there, whole.
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cur, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, rev := range acked {
		if rev > cur {
			t.Fatalf("write %d acknowledged at revision %d, store reopened at %d", i, rev, cur)
		}
		a, b := crashKeys(i)
		for _, k := range []string{a, b} {
			kv, err := s.Get(ctx, k)
			if err != nil {
				t.Fatalf("acknowledged write %d: Get(%q): %v", i, k, err)
			}
			if kv.ModRevision != rev || kv.CreateRevision != rev || !bytes.Equal(kv.Value, crashValue(i)) {
				t.Fatalf("acknowledged write %d: %q at create %d mod %d (%d bytes), want revision %d",
					i, k, kv.CreateRevision, kv.ModRevision, len(kv.Value), rev)
			}
		}
	}
	// 4. Atomicity, acknowledged or not: a/i exists iff b/i does, at the
	// same revision, and no two Txns share a revision.
	as, _, err := s.List(ctx, "a/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bs, _, err := s.List(ctx, "b/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(bs) || len(as) < len(acked) {
		t.Fatalf("%d a/ keys, %d b/ keys, %d acknowledged", len(as), len(bs), len(acked))
	}
	seen := map[int64]bool{}
	for j := range as {
		if as[j].Key[2:] != bs[j].Key[2:] || as[j].ModRevision != bs[j].ModRevision {
			t.Fatalf("torn Txn: %q@%d vs %q@%d", as[j].Key, as[j].ModRevision, bs[j].Key, bs[j].ModRevision)
		}
		if seen[as[j].ModRevision] {
			t.Fatalf("two Txns at revision %d", as[j].ModRevision)
		}
		seen[as[j].ModRevision] = true
	}
	// 5. The store takes writes again, at the next revision.
	if rev, err := s.Txn(ctx, nil, []store.Op{store.Put("after-crash", nil)}); err != nil || rev != cur+1 {
		t.Fatalf("write after reopen: revision %d, %v; want %d", rev, err, cur+1)
	}
}
