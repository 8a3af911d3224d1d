package registry_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

const seedPolicy = `{"rules":[{"rulePriority":1,"description":"Keep last 10 images","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}`

// setPushedAt sets when image d of repo counts as pushed: the time of its
// revision link, which is where the registry reads it from.
func (e *env) setPushedAt(repo string, d digest.Digest, at time.Time) {
	e.t.Helper()
	p := filepath.Join(e.dir, "registry", "storage", "docker", "registry", "v2", "repositories", repo, "_manifests", "revisions", "sha256", d.Encoded(), "link")
	if err := os.Chtimes(p, at, at); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setPolicy(repo, policy string) {
	e.t.Helper()
	it, err := state.Get[state.ECRRepository](ctx, e.st, state.ECRRepositoryKey(repo))
	if err != nil {
		e.t.Fatal(err)
	}
	it.Value.LifecyclePolicy = policy
	b, _ := state.Encode(it.Value)
	if _, err := e.st.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Put(it.Key, b)}); err != nil {
		e.t.Fatal(err)
	}
}

func TestExpireSeedPolicy(t *testing.T) {
	e := newEnv(t)
	e.createRepo("my-app", "MUTABLE")
	c := e.client()
	base := time.Now().Add(-time.Hour)
	var pushed []digest.Digest
	for i := 1; i <= 13; i++ {
		img := newImage(t, 32)
		if code, body := c.push("my-app", fmt.Sprintf("v%d", i), img); code != http.StatusCreated {
			t.Fatalf("push v%d: %d %s", i, code, body)
		}
		e.setPushedAt("my-app", img.Digest, base.Add(time.Duration(i)*time.Minute))
		pushed = append(pushed, img.Digest)
	}
	other := newImage(t, 32)
	c.push("my-app", "latest", other)
	e.setPushedAt("my-app", other.Digest, base)

	// Without a policy nothing expires.
	if done, err := e.reg.Expire(ctx, "my-app"); err != nil || len(done) != 0 {
		t.Fatalf("no policy: %v %v", err, done)
	}
	e.setPolicy("my-app", seedPolicy)
	preview, err := e.reg.EvaluatePolicy(ctx, "my-app", seedPolicy)
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.reg.Expire(ctx, "my-app")
	if err != nil {
		t.Fatal(err)
	}
	var previewed, expired []string
	for _, x := range preview {
		previewed = append(previewed, x.Image.Digest)
	}
	for _, x := range done {
		expired = append(expired, x.Image.Digest)
	}
	want := []string{pushed[0].String(), pushed[1].String(), pushed[2].String()}
	if !slices.Equal(expired, want) || !slices.Equal(previewed, want) {
		t.Fatalf("expired %v, preview %v, want the three oldest v images %v", expired, previewed, want)
	}
	tags := e.tagsOf("my-app")
	if len(tags) != 11 {
		t.Fatalf("%d images left, want 10 v images and latest: %v", len(tags), tags)
	}
	for i, d := range pushed {
		if _, there := tags[d.String()]; there != (i >= 3) {
			t.Fatalf("v%d: there=%v", i+1, there)
		}
	}
	it, _ := state.Get[state.ECRRepository](ctx, e.st, state.ECRRepositoryKey("my-app"))
	if it.Value.LifecycleEvaluatedAt.IsZero() {
		t.Fatal("lastEvaluatedAt not recorded")
	}
	// A second run finds nothing more to do.
	if done, err := e.reg.Expire(ctx, "my-app"); err != nil || len(done) != 0 {
		t.Fatalf("second run: %v %v", err, done)
	}
}

func TestIndexChildrenGoWithTheirIndex(t *testing.T) {
	e := newEnv(t)
	e.createRepo("multi", "MUTABLE")
	c := e.client()
	child := newImage(t, 16)
	c.push("multi", child.Digest.String(), child)
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		ociIndex, ociManifest, child.Digest, len(child.Manifest)))
	resp, body := c.do(http.MethodPut, "/v2/multi/manifests/v1", idx, map[string]string{"Content-Type": ociIndex})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put index: %d %s", resp.StatusCode, body)
	}
	imgs, err := e.reg.Images(ctx, "multi")
	if err != nil || len(imgs) != 2 {
		t.Fatalf("images: %v %+v", err, imgs)
	}
	// An untagged-images rule does not expire the index's (untagged) child.
	const untagged = `{"rules":[{"rulePriority":1,"description":"drop untagged images","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	const untaggedOld = `{"rules":[{"rulePriority":1,"description":"drop untagged images after a day","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
	for _, p := range []string{untagged, untaggedOld} {
		e.setPolicy("multi", p)
		e.clock.advance(48 * time.Hour)
		if done, err := e.reg.Expire(ctx, "multi"); err != nil || len(done) != 0 {
			t.Fatalf("expired %v (%v), want the index's child kept", done, err)
		}
	}
	for _, img := range imgs {
		if img.MediaType == ociIndex && (img.Size != 16 || !slices.Equal(img.Children, []string{child.Digest.String()})) {
			t.Fatalf("index: %+v", img)
		}
	}
}
