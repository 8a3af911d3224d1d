package awsproto

import "sync"

// Principal is the identity an access key belongs to.
type Principal struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string // 12 digits
	ARN             string // e.g. arn:aws:iam::123456789012:root
	UserID          string // e.g. the account ID for the root user, AIDA... for a user
	// SessionToken, when set, is the session token requests must carry
	// (X-Amz-Security-Token): the principal's keys are temporary.
	SessionToken string
	// Allow, when set, says which operations the principal may call, by
	// the service's signing name; the others are refused with
	// AccessDenied. Nil allows everything.
	Allow func(service, operation string) bool
}

// TokenKeyStore is a KeyStore that also knows temporary keys: the principal
// of an access key ID and the session token a request carries.
type TokenKeyStore interface {
	KeyStore
	LookupToken(accessKeyID, sessionToken string) (Principal, bool)
}

// KeyStore finds the principal of an access key ID. Implementations must be
// safe for concurrent use.
type KeyStore interface {
	Lookup(accessKeyID string) (Principal, bool)
}

// StaticKeys is an in-memory KeyStore. It is safe for concurrent use.
type StaticKeys struct {
	mu   sync.RWMutex
	keys map[string]Principal
}

var _ KeyStore = (*StaticKeys)(nil)

// NewStaticKeys returns a StaticKeys holding ps.
func NewStaticKeys(ps ...Principal) *StaticKeys {
	k := &StaticKeys{keys: make(map[string]Principal, len(ps))}
	for _, p := range ps {
		k.keys[p.AccessKeyID] = p
	}
	return k
}

// Add adds or replaces the principal of p.AccessKeyID.
func (k *StaticKeys) Add(p Principal) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string]Principal)
	}
	k.keys[p.AccessKeyID] = p
}

// Remove forgets an access key.
func (k *StaticKeys) Remove(accessKeyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, accessKeyID)
}

// Lookup implements KeyStore.
func (k *StaticKeys) Lookup(accessKeyID string) (Principal, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	p, ok := k.keys[accessKeyID]
	return p, ok
}
