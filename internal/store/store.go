// Package store defines minato's state store: keyed records with revisions,
// compare-and-swap transactions, prefix listing and watch.
//
// Every engine (store/bolt, the embedded default; store/etcd for more than one
// control-plane node) implements Store and passes the conformance suite in
// store/storetest. A write returns only after it is durable.
package store

import (
	"context"
	"errors"
)

// Errors returned by every engine. Callers test them with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict: a transaction's condition did not hold; nothing was written.
	ErrConflict = errors.New("store: condition failed")
	// ErrCompacted: a watch asked for a revision older than the engine keeps.
	// The caller lists again and watches from the list's revision.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the store cannot serve now, and says so at once
	// rather than wait: a shared engine's member cut off from its
	// cluster's majority (etcd without a leader). A write that fails with
	// it may or may not have been applied, as with any error but
	// ErrConflict. Callers retry later or elsewhere; the API answers 503.
	ErrUnavailable = errors.New("store: unavailable (no quorum reachable)")
)

// KV is one record.
type KV struct {
	Key   string
	Value []byte
	// CreateRevision is the store revision at which the key was created.
	CreateRevision int64
	// ModRevision is the store revision of the key's last change.
	ModRevision int64
}

// Cond is a precondition of a transaction on one key.
type Cond struct {
	Key string
	// ModRevision the key must have. 0 means the key must not exist.
	ModRevision int64
}

// MustNotExist is a Cond that holds only when key is absent.
func MustNotExist(key string) Cond { return Cond{Key: key} }

// MustBeAt is a Cond that holds only when key exists at revision rev.
func MustBeAt(key string, rev int64) Cond { return Cond{Key: key, ModRevision: rev} }

// OpKind says what an Op does.
type OpKind int

const (
	OpPut OpKind = iota + 1
	OpDelete
)

// Op is one write in a transaction.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte // for OpPut
}

// Put returns an Op that writes value at key.
func Put(key string, value []byte) Op { return Op{Kind: OpPut, Key: key, Value: value} }

// Delete returns an Op that removes key. Deleting a missing key is not an error.
func Delete(key string) Op { return Op{Kind: OpDelete, Key: key} }

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
	// EventProgress carries no key: every change up to KV.ModRevision
	// has been delivered. Only watches that ask for it get it (store/etcd's
	// WatchProgress); Watch never delivers one.
	EventProgress
)

// Event is one change seen by a watch. For EventDelete, KV.Value is nil and
// KV.ModRevision is the revision of the delete.
type Event struct {
	Type EventType
	KV   KV
	// Last marks the last event of its revision that the watch delivers:
	// a watch delivers the events of one revision together, and a reader
	// that must not act on half a transaction (the cluster view) waits for
	// it before it treats the revision as applied.
	Last bool
}

// ListOptions narrow a List.
type ListOptions struct {
	// After: only keys strictly greater than After (for pagination).
	After string
	// Limit: at most this many records; 0 means no limit.
	Limit int
}

// Store is the state store. All methods are safe for concurrent use.
type Store interface {
	// Get returns the record at key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the records whose keys start with prefix, in key order, and
	// the store revision the listing reflects.
	List(ctx context.Context, prefix string, opts ListOptions) ([]KV, int64, error)
	// Txn checks every cond and, only if all hold, applies every op atomically.
	// It returns the new store revision, or ErrConflict and writes nothing.
	// A Txn with no ops but conds only checks them. It returns after the
	// write is durable.
	Txn(ctx context.Context, conds []Cond, ops []Op) (int64, error)
	// Watch streams, in revision order, every change to keys under prefix
	// with a revision greater than afterRev. The channel is closed when ctx
	// ends or the store closes; a watcher that cannot keep up, or that asks
	// for a revision no longer kept, receives a final error through Err.
	Watch(ctx context.Context, prefix string, afterRev int64) (Watcher, error)
	// Revision returns the current store revision.
	Revision(ctx context.Context) (int64, error)
	// Close releases the store.
	Close() error
}

// Watcher is an open watch.
type Watcher interface {
	// Events delivers changes in revision order until the watch ends.
	Events() <-chan Event
	// Err says why Events was closed: nil after ctx ended, ErrCompacted when
	// the watcher fell behind what the engine keeps, ErrClosed on close.
	Err() error
}
