package controlplane

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// AccessKey is the key pair that signs requests to minato.
type AccessKey struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

const keyFileName = "credentials.json"

// LoadOrCreateKey returns the key pair to accept. A pair given in the
// environment (both halves) wins; otherwise the pair kept in dataDir is
// used, and on first start a new pair is generated and kept there with mode
// 0600. created reports whether a new pair was generated.
func LoadOrCreateKey(dataDir, envID, envSecret string) (k AccessKey, created bool, err error) {
	switch {
	case envID != "" && envSecret != "":
		return AccessKey{AccessKeyID: envID, SecretAccessKey: envSecret}, false, nil
	case envID != "" || envSecret != "":
		return AccessKey{}, false, errors.New("set both MINATO_ACCESS_KEY_ID and MINATO_SECRET_ACCESS_KEY, or neither")
	}
	path := filepath.Join(dataDir, keyFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" {
			return AccessKey{}, false, fmt.Errorf("%s is damaged; remove it to generate a new key pair", path)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return AccessKey{}, false, err
	}
	k = newAccessKey()
	b, _ = json.MarshalIndent(k, "", "  ")
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return AccessKey{}, false, err
	}
	return k, true, nil
}

// newAccessKey generates a key pair.
func newAccessKey() AccessKey {
	return AccessKey{
		AccessKeyID:     "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
	}
}

// newToken generates an agent join token.
func newToken() string { return "mnt-" + randomString(40, "abcdefghijklmnopqrstuvwxyz0123456789") }

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// writeFileAtomic writes data to path so that a crash leaves either the old
// file or the whole new one: temp file, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const tokenFileName = "agent-token"

// loadOrCreateToken returns the agent join token: the one given, else the
// one kept in dataDir, else a new one kept there with mode 0600.
func loadOrCreateToken(dataDir, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	return loadOrCreateFileToken(dataDir, tokenFileName)
}

// loadOrCreateFileToken returns the token kept in dataDir/name, made
// (random, mode 0600) when there is none.
func loadOrCreateFileToken(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	tok := newToken()
	return tok, writeFileAtomic(path, []byte(tok+"\n"), 0o600)
}
