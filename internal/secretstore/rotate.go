package secretstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Rewrap re-wraps the data key of every secret and parameter version in st
// with ring's current master key; values already under it are left alone.
// Each record is rewritten with a compare-and-swap, so Rewrap may run while
// the records change, and can be run again after a crash. It returns how
// many values it re-wrapped.
func Rewrap(ctx context.Context, st store.Store, ring *Keyring) (int, error) {
	total := 0
	for _, prefix := range []string{state.SecretsPrefix(), state.ParametersPrefix()} {
		kvs, _, err := st.List(ctx, prefix, store.ListOptions{})
		if err != nil {
			return total, err
		}
		for _, kv := range kvs {
			n, err := rewrapRecord(ctx, st, ring, kv)
			total += n
			if err != nil {
				return total, fmt.Errorf("re-wrap %s: %w", kv.Key, err)
			}
		}
	}
	return total, nil
}

func rewrapRecord(ctx context.Context, st store.Store, ring *Keyring, kv store.KV) (int, error) {
	for attempt := 0; ; attempt++ {
		n, b, err := rewrapValue(ring, kv)
		if err != nil || n == 0 {
			return 0, err
		}
		_, err = st.Txn(ctx, []store.Cond{store.MustBeAt(kv.Key, kv.ModRevision)}, []store.Op{store.Put(kv.Key, b)})
		if !errors.Is(err, store.ErrConflict) || attempt > 20 {
			return n, err
		}
		if kv, err = st.Get(ctx, kv.Key); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return 0, nil
			}
			return 0, err
		}
	}
}

// rewrapValue re-wraps the values of one encoded record.
func rewrapValue(ring *Keyring, kv store.KV) (int, []byte, error) {
	n := 0
	rewrap := func(s *state.Sealed) error {
		out, changed, err := ring.Rewrap(*s)
		if err != nil {
			return err
		}
		if changed {
			*s = out
			n++
		}
		return nil
	}
	var rec any
	switch {
	case hasPrefix(kv.Key, state.SecretsPrefix()):
		it, err := decodeKV[state.Secret](kv)
		if err != nil {
			return 0, nil, err
		}
		for i := range it.Versions {
			if err := rewrap(&it.Versions[i].Value); err != nil {
				return 0, nil, err
			}
		}
		rec = it
	default:
		it, err := decodeKV[state.Parameter](kv)
		if err != nil {
			return 0, nil, err
		}
		for i := range it.Versions {
			if err := rewrap(&it.Versions[i].Value); err != nil {
				return 0, nil, err
			}
		}
		rec = it
	}
	if n == 0 {
		return 0, nil, nil
	}
	b, err := state.Encode(rec)
	return n, b, err
}

// KeyUse counts the values in st by the ID of the master key that wraps
// them.
func KeyUse(ctx context.Context, st store.Store) (map[string]int, error) {
	out := map[string]int{}
	kvs, _, err := st.List(ctx, state.SecretsPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		s, err := decodeKV[state.Secret](kv)
		if err != nil {
			return nil, err
		}
		for _, v := range s.Versions {
			out[v.Value.KeyID]++
		}
	}
	kvs, _, err = st.List(ctx, state.ParametersPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		p, err := decodeKV[state.Parameter](kv)
		if err != nil {
			return nil, err
		}
		for _, v := range p.Versions {
			out[v.Value.KeyID]++
		}
	}
	return out, nil
}

// CheckKeys fails when some value in st is wrapped by a master key ring
// does not hold: the node was started with the wrong key.
func CheckKeys(ctx context.Context, st store.Store, ring *Keyring) error {
	use, err := KeyUse(ctx, st)
	if err != nil {
		return err
	}
	for id, n := range use {
		if !ring.Has(id) {
			return fmt.Errorf("%d secret values are wrapped by master key %s, which is not loaded (loaded: %s): start minato with the master key they were sealed with, or finish its rotation with `minato rotate-key`", n, id, ring.Current().ID())
		}
	}
	return nil
}

// RotateDataDir rotates the master key kept in dataDir (secrets.key): a
// new key is written to secrets.key.next, every value is re-wrapped with
// it, and it then replaces secrets.key. A rotation that was interrupted is
// finished with the key it had written.
func RotateDataDir(ctx context.Context, st store.Store, dataDir string) (oldID, newID string, n int, err error) {
	cur, err := ReadKeyFile(filepath.Join(dataDir, KeyFileName))
	if err != nil {
		return "", "", 0, err
	}
	nextPath := filepath.Join(dataDir, NextKeyFileName)
	next, err := ReadKeyFile(nextPath)
	if errors.Is(err, os.ErrNotExist) {
		if next, err = GenerateKey(); err == nil {
			err = WriteKeyFile(nextPath, next)
		}
	}
	if err != nil {
		return "", "", 0, err
	}
	n, err = Rewrap(ctx, st, NewKeyring(next, cur))
	if err != nil {
		return cur.ID(), next.ID(), n, err
	}
	if err := os.Rename(nextPath, filepath.Join(dataDir, KeyFileName)); err != nil {
		return cur.ID(), next.ID(), n, err
	}
	return cur.ID(), next.ID(), n, syncDir(dataDir)
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
