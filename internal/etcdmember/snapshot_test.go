package etcdmember_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
)

// TestSnapshotRestore takes a snapshot of a member, restores it into a
// fresh data directory as a new cluster, and finds the records there, at
// revisions past every one the old cluster handed out.
func TestSnapshotRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	o := options(t, dir, "old")
	o.ClusterInit = true
	m := start(t, ctx, o)
	s, err := m.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last int64
	for _, k := range []string{"clusters/a", "services/a/web", "secrets/x"} {
		if last, err = s.Txn(ctx, nil, []store.Op{store.Put(k, []byte(k))}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "backup.db")
	snap, err := s.SaveSnapshot(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := etcdmember.VerifySnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != last || snap.Revision != last || info.Keys < 3 {
		t.Fatalf("snapshot at %d (SaveSnapshot says %d) with %d keys; last write at %d", info.Revision, snap.Revision, info.Keys, last)
	}
	// A write after the snapshot is not in it.
	if _, err := s.Txn(ctx, nil, []store.Op{store.Put("later", nil)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	m.Close()

	// A damaged file is refused.
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := etcdmember.VerifySnapshot(bad); err == nil {
		t.Fatal("VerifySnapshot accepted garbage")
	}

	n := options(t, dir, "new")
	if err := etcdmember.RestoreSnapshot(path, n); err != nil {
		t.Fatal(err)
	}
	if err := etcdmember.RestoreSnapshot(path, n); err == nil {
		t.Fatal("restore over a member succeeded")
	}
	restored := start(t, ctx, n) // no --cluster-init: it restarts from the restored data
	rs, err := restored.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	kvs, rev, err := rs.List(ctx, "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 3 || kvs[0].Key != "clusters/a" || string(kvs[2].Value) != "services/a/web" {
		t.Fatalf("restored records: %+v", kvs)
	}
	if rev < last+etcdmember.RestoreRevisionBump {
		t.Fatalf("restored revision %d, want past %d", rev, last+etcdmember.RestoreRevisionBump)
	}
	// A watcher from before the restore lists again.
	w, err := rs.Watch(ctx, "", last)
	if err != nil {
		t.Fatal(err)
	}
	for range w.Events() {
		t.Fatal("event from a revision before the restore")
	}
	if !errors.Is(w.Err(), store.ErrCompacted) {
		t.Fatalf("watch from before the restore: %v, want ErrCompacted", w.Err())
	}
	if _, err := rs.Txn(ctx, nil, []store.Op{store.Put("after", nil)}); err != nil {
		t.Fatalf("write to the restored cluster: %v", err)
	}
}
