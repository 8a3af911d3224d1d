package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store/bolt"
)

// runBackup copies a node's state store to a file: from the running node
// through its admin socket (a consistent copy while it serves), or, when
// no node runs on the data directory, from state.db itself. The copy is
// written beside --out, fsynced, verified (opened and checked as the node
// would at startup) and only then renamed to --out.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "the node's data directory")
	out := fs.String("out", "", "file to write the copy to (required); replaced only by a verified copy")
	var etcd etcdTarget
	etcd.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "minato backup: --out is required")
		return errUsage
	}
	if etcd.store != "" {
		return backupEtcd(ctx, etcd, *out, stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}

	size, rev, from, err := fetchBackup(ctx, *dataDir, tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	info, err := bolt.Verify(tmp.Name(), 2*time.Second)
	if err != nil {
		return fmt.Errorf("the copy does not verify, nothing was written to %s: %w", *out, err)
	}
	if info.Revision != rev || info.Size != size {
		return fmt.Errorf("the copy is at revision %d with %d bytes, the node sent revision %d with %d bytes; nothing was written to %s",
			info.Revision, info.Size, rev, size, *out)
	}
	keys, err := sealingKeys(ctx, tmp.Name())
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up %s at revision %d (%d records, %d bytes) to %s; the copy verifies.\n",
		from, info.Revision, info.Records, info.Size, *out)
	if len(keys) > 0 {
		fmt.Fprintf(stdout, "It holds secret values sealed with master key %s: a restore needs that key "+
			"(secrets.key in the data directory, or the --master-key-file / $%s the node runs with). "+
			"Keep the key safe, and apart from the backup.\n", strings.Join(keys, ", "), secretstore.EnvMasterKey)
	}
	return nil
}

// fetchBackup writes a copy of the store of dataDir to w and says where
// it came from.
func fetchBackup(ctx context.Context, dataDir string, w io.Writer) (size, rev int64, from string, err error) {
	sock := controlplane.AdminSocket(dataDir)
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://minato"+controlplane.AdminPathBackup, nil)
	if err != nil {
		return 0, 0, "", err
	}
	resp, err := c.Do(req)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		// No node serves this data directory: copy the file itself. If a
		// node does hold it (without a socket), the lock says so.
		path := filepath.Join(dataDir, "state.db")
		err := bolt.BackupFile(ctx, path, 2*time.Second, w, func(sz, rv int64) { size, rev = sz, rv })
		if err != nil {
			return 0, 0, "", fmt.Errorf("no minato node answers on %s, and %s cannot be copied: %w", sock, path, err)
		}
		return size, rev, path + " (no node running)", nil
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("admin socket %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, 0, "", fmt.Errorf("the node refused the backup: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if rev, err = strconv.ParseInt(resp.Header.Get(controlplane.AdminHeaderRevision), 10, 64); err != nil {
		return 0, 0, "", fmt.Errorf("the node sent no revision: %w", err)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return 0, 0, "", fmt.Errorf("copy interrupted after %d bytes: %w", n, err)
	}
	if n != resp.ContentLength {
		return 0, 0, "", fmt.Errorf("copy interrupted after %d of %d bytes", n, resp.ContentLength)
	}
	return n, rev, "the node on " + dataDir, nil
}

// sealingKeys returns the IDs of the master keys that sealed the secret
// values in the store file at path.
func sealingKeys(ctx context.Context, path string) ([]string, error) {
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	use, err := secretstore.KeyUse(ctx, st)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(use))
	for id := range use {
		keys = append(keys, id)
	}
	sort.Strings(keys)
	return keys, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
