package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/secretstore"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
)

// etcdTarget names an etcd cluster on the command line: --store and its
// TLS files, as minato server takes them.
type etcdTarget struct {
	store, ca, cert, key string
}

func (e *etcdTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&e.store, "store", "", "back up the etcd cluster of the servers instead of a node's state.db: etcd://h1:2379,h2:2379 (etcds:// for TLS; the servers' --store, or the client URL of any embedded member)")
	fs.StringVar(&e.ca, "etcd-ca-file", "", "CA bundle of the etcd servers' certificates (etcds://)")
	fs.StringVar(&e.cert, "etcd-cert-file", "", "client certificate for etcd (etcds://, when etcd checks client certificates)")
	fs.StringVar(&e.key, "etcd-key-file", "", "the private key of --etcd-cert-file")
}

// backupEtcd writes an etcd snapshot of the cluster e names to out: to a
// temporary file beside it, verified, then renamed.
func backupEtcd(ctx context.Context, e etcdTarget, out string, stdout io.Writer) error {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := etcdstore.Open(octx, e.store, etcdstore.TLS{CAFile: e.ca, CertFile: e.cert, KeyFile: e.key}, etcdstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	defer os.Remove(tmp) // no-op after the rename
	snap, err := st.SaveSnapshot(ctx, tmp)
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	info, err := etcdmember.VerifySnapshot(tmp)
	if err != nil {
		return fmt.Errorf("the snapshot does not verify, nothing was written to %s: %w", out, err)
	}
	if info.Revision < snap.Revision {
		return fmt.Errorf("the snapshot is at revision %d, before the cluster's %d when it was asked; nothing was written to %s",
			info.Revision, snap.Revision, out)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(out)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up the etcd cluster at %s at revision %d (%d keys, %d bytes) to %s; the snapshot verifies.\n",
		e.store, info.Revision, info.Keys, snap.Size, out)
	fmt.Fprintf(stdout, "Secret values in it are sealed with the servers' master key (secrets.key in their data directories, "+
		"or the --master-key-file / $%s they run with): a restore needs it. Keep the key safe, and apart from the backup.\n",
		secretstore.EnvMasterKey)
	return nil
}

// runEtcdRestore makes the etcd data of a server's embedded member from a
// snapshot: the only member of a new cluster, which the server then
// restarts as; the other servers join it anew.
func runEtcdRestore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("etcd-restore", stderr)
	snapshot := fs.String("snapshot", "", "etcd snapshot to restore (from minato backup --store, or etcdctl snapshot save); required")
	dataDir := fs.String("data-dir", defaultDataDir(), "the server's data directory: the member's data goes to <data-dir>/etcd, which must not hold a member")
	name := fs.String("name", "", "the server's --name (default: the host name)")
	peerURL := fs.String("etcd-peer-url", "", "the server's --etcd-peer-url, e.g. http://10.0.0.1:2380; required")
	clientURL := fs.String("etcd-client-url", "", "the server's --etcd-client-url (default: the peer URL's host, port 2379)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *snapshot == "" || *peerURL == "" {
		fmt.Fprintln(stderr, "minato etcd-restore: --snapshot and --etcd-peer-url are required")
		return errUsage
	}
	o := etcdmember.Options{Name: *name, DataDir: filepath.Join(*dataDir, "etcd"), PeerURL: *peerURL, ClientURL: *clientURL}
	if o.ClientURL == "" {
		u, err := defaultClientURL(*peerURL)
		if err != nil {
			return err
		}
		o.ClientURL = u
	}
	info, err := etcdmember.VerifySnapshot(*snapshot)
	if err != nil {
		return err
	}
	if err := etcdmember.RestoreSnapshot(*snapshot, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored %s (revision %d, %d keys) into %s as the only member of a new etcd cluster; "+
		"revisions move on by %d.\n", *snapshot, info.Revision, info.Keys, o.DataDir, etcdmember.RestoreRevisionBump)
	fmt.Fprintf(stdout, "Start this server as before, without --cluster-init or --join. On each other server, move "+
		"<data-dir>/etcd away and start it with --join %s.\n", o.ClientURL)
	return nil
}

// defaultClientURL is the client URL of the member whose peer URL is
// peer: the same scheme and host, port 2379.
func defaultClientURL(peer string) (string, error) {
	u, err := url.Parse(peer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", fmt.Errorf("--etcd-peer-url %q: want http(s)://host:port", peer)
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), "2379"), nil
}
