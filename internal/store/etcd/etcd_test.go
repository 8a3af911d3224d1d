package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	bbolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/embed"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/storetest"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

// TestConformance runs the store suite on one embedded etcd; each subtest
// gets a prefix of its own, so that they start empty.
func TestConformance(t *testing.T) {
	_, cli := etcdtest.Start(t, etcdtest.Options{})
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		return New(cli, Options{Prefix: "/conformance/" + strconv.Itoa(n) + "/"})
	})
}

func TestMergeOps(t *testing.T) {
	a1, a2, b := store.Put("a", []byte("1")), store.Put("a", []byte("2")), store.Put("b", nil)
	cases := []struct {
		name string
		in   []store.Op
		want []store.Op
	}{
		{"distinct", []store.Op{a1, b}, []store.Op{a1, b}},
		{"put twice", []store.Op{a1, b, a2}, []store.Op{b, a2}},
		{"put then delete", []store.Op{a1, store.Delete("a")}, []store.Op{store.Delete("a")}},
		{"delete then put", []store.Op{store.Delete("a"), b, a2}, []store.Op{b, a2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeOps(tc.in); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("mergeOps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestListRange(t *testing.T) {
	cases := []struct {
		prefix, after, from, end string
	}{
		{"n/", "", "/m/n/", "/m/n0"},
		{"", "", "/m/", "/m0"},
		{"n/", "a", "/m/n/", "/m/n0"},
		{"n/", "n/04", "/m/n/04\x00", "/m/n0"},
		{"n/", "n/", "/m/n/\x00", "/m/n0"},
		{"n/", "n/99", "/m/n/99\x00", "/m/n0"},
		{"n/", "o", "/m/", ""}, // nothing after: read the one key that never exists
		{"", "x", "/m/x\x00", "/m0"},
	}
	for _, tc := range cases {
		from, end := listRange("/m/", tc.prefix, tc.after)
		if from != tc.from || end != tc.end {
			t.Errorf("listRange(%q, after %q) = %q, %q; want %q, %q", tc.prefix, tc.after, from, end, tc.from, tc.end)
		}
	}
}

// TestEngine covers what the suite leaves to each engine.
func TestEngine(t *testing.T) {
	srv, cli := etcdtest.Start(t, etcdtest.Options{})
	ctx := etcdtest.WaitContext(t)

	t.Run("prefixes apart", func(t *testing.T) {
		a, b := New(cli, Options{Prefix: "/a/"}), New(cli, Options{Prefix: "/b/"})
		defer a.Close()
		defer b.Close()
		rev, err := a.Txn(ctx, nil, []store.Op{store.Put("k", []byte("a"))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("b sees a's record: %v", err)
		}
		kvs, brev, err := b.List(ctx, "", store.ListOptions{})
		if err != nil || len(kvs) != 0 || brev < rev {
			t.Fatalf("b.List = %v, %d, %v", kvs, brev, err)
		}
		raw, err := cli.Get(ctx, "/a/k")
		if err != nil || len(raw.Kvs) != 1 || string(raw.Kvs[0].Value) != "a" {
			t.Fatalf("etcd key /a/k = %v, %v", raw, err)
		}
	})

	t.Run("duplicate keys in a txn", func(t *testing.T) {
		s := New(cli, Options{Prefix: "/dup/"})
		defer s.Close()
		rev, err := s.Txn(ctx, nil, []store.Op{store.Put("k", []byte("1")), store.Put("j", nil), store.Put("k", []byte("2"))})
		if err != nil {
			t.Fatal(err)
		}
		kv, err := s.Get(ctx, "k")
		if err != nil || string(kv.Value) != "2" || kv.ModRevision != rev {
			t.Fatalf("Get = %+v, %v", kv, err)
		}
	})

	t.Run("lagging watcher ends with ErrCompacted", func(t *testing.T) {
		s := New(cli, Options{Prefix: "/lag/", WatchBuffer: 1, MaxLag: 10})
		defer s.Close()
		r0, err := s.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.Watch(ctx, "", r0)
		if err != nil {
			t.Fatal(err)
		}
		var ops []store.Op
		for i := range 50 {
			ops = append(ops, store.Put(fmt.Sprintf("k%02d", i), nil))
		}
		if _, err := s.Txn(ctx, nil, ops); err != nil {
			t.Fatal(err)
		}
		n := 0
		for range w.Events() {
			n++
		}
		if !errors.Is(w.Err(), store.ErrCompacted) || n >= 50 {
			t.Fatalf("after %d events: Err = %v, want ErrCompacted", n, w.Err())
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		s := New(cli, Options{Prefix: "/snap/"})
		defer s.Close()
		rev, err := s.Txn(ctx, nil, []store.Op{store.Put("k", []byte("v"))})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "snap.db")
		snap, err := s.SaveSnapshot(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil || st.Size() != snap.Size || snap.Revision < rev {
			t.Fatalf("snapshot %+v, file %v, %v (write at %d)", snap, st, err, rev)
		}
		var buf bytes.Buffer
		var size, brev int64
		if err := s.Backup(ctx, &buf, func(sz, rv int64) { size, brev = sz, rv }); err != nil {
			t.Fatal(err)
		}
		if int64(buf.Len()) != size || brev < rev {
			t.Fatalf("Backup wrote %d bytes, announced %d at revision %d (write at %d)", buf.Len(), size, brev, rev)
		}
		// The snapshot is etcd's backend: a bbolt file with the record.
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		found := false
		err = db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte("key"))
			if b == nil {
				return errors.New("no key bucket")
			}
			return b.ForEach(func(_, v []byte) error {
				found = found || bytes.Contains(v, []byte("/snap/k"))
				return nil
			})
		})
		if err != nil || !found {
			t.Fatalf("record not in snapshot (%v)", err)
		}
	})

	t.Run("owned client closes", func(t *testing.T) {
		own, err := srv.Client()
		if err != nil {
			t.Fatal(err)
		}
		s := New(own, Options{OwnClient: true})
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(ctx); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Ready after Close = %v", err)
		}
		if _, err := own.Get(ctx, "x"); err == nil {
			t.Fatal("client still usable after the store that owns it closed")
		}
	})
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		raw     string
		want    Target
		wantErr bool
	}{
		{raw: "etcd://h1:2379,h2:2379,h3", want: Target{Endpoints: []string{"http://h1:2379", "http://h2:2379", "http://h3:2379"}}},
		{raw: "etcds://10.0.0.1:12379", want: Target{Endpoints: []string{"https://10.0.0.1:12379"}, Secure: true}},
		{raw: "etcd://h1:2379/team-a", want: Target{Endpoints: []string{"http://h1:2379"}, Prefix: "/team-a/"}},
		{raw: "etcd://h1:2379/a/b/", want: Target{Endpoints: []string{"http://h1:2379"}, Prefix: "/a/b/"}},
		{raw: "etcd://[::1]:2379,[fe80::1]", want: Target{Endpoints: []string{"http://[::1]:2379", "http://[fe80::1]:2379"}}},
		{raw: "https://h1:2379,https://h2:2379/", want: Target{Endpoints: []string{"https://h1:2379", "https://h2:2379"}, Secure: true}},
		{raw: "http://h1:2379", want: Target{Endpoints: []string{"http://h1:2379"}}},
		{raw: "http://h1:2379,https://h2:2379", wantErr: true},
		{raw: "http://h1:2379/path", wantErr: true},
		{raw: "h1:2379", wantErr: true},
		{raw: "bolt://x", wantErr: true},
		{raw: "etcd://", wantErr: true},
		{raw: "etcd://h1,,h2", wantErr: true},
		{raw: "etcd://user@h1", wantErr: true},
		{raw: "etcd://h1:notaport", wantErr: true},
	}
	for _, tc := range cases {
		got, err := ParseURL(tc.raw)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseURL(%q) = %+v, want an error", tc.raw, got)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
}

func TestOpen(t *testing.T) {
	srv, _ := etcdtest.Start(t, etcdtest.Options{})
	ctx := etcdtest.WaitContext(t)
	raw := strings.Replace(srv.Endpoints[0], "http://", "etcd://", 1) + "/opened"
	s, err := Open(ctx, raw, TLS{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Prefix() != "/opened/" {
		t.Fatalf("prefix %q", s.Prefix())
	}
	if _, err := s.Txn(ctx, nil, []store.Op{store.Put("k", []byte("v"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, raw, TLS{CAFile: "ca.pem"}, Options{}); err == nil {
		t.Fatal("TLS files accepted for etcd://")
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := Open(short, "etcd://127.0.0.1:1", TLS{}, Options{}); err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
}

// TestLargeTxn: with an etcd configured as the embedded members are, a
// Txn of many ops and one of several MiB go through the client.
func TestLargeTxn(t *testing.T) {
	srv, _ := etcdtest.Start(t, etcdtest.Options{Configure: func(c *embed.Config) {
		c.MaxTxnOps, c.MaxRequestBytes = 4096, MaxRequestBytes
	}})
	ctx := etcdtest.WaitContext(t)
	raw := strings.Replace(srv.Endpoints[0], "http://", "etcd://", 1)
	s, err := Open(ctx, raw, TLS{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ops []store.Op
	for i := range 1000 {
		ops = append(ops, store.Put(fmt.Sprintf("many/%04d", i), []byte("v")))
	}
	if _, err := s.Txn(ctx, nil, ops); err != nil {
		t.Fatalf("1000 ops: %v", err)
	}
	big := bytes.Repeat([]byte("x"), 5<<20)
	if _, err := s.Txn(ctx, nil, []store.Op{store.Put("big", big)}); err != nil {
		t.Fatalf("5 MiB value: %v", err)
	}
	if kv, err := s.Get(ctx, "big"); err != nil || len(kv.Value) != len(big) {
		t.Fatalf("Get(big) = %d bytes, %v", len(kv.Value), err)
	}
}

// TestUnavailableErrors: which etcd errors are "cannot serve now"
// (store.ErrUnavailable) and which dropped proposals Txn retries.
func TestUnavailableErrors(t *testing.T) {
	cases := []struct {
		name             string
		err              error
		dropped, unavail bool
	}{
		{"proposal dropped", status.Error(codes.Unknown, "raft proposal dropped"), true, true},
		{"no leader", rpctypes.ErrNoLeader, false, true},
		{"timeout", rpctypes.ErrTimeout, false, true},
		{"unreachable", status.Error(codes.Unavailable, "connection refused"), false, true},
		{"too many ops", rpctypes.ErrTooManyOps, false, false},
		{"other", errors.New("boom"), false, false},
		{"nil", nil, false, false},
	}
	for _, tc := range cases {
		if got := dropped(tc.err); got != tc.dropped {
			t.Errorf("%s: dropped = %v, want %v", tc.name, got, tc.dropped)
		}
		if tc.err != nil {
			if got := unavailable(tc.err); got != tc.unavail {
				t.Errorf("%s: unavailable = %v, want %v", tc.name, got, tc.unavail)
			}
		}
	}
}
