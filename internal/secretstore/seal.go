// Package secretstore keeps the values of Secrets Manager secrets and SSM
// parameters encrypted at rest, and resolves the valueFrom references of
// task definitions.
//
// Encryption is envelope-style, with AES-256-GCM throughout:
//
//	master key (32 bytes, kept apart from the store: a file or the environment)
//	  └─ wraps one data key per value (state.Sealed.WrappedKey, with KeyID)
//	       └─ encrypts the value (state.Sealed.Ciphertext, bound to the
//	          record's name and version as additional data)
//
// Rotating the master key re-wraps the data keys (Rotate); the values'
// ciphertexts stay as they are. A Keyring holds the current master key,
// which seals, and any others still needed to open records sealed before.
//
// The crypto (Seal, Open, Rewrap) is pure. Vault reads the state store's
// records; ParseValueFrom and Vault.Resolve turn a task definition's
// valueFrom into a value.
package secretstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/minato-project/minato/internal/state"
)

// KeySize is the size of master and data keys: AES-256.
const KeySize = 32

// wrapAAD binds wrapped data keys to their purpose.
var wrapAAD = []byte("minato/secretstore/v1/data-key")

// Key is a master key.
type Key struct {
	id  string
	raw [KeySize]byte
}

// NewKey returns the master key made of material, which must be 32 bytes.
func NewKey(material []byte) (Key, error) {
	if len(material) != KeySize {
		return Key{}, fmt.Errorf("a master key is %d bytes, not %d", KeySize, len(material))
	}
	var k Key
	copy(k.raw[:], material)
	sum := sha256.Sum256(append([]byte("minato/secretstore/v1/key-id\x00"), material...))
	k.id = hex.EncodeToString(sum[:8])
	return k, nil
}

// GenerateKey returns a new random master key.
func GenerateKey() (Key, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return Key{}, err
	}
	return NewKey(b)
}

// ID names the key without revealing it: a truncated hash. Sealed values
// record the ID of the key that wrapped their data key.
func (k Key) ID() string { return k.id }

// Bytes returns the key material.
func (k Key) Bytes() []byte { return append([]byte(nil), k.raw[:]...) }

// Keyring is the master key that seals and the older keys that can still
// open. It is immutable and safe for concurrent use.
type Keyring struct {
	current Key
	byID    map[string]Key
}

// NewKeyring returns a keyring that seals with current and opens values
// wrapped by current or any of others.
func NewKeyring(current Key, others ...Key) *Keyring {
	r := &Keyring{current: current, byID: map[string]Key{current.id: current}}
	for _, k := range others {
		if k.id != "" {
			r.byID[k.id] = k
		}
	}
	return r
}

// Current returns the key new values are sealed with.
func (r *Keyring) Current() Key { return r.current }

// Has reports whether the keyring holds the key with this ID.
func (r *Keyring) Has(id string) bool { _, ok := r.byID[id]; return ok }

// ErrUnknownKey: a value was wrapped by a master key the keyring lacks.
var ErrUnknownKey = errors.New("secretstore: value is wrapped by a master key that is not loaded")

// ErrDecrypt: a ciphertext does not authenticate (wrong key, tampering, or
// a value moved to another record).
var ErrDecrypt = errors.New("secretstore: value does not decrypt")

// Seal encrypts plaintext under a new data key, which it wraps with the
// current master key. aad is bound to the ciphertext: Open must be given
// the same (the record's name and version, say).
func (r *Keyring) Seal(plaintext, aad []byte) (state.Sealed, error) {
	dk := make([]byte, KeySize)
	if _, err := rand.Read(dk); err != nil {
		return state.Sealed{}, err
	}
	ct, err := gcmSeal(dk, plaintext, aad)
	if err != nil {
		return state.Sealed{}, err
	}
	wk, err := gcmSeal(r.current.raw[:], dk, wrapAAD)
	clear(dk)
	if err != nil {
		return state.Sealed{}, err
	}
	return state.Sealed{KeyID: r.current.id, WrappedKey: wk, Ciphertext: ct}, nil
}

// Open decrypts a sealed value.
func (r *Keyring) Open(s state.Sealed, aad []byte) ([]byte, error) {
	dk, err := r.unwrap(s)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	pt, err := gcmOpen(dk, s.Ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Rewrap returns s with its data key wrapped by the current master key;
// changed is false when it already was. The ciphertext is not touched.
func (r *Keyring) Rewrap(s state.Sealed) (out state.Sealed, changed bool, err error) {
	if s.KeyID == r.current.id {
		return s, false, nil
	}
	dk, err := r.unwrap(s)
	if err != nil {
		return s, false, err
	}
	defer clear(dk)
	wk, err := gcmSeal(r.current.raw[:], dk, wrapAAD)
	if err != nil {
		return s, false, err
	}
	s.KeyID, s.WrappedKey = r.current.id, wk
	return s, true, nil
}

func (r *Keyring) unwrap(s state.Sealed) ([]byte, error) {
	k, ok := r.byID[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w (key ID %q)", ErrUnknownKey, s.KeyID)
	}
	dk, err := gcmOpen(k.raw[:], s.WrappedKey, wrapAAD)
	if err != nil || len(dk) != KeySize {
		return nil, ErrDecrypt
	}
	return dk, nil
}

// gcmSeal returns nonce || AES-256-GCM(key, plaintext, aad).
func gcmSeal(key, plaintext, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

func gcmOpen(key, sealed, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrDecrypt
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SecretAAD is the additional data that binds a secret version's value to
// its secret and version.
func SecretAAD(name, versionID string) []byte {
	return []byte("secretsmanager\x00" + name + "\x00" + versionID)
}

// ParameterAAD binds a parameter version's value to its parameter and
// version.
func ParameterAAD(name string, version int64) []byte {
	return fmt.Appendf(nil, "ssm\x00%s\x00%d", name, version)
}
