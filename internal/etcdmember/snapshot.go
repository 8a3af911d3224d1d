package etcdmember

import (
	"errors"
	"fmt"
	"os"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/minato-project/minato/internal/etcdlog"
)

// RestoreRevisionBump is how far a restore moves the store revision past
// the snapshot's, marking everything before compacted: a client that saw
// a revision newer than the snapshot (an agent, a server that was not
// restarted) must not wait for it to come round again, and its next watch
// ends with store.ErrCompacted, so it lists again.
const RestoreRevisionBump = 1_000_000_000

// SnapshotInfo describes a snapshot file.
type SnapshotInfo struct {
	// Revision is the etcd revision the snapshot holds.
	Revision int64
	// Keys counts the keys (of every prefix) in it.
	Keys int
	// Size is the backend's size in bytes.
	Size int64
	// Hash is etcd's hash of the contents.
	Hash uint32
}

// VerifySnapshot checks a snapshot file (as store/etcd's SaveSnapshot or
// `etcdctl snapshot save` write it): its database must be whole and
// readable. It returns what the snapshot holds.
func VerifySnapshot(path string) (SnapshotInfo, error) {
	st, err := snapshot.NewV3(etcdlog.New(zapcore.ErrorLevel)).Status(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("etcd snapshot %s: %w", path, err)
	}
	return SnapshotInfo{Revision: st.Revision, Keys: st.TotalKey, Size: st.TotalSize, Hash: st.Hash}, nil
}

// RestoreSnapshot makes o.DataDir the data of the only member of a new
// cluster that holds the snapshot at path (etcdutl's snapshot restore),
// with revisions moved RestoreRevisionBump on. o.DataDir must not hold a
// member. Start(o) then starts it, as a restart; the other servers, with
// their etcd directories removed, --join it.
func RestoreSnapshot(path string, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("etcd restore: %w", err)
	}
	if HasData(o.DataDir) {
		return fmt.Errorf("etcd restore: %s already holds a member; move it away first", o.DataDir)
	}
	// etcdutl refuses an existing directory, even an empty one.
	if err := os.Remove(o.DataDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("etcd restore: %s is not empty: %w", o.DataDir, err)
	}
	lg := etcdlog.New(zapcore.ErrorLevel)
	defer func() { _ = lg.Sync() }()
	err = snapshot.NewV3(lg.WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel))).Restore(snapshot.RestoreConfig{
		SnapshotPath:        path,
		Name:                o.Name,
		OutputDataDir:       o.DataDir,
		PeerURLs:            []string{o.PeerURL},
		InitialCluster:      InitialCluster([]NamedPeer{{o.Name, []string{o.PeerURL}}}),
		InitialClusterToken: o.Token,
		RevisionBump:        RestoreRevisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		_ = os.RemoveAll(o.DataDir)
		return fmt.Errorf("etcd restore: %w", err)
	}
	return nil
}
