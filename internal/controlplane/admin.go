package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The admin socket: operations on the running node that are not part of
// any AWS API (today: the backup), served over a Unix socket in the data
// directory, mode 0600.
//
// Why a socket and not the API listener: whoever may back up the node may
// read its data directory, and state.db, credentials.json and secrets.key
// are there already; the socket's permissions make exactly that the
// authentication, with nothing to generate, leak or rotate. It is not on
// the network at all, it needs no TLS, and the CLI finds it from the data
// directory alone. An access key would let any API client read the
// secrets' ciphertexts and the whole state; the agent token is shared by
// every host.

// AdminSocketName is the admin socket's name in the data directory.
const AdminSocketName = "admin.sock"

// Admin paths.
const (
	// AdminPathBackup streams a consistent copy of state.db. Headers:
	// Content-Length, and AdminHeaderRevision (the copy's store revision).
	AdminPathBackup     = "/v1/backup"
	AdminHeaderRevision = "Minato-Store-Revision"
)

// AdminSocket is the path of the admin socket of the node whose data
// directory is dataDir.
func AdminSocket(dataDir string) string { return filepath.Join(dataDir, AdminSocketName) }

// backupSource is what the admin socket backs up: *bolt.Store.
type backupSource interface {
	Backup(ctx context.Context, w io.Writer, start func(size, rev int64)) error
}

// serveAdmin serves the admin socket until ctx ends. The caller holds the
// state store's lock, so a socket file left by a node that died is stale
// and is replaced.
func serveAdmin(ctx context.Context, dataDir string, src backupSource, log *slog.Logger) (done <-chan struct{}, err error) {
	path := AdminSocket(dataDir)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminPathBackup, func(w http.ResponseWriter, r *http.Request) {
		started := false
		start := time.Now()
		var rev, size int64
		err := src.Backup(r.Context(), w, func(sz, rv int64) {
			size, rev, started = sz, rv, true
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(sz, 10))
			w.Header().Set(AdminHeaderRevision, strconv.FormatInt(rv, 10))
			w.WriteHeader(http.StatusOK)
		})
		if err != nil {
			log.Warn("backup failed", "err", err)
			if !started {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			}
			// Once started, the short body tells the client.
			return
		}
		log.Info("backup", "revision", rev, "bytes", size, "duration", time.Since(start).Round(time.Millisecond))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin socket", "err", err)
		}
	}()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		<-ctx.Done()
		// Lets a backup in progress finish (bounded); closing the
		// listener removes the socket file.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-served
	}()
	return ch, nil
}
