package etcdmember_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/certtest"
)

func tlsFiles(f certtest.Files) etcdmember.TLSFiles {
	return etcdmember.TLSFiles{CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.CAFile}
}

// tlsOptions is options with TLS on both the peer and the client side.
func tlsOptions(t *testing.T, dir, name string, peer, client etcdmember.TLSFiles) etcdmember.Options {
	o := options(t, dir, name)
	o.PeerURL = strings.Replace(o.PeerURL, "http://", "https://", 1)
	o.ClientURL = strings.Replace(o.ClientURL, "http://", "https://", 1)
	o.PeerTLS, o.ClientTLS = peer, client
	return o
}

// TestClusterOverTLS forms a cluster of two members whose peer and client
// traffic is TLS with client certificates of one CA, and shows that a
// member whose peer certificate another CA signed does not get in.
func TestClusterOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("etcd members: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")

	oa := tlsOptions(t, dir, "a", tlsFiles(ca.Issue(t, dir, "a-peer")), tlsFiles(ca.Issue(t, dir, "a-client")))
	oa.ClusterInit = true
	a := start(t, ctx, oa)
	ob := tlsOptions(t, dir, "b", tlsFiles(ca.Issue(t, dir, "b-peer")), tlsFiles(ca.Issue(t, dir, "b-client")))
	ob.Join = a.ClientURL()
	b := start(t, ctx, ob)

	// A write through one member is read through the other, over TLS.
	sa, err := a.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := b.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if _, err := sa.Txn(ctx, nil, []store.Op{store.Put("tls/k", []byte("v"))}); err != nil {
		t.Fatal(err)
	}
	kv, err := sb.Get(ctx, "tls/k")
	if err != nil || string(kv.Value) != "v" {
		t.Fatalf("read through b: %q %v", kv.Value, err)
	}
	cli, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := etcdmember.Status(ctx, cli)
	if err != nil || len(st) != 2 {
		t.Fatalf("status: %+v %v", st, err)
	}
	for _, m := range st {
		if !m.Healthy || m.Learner {
			t.Fatalf("member %s: healthy %v learner %v (%s)", m.Name, m.Healthy, m.Learner, m.Err)
		}
	}

	t.Logf("%s: cluster of two over TLS", time.Now().Format(time.StampMilli))
	// The client port wants a certificate of the CA: a client without one
	// is refused.
	octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
	defer ocancel()
	if _, err := etcdstore.Open(octx, "etcds://"+strings.TrimPrefix(a.ClientURL(), "https://"), etcdstore.TLS{CAFile: ca.File},
		etcdstore.Options{}); err == nil {
		t.Fatal("a client without a certificate opened the store")
	}

	// A member with a client certificate of the CA (so it can ask to be
	// added) but a peer certificate of another CA: the members refuse its
	// raft traffic, and it never starts.
	t.Logf("%s: a client without a certificate refused", time.Now().Format(time.StampMilli))
	other := certtest.NewCA(t, dir, "other")
	oc := tlsOptions(t, dir, "c", tlsFiles(other.Issue(t, dir, "c-peer")), tlsFiles(ca.Issue(t, dir, "c-client")))
	oc.Join = a.ClientURL()
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	defer ccancel()
	m, err := etcdmember.Start(cctx, oc)
	if err == nil {
		m.Close()
		t.Fatal("a member with a peer certificate of another CA joined")
	}
	t.Logf("%s: member c refused: %v", time.Now().Format(time.StampMilli), err)
	st, err = etcdmember.Status(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if m.Name == "c" {
			t.Fatalf("member c started in the cluster: %+v", m)
		}
	}
	// And the cluster still serves.
	if _, err := sb.Txn(ctx, nil, []store.Op{store.Put("tls/k2", []byte("v"))}); err != nil {
		t.Fatal(err)
	}
}
