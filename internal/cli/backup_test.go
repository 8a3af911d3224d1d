package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// TestBackupStoppedNode: with no node on the data directory, backup copies
// state.db itself; a copy that would not verify is never written to --out.
// (test/e2e covers a running node.)
func TestBackupStoppedNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := st.Txn(ctx, nil, []store.Op{store.Put("k", []byte("v"))})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	out := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	if code := Main(ctx, []string{"backup", "--data-dir", dir, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "no node running") || !strings.Contains(stdout.String(), "the copy verifies") {
		t.Fatalf("stdout: %s", stdout.String())
	}
	info, err := bolt.Verify(out, 0)
	if err != nil || info.Revision != rev || info.Records != 1 {
		t.Fatalf("Verify(copy) = %+v, %v; want revision %d, 1 record", info, err, rev)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v, mode %v; want 0600", err, st.Mode())
	}

	// A damaged state.db: backup fails and leaves the old copy alone.
	b, _ := os.ReadFile(filepath.Join(dir, "state.db"))
	clear(b[:2*4096]) // both meta pages
	os.WriteFile(filepath.Join(dir, "state.db"), b, 0o600)
	stdout.Reset()
	stderr.Reset()
	if code := Main(ctx, []string{"backup", "--data-dir", dir, "--out", out}, &stdout, &stderr); code != 1 {
		t.Fatalf("backup of a damaged file: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if _, err := bolt.Verify(out, 0); err != nil {
		t.Fatalf("a failed backup damaged the earlier copy: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Fatalf("a failed backup left %d files beside --out", len(entries))
	}

	stderr.Reset()
	if code := Main(ctx, []string{"backup", "--data-dir", dir}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--out") {
		t.Fatalf("backup without --out: exit %d: %s", code, stderr.String())
	}
}
