package registry_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/registry/registrytest"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	anon := &client{t: t, Client: registrytest.Client{Base: e.srv.URL}}
	resp, body := anon.do(http.MethodGet, "/v2/", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Basic realm="http://`) ||
		errorCode(string(body)) != "UNAUTHORIZED" {
		t.Fatalf("no credentials: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	bad := &client{t: t, Client: registrytest.Client{Base: e.srv.URL, User: registry.TokenUser, Pass: "not-a-token"}}
	if resp, body := bad.do(http.MethodGet, "/v2/", nil, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "invalid") {
		t.Fatalf("bad token: %d %s", resp.StatusCode, body)
	}
	c := e.client()
	wrongUser := &client{t: t, Client: registrytest.Client{Base: e.srv.URL, User: "admin", Pass: c.Pass}}
	if resp, _ := wrongUser.do(http.MethodGet, "/v2/", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("user other than AWS: %d", resp.StatusCode)
	}
	if resp, body := c.do(http.MethodGet, "/v2/", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("good token: %d %s", resp.StatusCode, body)
	}
	// A token from another registry (another key) is refused.
	other := newEnv(t)
	foreign := other.client()
	foreign.Base = e.srv.URL
	if resp, _ := foreign.do(http.MethodGet, "/v2/", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("foreign token: %d", resp.StatusCode)
	}
	// Every request is checked, not only /v2/: an expired token cannot push.
	e.createRepo("app", "MUTABLE")
	e.clock.advance(registry.TokenTTL - time.Minute)
	c.pushBlob("app", []byte("still good"))
	e.clock.advance(2 * time.Minute)
	resp, body = c.do(http.MethodPost, "/v2/app/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "expired") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
	// The key survives a restart: tokens issued before it still work.
	fresh := e.client()
	e.reg.Close()
	e.open()
	fresh.Base = e.srv.URL
	if resp, body := fresh.do(http.MethodGet, "/v2/", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("token after restart: %d %s", resp.StatusCode, body)
	}
}

func TestPushRules(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	img := newImage(t, 1000, 2000)

	// A repository that CreateRepository did not make does not exist.
	resp, body := c.do(http.MethodPost, "/v2/nope/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusNotFound || errorCode(string(body)) != "NAME_UNKNOWN" ||
		!strings.Contains(string(body), "The repository with name 'nope' does not exist in the registry with id '123456789012'") {
		t.Fatalf("push to a missing repository: %d %s", resp.StatusCode, body)
	}

	e.createRepo("team/app", "MUTABLE")
	if code, body := c.push("team/app", "v1", img); code != http.StatusCreated {
		t.Fatalf("push: %d %s", code, body)
	}
	imgs, err := e.reg.Images(ctx, "team/app")
	if err != nil || len(imgs) != 1 {
		t.Fatalf("images: %v %+v", err, imgs)
	}
	got := imgs[0]
	if got.Digest != img.Digest.String() || !slices.Equal(got.Tags, []string{"v1"}) || got.Size != 3000 ||
		got.MediaType != ociManifest || got.ArtifactMediaType != ociConfig || time.Since(got.PushedAt) > time.Minute {
		t.Fatalf("image %+v", got)
	}
	// Pull it back, by tag and by digest.
	for _, ref := range []string{"v1", img.Digest.String()} {
		resp, body := c.do(http.MethodGet, "/v2/team/app/manifests/"+ref, nil, map[string]string{"Accept": ociManifest})
		if resp.StatusCode != http.StatusOK || string(body) != string(img.Manifest) {
			t.Fatalf("pull %s: %d", ref, resp.StatusCode)
		}
	}

	// A manifest whose digest is not the one in the URL.
	code, msg := c.putManifest("team/app", newImage(t).Digest.String(), img.Manifest)
	if code != http.StatusBadRequest || errorCode(msg) != "DIGEST_INVALID" {
		t.Fatalf("wrong digest: %d %s", code, msg)
	}
	// A manifest naming a layer that was never pushed.
	missing := newImage(t, 10)
	c.pushBlob("team/app", missing.Blobs[0]) // the config only
	code, msg = c.putManifest("team/app", "v2", missing.Manifest)
	if code != http.StatusBadRequest || errorCode(msg) != "MANIFEST_BLOB_UNKNOWN" {
		t.Fatalf("missing layer: %d %s", code, msg)
	}
	// Nothing of the refused pushes is visible.
	if tags := e.tagsOf("team/app"); len(tags) != 1 || !slices.Equal(tags[img.Digest.String()], []string{"v1"}) {
		t.Fatalf("after refused pushes: %v", tags)
	}
	// Pushing another image under v1 moves the tag; the old image stays,
	// untagged, as in ECR.
	img2 := newImage(t, 500)
	if code, body := c.push("team/app", "v1", img2); code != http.StatusCreated {
		t.Fatalf("re-push: %d %s", code, body)
	}
	tags := e.tagsOf("team/app")
	if len(tags[img.Digest.String()]) != 0 || !slices.Equal(tags[img2.Digest.String()], []string{"v1"}) {
		t.Fatalf("after moving v1: %v", tags)
	}
}

func TestImmutableTags(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.createRepo("fixed", "IMMUTABLE")
	a, b := newImage(t, 100), newImage(t, 100)
	if code, body := c.push("fixed", "v1", a); code != http.StatusCreated {
		t.Fatalf("first push: %d %s", code, body)
	}
	code, body := c.push("fixed", "v1", b)
	if code != http.StatusBadRequest || errorCode(body) != "TAG_INVALID" ||
		!strings.Contains(body, "The image tag 'v1' already exists in the 'fixed' repository and cannot be overwritten because the repository is immutable.") {
		t.Fatalf("re-push of an immutable tag: %d %s", code, body)
	}
	// The same image again is no change, and allowed.
	if code, body := c.putManifest("fixed", "v1", a.Manifest); code != http.StatusCreated {
		t.Fatalf("same image again: %d %s", code, body)
	}
	// Through the ECR API's PutImage too.
	_, err := e.reg.PutImage(ctx, "fixed", "v1", "", b.Manifest)
	if ce, ok := core.AsError(err); !ok || ce.Code != "ImageTagAlreadyExistsException" {
		t.Fatalf("PutImage over an immutable tag: %v", err)
	}
	if tags := e.tagsOf("fixed"); !slices.Equal(tags[a.Digest.String()], []string{"v1"}) {
		t.Fatalf("v1 moved: %v", tags)
	}

	// Concurrent pushes of one tag: exactly one image gets it, the others
	// are refused, whatever the interleaving.
	var imgs []image
	for range 6 {
		img := newImage(t, 50)
		for _, bl := range img.Blobs {
			c.pushBlob("fixed", bl)
		}
		imgs = append(imgs, img)
	}
	codes := make([]int, len(imgs))
	var wg sync.WaitGroup
	for i, img := range imgs {
		wg.Go(func() { codes[i], _ = c.putManifest("fixed", "race", img.Manifest) })
	}
	wg.Wait()
	won := slices.Index(codes, http.StatusCreated)
	if won < 0 || slices.Index(codes[won+1:], http.StatusCreated) >= 0 {
		t.Fatalf("concurrent pushes of an immutable tag: statuses %v, want exactly one 201", codes)
	}
	if tags := e.tagsOf("fixed"); !slices.Equal(tags[imgs[won].Digest.String()], []string{"race"}) {
		t.Fatalf("race went to another image than the one acknowledged: %v", tags)
	}
}

func TestConcurrentPushesOfOneTag(t *testing.T) {
	e := newEnv(t)
	e.createRepo("busy", "MUTABLE")
	var wg sync.WaitGroup
	digests := make([]string, 8)
	for i := range digests {
		wg.Go(func() {
			c := e.client()
			img := newImage(t, 2000+i)
			if code, body := c.push("busy", "latest", img); code != http.StatusCreated {
				t.Errorf("push %d: %d %s", i, code, body)
			}
			digests[i] = img.Digest.String()
		})
	}
	wg.Wait()
	tags := e.tagsOf("busy")
	if len(tags) != len(digests) {
		t.Fatalf("%d images, want every pushed one (%d): %v", len(tags), len(digests), tags)
	}
	holders := 0
	for _, d := range digests {
		if slices.Equal(tags[d], []string{"latest"}) {
			holders++
		}
	}
	if holders != 1 {
		t.Fatalf("%d images hold latest, want 1: %v", holders, tags)
	}
	// The tag names an image whose manifest and blobs are all there.
	c := e.client()
	resp, body := c.do(http.MethodGet, "/v2/busy/manifests/latest", nil, map[string]string{"Accept": ociManifest})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pull latest: %d %s", resp.StatusCode, body)
	}
}

func TestInterruptedPushLeavesNoImage(t *testing.T) {
	e := newEnv(t)
	e.createRepo("half", "MUTABLE")
	c := e.client()
	img := newImage(t, 4096)
	// Some blobs uploaded, one upload cut halfway, no manifest: a push
	// that died.
	c.pushBlob("half", img.Blobs[0])
	resp, body := c.do(http.MethodPost, "/v2/half/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", resp.StatusCode, body)
	}
	resp, body = c.do(http.MethodPatch, resp.Header.Get("Location"), img.Blobs[1][:2048], map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	if imgs, err := e.reg.Images(ctx, "half"); err != nil || len(imgs) != 0 {
		t.Fatalf("images after a broken push: %v %+v", err, imgs)
	}
	// The half layer is no blob.
	if resp, _ := c.do(http.MethodHead, "/v2/half/blobs/"+digest.FromBytes(img.Blobs[1]).String(), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("half layer: HEAD %d", resp.StatusCode)
	}
	// A later complete push works.
	if code, body := c.push("half", "v1", img); code != http.StatusCreated {
		t.Fatalf("push after the broken one: %d %s", code, body)
	}
}

func TestPutImageGetAndDelete(t *testing.T) {
	e := newEnv(t)
	e.createRepo("api", "MUTABLE")
	c := e.client()
	img := newImage(t, 300)
	for _, b := range img.Blobs {
		c.pushBlob("api", b)
	}
	got, err := e.reg.PutImage(ctx, "api", "v1", "", img.Manifest)
	if err != nil || got.Digest != img.Digest.String() || !slices.Equal(got.Tags, []string{"v1"}) {
		t.Fatalf("PutImage: %v %+v", err, got)
	}
	// Put images can be pulled.
	if resp, body := c.do(http.MethodGet, "/v2/api/manifests/v1", nil, map[string]string{"Accept": ociManifest}); resp.StatusCode != http.StatusOK || string(body) != string(img.Manifest) {
		t.Fatalf("pull a put image: %d", resp.StatusCode)
	}
	_, err = e.reg.PutImage(ctx, "api", "v1", "", img.Manifest)
	if ce, ok := core.AsError(err); !ok || ce.Code != "ImageAlreadyExistsException" {
		t.Fatalf("put again: %v", err)
	}
	if _, err := e.reg.PutImage(ctx, "api", "v2", "", img.Manifest); err != nil {
		t.Fatalf("second tag: %v", err)
	}
	_, err = e.reg.PutImage(ctx, "api", "v3", "", newImage(t, 10).Manifest)
	if ce, ok := core.AsError(err); !ok || ce.Code != "LayersNotFoundException" {
		t.Fatalf("missing layers: %v", err)
	}
	_, err = e.reg.PutImage(ctx, "api", "v3", "", []byte("{not json"))
	if ce, ok := core.AsError(err); !ok || ce.Code != "InvalidParameterException" {
		t.Fatalf("bad manifest: %v", err)
	}
	b, mt, d, err := e.reg.Manifest(ctx, "api", "v2")
	if err != nil || string(b) != string(img.Manifest) || mt != ociManifest || d != img.Digest.String() {
		t.Fatalf("Manifest: %v %q %q", err, mt, d)
	}
	if _, _, _, err := e.reg.Manifest(ctx, "api", "v9"); !errors.Is(err, registry.ErrImageNotFound) {
		t.Fatalf("missing tag: %v", err)
	}
	if err := e.reg.Untag(ctx, "api", "v2"); err != nil {
		t.Fatal(err)
	}
	if tags := e.tagsOf("api"); !slices.Equal(tags[img.Digest.String()], []string{"v1"}) {
		t.Fatalf("after untag: %v", tags)
	}
	if err := e.reg.DeleteImage(ctx, "api", img.Digest.String()); err != nil {
		t.Fatal(err)
	}
	if tags := e.tagsOf("api"); len(tags) != 0 {
		t.Fatalf("after delete: %v", tags)
	}
	if resp, _ := c.do(http.MethodGet, "/v2/api/manifests/v1", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("pull a deleted image: %d", resp.StatusCode)
	}
	if err := e.reg.DeleteImage(ctx, "api", img.Digest.String()); !errors.Is(err, registry.ErrImageNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestClearRepositoryKeepsNestedRepositories(t *testing.T) {
	e := newEnv(t)
	e.createRepo("team", "MUTABLE")
	e.createRepo("team/web", "MUTABLE")
	c := e.client()
	c.push("team", "v1", newImage(t, 10))
	c.push("team/web", "v1", newImage(t, 10))
	if err := e.reg.ClearRepository(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.tagsOf("team")); n != 0 {
		t.Fatalf("team still has %d images", n)
	}
	if n := len(e.tagsOf("team/web")); n != 1 {
		t.Fatalf("team/web lost its image: %d", n)
	}
}

func TestRestartKeepsImages(t *testing.T) {
	e := newEnv(t)
	e.createRepo("keep", "MUTABLE")
	c := e.client()
	img := newImage(t, 10, 20)
	c.push("keep", "v1", img)
	e.reg.Close()
	e.open()
	if tags := e.tagsOf("keep"); !slices.Equal(tags[img.Digest.String()], []string{"v1"}) {
		t.Fatalf("after restart: %v", tags)
	}
}
