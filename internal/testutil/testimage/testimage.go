// Package testimage gives tests a Docker client and minato's test image:
// test/testapp compiled as a static binary and packed FROM scratch, built
// locally (no registry is ever reached). Tests that need Docker call
// RequireDocker, which skips them when Docker is missing unless CI=true.
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

const (
	// DefaultTag is the tag Build uses when given "".
	DefaultTag = "minato-testapp:test"
	// LabelTest marks everything tests create in Docker, so a cleanup (or a
	// person) can find leftovers: docker ps -a --filter label=minato.test.
	LabelTest = "minato.test"
	// LabelBinary on the test image holds the SHA-256 of the testapp binary
	// inside, so an image built from the same source is reused.
	LabelBinary = "minato.testapp.sha256"
)

// RequireDocker returns a client for the local Docker Engine, or skips the
// test when there is none — unless CI=true, where a missing Docker fails it.
// The client is closed when the test ends.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := newClient()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		if err == nil {
			// Negotiate before any concurrent use: lazy negotiation races.
			cli.NegotiateAPIVersion(ctx)
		}
		cancel()
		if err != nil {
			cli.Close()
		}
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

// Build makes sure the test image exists under tag (DefaultTag if "") and
// returns its reference. It compiles test/testapp with CGO_ENABLED=0 and
// builds an image FROM scratch with the binary as ENTRYPOINT, once per test
// binary; an existing image labelled with the same binary hash is reused.
// The image stays as a cache between runs: it carries LabelTest.
func Build(t testing.TB, tag string) string {
	t.Helper()
	RequireDocker(t)
	if tag == "" {
		tag = DefaultTag
	}
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
			t.Logf("test image %s ready in %v", tag, time.Since(start).Round(time.Millisecond))
		}
	})
	if r.err != nil {
		t.Fatalf("build test image: %v", r.err)
	}
	return r.ref
}

func buildImage(tag string) (string, error) {
	cli, err := newClient()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	info, err := cli.Info(ctx)
	if err != nil {
		return "", err
	}
	bin, err := compile(ctx, goArch(info.Architecture))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bin)
	hash := hex.EncodeToString(sum[:])

	old := ""
	if img, err := cli.ImageInspect(ctx, tag); err == nil {
		if img.Config != nil && img.Config.Labels[LabelBinary] == hash {
			return tag, nil
		}
		old = img.ID
	}

	dockerfile := fmt.Sprintf("FROM scratch\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\nLABEL %s=true %s=%s\n", LabelTest, LabelBinary, hash)
	tarball, err := tarFiles(map[string]tarFile{
		"Dockerfile": {data: []byte(dockerfile), mode: 0o644},
		"testapp":    {data: bin, mode: 0o755},
	})
	if err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        []string{tag},
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
	if old != "" {
		// The image the new one replaced, now untagged; Docker keeps it
		// while some container still uses it.
		_, _ = cli.ImageRemove(ctx, old, image.RemoveOptions{PruneChildren: true})
	}
	return tag, nil
}

// compile builds test/testapp for linux/arch and returns the binary.
func compile(ctx context.Context, arch string) ([]byte, error) {
	src, err := sourceDir()
	if err != nil {
		return nil, err
	}
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
		if err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "already in progress") {
			errs = append(errs, err)
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, v := range vs.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !client.IsErrNotFound(err) {
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
		if err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
