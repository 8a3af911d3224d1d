package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/minato-project/minato/internal/registry/registrytest"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func TestDurableSyncsWhatWritesChanged(t *testing.T) {
	root := t.TempDir()
	d := newDurable(filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 25}), root)
	var mu sync.Mutex
	synced := map[string]bool{}
	d.sync = func(dir string) error {
		mu.Lock()
		synced[dir] = true
		mu.Unlock()
		return syncDir(dir)
	}
	ctx := context.Background()
	j := func(parts ...string) string { return filepath.Join(append([]string{root}, parts...)...) }

	// An upload in progress is not tracked; a committed blob, its layer
	// link and the manifest's links are, but nothing is synced before a
	// flush.
	if err := d.PutContent(ctx, "/repositories/app/_uploads/u1/data", []byte("layer")); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "/repositories/app/_uploads/u1/data", "/blobs/sha256/ab/abcd/data"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/repositories/app/_layers/sha256/abcd/link", "/repositories/app/_manifests/revisions/sha256/ef01/link"} {
		if err := d.PutContent(ctx, p, []byte("sha256:abcd")); err != nil {
			t.Fatal(err)
		}
	}
	if len(synced) != 0 {
		t.Fatalf("synced before a flush: %v", synced)
	}
	if d.pending[j("repositories", "app", "_uploads", "u1")] != nil {
		t.Fatal("an upload directory is tracked")
	}
	// A flush syncs every directory any tracked write changed, up to the
	// root.
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{
		j("blobs", "sha256", "ab", "abcd"), j("blobs", "sha256", "ab"), j("blobs", "sha256"), j("blobs"),
		j("repositories", "app", "_layers", "sha256", "abcd"), j("repositories", "app", "_layers"),
		j("repositories", "app", "_manifests", "revisions", "sha256", "ef01"), j("repositories", "app"), j("repositories"), root,
	} {
		if !synced[dir] {
			t.Errorf("%s not synced by the flush", dir)
		}
	}
	if len(d.pending) != 0 {
		t.Fatalf("still pending after a flush: %v", d.pending)
	}
	if err := d.Delete(ctx, "/blobs/sha256/ab/abcd"); err != nil {
		t.Fatal(err)
	}
	if d.pending[j("blobs", "sha256", "ab")] == nil {
		t.Fatal("a delete is not tracked")
	}
	// A failing sync fails the flush.
	d.sync = func(string) error { return errors.New("disk gone") }
	if err := d.Flush(); err == nil {
		t.Fatal("a flush succeeded although fsync failed")
	}
}

// A flush keeps a directory that a write still in progress changes, or
// that a write started after the flush's snapshot: a later flush must
// sync it again.
func TestDurableFlushKeepsWhatItDidNotCover(t *testing.T) {
	root := t.TempDir()
	d := newDurable(filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 25}), root)
	dirs := d.begin("/blobs/sha256/cd/cdef/data")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if d.pending[dirs[0]] == nil {
		t.Fatal("a directory with a write in progress left the set")
	}
	d.end(dirs)
	var again []string
	d.sync = func(dir string) error {
		again = append(again, dir)
		if len(again) == 1 {
			d.end(d.begin("/blobs/sha256/cd/cdef/data")) // a write during the flush
		}
		return nil
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if d.pending[dirs[0]] == nil {
		t.Fatal("a directory written during the flush left the set")
	}
	if !slices.Contains(again, dirs[0]) {
		t.Fatalf("flush synced %v, not %s", again, dirs[0])
	}
	d.sync = func(string) error { return nil }
	if err := d.Flush(); err != nil || len(d.pending) != 0 {
		t.Fatalf("third flush: %v, pending %v", err, d.pending)
	}
}

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		path string
		want route
	}{
		{"/v2/", route{kind: routeBase}},
		{"/v2/_catalog", route{}},
		{"/v2/app/tags/list", route{kind: routeTags, repo: "app"}},
		{"/v2/team/app/manifests/v1", route{kind: routeManifest, repo: "team/app", ref: "v1"}},
		{"/v2/a/manifests/b/manifests/latest", route{kind: routeManifest, repo: "a/manifests/b", ref: "latest"}},
		{"/v2/app/manifests/sha256:abc", route{kind: routeManifest, repo: "app", ref: "sha256:abc"}},
		{"/v2/app/blobs/sha256:abc", route{kind: routeBlob, repo: "app", ref: "sha256:abc"}},
		{"/v2/app/blobs/uploads/", route{kind: routeUpload, repo: "app", ref: ""}},
		{"/v2/app/blobs/uploads/0f3a", route{kind: routeUpload, repo: "app", ref: "0f3a"}},
		{"/v2/x/blobs/uploads/blobs/uploads/", route{kind: routeUpload, repo: "x/blobs/uploads", ref: ""}},
		{"/other", route{}},
	} {
		if got := parseRoute(tc.path); got != tc.want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tk := tokens{key: []byte("0123456789abcdef0123456789abcdef")}
	tok, exp := tk.issue(now)
	if !exp.Equal(now.Add(12 * time.Hour)) {
		t.Fatalf("expires %v", exp)
	}
	if err := tk.verify(tok, now.Add(12*time.Hour-time.Second)); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if err := tk.verify(tok, now.Add(12*time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	other, _ := tk.issue(now)
	if other == tok {
		t.Fatal("two tokens are the same")
	}
	// Any change to a token breaks it, the expiry above all.
	b := []byte(tok)
	for i := range b {
		bad := slices.Clone(b)
		bad[i] ^= 1
		if tk.verify(string(bad), now) == nil {
			t.Fatalf("token with byte %d changed verified", i)
		}
	}
	if err := (tokens{key: []byte("another key, another registry...")}).verify(tok, now); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token of another key: %v", err)
	}
	for _, junk := range []string{"", "x", "AWS:token", tok + "A"} {
		if err := tk.verify(junk, now); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("verify(%q) = %v", junk, err)
		}
	}
}

func TestTokenKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.key")
	k1, err := loadOrCreateTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateTokenKey(path)
	if err != nil || !slices.Equal(k1, k2) {
		t.Fatalf("second load: %v (same key: %v)", err, slices.Equal(k1, k2))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateTokenKey(path); err == nil {
		t.Fatal("a damaged key file was accepted")
	}
}

func TestParseImage(t *testing.T) {
	const host = "127.0.0.1:7400"
	for _, tc := range []struct {
		image, repo, ref string
		ecrStyle, ok     bool
	}{
		{"127.0.0.1:7400/my-app:v1", "my-app", ":v1", false, true},
		{"127.0.0.1:7400/team/api", "team/api", ":latest", false, true},
		{"127.0.0.1:7400/app@sha256:" + sixtyFour, "app", "@sha256:" + sixtyFour, false, true},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:latest", "my-app", ":latest", true, true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x/y:1", "x/y", ":1", true, true},
		{"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/z", "z", ":latest", true, true},
		{"nginx:latest", "", "", false, false},
		{"minato-testapp:test", "", "", false, false},
		{"ghcr.io/org/app:1", "", "", false, false},
		{"127.0.0.1:7401/my-app:v1", "", "", false, false},
		{"12345.dkr.ecr.us-east-1.amazonaws.com/x", "", "", false, false},
		{"Not A Reference", "", "", false, false},
	} {
		repo, ref, ecrStyle, ok := ParseImage(tc.image, host)
		if repo != tc.repo || ref != tc.ref || ecrStyle != tc.ecrStyle || ok != tc.ok {
			t.Errorf("ParseImage(%q) = %q %q %v %v, want %q %q %v %v", tc.image, repo, ref, ecrStyle, ok, tc.repo, tc.ref, tc.ecrStyle, tc.ok)
		}
	}
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// A manifest put is answered 201 only once what the push wrote is
// durable: when the flush fails, the push fails.
func TestManifestPutWaitsForTheFlush(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := New(Config{Dir: filepath.Join(dir, "registry"), Store: st, AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := state.Encode(state.ECRRepository{Name: "app", ImageTagMutability: "MUTABLE"})
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put(state.ECRRepositoryKey("app"), b)}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	tok, _ := r.IssueToken()
	c := &registrytest.Client{Base: srv.URL, User: TokenUser, Pass: tok}
	var flushes atomic.Int32
	r.durable.sync = func(string) error {
		flushes.Add(1)
		return errors.New("disk gone")
	}
	img := registrytest.NewImage(10)
	code, body, err := c.Push("app", "v1", img)
	if err != nil || code != http.StatusInternalServerError || flushes.Load() == 0 {
		t.Fatalf("push with a failing disk: %v %d %s (%d syncs)", err, code, body, flushes.Load())
	}
	r.durable.sync = syncDir
	if code, body, err := c.PutManifest("app", "v1", registrytest.MediaTypeManifest, img.Manifest); err != nil || code != http.StatusCreated {
		t.Fatalf("push once the disk is back: %v %d %s", err, code, body)
	}
}
