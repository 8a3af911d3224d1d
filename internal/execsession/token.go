package execsession

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Claims is what a session token grants: one command in one container of
// one task, until Expires.
type Claims struct {
	SessionID string   `json:"sid"`
	Cluster   string   `json:"cl"`
	TaskID    string   `json:"t"`
	Instance  string   `json:"i"`
	Container string   `json:"c"`
	Command   []string `json:"cmd"`
	Who       string   `json:"who"`
	Expires   int64    `json:"exp"` // Unix milliseconds
}

// Token errors.
var (
	ErrTokenInvalid = errors.New("the session token is not valid")
	ErrTokenExpired = errors.New("the session token has expired")
)

// sign returns a token for c: its JSON and an HMAC-SHA256 of it under key,
// both base64url.
func sign(key []byte, c Claims) string {
	b, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(b) + "." + enc.EncodeToString(mac.Sum(nil))
}

// verify checks a token's signature and expiry at now and returns its
// claims.
func verify(key []byte, tok string, now time.Time) (Claims, error) {
	body, sig, ok := strings.Cut(tok, ".")
	enc := base64.RawURLEncoding
	b, err1 := enc.DecodeString(body)
	s, err2 := enc.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return Claims{}, ErrTokenInvalid
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	if !hmac.Equal(mac.Sum(nil), s) {
		return Claims{}, ErrTokenInvalid
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil || c.SessionID == "" {
		return Claims{}, ErrTokenInvalid
	}
	if now.UnixMilli() >= c.Expires {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
}
