package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/testutil/certtest"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

// TestEmbeddedMemberTLSFlags: `minato server --cluster-init` with the
// etcd TLS flags runs its member on https:// peer and client URLs, and a
// second server --join's it over TLS; one with a peer certificate of
// another CA cannot.
func TestEmbeddedMemberTLSFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("etcd members: not in -short")
	}
	dir := t.TempDir()
	ca := certtest.NewCA(t, dir, "ca")
	ctx := context.Background()
	open := func(name string, peer, client certtest.Files, extra ...string) (*sharedStore, error) {
		ports, err := etcdtest.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		var h haFlags
		fs := flag.NewFlagSet("server", flag.ContinueOnError)
		h.register(fs)
		args := append([]string{"--name", name,
			"--etcd-peer-cert-file", peer.CertFile, "--etcd-peer-key-file", peer.KeyFile, "--etcd-peer-trusted-ca-file", peer.CAFile,
			"--etcd-cert-file", client.CertFile, "--etcd-key-file", client.KeyFile, "--etcd-ca-file", client.CAFile,
			"--etcd-peer-url", fmt.Sprintf("https://127.0.0.1:%d", ports[0]),
			"--etcd-client-url", fmt.Sprintf("https://127.0.0.1:%d", ports[1])}, extra...)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return openShared(ctx, &h, nodeFlags{dataDir: t.TempDir(), apiAddr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	}
	s1, err := open("s1", ca.Issue(t, dir, "s1-peer"), ca.Issue(t, dir, "s1-client"), "--cluster-init")
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	url := s1.member.ClientURL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("client URL %s", url)
	}
	s2, err := open("s2", ca.Issue(t, dir, "s2-peer"), ca.Issue(t, dir, "s2-client"), "--join", url)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s1.st.Txn(ctx, nil, []store.Op{store.Put("tls/flag", []byte("ok"))}); err != nil {
		t.Fatal(err)
	}
	kv, err := s2.st.Get(ctx, "tls/flag")
	if err != nil || string(kv.Value) != "ok" {
		t.Fatalf("read through s2: %q %v", kv.Value, err)
	}

	other := certtest.NewCA(t, dir, "other")
	start := time.Now()
	if s3, err := open("s3", other.Issue(t, dir, "s3-peer"), ca.Issue(t, dir, "s3-client"), "--join", url); err == nil {
		s3.Close()
		t.Fatal("a server with a peer certificate of another CA joined")
	} else {
		t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
}
