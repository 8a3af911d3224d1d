package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/registry/registrytest"
	"github.com/minato-project/minato/internal/testutil/testimage"
	"github.com/opencontainers/go-digest"
)

// dockerCLI finds the docker CLI. Without it the test skips, except under
// CI=true, where it fails.
func dockerCLI(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("docker")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the docker CLI is required under CI=true")
	}
	t.Skip("docker CLI not found: install it, or run with CI=true to require it")
	return ""
}

// dockerUser runs the docker CLI as a user of minato's registry would:
// with a DOCKER_CONFIG of its own (docker login writes there, never to the
// machine's ~/.docker) and the aws CLI's credentials for minato.
type dockerUser struct {
	t      *testing.T
	n      *node
	docker string
	env    []string
	images []string // tagged by the test, removed when it ends
}

func newDockerUser(t *testing.T, n *node) *dockerUser {
	t.Helper()
	u := &dockerUser{t: t, n: n, docker: dockerCLI(t)}
	u.env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(),
		"AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret, "AWS_SESSION_TOKEN=",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_MAX_ATTEMPTS=1")
	t.Cleanup(func() {
		if len(u.images) > 0 {
			exec.Command(u.docker, append([]string{"rmi", "--force"}, u.images...)...).Run()
		}
	})
	return u
}

// sh runs a shell script (pipes, as the seed writes them) and returns its
// combined output and whether it succeeded.
func (u *dockerUser) sh(script string) (string, bool) {
	u.t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = u.env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func (u *dockerUser) mustSh(script string) string {
	u.t.Helper()
	out, ok := u.sh(script)
	if !ok {
		u.t.Fatalf("%s\n%s", script, out)
	}
	return out
}

// login is the seed's `aws ecr get-login-password | docker login`.
func (u *dockerUser) login(host string) {
	u.t.Helper()
	aws := awsCLI(u.t)
	out := u.mustSh(fmt.Sprintf("%s --endpoint-url %s ecr get-login-password --region us-east-1 | %s login --username AWS --password-stdin %s",
		aws, u.n.url(), u.docker, host))
	if !strings.Contains(out, "Login Succeeded") {
		u.t.Fatalf("docker login: %s", out)
	}
}

// build is the seed's `docker build -t tag .` of a directory holding the
// test app: a Dockerfile on top of the locally built test image, with a
// file of its own, so every build is a new image whose top layer no host
// has seen.
func (u *dockerUser) build(tag, stamp string) {
	u.t.Helper()
	dir := u.t.TempDir()
	base := testimage.Build(u.t, "")
	df := fmt.Sprintf("FROM %s\nCOPY stamp /stamp\n", base)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp), 0o644); err != nil {
		u.t.Fatal(err)
	}
	u.images = append(u.images, tag)
	u.mustSh(fmt.Sprintf("DOCKER_BUILDKIT=0 %s build -q -t %s %s", u.docker, tag, dir))
}

func (u *dockerUser) tag(src, dst string) {
	u.t.Helper()
	u.images = append(u.images, dst)
	u.mustSh(u.docker + " tag " + src + " " + dst)
}

func (u *dockerUser) push(ref string) (string, bool) {
	u.t.Helper()
	return u.sh(u.docker + " push " + ref)
}

// createRepo runs aws ecr create-repository and returns the repositoryUri.
func createRepo(t *testing.T, n *node, name string, args ...string) string {
	t.Helper()
	var out struct {
		Repository struct{ RepositoryUri, RepositoryArn string }
	}
	n.cliJSON(t, &out, append([]string{"ecr", "create-repository", "--repository-name", name}, args...)...)
	if out.Repository.RepositoryUri != n.addr+"/"+name {
		t.Fatalf("repositoryUri %q, want %q", out.Repository.RepositoryUri, n.addr+"/"+name)
	}
	return out.Repository.RepositoryUri
}

type ecrImage struct {
	ImageDigest      string
	ImageTags        []string
	ImageSizeInBytes int64
	ImagePushedAt    string
}

func describeImages(t *testing.T, n *node, repo string) []ecrImage {
	t.Helper()
	var out struct{ ImageDetails []ecrImage }
	n.cliJSON(t, &out, "ecr", "describe-images", "--repository-name", repo)
	return out.ImageDetails
}

// registerImage registers a bridge-mode task definition of image.
func registerImage(t *testing.T, n *node, family, image string) {
	t.Helper()
	td := map[string]any{"family": family, "containerDefinitions": []map[string]any{{
		"name": "app", "image": image, "memory": 64, "essential": true,
		"portMappings": []map[string]any{{"containerPort": 8080}},
	}}}
	b, _ := json.Marshal(td)
	n.cliJSON(t, nil, "ecs", "register-task-definition", "--cli-input-json", string(b))
}

// serviceTask creates a one-task service and returns its task once it is
// RUNNING.
func serviceTask(t *testing.T, n *node, name, family string) string {
	t.Helper()
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", name, "--task-definition", family, "--desired-count", "1")
	var arn string
	waitFor(t, 120*time.Second, "service "+name+" to run a task", func() (bool, string) {
		var out struct{ TaskArns []string }
		n.cliJSON(t, &out, "ecs", "list-tasks", "--cluster", "default", "--service-name", name)
		if len(out.TaskArns) == 0 {
			return false, "no task"
		}
		arn = out.TaskArns[0]
		task := describeTask(t, n, arn)
		return task.LastStatus != nil && *task.LastStatus == "RUNNING", fmt.Sprint(*task.LastStatus, " ", valueOr(task.StoppedReason))
	})
	return arn
}

func valueOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The seed's whole ECR flow (seed 000) with the real aws and docker CLIs,
// only the registry host changed: create-repository, get-login-password
// piped to docker login, docker build, tag, push; describe-images shows
// the image at once; the local copy is removed, and services naming it by
// its repositoryUri and by the seed's ECR-style name both run it (the
// agent pulls it from minato's registry with a token it gets from the
// server). A missing tag fails its task with ECS's CannotPullContainerError.
func TestRegistrySeedFlow(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	u := newDockerUser(t, n)
	uri := createRepo(t, n, "my-app")
	u.login(n.addr)
	u.build("my-app", fmt.Sprint("seed ", time.Now().UnixNano()))
	u.tag("my-app:latest", uri+":latest")
	if out, ok := u.push(uri + ":latest"); !ok || !strings.Contains(out, "latest: digest: sha256:") {
		t.Fatalf("docker push: %s", out)
	}
	imgs := describeImages(t, n, "my-app")
	if len(imgs) != 1 || !slices.Equal(imgs[0].ImageTags, []string{"latest"}) || imgs[0].ImageSizeInBytes <= 0 ||
		!strings.HasPrefix(imgs[0].ImageDigest, "sha256:") || imgs[0].ImagePushedAt == "" {
		t.Fatalf("describe-images: %+v", imgs)
	}
	// The host has the image no longer: the task must pull it.
	u.mustSh(fmt.Sprintf("%s rmi %s:latest my-app:latest", u.docker, uri))
	if _, ok := u.sh(u.docker + " image inspect " + uri + ":latest"); ok {
		t.Fatal("the image is still local after docker rmi")
	}

	registerImage(t, n, "by-uri", uri+":latest")
	arn := serviceTask(t, n, "by-uri", "by-uri")
	task := describeTask(t, n, arn)
	if got := valueOr(task.Containers[0].Image); got != uri+":latest" {
		t.Fatalf("task image %q", got)
	}
	if digest := valueOr(task.Containers[0].ImageDigest); digest == "" {
		t.Fatalf("task container has no image digest: %+v", task.Containers[0])
	}

	// A new push of latest: the next task runs the new image, although
	// the host has the old one under that name (the agent pulls images of
	// minato's registry every time, as ECS's agent does by default).
	first := valueOr(task.Containers[0].ImageDigest)
	u.build("my-app", fmt.Sprint("seed, second build ", time.Now().UnixNano()))
	u.tag("my-app:latest", uri+":latest")
	if out, ok := u.push(uri + ":latest"); !ok {
		t.Fatalf("docker push of the second build: %s", out)
	}
	// The host still has the first build under the name.
	u.mustSh(fmt.Sprintf("%s tag %s %s:latest", u.docker, first, uri))
	var again struct{ Tasks []struct{ TaskArn string } }
	n.cliJSON(t, &again, "ecs", "run-task", "--cluster", "default", "--task-definition", "by-uri")
	second := waitTaskStatus(t, n, again.Tasks[0].TaskArn, "RUNNING", 120*time.Second)
	if got := valueOr(second.Containers[0].ImageDigest); got == first || got == "" {
		t.Fatalf("the task after a new push of latest runs image %q, the first build was %q", got, first)
	}

	const ecrName = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:latest"
	registerImage(t, n, "by-ecr-name", ecrName)
	arn = serviceTask(t, n, "by-ecr-name", "by-ecr-name")
	if got := valueOr(describeTask(t, n, arn).Containers[0].Image); got != ecrName {
		t.Fatalf("task image %q, want the definition's name", got)
	}

	// A tag that was never pushed: the task fails as ECS's does.
	registerImage(t, n, "missing-tag", uri+":nope")
	var run struct{ Tasks []struct{ TaskArn string } }
	n.cliJSON(t, &run, "ecs", "run-task", "--cluster", "default", "--task-definition", "missing-tag")
	stopped := waitTaskStatus(t, n, run.Tasks[0].TaskArn, "STOPPED", 120*time.Second)
	if !strings.HasPrefix(valueOr(stopped.StoppedReason), "CannotPullContainerError: ") || !strings.Contains(valueOr(stopped.StoppedReason), "manifest unknown") {
		t.Fatalf("missing tag: %q", valueOr(stopped.StoppedReason))
	}
	// An ECR-style name of a repository minato does not have is not
	// minato's: it is pulled as written, and fails.
	registerImage(t, n, "foreign", "123456789012.dkr.ecr.us-east-1.amazonaws.com/not-here:latest")
	n.cliJSON(t, &run, "ecs", "run-task", "--cluster", "default", "--task-definition", "foreign")
	stopped = waitTaskStatus(t, n, run.Tasks[0].TaskArn, "STOPPED", 120*time.Second)
	if !strings.HasPrefix(valueOr(stopped.StoppedReason), "CannotPullContainerError: ") {
		t.Fatalf("foreign ECR name: %q", valueOr(stopped.StoppedReason))
	}
}

// The seed's lifecycle policy ("Keep last 10 images": tagged, prefix v,
// imageCountMoreThan 10) over 13 v-tagged docker pushes: the preview names
// the three oldest, and the expiry, which runs within seconds of
// put-lifecycle-policy, removes exactly those.
func TestRegistryLifecyclePolicySeed(t *testing.T) {
	e2eTest(t)
	if testing.Short() {
		t.Skip("13 docker builds and pushes; skipped with -short")
	}
	n := startDockerNode(t)
	u := newDockerUser(t, n)
	uri := createRepo(t, n, "my-app")
	u.login(n.addr)
	var digests []string
	for i := 1; i <= 13; i++ {
		tag := fmt.Sprintf("%s:v%d", uri, i)
		u.build(tag, fmt.Sprint("v", i, " ", time.Now().UnixNano()))
		out, ok := u.push(tag)
		if !ok {
			t.Fatalf("push v%d: %s", i, out)
		}
		digests = append(digests, out[strings.Index(out, "digest: ")+8:][:71])
	}
	policy := `{"rules":[{"rulePriority":1,"description":"Keep last 10 images","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}`
	var preview struct {
		Status         string
		PreviewResults []struct {
			ImageDigest string
			ImageTags   []string
		}
		Summary struct{ ExpiringImageTotalCount int }
	}
	n.cliJSON(t, nil, "ecr", "start-lifecycle-policy-preview", "--repository-name", "my-app", "--lifecycle-policy-text", policy)
	n.cliJSON(t, &preview, "ecr", "get-lifecycle-policy-preview", "--repository-name", "my-app")
	var previewed []string
	for _, r := range preview.PreviewResults {
		previewed = append(previewed, r.ImageDigest)
	}
	if preview.Status != "COMPLETE" || preview.Summary.ExpiringImageTotalCount != 3 || !slices.Equal(previewed, digests[:3]) {
		t.Fatalf("preview %+v, want v1..v3 %v", preview, digests[:3])
	}
	n.cliJSON(t, nil, "ecr", "put-lifecycle-policy", "--repository-name", "my-app", "--lifecycle-policy-text", policy)
	var left []string
	waitFor(t, 60*time.Second, "the lifecycle policy to expire three images", func() (bool, string) {
		var out struct {
			ImageIds []struct{ ImageDigest, ImageTag string }
		}
		n.cliJSON(t, &out, "ecr", "list-images", "--repository-name", "my-app")
		left = left[:0]
		for _, id := range out.ImageIds {
			left = append(left, id.ImageDigest)
		}
		return len(left) == 10, fmt.Sprint(len(left), " images")
	})
	slices.Sort(left)
	want := slices.Clone(digests[3:])
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want the ten newest %v", left, want)
	}
}

// Bad input to the registry and the ECR API, with the real clients: each
// gets ECR's or the registry protocol's error and nothing changes.
func TestRegistryBadInput(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	u := newDockerUser(t, n)
	// (The CLI itself refuses names of fewer than two characters.)
	for _, bad := range []string{"My-App", "-lead", "trail-", "two//slashes", "with space", "app:v1", "/root"} {
		r := n.cli(t, "ecr", "create-repository", "--repository-name="+bad)
		if r.exit == 0 || !strings.Contains(r.stderr, "InvalidParameterException") {
			t.Errorf("create-repository %q: exit %d %s", bad, r.exit, r.stderr)
		}
	}
	uri := createRepo(t, n, "fixed", "--image-tag-mutability", "IMMUTABLE")
	u.build("bad-input-a", fmt.Sprint("a ", time.Now().UnixNano()))
	u.build("bad-input-b", fmt.Sprint("b ", time.Now().UnixNano()))

	// Not logged in: docker gets the Basic challenge and has no login.
	u.tag("bad-input-a", uri+":v1")
	if out, ok := u.push(uri + ":v1"); ok || !strings.Contains(out, "no basic auth credentials") {
		t.Fatalf("push without login: %s", out)
	}
	// A wrong password: docker login itself is refused.
	if out, ok := u.sh(fmt.Sprintf("echo not-a-token | %s login --username AWS --password-stdin %s", u.docker, n.addr)); ok || !strings.Contains(out, "401 Unauthorized") {
		t.Fatalf("login with a bad password: %s", out)
	}
	u.login(n.addr)
	if out, ok := u.push(uri + ":v1"); !ok {
		t.Fatalf("push: %s", out)
	}
	// An IMMUTABLE tag is not pushed over.
	u.tag("bad-input-b", uri+":v1")
	if out, ok := u.push(uri + ":v1"); ok || !strings.Contains(out, "The image tag 'v1' already exists in the 'fixed' repository and cannot be overwritten because the repository is immutable.") {
		t.Fatalf("re-push of an immutable tag: %s", out)
	}
	// A repository that does not exist.
	u.tag("bad-input-a", n.addr+"/nope:v1")
	if out, ok := u.push(n.addr + "/nope:v1"); ok || !strings.Contains(out, "The repository with name 'nope' does not exist in the registry with id '000000000000'") {
		t.Fatalf("push to a missing repository: %s", out)
	}
	imgs := describeImages(t, n, "fixed")
	if len(imgs) != 1 || !slices.Equal(imgs[0].ImageTags, []string{"v1"}) {
		t.Fatalf("after refused pushes: %+v", imgs)
	}
	// put-image over the immutable tag, and of a manifest whose layers
	// were never pushed.
	other := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` +
		strings.Repeat("ab", 32) + `","size":2},"layers":[]}`
	r := n.cli(t, "ecr", "put-image", "--repository-name", "fixed", "--image-tag", "v2", "--image-manifest", other)
	if r.exit == 0 || !strings.Contains(r.stderr, "LayersNotFoundException") {
		t.Fatalf("put-image with missing layers: %d %s", r.exit, r.stderr)
	}
	var bg struct {
		Images []struct{ ImageManifest string }
	}
	n.cliJSON(t, &bg, "ecr", "batch-get-image", "--repository-name", "fixed", "--image-ids", "imageTag=v1")
	n.cliJSON(t, nil, "ecr", "put-image", "--repository-name", "fixed", "--image-tag", "v3", "--image-manifest", bg.Images[0].ImageManifest)
	r = n.cli(t, "ecr", "put-image", "--repository-name", "fixed", "--image-tag", "v1", "--image-manifest", other)
	if r.exit == 0 || !strings.Contains(r.stderr, "ImageTagAlreadyExistsException") {
		t.Fatalf("put-image over v1: %d %s", r.exit, r.stderr)
	}
	r = n.cli(t, "ecr", "describe-images", "--repository-name", "fixed", "--image-ids", "imageTag=nope")
	if r.exit == 0 || !strings.Contains(r.stderr, "ImageNotFoundException") {
		t.Fatalf("describe a missing tag: %s", r.stderr)
	}

	// Concurrent pushes of one tag of a mutable repository: every push
	// succeeds, the tag ends on an image one of them pushed, and nothing
	// else is lost.
	uri = createRepo(t, n, "busy")
	const pushers = 3
	for i := range pushers {
		local := fmt.Sprint("bad-input-busy-", i)
		u.build(local, fmt.Sprint("busy ", i, " ", time.Now().UnixNano()))
		u.tag(local, fmt.Sprint(uri, ":own", i))
		if out, ok := u.push(fmt.Sprint(uri, ":own", i)); !ok {
			t.Fatalf("push own%d: %s", i, out)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	pushed := map[string]bool{}
	var failures []string
	for i := range pushers {
		wg.Go(func() {
			// The local tag moves between the pushers too; each reports
			// the digest it pushed.
			out, ok := u.sh(fmt.Sprintf("%[1]s tag %[2]s:own%[3]d %[2]s:race && %[1]s push %[2]s:race", u.docker, uri, i))
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				failures = append(failures, out)
				return
			}
			pushed[out[strings.Index(out, "digest: ")+8:][:71]] = true
		})
	}
	wg.Wait()
	u.images = append(u.images, uri+":race")
	if len(failures) > 0 {
		t.Fatalf("concurrent pushes failed: %v", failures)
	}
	imgs = describeImages(t, n, "busy")
	holders := 0
	for _, img := range imgs {
		if slices.Contains(img.ImageTags, "race") {
			holders++
			if !pushed[img.ImageDigest] {
				t.Fatalf("race names %s, which no push reported (%v)", img.ImageDigest, pushed)
			}
		}
	}
	if len(imgs) != pushers || holders != 1 {
		t.Fatalf("after concurrent pushes: %d images, %d hold the tag: %+v", len(imgs), holders, imgs)
	}
}

// kill -9 during a push, and a restart: the images whose push was
// acknowledged are there and can be pulled; the interrupted one is not
// half there; pushing it again works.
func TestRegistryKillDuringPush(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	u := newDockerUser(t, n)
	uri := createRepo(t, n, "crash")
	u.login(n.addr)
	u.build("crash-a", fmt.Sprint("a ", time.Now().UnixNano()))
	u.tag("crash-a", uri+":acked")
	if out, ok := u.push(uri + ":acked"); !ok {
		t.Fatalf("push: %s", out)
	}

	// A push cut off halfway by kill -9: a layer whose upload is under
	// way when the server dies. The layer streams from a pipe that the
	// test holds open, so the kill lands mid-upload every time.
	pw := n.cli(t, "ecr", "get-login-password")
	if pw.exit != 0 {
		t.Fatalf("get-login-password: %+v", pw)
	}
	rc := &registrytest.Client{Base: n.url(), User: "AWS", Pass: strings.TrimSpace(pw.stdout)}
	cut := registrytest.NewImage(8 << 20)
	layer := cut.Blobs[1]
	pr, pwr := io.Pipe()
	pushed := make(chan error, 1)
	go func() { pushed <- rc.PushStream("crash", digest.FromBytes(layer), int64(len(layer)), pr) }()
	if _, err := pwr.Write(layer[:len(layer)/2]); err != nil { // taken by the request being sent
		t.Fatal(err)
	}
	uploads := filepath.Join(n.dataDir, "registry", "storage", "docker", "registry", "v2", "repositories", "crash", "_uploads")
	waitFor(t, 60*time.Second, "the layer's upload to begin", func() (bool, string) {
		entries, _ := os.ReadDir(uploads)
		return len(entries) > 0, fmt.Sprint(len(entries), " uploads")
	})
	n.kill()
	pwr.CloseWithError(errors.New("the server was killed"))
	if err := <-pushed; err == nil {
		t.Fatal("the cut upload succeeded")
	}
	n.start()

	imgs := describeImages(t, n, "crash")
	if len(imgs) != 1 || !slices.Equal(imgs[0].ImageTags, []string{"acked"}) {
		t.Fatalf("after kill -9: %+v", imgs)
	}
	// The acknowledged image pulls whole.
	u.mustSh(fmt.Sprintf("%s rmi %s:acked crash-a", u.docker, uri))
	u.mustSh(fmt.Sprintf("%s pull %s:acked", u.docker, uri))
	// And the cut push succeeds when it is done again (the token key
	// survived the restart, so the same login still works).
	if code, body, err := rc.Push("crash", "cut", cut); err != nil || code != http.StatusCreated {
		t.Fatalf("push again after the restart: %d %s %v", code, body, err)
	}
	if imgs := describeImages(t, n, "crash"); len(imgs) != 2 {
		t.Fatalf("after the second push: %+v", imgs)
	}
}

// The token of get-login-password is base64 "AWS:<token>", and
// authorization data says where to log in.
func TestRegistryAuthorizationTokenCLI(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	var out struct {
		AuthorizationData []struct {
			AuthorizationToken string
			ExpiresAt          string
			ProxyEndpoint      string
		}
	}
	n.cliJSON(t, &out, "ecr", "get-authorization-token")
	if len(out.AuthorizationData) != 1 || out.AuthorizationData[0].ProxyEndpoint != n.url() {
		t.Fatalf("authorization data %+v", out)
	}
	b, err := base64.StdEncoding.DecodeString(out.AuthorizationData[0].AuthorizationToken)
	if err != nil || !strings.HasPrefix(string(b), "AWS:") {
		t.Fatalf("token %q: %v", b, err)
	}
	pw := n.cli(t, "ecr", "get-login-password")
	if pw.exit != 0 || len(strings.TrimSpace(pw.stdout)) < 40 {
		t.Fatalf("get-login-password: %+v", pw)
	}
}
