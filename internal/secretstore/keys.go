package secretstore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files in the data dir.
const (
	// KeyFileName is the master key minato creates in the data dir when
	// the operator gives none (mode 0600, base64).
	KeyFileName = "secrets.key"
	// NextKeyFileName is the new key of a rotation of KeyFileName in
	// progress; it replaces KeyFileName once every value is re-wrapped.
	NextKeyFileName = "secrets.key.next"
)

// EnvMasterKey is the environment variable that may hold the master key
// (base64 or hex of 32 bytes).
const EnvMasterKey = "MINATO_MASTER_KEY"

// KeySource says where the master key comes from. The first of EnvValue,
// File and DataDir that is set wins.
type KeySource struct {
	// EnvValue is the value of MINATO_MASTER_KEY.
	EnvValue string
	// File is a file the operator gives that holds the key (32 raw bytes,
	// or base64 or hex text).
	File string
	// DataDir is the node's data dir: the key is DataDir/secrets.key,
	// created on first use.
	DataDir string
}

// Describe says where the key comes from, for messages.
func (s KeySource) Describe() string {
	switch {
	case s.EnvValue != "":
		return "$" + EnvMasterKey
	case s.File != "":
		return s.File
	default:
		return filepath.Join(s.DataDir, KeyFileName)
	}
}

// LoadKeyring loads the master key from src. With the data-dir key, a
// missing file is created; a file readable by others than its owner is
// refused; and the key of an unfinished rotation (secrets.key.next) is
// loaded too, so that every value stays readable.
func LoadKeyring(src KeySource) (*Keyring, error) {
	switch {
	case src.EnvValue != "":
		k, err := ParseKey([]byte(src.EnvValue))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return NewKeyring(k), nil
	case src.File != "":
		k, err := ReadKeyFile(src.File)
		if err != nil {
			return nil, err
		}
		return NewKeyring(k), nil
	case src.DataDir == "":
		return nil, errors.New("secretstore: no master key source")
	}
	path := filepath.Join(src.DataDir, KeyFileName)
	k, err := ReadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var nk Key
		if nk, err = GenerateKey(); err != nil {
			return nil, err
		}
		if err = WriteKeyFile(path, nk); err == nil {
			k = nk
		} else if errors.Is(err, fs.ErrExist) { // created meanwhile
			k, err = ReadKeyFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	next, err := ReadKeyFile(filepath.Join(src.DataDir, NextKeyFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return NewKeyring(k), nil
	}
	if err != nil {
		return nil, err
	}
	return NewKeyring(k, next), nil
}

// checkPrivate refuses a key file that others than its owner can read or
// write.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("master key file %s has mode %v: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	return nil
}

// ParseKey reads a key written as base64 (standard or URL alphabet) or
// hex text, or as 32 raw bytes.
func ParseKey(b []byte) (Key, error) {
	t := bytes.TrimSpace(b)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(string(t)); err == nil && len(d) == KeySize {
			return NewKey(d)
		}
	}
	if d, err := hex.DecodeString(string(t)); err == nil && len(d) == KeySize {
		return NewKey(d)
	}
	if len(b) == KeySize {
		return NewKey(b)
	}
	return Key{}, errors.New("not a 32-byte key (base64 or hex text, or 32 raw bytes); make one with: head -c 32 /dev/urandom | base64")
}

// ReadKeyFile reads a master key file.
func ReadKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("master key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return Key{}, fmt.Errorf("master key %s: %w", path, err)
	}
	return k, nil
}

// WriteKeyFile writes k to a new file at path, mode 0600, durably. It
// fails with an error wrapping fs.ErrExist if the file exists.
func WriteKeyFile(path string, k Key) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k.raw[:]) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("master key: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
