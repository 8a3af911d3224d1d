package core

import (
	"crypto/rand"
	"encoding/hex"
)

// IDs generates identifiers. Inject it so tests can make IDs predictable.
type IDs interface {
	// NewID returns a new 32-character lowercase hex identifier, the form ECS
	// uses for task and container instance IDs.
	NewID() string
}

// RandomIDs draws IDs from crypto/rand.
type RandomIDs struct{}

// NewID returns 16 random bytes in hex.
func (RandomIDs) NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return hex.EncodeToString(b[:])
}
