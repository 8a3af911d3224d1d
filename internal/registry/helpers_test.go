package registry_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/registry/registrytest"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

const account = "123456789012"

var ctx = context.Background()

// clock is a settable clock, ahead of the wall clock by an offset.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// env is one registry served over HTTP, with its store.
type env struct {
	t     *testing.T
	reg   *registry.Registry
	st    store.Store
	clock *clock
	srv   *httptest.Server
	dir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, clock: &clock{}, dir: dir}
	e.open()
	return e
}

// open (re)opens the registry on the env's directory.
func (e *env) open() {
	e.t.Helper()
	reg, err := registry.New(registry.Config{Dir: filepath.Join(e.dir, "registry"), Store: e.st, AccountID: account,
		Clock: e.clock, GCGrace: 10 * time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg = reg
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg.Handler())
	e.srv = httptest.NewServer(mux)
	reg.SetEndpoint("http", strings.TrimPrefix(e.srv.URL, "http://"))
	e.t.Cleanup(func() {
		e.srv.Close()
		reg.Close()
	})
}

// createRepo writes a repository record as CreateRepository does.
func (e *env) createRepo(name, mutability string) {
	e.t.Helper()
	b, _ := state.Encode(state.ECRRepository{Name: name, RegistryID: account, CreatedAt: time.Now(), ImageTagMutability: mutability, EncryptionType: "AES256"})
	if _, err := e.st.Txn(ctx, []store.Cond{store.MustNotExist(state.ECRRepositoryKey(name))}, []store.Op{store.Put(state.ECRRepositoryKey(name), b)}); err != nil {
		e.t.Fatal(err)
	}
}

// client is a registrytest.Client that fails the test on transport errors.
type client struct {
	t *testing.T
	registrytest.Client
}

func (e *env) client() *client {
	tok, _ := e.reg.IssueToken()
	return &client{t: e.t, Client: registrytest.Client{Base: e.srv.URL, User: registry.TokenUser, Pass: tok}}
}

func (c *client) do(method, path string, body []byte, header map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	resp, b, err := c.Do(method, path, bytes.NewReader(body), header)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

func (c *client) pushBlob(repo string, data []byte) digest.Digest {
	c.t.Helper()
	d, err := c.PushBlob(repo, data)
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

const (
	ociManifest = registrytest.MediaTypeManifest
	ociConfig   = registrytest.MediaTypeConfig
	ociLayer    = registrytest.MediaTypeLayer
	ociIndex    = registrytest.MediaTypeIndex
)

type (
	image      = registrytest.Image
	descriptor = registrytest.Descriptor
)

func newImage(_ *testing.T, layerSizes ...int) image { return registrytest.NewImage(layerSizes...) }

func (c *client) push(repo, ref string, img image) (int, string) {
	c.t.Helper()
	code, body, err := c.Push(repo, ref, img)
	if err != nil {
		c.t.Fatal(err)
	}
	return code, body
}

func (c *client) putManifest(repo, ref string, manifest []byte) (int, string) {
	c.t.Helper()
	code, body, err := c.PutManifest(repo, ref, ociManifest, manifest)
	if err != nil {
		c.t.Fatal(err)
	}
	return code, body
}

func errorCode(body string) string { return registrytest.ErrorCode(body) }

// tagsOf returns the images of repo as digest -> tags.
func (e *env) tagsOf(repo string) map[string][]string {
	e.t.Helper()
	imgs, err := e.reg.Images(ctx, repo)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, img := range imgs {
		out[img.Digest] = img.Tags
	}
	return out
}

// blobStored reports whether blob d is in the registry's storage (looked
// at directly, so that the look touches nothing).
func (e *env) blobStored(d digest.Digest) bool {
	hex := d.Encoded()
	_, err := os.Stat(filepath.Join(e.dir, "registry", "storage", "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data"))
	return err == nil
}
