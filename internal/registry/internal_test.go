package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func TestDurableSyncsEveryDirectoryUpToTheRoot(t *testing.T) {
	root := t.TempDir()
	d := newDurable(filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 25}), root)
	var mu sync.Mutex
	var synced []string
	d.sync = func(dir string) error {
		mu.Lock()
		synced = append(synced, dir)
		mu.Unlock()
		return syncDir(dir)
	}
	ctx := context.Background()
	want := []string{filepath.Join(root, "a", "b", "c"), filepath.Join(root, "a", "b"), filepath.Join(root, "a"), root}

	if err := d.PutContent(ctx, "/up/x", []byte("upload")); err != nil {
		t.Fatal(err)
	}
	synced = nil
	if err := d.Move(ctx, "/up/x", "/a/b/c/data"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, want) {
		t.Fatalf("Move synced %v, want %v", synced, want)
	}
	synced = nil
	if err := d.PutContent(ctx, "/a/b/c/link", []byte("sha256:00")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, want) {
		t.Fatalf("PutContent synced %v, want %v", synced, want)
	}
	if b, err := os.ReadFile(filepath.Join(root, "a", "b", "c", "data")); err != nil || string(b) != "upload" {
		t.Fatalf("moved file: %q %v", b, err)
	}
	// A failing fsync fails the write: it must not be acknowledged.
	d.sync = func(string) error { return errors.New("disk gone") }
	if err := d.PutContent(ctx, "/a/b/c/other", []byte("x")); err == nil {
		t.Fatal("PutContent succeeded although fsync failed")
	}
}

func TestDurableReadsWaitForPendingWrites(t *testing.T) {
	root := t.TempDir()
	d := newDurable(filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 25}), root)
	done := d.begin("/blobs/x/data")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// While the write is not durable, a read of its path waits (here: until
	// its context ends).
	if _, err := d.Stat(cancelled, "/blobs/x/data"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat of a pending path = %v, want it to wait", err)
	}
	if _, err := d.GetContent(cancelled, "/blobs/x/data"); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetContent of a pending path = %v, want it to wait", err)
	}
	// Other paths do not wait.
	if _, err := d.Stat(cancelled, "/blobs/y/data"); errors.Is(err, context.Canceled) {
		t.Fatal("Stat of another path waited")
	}
	if err := done(); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(cancelled, "/blobs/x/data"); err != nil {
		t.Fatalf("after the write: %v", err)
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
