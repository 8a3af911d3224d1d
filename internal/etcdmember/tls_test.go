package etcdmember_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of cert
}

func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue makes a certificate for 127.0.0.1 good for serving and as a
// client (etcd's peers are both), and returns its files.
func (ca *testCA) issue(t *testing.T, dir, name string) etcdmember.TLSFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := etcdmember.TLSFiles{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+"-key.pem"), CAFile: ca.file}
	writePEM(t, f.CertFile, "CERTIFICATE", der)
	writePEM(t, f.KeyFile, "EC PRIVATE KEY", kder)
	return f
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
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
	ca := newCA(t, dir, "ca")

	oa := tlsOptions(t, dir, "a", ca.issue(t, dir, "a-peer"), ca.issue(t, dir, "a-client"))
	oa.ClusterInit = true
	a := start(t, ctx, oa)
	ob := tlsOptions(t, dir, "b", ca.issue(t, dir, "b-peer"), ca.issue(t, dir, "b-client"))
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
	if _, err := etcdstore.Open(octx, "etcds://"+strings.TrimPrefix(a.ClientURL(), "https://"), etcdstore.TLS{CAFile: ca.file},
		etcdstore.Options{}); err == nil {
		t.Fatal("a client without a certificate opened the store")
	}

	// A member with a client certificate of the CA (so it can ask to be
	// added) but a peer certificate of another CA: the members refuse its
	// raft traffic, and it never starts.
	t.Logf("%s: a client without a certificate refused", time.Now().Format(time.StampMilli))
	other := newCA(t, dir, "other")
	oc := tlsOptions(t, dir, "c", other.issue(t, dir, "c-peer"), ca.issue(t, dir, "c-client"))
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
