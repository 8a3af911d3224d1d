package leader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// node is one control-plane server of the test: its own etcd client,
// store, and Runner with one loop that reports its terms.
type node struct {
	name   string
	cli    *clientv3.Client
	st     store.Store
	r      *Runner
	terms  chan context.Context // the context of each term's loop, at its start
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, srv *etcdtest.Server, name string) *node {
	t.Helper()
	cli, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	es := etcdstore.New(cli, etcdstore.Options{})
	n := &node{name: name, cli: cli, st: Fence(es), terms: make(chan context.Context, 4), done: make(chan struct{})}
	n.r = &Runner{Elector: &Etcd{Client: cli, StorePrefix: es.Prefix(), Name: name, TTL: 1}, Retry: 50 * time.Millisecond}
	n.r.Add("probe", func(ctx context.Context) {
		n.terms <- ctx
		<-ctx.Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { defer close(n.done); n.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-n.done })
	return n
}

func waitTerm(t *testing.T, n *node, within time.Duration) context.Context {
	t.Helper()
	select {
	case ctx := <-n.terms:
		return ctx
	case <-time.After(within):
		t.Fatalf("%s did not become leader within %v", n.name, within)
		return nil
	}
}

// TestEtcdFailover runs two servers on one etcd: one leads, the other
// takes over when the first's lease ends, and the first's writes from its
// old term fail; then the second is cut off (its client closed, as a
// kill -9 would) and the first leads again within the lease.
func TestEtcdFailover(t *testing.T) {
	srv, raw := etcdtest.Start(t, etcdtest.Options{})
	ctx := etcdtest.WaitContext(t)
	a := startNode(t, srv, "a")
	aTerm := waitTerm(t, a, 30*time.Second)
	b := startNode(t, srv, "b")
	if name, ok, err := Current(ctx, a.st); err != nil || !ok || name != "a" {
		t.Fatalf("Current = %q %v %v, want a", name, ok, err)
	}
	if _, err := a.st.Txn(aTerm, nil, []store.Op{store.Put("services/x", []byte("a1"))}); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}
	select {
	case <-b.terms:
		t.Fatal("b leads while a does")
	default:
	}

	// a's lease ends behind its back (a pause longer than the lease).
	fence, _ := FenceOf(aTerm)
	kv, err := raw.Get(ctx, "/minato/"+fence.Key)
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("the election key %s: %v %v", fence.Key, kv, err)
	}
	start := time.Now()
	if _, err := raw.Revoke(ctx, clientv3.LeaseID(kv.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	bTerm := waitTerm(t, b, 30*time.Second)
	t.Logf("b leads %v after a's lease was revoked", time.Since(start))
	// Whatever a still tries with its old term is refused.
	_, err = a.st.Txn(context.WithoutCancel(aTerm), nil, []store.Op{store.Put("services/x", []byte("a2"))})
	if !errors.Is(err, ErrDeposed) {
		t.Fatalf("the deposed leader's write: got %v, want ErrDeposed", err)
	}
	if _, err := b.st.Txn(bTerm, nil, []store.Op{store.Put("services/x", []byte("b1"))}); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	select {
	case <-aTerm.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a's controllers still run after its term ended")
	}

	// b dies without resigning: a takes over once b's lease expires.
	aTerm2Wait := make(chan context.Context, 1)
	go func() {
		select {
		case c := <-a.terms:
			aTerm2Wait <- c
		case <-time.After(60 * time.Second):
			close(aTerm2Wait)
		}
	}()
	start = time.Now()
	b.cli.Close()
	aTerm2, ok := <-aTerm2Wait
	if !ok {
		t.Fatal("a did not lead again after b died")
	}
	t.Logf("a leads again %v after b's client died (lease TTL 1 s)", time.Since(start))
	if _, err := a.st.Txn(aTerm2, nil, []store.Op{store.Put("services/x", []byte("a3"))}); err != nil {
		t.Fatalf("a's write in its new term: %v", err)
	}
	got, err := a.st.Get(ctx, "services/x")
	if err != nil || string(got.Value) != "a3" {
		t.Fatalf("services/x = %q %v, want a3", got.Value, err)
	}
}
