package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

// TestEtcdBackupRestore: minato backup --store takes a verified snapshot of
// a server's embedded member; minato etcd-restore makes a new member from
// it, and the member started on that data holds the records.
func TestEtcdBackupRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	member := func(name string, dataDir string) etcdmember.Options {
		ports, err := etcdtest.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		return etcdmember.Options{Name: name, DataDir: filepath.Join(dataDir, "etcd"),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]), NoFsync: true}
	}
	o := member("s1", t.TempDir())
	o.ClusterInit = true
	m, err := etcdmember.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Txn(ctx, nil, []store.Op{store.Put("clusters/default", []byte("{}"))}); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "etcd.snap")
	var stdout, stderr bytes.Buffer
	storeURL := strings.Replace(o.ClientURL, "http://", "etcd://", 1)
	if code := Main(ctx, []string{"backup", "--store", storeURL, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("backup: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "the snapshot verifies") {
		t.Fatalf("backup stdout: %s", stdout.String())
	}

	n := member("r1", t.TempDir())
	stdout.Reset()
	args := []string{"etcd-restore", "--snapshot", out, "--data-dir", filepath.Dir(n.DataDir), "--name", n.Name,
		"--etcd-peer-url", n.PeerURL, "--etcd-client-url", n.ClientURL}
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("etcd-restore: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "--join "+n.ClientURL) {
		t.Fatalf("etcd-restore stdout: %s", stdout.String())
	}
	if code := Main(ctx, args, &stdout, &stderr); code != 1 {
		t.Fatalf("a second etcd-restore over the member: exit %d", code)
	}
	r, err := etcdmember.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rs, err := r.Store(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if kv, err := rs.Get(ctx, "clusters/default"); err != nil || string(kv.Value) != "{}" {
		t.Fatalf("restored record: %+v, %v", kv, err)
	}
}

func TestDefaultClientURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://10.0.0.1:2380":  "http://10.0.0.1:2379",
		"https://node1:12380":   "https://node1:2379",
		"http://[fe80::1]:2380": "http://[fe80::1]:2379",
		"etcd://10.0.0.1:2380":  "",
		"10.0.0.1:2380":         "",
	} {
		got, err := defaultClientURL(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("defaultClientURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
