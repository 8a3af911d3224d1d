package logmeta

import (
	"context"
	"errors"
	"github.com/minato-project/minato/internal/testutil"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

type server struct {
	logs *logstore.Store
	f    *Follower
	stop context.CancelFunc
	done chan struct{}
}

func openLogs(t *testing.T, dir string) *logstore.Store {
	t.Helper()
	logs, err := logstore.Open(dir, logstore.Options{NoSync: true, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// startServer follows st with a log store in dir, as controlplane does.
func startServer(t *testing.T, st store.Store, dir string, logs *logstore.Store) *server {
	t.Helper()
	if logs == nil {
		logs = openLogs(t, dir)
	}
	logs.SetMeta(&Records{Store: st})
	f := &Follower{Store: st, Logs: logs, Dir: dir}
	if err := f.Import(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{logs: logs, f: f, stop: cancel, done: make(chan struct{})}
	go func() { defer close(s.done); f.Run(ctx) }()
	t.Cleanup(s.close)
	return s
}

func (s *server) close() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
	s.logs.Close()
	s.stop = nil
}

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, func() (bool, string) { return cond(), "" })
}

func TestMetadataFollowsAcrossServers(t *testing.T) {
	st := openStore(t)
	a := startServer(t, st, t.TempDir(), nil)
	b := startServer(t, st, t.TempDir(), nil)

	if err := a.logs.CreateGroup("/app/web", map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := a.logs.SetRetention("/app/web", 7); err != nil {
		t.Fatal(err)
	}
	if err := a.logs.TagGroup("/app/web", map[string]string{"env": "prod"}); err != nil {
		t.Fatal(err)
	}
	if err := a.logs.CreateStream("/app/web", "web/1"); err != nil {
		t.Fatal(err)
	}
	want, err := a.logs.Group("/app/web")
	if err != nil {
		t.Fatal(err)
	}
	if want.RetentionDays != 7 || !maps.Equal(want.Tags, map[string]string{"team": "a", "env": "prod"}) {
		t.Fatalf("on a: %+v", want)
	}
	waitFor(t, "the group, as on a, on b", func() bool {
		g, err := b.logs.Group("/app/web")
		return err == nil && g.Created == want.Created && g.RetentionDays == 7 && maps.Equal(g.Tags, want.Tags)
	})
	waitFor(t, "the stream on b", func() bool {
		ss, err := b.logs.Streams("/app/web", "")
		return err == nil && len(ss) == 1 && ss[0].Name == "web/1"
	})

	// Creating what another server created fails there too.
	if err := b.logs.CreateGroup("/app/web", nil); !errors.Is(err, logstore.ErrGroupExists) {
		t.Fatalf("create again on b: %v", err)
	}
	if err := b.logs.CreateStream("/app/web", "web/1"); !errors.Is(err, logstore.ErrStreamExists) {
		t.Fatalf("create stream again on b: %v", err)
	}

	// Untag and delete the retention on b: a follows.
	if err := b.logs.UntagGroup("/app/web", []string{"team"}); err != nil {
		t.Fatal(err)
	}
	if err := b.logs.SetRetention("/app/web", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's changes on a", func() bool {
		g, err := a.logs.Group("/app/web")
		return err == nil && g.RetentionDays == 0 && maps.Equal(g.Tags, map[string]string{"env": "prod"})
	})

	// A stream deleted on b goes on a; the group deleted on b goes on a.
	if err := b.logs.DeleteStream("/app/web", "web/1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream gone on a", func() bool {
		ss, err := a.logs.Streams("/app/web", "")
		return err == nil && len(ss) == 0
	})
	if err := b.logs.DeleteGroup("/app/web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group gone on a", func() bool {
		_, err := a.logs.Group("/app/web")
		return errors.Is(err, logstore.ErrGroupNotFound)
	})
	if err := a.logs.DeleteGroup("/app/web"); !errors.Is(err, logstore.ErrGroupNotFound) {
		t.Fatalf("delete again on a: %v", err)
	}
	if err := a.logs.CreateStream("/app/web", "x"); !errors.Is(err, logstore.ErrGroupNotFound) {
		t.Fatalf("create a stream in the deleted group: %v", err)
	}
}

func TestEnsureStreamAndImportedEvents(t *testing.T) {
	st := openStore(t)
	a := startServer(t, st, t.TempDir(), nil)
	b := startServer(t, st, t.TempDir(), nil)

	// The awslogs driver's path: a stream (and group) made on a.
	if err := a.logs.EnsureStream("/ecs/app", "ecs/web/1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.logs.Append("/ecs/app", "ecs/web/1", []logstore.Event{{Timestamp: 1, Message: "hi"}}); err != nil {
		t.Fatal(err)
	}
	// b gets a batch of it before (or after) the records: EnsureLocal
	// makes the stream from the records, with a's creation time.
	if err := b.logs.EnsureLocal("/ecs/app", "ecs/web/1"); err != nil {
		t.Fatal(err)
	}
	ga, _ := a.logs.Group("/ecs/app")
	gb, _ := b.logs.Group("/ecs/app")
	if ga.Created != gb.Created {
		t.Fatalf("created %d on a, %d on b", ga.Created, gb.Created)
	}
	// Without awslogs-create-group, a missing group is an error.
	if err := b.logs.EnsureStream("/ecs/none", "s", false); !errors.Is(err, logstore.ErrGroupNotFound) {
		t.Fatalf("ensure without group: %v", err)
	}
	// Deleted on a: a batch for it arriving at b later is not stored.
	if err := a.logs.DeleteGroup("/ecs/app"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group gone on b", func() bool {
		_, err := b.logs.Group("/ecs/app")
		return errors.Is(err, logstore.ErrGroupNotFound)
	})
	if err := b.logs.EnsureLocal("/ecs/app", "ecs/web/1"); !errors.Is(err, logstore.ErrGroupNotFound) {
		t.Fatalf("ensure local of a deleted group: %v", err)
	}
}

// A log store kept before its metadata moved to the state store keeps its
// groups, and a server that missed a delete while it was down drops the
// group when it starts.
func TestImportAndReconcile(t *testing.T) {
	st := openStore(t)
	dirA := t.TempDir()
	old := openLogs(t, dirA)
	if err := old.CreateGroup("/old", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := old.SetRetention("/old", 3); err != nil {
		t.Fatal(err)
	}
	if err := old.CreateStream("/old", "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Append("/old", "s1", []logstore.Event{{Timestamp: time.Now().UnixMilli(), Message: "kept"}}); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, st, dirA, old)
	dirB := t.TempDir()
	b := startServer(t, st, dirB, nil)
	waitFor(t, "the imported group on b", func() bool {
		g, err := b.logs.Group("/old")
		ss, _ := b.logs.Streams("/old", "")
		return err == nil && g.RetentionDays == 3 && g.Tags["k"] == "v" && len(ss) == 1
	})
	res, err := a.logs.Query(logstore.Query{Group: "/old", Limit: 10})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("a's events after import: %+v %v", res, err)
	}

	// b goes down; the group is deleted and made anew on a meanwhile.
	b.close()
	if err := a.logs.DeleteGroup("/old"); err != nil {
		t.Fatal(err)
	}
	if err := a.logs.CreateGroup("/old", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.logs.CreateGroup("/other", nil); err != nil {
		t.Fatal(err)
	}
	b2 := startServer(t, st, dirB, nil)
	if _, err := b2.f.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := b2.logs.Group("/old")
	if err != nil || len(g.Tags) != 0 || g.RetentionDays != 0 {
		t.Fatalf("the new /old on b: %+v %v", g, err)
	}
	if ss, _ := b2.logs.Streams("/old", ""); len(ss) != 0 {
		t.Fatalf("the old incarnation's streams on b: %+v", ss)
	}
	if _, err := b2.logs.Group("/other"); err != nil {
		t.Fatal(err)
	}
}

// A server that has not applied a delete yet and is asked to create the
// group again makes a new one: the old incarnation's events do not show.
func TestCreateOverStaleGroup(t *testing.T) {
	st := openStore(t)
	a := startServer(t, st, t.TempDir(), nil)
	b := openLogs(t, t.TempDir()) // follows nothing: every delete is missed
	defer b.Close()
	b.SetMeta(&Records{Store: st})
	if err := a.logs.CreateGroup("/g", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureStream("/g", "s", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append("/g", "s", []logstore.Event{{Timestamp: time.Now().UnixMilli(), Message: "old"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.logs.DeleteGroup("/g"); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateGroup("/g", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureStream("/g", "s", false); err != nil {
		t.Fatal(err)
	}
	res, err := b.Query(logstore.Query{Group: "/g", Limit: 10})
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("the new group shows %+v (%v)", res.Events, err)
	}
}
