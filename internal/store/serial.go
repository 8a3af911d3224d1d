package store

import (
	"context"
	"sync"
)

// Serial runs the read-modify-writes of one key one at a time within this
// process. Callers that all rewrite the same record (the revision counter
// of a task definition family, one service) would otherwise race each
// other for it, and all but one would retry after every commit: with 64
// callers, some lose fifty races in a row. Serial queues them instead;
// each still commits with compare-and-swap, so that writers in other
// processes (another control-plane node, a controller) stay correct and
// are retried.
//
// The zero Serial is ready to use. Keys are held only while in use.
type Serial struct {
	mu   sync.Mutex
	keys map[string]*serialKey
}

type serialKey struct {
	turn  chan struct{} // holds a token while the key is locked
	users int           // holders and waiters; guarded by Serial.mu
}

// Do runs RetryConflicts(ctx, f) while no other Do of this Serial runs for
// key. It returns ctx's error if ctx ends while it waits for its turn.
func (s *Serial) Do(ctx context.Context, key string, f func() error) error {
	k := s.acquire(key)
	defer s.release(key, k)
	select {
	case k.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-k.turn }()
	return RetryConflicts(ctx, f)
}

func (s *Serial) acquire(key string) *serialKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]*serialKey{}
	}
	k := s.keys[key]
	if k == nil {
		k = &serialKey{turn: make(chan struct{}, 1)}
		s.keys[key] = k
	}
	k.users++
	return k
}

func (s *Serial) release(key string, k *serialKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.users--; k.users == 0 {
		delete(s.keys, key)
	}
}
