// Package etcd is minato's state-store engine for more than one
// control-plane node: it implements store.Store on an etcd v3 cluster
// through the official client, mapping each part of the contract to
// etcd's own: store revisions are etcd revisions, a Txn is one etcd
// transaction whose conditions compare ModRevision (CreateRevision 0 for
// an absent key), List is a range read, and Watch is an etcd watch from a
// revision. etcd acknowledges a write once a majority of its members have
// it on disk, so a Txn that returns is durable.
//
// Every key lives under a prefix (Options.Prefix, "/minato/" by default),
// so that one etcd cluster can hold other data too. Revisions are etcd's
// and count every write to the cluster, so they need not be consecutive,
// which the contract allows.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/store"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var _ store.Store = (*Store)(nil)

// Defaults for Options fields left zero.
const (
	DefaultPrefix      = "/minato/"
	DefaultWatchBuffer = 128
	DefaultMaxLag      = 10000
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// Prefix is put in front of every key. Default DefaultPrefix. Two
	// stores with different prefixes on one etcd do not see each other's
	// records (but share revisions, and Compact compacts both).
	Prefix string
	// WatchBuffer is the capacity of each watcher's channel. Default
	// DefaultWatchBuffer.
	WatchBuffer int
	// MaxLag is how many events a watcher may have received from etcd and
	// not yet read before it is ended with store.ErrCompacted, as bolt ends
	// one that falls out of its history. Default DefaultMaxLag.
	MaxLag int
	// OwnClient makes Close close the client too.
	OwnClient bool
}

// Store is a store.Store on etcd. Create it with New.
type Store struct {
	cli    *clientv3.Client
	prefix string
	opts   Options

	// ctx ends at Close: every call runs under it, so that Close does not
	// wait for a call blocked on an unreachable cluster.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // guards closed
	closed bool
	wg     sync.WaitGroup // watcher goroutines
}

// New returns a Store on the etcd cluster cli is a client of. cli stays the
// caller's unless opts.OwnClient is set.
func New(cli *clientv3.Client, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = DefaultWatchBuffer
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultMaxLag
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{cli: cli, prefix: opts.Prefix, opts: opts, ctx: ctx, cancel: cancel}
}

// Client returns the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the prefix of every key the store writes.
func (s *Store) Prefix() string { return s.prefix }

// Sibling returns a store on the same client whose keys live beside this
// store's, under "<prefix>-<name>/" ("/minato-logs/" for "/minato/" and
// "logs"), so that a watch of this store's whole prefix does not see them.
// It shares the client (Close closes only the sibling).
func (s *Store) Sibling(name string) store.Store {
	o := s.opts
	o.Prefix = strings.TrimSuffix(s.prefix, "/") + "-" + name + "/"
	o.OwnClient = false
	return New(s.cli, o)
}

// begin starts a call: it fails with store.ErrClosed after Close, and
// otherwise returns ctx bounded also by the store's life.
func (s *Store) begin(ctx context.Context) (context.Context, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, nil, store.ErrClosed
	}
	// A member without a leader (cut off from the majority) refuses the
	// call at once instead of waiting for one: a server cut off answers
	// "unavailable" (the API 503) and its callers go elsewhere, rather
	// than hang until they give up.
	c, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(s.ctx, cancel)
	return c, func() { stop(); cancel() }, nil
}

// fail maps an error of a call made with the caller's ctx.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	switch {
	case s.ctx.Err() != nil:
		return store.ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case unavailable(err):
		return fmt.Errorf("store/etcd: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("store/etcd: %s: %w", op, err)
}

// dropRetryFor bounds the retries of a proposal raft dropped.
const dropRetryFor = 5 * time.Second

// dropped reports whether err is raft's ErrProposalDropped, which the
// etcd server passes on as it is (gRPC Unknown): the member could not
// propose the write (no leader, or its leadership moving), so it was not
// applied.
func dropped(err error) bool {
	return err != nil && status.Code(err) == codes.Unknown && strings.Contains(status.Convert(err).Message(), "raft proposal dropped")
}

// unavailable reports whether err says that etcd cannot serve now: no
// leader, the leader lost or changed, a timeout waiting for the majority,
// no member reachable (gRPC's Unavailable, which etcd uses for all of
// these).
func unavailable(err error) bool {
	if dropped(err) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	return status.Code(err) == codes.Unavailable
}

// Get returns the record at key, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	c, done, err := s.begin(ctx)
	if err != nil {
		return store.KV{}, err
	}
	defer done()
	resp, err := s.cli.Get(c, s.prefix+key)
	if err != nil {
		return store.KV{}, s.fail(ctx, "get", err)
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, store.ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision), nil
}

// List returns the records under prefix in key order and the revision the
// listing reflects, in one etcd range read.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	c, done, err := s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	from, end := listRange(s.prefix, prefix, opts.After)
	var ropts []clientv3.OpOption
	if end != "" {
		ropts = append(ropts, clientv3.WithRange(end))
	}
	if opts.Limit > 0 {
		ropts = append(ropts, clientv3.WithLimit(int64(opts.Limit)))
	}
	resp, err := s.cli.Get(c, from, ropts...)
	if err != nil {
		return nil, 0, s.fail(ctx, "list", err)
	}
	out := make([]store.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision))
	}
	if len(out) == 0 {
		out = nil
	}
	return out, resp.Header.Revision, nil
}

// listRange returns the etcd range [from, end) of the keys under prefix
// (within the store's namespace ns) that sort after after. An empty end
// means the single key from: a range that holds nothing is turned into a
// read of one key that cannot exist (keys of the store are never empty),
// so that the read still returns the revision.
func listRange(ns, prefix, after string) (from, end string) {
	from = ns + prefix
	end = clientv3.GetPrefixRangeEnd(from)
	if after >= prefix && after != "" {
		from = ns + after + "\x00"
	}
	if end != "\x00" && from >= end {
		return ns, ""
	}
	return from, end
}

// Revision returns the current store revision (etcd's), by a linearizable
// read.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	c, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	resp, err := s.cli.Get(c, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, s.fail(ctx, "revision", err)
	}
	return resp.Header.Revision, nil
}

// Txn checks conds and, if all hold, applies ops in one etcd transaction.
// A Txn that changes nothing returns the current revision without making a
// new one, as etcd does. etcd refuses a transaction that writes one key
// twice, so ops on the same key are merged first: the last one wins, in
// its place.
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	if err := validate(conds, ops); err != nil {
		return 0, err
	}
	c, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	cmps := make([]clientv3.Cmp, 0, len(conds))
	for _, cd := range conds {
		k := s.prefix + cd.Key
		if cd.ModRevision == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", cd.ModRevision))
		}
	}
	ops = mergeOps(ops)
	eops := make([]clientv3.Op, 0, len(ops))
	for _, op := range ops {
		k := s.prefix + op.Key
		if op.Kind == store.OpPut {
			eops = append(eops, clientv3.OpPut(k, string(op.Value)))
		} else {
			eops = append(eops, clientv3.OpDelete(k))
		}
	}
	// A proposal that raft dropped was never applied, so it is retried:
	// the member's raft leadership is moving (the leader moves it away
	// from itself, internal/cli/ha.go) or being elected, which takes about
	// an election timeout.
	var resp *clientv3.TxnResponse
	for wait, until := 25*time.Millisecond, time.Now().Add(dropRetryFor); ; wait = min(2*wait, 400*time.Millisecond) {
		resp, err = s.cli.Txn(c).If(cmps...).Then(eops...).Commit()
		if !dropped(err) || time.Now().Add(wait).After(until) {
			break
		}
		select {
		case <-c.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		return 0, s.fail(ctx, "txn", err)
	}
	if !resp.Succeeded {
		return 0, store.ErrConflict
	}
	return resp.Header.Revision, nil
}

// mergeOps returns ops with at most one op per key: the last op on a key,
// at the place of that last op. ops is returned as is when no key repeats.
func mergeOps(ops []store.Op) []store.Op {
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[op.Key] = i
	}
	if len(last) == len(ops) {
		return ops
	}
	out := make([]store.Op, 0, len(last))
	for i, op := range ops {
		if last[op.Key] == i {
			out = append(out, op)
		}
	}
	return out
}

// validate rejects what the contract or etcd cannot take, before anything
// is sent.
func validate(conds []store.Cond, ops []store.Op) error {
	for _, c := range conds {
		if c.ModRevision < 0 {
			return fmt.Errorf("store/etcd: cond on %q: negative revision %d", c.Key, c.ModRevision)
		}
	}
	for _, op := range ops {
		switch {
		case op.Key == "":
			return errors.New("store/etcd: empty key")
		case op.Kind != store.OpPut && op.Kind != store.OpDelete:
			return fmt.Errorf("store/etcd: op on %q: unknown kind %d", op.Key, op.Kind)
		}
	}
	return nil
}

// Compact drops etcd's history before rev (clientv3 Compact): afterwards a
// Watch needs afterRev >= rev-1. It compacts the whole etcd keyspace, not
// only the store's prefix. Compacting at or below an earlier compaction is
// not an error.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	c, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.cli.Compact(c, rev); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return nil
		}
		return s.fail(ctx, "compact", err)
	}
	return nil
}

// Live reports whether the store can still serve: an etcd client recovers
// by itself, so only a closed store is not live.
func (s *Store) Live() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Ready reports whether the store answers a linearizable read now, which
// needs a reachable etcd member that has a leader.
func (s *Store) Ready(ctx context.Context) error {
	_, err := s.Revision(ctx)
	return err
}

// Close closes the store: calls in flight end with store.ErrClosed, later
// calls return it, and every watcher's channel closes with Err() ==
// store.ErrClosed. It closes the client when the store owns it. Closing
// twice returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.opts.OwnClient {
		if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("store/etcd: close: %w", err)
		}
	}
	return nil
}

// kv makes a store.KV of an etcd record, dropping the prefix. A value is
// never nil, as bolt's are not.
func (s *Store) kv(key, value []byte, create, mod int64) store.KV {
	if value == nil {
		value = []byte{}
	}
	return store.KV{Key: string(key[len(s.prefix):]), Value: value, CreateRevision: create, ModRevision: mod}
}
