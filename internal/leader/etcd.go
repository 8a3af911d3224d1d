package leader

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/minato-project/minato/internal/store"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ElectionPrefix is where the election's keys live, under the store's own
// prefix: a key per candidate, named by its lease, whose creation revision
// orders the candidates (etcd's concurrency.Election).
const ElectionPrefix = "leader/"

// DefaultTTL is the lease of a term, in seconds: how long a leader that
// died silently (kill -9, a cut cable) goes on holding the election before
// another server takes over.
const DefaultTTL = 2

// Etcd is the Elector of servers that share an etcd cluster: etcd's own
// election (go.etcd.io/etcd/client/v3/concurrency) over a session whose
// lease the server keeps alive while it runs.
type Etcd struct {
	Client *clientv3.Client
	// StorePrefix is the prefix of the etcd store's keys (store/etcd
	// Options.Prefix, "/minato/" by default): the election lives at
	// StorePrefix+ElectionPrefix, so that its key is a store key too and
	// a fence can name it.
	StorePrefix string
	// Name is this server's name, the value of its election key.
	Name string
	// TTL is the lease in seconds (default DefaultTTL).
	TTL int
}

// Campaign waits until this server holds the election.
func (e *Etcd) Campaign(ctx context.Context) (Term, error) {
	ttl := e.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	s, err := concurrency.NewSession(e.Client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("election session: %w", err)
	}
	el := concurrency.NewElection(s, strings.TrimSuffix(e.StorePrefix+ElectionPrefix, "/"))
	if err := el.Campaign(ctx, e.Name); err != nil {
		s.Close()
		return nil, err
	}
	t := &etcdTerm{s: s, el: el, fence: store.MustBeAt(strings.TrimPrefix(el.Key(), e.StorePrefix), el.Rev())}
	// A session that expired while the campaign waited for the servers
	// ahead of it wins nothing: its key went with the lease.
	resp, err := e.Client.Get(ctx, el.Key())
	if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].ModRevision != el.Rev() {
		s.Close()
		if err == nil {
			err = errors.New("election key lost while campaigning")
		}
		return nil, err
	}
	return t, nil
}

type etcdTerm struct {
	s     *concurrency.Session
	el    *concurrency.Election
	fence store.Cond
}

func (t *etcdTerm) Lost() <-chan struct{}     { return t.s.Done() }
func (t *etcdTerm) Fence() (store.Cond, bool) { return t.fence, true }

func (t *etcdTerm) Resign(ctx context.Context) error {
	err := t.el.Resign(ctx)
	return errors.Join(err, t.s.Close())
}

// Current returns the name of the server that leads now, read from st (a
// store on etcd): the value of the election key created first. ok is false
// when nobody leads.
func Current(ctx context.Context, st store.Store) (name string, ok bool, err error) {
	kvs, _, err := st.List(ctx, ElectionPrefix, store.ListOptions{})
	if err != nil || len(kvs) == 0 {
		return "", false, err
	}
	first := kvs[0]
	for _, kv := range kvs[1:] {
		if kv.CreateRevision < first.CreateRevision {
			first = kv
		}
	}
	return string(first.Value), true, nil
}
