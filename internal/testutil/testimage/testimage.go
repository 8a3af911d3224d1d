// Package testimage gives tests a Docker client and minato's test image:
// test/testapp compiled as a static binary and packed FROM scratch, built
// locally (no registry is ever reached). Tests that need Docker call
// RequireDocker, which skips them in -short, and when Docker is missing
// unless CI=true.
//
// The image is built once per source: its tag is minato-testapp:<hash of
// test/testapp, go.mod and the Go version>, so every test binary of a
// `go test ./...` run (and every later run, and other worktrees with the
// same source) finds it ready, and worktrees with different sources do not
// replace each other's image. The build runs under a lock file in
// os.TempDir() and with no deadline of its own: a busy machine makes it
// slow, never kills it. Old images stay (a few MB each); remove them with
// `docker rmi $(docker images -q minato-testapp)`.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/minato-project/minato/internal/testutil"
)

const (
	// Repository is the image repository of the test image; its tag is the
	// source hash.
	Repository = "minato-testapp"
	// LabelTest marks everything tests create in Docker, so a cleanup (or a
	// person) can find leftovers: docker ps -a --filter label=minato.test.
	LabelTest = "minato.test"
	// LabelBinary on the test image holds the SHA-256 of the testapp binary
	// inside.
	LabelBinary = "minato.testapp.sha256"
	// LabelSource on the test image holds the hash of the source it was
	// built from (the tag is its first 16 digits).
	LabelSource = "minato.testapp.source"
)

// pingTimeout bounds the one Docker ping of a test binary. A missing
// daemon fails at once; this only matters for a daemon too busy to answer.
const pingTimeout = 30 * time.Second

var (
	probeOnce sync.Once
	probeErr  error
)

// RequireDocker returns a client for the local Docker Engine, or skips the
// test in -short, or when there is no Docker — unless CI=true, where a
// missing Docker fails it. The client is closed when the test ends.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	testutil.SkipShort(t, "needs Docker")
	probeOnce.Do(func() {
		cli, err := newClient()
		if err != nil {
			probeErr = err
			return
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		_, probeErr = cli.Ping(ctx)
	})
	cli, err := newClient()
	if err == nil && probeErr == nil {
		// Negotiate before any concurrent use: lazy negotiation races.
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		cli.NegotiateAPIVersion(ctx)
		cancel()
	} else if err == nil {
		cli.Close()
		err = probeErr
	}
	if err != nil {
		msg := fmt.Sprintf("Docker not available (%v): start Docker Engine, or set CI=true to make this a failure", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func newClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

type result struct {
	once sync.Once
	ref  string
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*result{}
)

// Build makes sure the test image of the current test/testapp source
// exists and returns its reference: minato-testapp:<source hash>, or tag
// if it is not "". It compiles test/testapp with CGO_ENABLED=0 and builds
// an image FROM scratch with the binary as ENTRYPOINT, unless an image
// built from the same source is there already; at most once per test
// binary, and one process at a time on the machine.
func Build(t testing.TB, tag string) string {
	t.Helper()
	RequireDocker(t)
	mu.Lock()
	r, ok := builds[tag]
	if !ok {
		r = &result{}
		builds[tag] = r
	}
	mu.Unlock()
	r.once.Do(func() {
		start := time.Now()
		r.ref, r.err = buildImage(tag)
		if r.err == nil {
			t.Logf("test image %s ready in %v", r.ref, time.Since(start).Round(time.Millisecond))
		}
	})
	if r.err != nil {
		t.Fatalf("build test image: %v", r.err)
	}
	return r.ref
}

// buildImage has no deadline: a build that a busy machine slows down
// finishes late rather than failing every test that needs the image. A
// daemon that never answers is the test binary's -timeout to catch.
func buildImage(tag string) (string, error) {
	cli, err := newClient()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx := context.Background()

	info, err := cli.Info(ctx)
	if err != nil {
		return "", err
	}
	arch := goArch(info.Architecture)
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	hash, err := sourceHash(src, arch)
	if err != nil {
		return "", err
	}
	ref := tag
	if ref == "" {
		ref = Repository + ":" + hash[:16]
	}
	current := func() bool {
		img, err := cli.ImageInspect(ctx, ref)
		return err == nil && img.Config != nil && img.Config.Labels[LabelSource] == hash
	}
	if current() {
		return ref, nil
	}
	unlock, err := testutil.LockFile(filepath.Join(os.TempDir(), "minato-testimage-"+hash[:16]+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if current() { // another test binary built it while this one waited
		return ref, nil
	}

	bin, err := compile(ctx, src, arch)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bin)
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\nLABEL %s=true %s=%s %s=%s\n",
		LabelTest, LabelBinary, hex.EncodeToString(sum[:]), LabelSource, hash)
	tarball, err := tarFiles(map[string]tarFile{
		"Dockerfile": {data: []byte(dockerfile), mode: 0o644},
		"testapp":    {data: bin, mode: 0o755},
	})
	if err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        []string{ref},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := readStream(resp.Body); err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	return ref, nil
}

// sourceHash identifies what the test image is built from: every file of
// test/testapp, the module's go.mod, the Go version and the target
// architecture.
func sourceHash(src, arch string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", goruntime.Version(), arch)
	var files []string
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	files = append(files, filepath.Join(src, "..", "..", "go.mod"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(src, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// compile builds test/testapp for linux/arch and returns the binary.
func compile(ctx context.Context, src, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "minato-testapp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "testapp")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build test/testapp: %v\n%s", err, b)
	}
	return os.ReadFile(out)
}

// sourceDir finds test/testapp from this file's location, or from the
// module root that `go env GOMOD` names.
func sourceDir() (string, error) {
	if _, file, _, ok := goruntime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "test", "testapp")
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
			return dir, nil
		}
	}
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find module root: not inside the minato module")
	}
	return filepath.Join(filepath.Dir(gomod), "test", "testapp"), nil
}

// goArch maps Docker's architecture names to GOARCH.
func goArch(dockerArch string) string {
	switch dockerArch {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return goruntime.GOARCH
}

type tarFile struct {
	data []byte
	mode int64
}

func tarFiles(files map[string]tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, f := range files {
		hdr := &tar.Header{Name: name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readStream drains a Docker JSON progress stream and returns the first
// error it reports.
func readStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// RemoveLabelled force-removes every container, then network and volume,
// that carries label=value (value "" matches any value of label). Tests
// register it with t.Cleanup so nothing they create outlives them.
func RemoveLabelled(ctx context.Context, cli *client.Client, label, value string) error {
	sel := label
	if value != "" {
		sel += "=" + value
	}
	f := filters.NewArgs(filters.Arg("label", sel))
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	errs = append(errs, err)
	for _, c := range cs {
		err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
			errs = append(errs, err)
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, v := range vs.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveImages removes the images that carry label=value, for tests that
// build throwaway images.
func RemoveImages(ctx context.Context, cli *client.Client, label, value string) error {
	sel := label
	if value != "" {
		sel += "=" + value
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", sel))})
	if err != nil {
		return err
	}
	var errs []error
	for _, img := range imgs {
		_, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
