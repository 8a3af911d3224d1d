package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store/bolt"
)

// EnvNewMasterKey holds the new master key for rotate-key, as an
// alternative to --new-master-key-file.
const envNewMasterKey = "MINATO_NEW_MASTER_KEY"

// runRotateKey re-wraps the data key of every secret and parameter value
// with a new master key. The node must be stopped (the store is locked
// while it runs). With the data dir's own key, a new one is generated and
// replaces secrets.key; with a key the operator gives (--master-key-file
// or $MINATO_MASTER_KEY), the operator gives the new one too and starts
// the node with it afterwards.
func runRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rotate-key", stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "the node's data directory")
	keyFile := fs.String("master-key-file", "", "file holding the current master key (default: $MINATO_MASTER_KEY, else secrets.key in the data dir)")
	newFile := fs.String("new-master-key-file", "", "file holding the new master key (default: $"+envNewMasterKey+"; with the data dir's key: generated)")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(*dataDir, "state.db"), bolt.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("open state store (stop the minato node using %s first): %w", *dataDir, err)
	}
	defer st.Close()

	src := secretstore.KeySource{EnvValue: os.Getenv(secretstore.EnvMasterKey), File: *keyFile}
	if src.EnvValue == "" && src.File == "" {
		if *newFile != "" || os.Getenv(envNewMasterKey) != "" {
			return fmt.Errorf("a new master key is given, but not the current one: give --master-key-file or $%s", secretstore.EnvMasterKey)
		}
		if _, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: *dataDir}); err != nil {
			return err
		}
		oldID, newID, n, err := secretstore.RotateDataDir(ctx, st, *dataDir)
		if err != nil {
			return fmt.Errorf("rotation from key %s to %s stopped after %d values (run rotate-key again to finish it): %w", oldID, newID, n, err)
		}
		fmt.Fprintf(stdout, "Rotated the master key %s -> %s in %s: %d values re-wrapped.\n", oldID, newID,
			filepath.Join(*dataDir, secretstore.KeyFileName), n)
		return nil
	}
	ring, err := secretstore.LoadKeyring(src)
	if err != nil {
		return err
	}
	var next secretstore.Key
	switch {
	case *newFile != "":
		next, err = secretstore.ReadKeyFile(*newFile)
	case os.Getenv(envNewMasterKey) != "":
		next, err = secretstore.ParseKey([]byte(os.Getenv(envNewMasterKey)))
	default:
		return fmt.Errorf("give the new master key with --new-master-key-file or $%s (make one with: head -c 32 /dev/urandom | base64)", envNewMasterKey)
	}
	if err != nil {
		return err
	}
	cur := ring.Current()
	n, err := secretstore.Rewrap(ctx, st, secretstore.NewKeyring(next, cur))
	if err != nil {
		return fmt.Errorf("rotation from key %s to %s stopped after %d values (run rotate-key again to finish it): %w", cur.ID(), next.ID(), n, err)
	}
	fmt.Fprintf(stdout, "Rotated the master key %s -> %s: %d values re-wrapped.\nStart minato with the new key (%s).\n",
		cur.ID(), next.ID(), n, orText(*newFile, "$"+envNewMasterKey+" as $"+secretstore.EnvMasterKey))
	return nil
}

func orText(s, d string) string {
	if s != "" {
		return "--master-key-file " + s
	}
	return d
}
