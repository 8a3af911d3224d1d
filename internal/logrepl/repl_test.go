package logrepl

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

type server struct {
	logs *logstore.Store
	repl *Replicator
	stop context.CancelFunc
	done chan struct{}
}

func startServer(t *testing.T, st store.Store, name, dir string) *server {
	t.Helper()
	logs, err := logstore.Open(filepath.Join(dir, "logs"), logstore.Options{NoSync: true, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Store: st, Logs: logs, Origin: name, Dir: filepath.Join(dir, "logs")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{logs: logs, repl: r, stop: cancel, done: make(chan struct{})}
	go func() { defer close(s.done); r.Run(ctx) }()
	return s
}

func (s *server) close() {
	s.stop()
	<-s.done
	s.repl.Close()
	s.logs.Close()
}

// waitEvents waits until the stream holds want events and returns them.
func waitEvents(t *testing.T, logs *logstore.Store, group, stream string, want int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []string
		res, err := logs.Query(logstore.Query{Group: group, Streams: []string{stream}, Limit: 1000})
		if err == nil {
			for _, e := range res.Events {
				got = append(got, e.Message)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicate(t *testing.T) {
	_, cli := etcdtest.Start(t, etcdtest.Options{})
	st := etcdstore.New(cli, etcdstore.Options{Prefix: "/logrepl/"})
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startServer(t, st, "a", dirA)
	b := startServer(t, st, "b", dirB)

	if err := a.logs.EnsureStream("/ecs/web", "web/1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.logs.Append("/ecs/web", "web/1", []logstore.Event{{Timestamp: 1, Message: "one"}, {Timestamp: 2, Message: "two"}}); err != nil {
		t.Fatal(err)
	}
	// The batch is in the store once Append returned.
	kvs, _, err := st.List(context.Background(), Prefix, store.ListOptions{})
	if err != nil || len(kvs) != 1 {
		t.Fatalf("store holds %d batches (%v), want 1", len(kvs), err)
	}
	if got := waitEvents(t, b.logs, "/ecs/web", "web/1", 2); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("b holds %q", got)
	}
	// And a holds it once (its own batch is not imported again).
	if got := waitEvents(t, a.logs, "/ecs/web", "web/1", 2); len(got) != 2 {
		t.Fatalf("a holds %q", got)
	}

	// b restarts: the batch still in the store is not imported twice.
	b.close()
	b = startServer(t, st, "b", dirB)
	if _, err := a.logs.Append("/ecs/web", "web/1", []logstore.Event{{Timestamp: 3, Message: "three"}}); err != nil {
		t.Fatal(err)
	}
	got := waitEvents(t, b.logs, "/ecs/web", "web/1", 3)
	if len(got) != 3 {
		t.Fatalf("b after restart holds %q, want one, two, three", got)
	}

	// A write through b reaches a.
	if _, err := b.logs.Append("/ecs/web", "web/1", []logstore.Event{{Timestamp: 4, Message: "four"}}); err != nil {
		t.Fatal(err)
	}
	if got := waitEvents(t, a.logs, "/ecs/web", "web/1", 4); len(got) != 4 || got[3] != "four" {
		t.Fatalf("a holds %q", got)
	}
	// Still exactly four on b (nothing duplicated meanwhile).
	if got := waitEvents(t, b.logs, "/ecs/web", "web/1", 4); len(got) != 4 {
		t.Fatalf("b holds %q", got)
	}

	// Nothing is expired now; everything is one retention later.
	if n, err := a.repl.Expire(context.Background(), time.Now()); err != nil || n != 0 {
		t.Fatalf("Expire now = %d, %v; want 0", n, err)
	}
	if n, err := a.repl.Expire(context.Background(), time.Now().Add(DefaultRetention+time.Second)); err != nil || n != 3 {
		t.Fatalf("Expire = %d, %v; want 3", n, err)
	}
	if kvs, _, _ := st.List(context.Background(), Prefix, store.ListOptions{}); len(kvs) != 0 {
		t.Fatalf("%d batches left", len(kvs))
	}
	a.close()
	b.close()
}

func TestAppendFailsWithoutStore(t *testing.T) {
	_, cli := etcdtest.Start(t, etcdtest.Options{})
	st := etcdstore.New(cli, etcdstore.Options{Prefix: "/logrepl2/"})
	a := startServer(t, st, "a", t.TempDir())
	defer a.close()
	if err := a.logs.EnsureStream("g", "s", true); err != nil {
		t.Fatal(err)
	}
	// A stream that does not exist fails before anything is replicated.
	if _, err := a.logs.Append("g", "nope", []logstore.Event{{Timestamp: 1, Message: "x"}}); err == nil {
		t.Fatal("append to a missing stream succeeded")
	}
	if kvs, _, _ := st.List(context.Background(), Prefix, store.ListOptions{}); len(kvs) != 0 {
		t.Fatalf("%d batches stored for a refused append", len(kvs))
	}
	// With the store closed, Append fails and stores nothing locally.
	cli.Close()
	if _, err := a.logs.Append("g", "s", []logstore.Event{{Timestamp: 1, Message: "x"}}); err == nil {
		t.Fatal("append acknowledged without the shared store")
	}
	if res, _ := a.logs.Query(logstore.Query{Group: "g", Limit: 10}); len(res.Events) != 0 {
		t.Fatalf("%d events stored locally", len(res.Events))
	}
}

// Batches left under the state's prefix, where they lived before, expire
// as the others do and are never imported.
func TestExpireLegacy(t *testing.T) {
	_, cli := etcdtest.Start(t, etcdtest.Options{})
	legacy := etcdstore.New(cli, etcdstore.Options{Prefix: "/minato/"})
	st := legacy.Sibling("logs")
	defer st.Close()
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	v, err := encode(Batch{Origin: "old", Group: "/g", Stream: "s", Events: []logstore.Event{{Timestamp: 1, Message: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.Txn(ctx, nil, []store.Op{store.Put(Key(old.UnixMilli(), "old", 1, 0), v)}); err != nil {
		t.Fatal(err)
	}
	logs, err := logstore.Open(filepath.Join(t.TempDir(), "logs"), logstore.Options{NoSync: true, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	r, err := New(Config{Store: st, Legacy: legacy, Logs: logs, Origin: "a", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Expire(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("Expire now = %d, %v; want 0", n, err)
	}
	if n, err := r.Expire(ctx, time.Now().Add(DefaultRetention)); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if kvs, _, _ := legacy.List(ctx, Prefix, store.ListOptions{}); len(kvs) != 0 {
		t.Fatalf("%d legacy batches left", len(kvs))
	}
}
