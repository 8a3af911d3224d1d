package etcd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/minato-project/minato/internal/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Snapshot is what SaveSnapshot wrote.
type Snapshot struct {
	// Revision is an etcd revision the snapshot holds at least: every
	// write acknowledged before SaveSnapshot was called is in it. (etcd
	// does not say the snapshot's own revision; this is the store's
	// revision read just before it.)
	Revision int64
	// Size is the file's size in bytes.
	Size int64
	// Version is the storage version of the etcd server that made it,
	// when etcd reports it (a new cluster may not have one yet).
	Version string
}

// SaveSnapshot writes a snapshot of the whole etcd keyspace (not only the
// store's prefix: etcd snapshots its backend as one file) to path, through
// a temporary file in the same directory that is synced and renamed, so
// that path is either the whole snapshot or untouched. The file is etcd's
// backend database, which `etcdutl snapshot restore` (or RestoreSnapshot
// in package etcdmember) turns into a new member's data directory.
func (s *Store) SaveSnapshot(ctx context.Context, path string) (Snapshot, error) {
	c, done, err := s.begin(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer done()
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".part-*")
	if err != nil {
		return Snapshot{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()
	snap, err := s.snapshotTo(c, tmp)
	if err != nil {
		return Snapshot{}, s.fail(ctx, "snapshot", err)
	}
	if err := tmp.Sync(); err != nil {
		return Snapshot{}, err
	}
	if err := tmp.Close(); err != nil {
		return Snapshot{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Snapshot{}, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return snap, nil
}

// snapshotTo streams a snapshot into f and returns what it wrote.
func (s *Store) snapshotTo(ctx context.Context, f *os.File) (Snapshot, error) {
	rev, err := s.cli.Get(ctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		return Snapshot{}, err
	}
	resp, err := s.cli.SnapshotWithVersion(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer resp.Snapshot.Close()
	n, err := io.Copy(f, resp.Snapshot)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Revision: rev.Header.Revision, Size: n, Version: resp.Version}
	if resp.Header != nil {
		snap.Revision = max(snap.Revision, resp.Header.Revision)
	}
	return snap, nil
}

// Backup writes a snapshot of the etcd cluster to w, as bolt's Backup
// writes its file, for the admin socket's backup: start is called once,
// before the first byte, with the snapshot's size and revision. The
// snapshot is spooled to a temporary file first, since etcd does not say
// its size before it is sent.
func (s *Store) Backup(ctx context.Context, w io.Writer, start func(size, rev int64)) error {
	c, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tmp, err := os.CreateTemp("", "minato-etcd-snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	snap, err := s.snapshotTo(c, tmp)
	if err != nil {
		return s.fail(ctx, "backup", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	start(snap.Size, snap.Revision)
	if _, err := io.Copy(w, tmp); err != nil {
		if s.ctx.Err() != nil {
			return store.ErrClosed
		}
		return fmt.Errorf("store/etcd: backup: %w", err)
	}
	return nil
}
