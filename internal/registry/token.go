package registry

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// TokenTTL is how long a registry token is good for: twelve hours, as
// ECR's authorization tokens.
const TokenTTL = 12 * time.Hour

// TokenUser is the user name docker login is given with a token, as with
// ECR.
const TokenUser = "AWS"

// Token errors.
var (
	ErrTokenInvalid = errors.New("registry token is invalid")
	ErrTokenExpired = errors.New("registry token has expired")
)

// What the registry answers a request without a good token; docker shows
// it after "unauthorized: ". The texts of a bad and an expired token are
// ECR's.
const (
	msgNoToken      = "Not Authorized: log in with the password `aws ecr get-login-password` prints (docker login --username AWS --password-stdin)"
	msgTokenInvalid = "Your authorization token is invalid. Reauthenticate and try again."
	msgTokenExpired = "Your authorization token has expired. Reauthenticate and try again."
)

// A token is self-contained: version, expiry and a random nonce, signed
// with HMAC-SHA256 under a key kept in the data directory. Checking one
// costs a hash and no store read, and issuing one writes nothing, so that
// every registry request can be checked and tokens can be handed out
// freely (each task start asks for one).
const (
	tokenVersion = 1
	nonceLen     = 16
	tokenBodyLen = 1 + 8 + nonceLen
	tokenLen     = tokenBodyLen + sha256.Size
	tokenKeyLen  = 32
)

type tokens struct{ key []byte }

// issue returns a new token that expires at now+TokenTTL.
func (t tokens) issue(now time.Time) (string, time.Time) {
	exp := now.Add(TokenTTL).Truncate(time.Second)
	b := make([]byte, tokenBodyLen, tokenLen)
	b[0] = tokenVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(exp.Unix()))
	if _, err := rand.Read(b[9:tokenBodyLen]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	b = append(b, t.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b), exp
}

// verify checks a token's signature and expiry.
func (t tokens) verify(tok string, now time.Time) error {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenLen || b[0] != tokenVersion {
		return ErrTokenInvalid
	}
	if !hmac.Equal(b[tokenBodyLen:], t.mac(b[:tokenBodyLen])) {
		return ErrTokenInvalid
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[1:9])), 0)
	if !now.Before(exp) {
		return ErrTokenExpired
	}
	return nil
}

func (t tokens) mac(body []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write(body)
	return m.Sum(nil)
}

// loadOrCreateTokenKey returns the token key kept at path, creating it
// (mode 0600, durably) on first start. Two processes starting at once
// agree: the file is created exclusively and the loser reads the winner's.
func loadOrCreateTokenKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != tokenKeyLen {
			return nil, fmt.Errorf("registry token key %s is damaged (%d bytes, want %d); remove it to make a new one (tokens issued so far stop working)", path, len(b), tokenKeyLen)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	key := make([]byte, tokenKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-token-key-*")
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Link, not rename: it fails if another process made the key first.
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateTokenKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	return key, syncDir(filepath.Dir(path))
}
