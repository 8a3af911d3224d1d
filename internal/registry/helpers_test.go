package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
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

// client speaks the registry HTTP API as docker does.
type client struct {
	t          *testing.T
	base       string
	user, pass string
}

func (e *env) client() *client {
	tok, _ := e.reg.IssueToken()
	return &client{t: e.t, base: e.srv.URL, user: registry.TokenUser, pass: tok}
}

func (c *client) do(method, path string, body []byte, header map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// pushBlob uploads data to repo (POST, then PUT with the digest) and
// returns its digest.
func (c *client) pushBlob(repo string, data []byte) digest.Digest {
	c.t.Helper()
	resp, b := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("start upload to %s: %d %s", repo, resp.StatusCode, b)
	}
	d := digest.FromBytes(data)
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, b = c.do(http.MethodPut, loc+sep+"digest="+d.String(), data, map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("finish upload to %s: %d %s", repo, resp.StatusCode, b)
	}
	return d
}

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
	ociLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
)

type descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// image is a manifest and the blobs it names.
type image struct {
	manifest []byte
	digest   digest.Digest
	blobs    [][]byte
}

// newImage makes an image of random layers of the given sizes.
func newImage(t *testing.T, layerSizes ...int) image {
	t.Helper()
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"nonce":%q}`, rand.Text()))
	img := image{blobs: [][]byte{cfg}}
	m := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: ociManifest, Config: descriptor{ociConfig, digest.FromBytes(cfg), int64(len(cfg))}, Layers: []descriptor{}}
	for _, n := range layerSizes {
		l := make([]byte, n)
		_, _ = rand.Read(l)
		img.blobs = append(img.blobs, l)
		m.Layers = append(m.Layers, descriptor{ociLayer, digest.FromBytes(l), int64(n)})
	}
	img.manifest, _ = json.Marshal(m)
	img.digest = digest.FromBytes(img.manifest)
	return img
}

// push uploads img's blobs and puts its manifest under ref, and returns
// the manifest PUT's status and body.
func (c *client) push(repo, ref string, img image) (int, string) {
	c.t.Helper()
	for _, b := range img.blobs {
		c.pushBlob(repo, b)
	}
	return c.putManifest(repo, ref, img.manifest)
}

func (c *client) putManifest(repo, ref string, manifest []byte) (int, string) {
	c.t.Helper()
	resp, b := c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, manifest, map[string]string{"Content-Type": ociManifest})
	return resp.StatusCode, string(b)
}

// errorCode is the first registry error code of a response body.
func errorCode(body string) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

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
