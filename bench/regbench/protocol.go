package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/registry/registrytest"
)

// layer is a layer file of random bytes.
type layer struct {
	path string
	d    digest.Digest
	size int64
}

// makeLayers writes n layers of mb MiB of random bytes (drawn from seed)
// under dir.
func makeLayers(dir string, seed uint64, n, mb int) ([]layer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 'r', 'e', 'g'})
	buf := make([]byte, 1<<20)
	var out []layer
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("layer%d", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		dg := digest.Canonical.Digester()
		for range mb {
			_, _ = rng.Read(buf)
			dg.Hash().Write(buf)
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return nil, err
			}
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		out = append(out, layer{path: p, d: dg.Digest(), size: int64(mb) << 20})
	}
	return out, nil
}

// manifestOf is the image of layers (with a small config of its own).
func manifestOf(layers []layer, nonce string) (registrytest.Image, []byte) {
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"nonce":%q}`, nonce))
	m := registrytest.Manifest{SchemaVersion: 2, MediaType: registrytest.MediaTypeManifest,
		Config: registrytest.Descriptor{MediaType: registrytest.MediaTypeConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
	for _, l := range layers {
		m.Layers = append(m.Layers, registrytest.Descriptor{MediaType: registrytest.MediaTypeLayer, Digest: l.d, Size: l.size})
	}
	return registrytest.Image{Blobs: [][]byte{cfg}}.WithManifest(m), cfg
}

// inParallel runs f on every index below n, at most par at a time, and
// returns the first error.
func inParallel(n, par int, f func(i int) error) error {
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// push pushes the image of layers to repo as docker does (config and
// layers at once, par at a time; then the manifest) and returns how long
// it took.
func push(c *registrytest.Client, repo string, layers []layer, img registrytest.Image, par int) (time.Duration, error) {
	start := time.Now()
	err := inParallel(len(layers)+1, par, func(i int) error {
		if i == len(layers) {
			_, err := c.PushBlob(repo, img.Blobs[0])
			return err
		}
		f, err := os.Open(layers[i].path)
		if err != nil {
			return err
		}
		defer f.Close()
		return c.PushStream(repo, layers[i].d, layers[i].size, f)
	})
	if err != nil {
		return 0, err
	}
	code, body, err := c.PutManifest(repo, "latest", registrytest.MediaTypeManifest, img.Manifest)
	if err != nil {
		return 0, err
	}
	if code != 201 {
		return 0, fmt.Errorf("put manifest: %d %s", code, body)
	}
	return time.Since(start), nil
}

// pull pulls repo:latest (manifest, then its blobs par at a time, digests
// checked) and returns how long it took.
func pull(c *registrytest.Client, repo string, img registrytest.Image, par int) (time.Duration, error) {
	start := time.Now()
	resp, b, err := c.Do("GET", "/v2/"+repo+"/manifests/latest", nil, map[string]string{"Accept": registrytest.MediaTypeManifest})
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 || string(b) != string(img.Manifest) {
		return 0, fmt.Errorf("pull manifest: %d", resp.StatusCode)
	}
	m := img.ParseManifest()
	blobs := append([]registrytest.Descriptor{m.Config}, m.Layers...)
	err = inParallel(len(blobs), par, func(i int) error {
		n, err := c.PullBlob(repo, blobs[i].Digest, discard{})
		if err == nil && n != blobs[i].Size {
			err = fmt.Errorf("blob %s: %d bytes, want %d", blobs[i].Digest, n, blobs[i].Size)
		}
		return err
	})
	return time.Since(start), err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// protocolRounds pushes and pulls a new image through both servers each
// round, alternating which goes first.
func protocolRounds(ctx context.Context, c config, srv *servers) (map[string]harness.Summary, map[string]harness.Summary, error) {
	pushes := map[string]*harness.Recorder{"minato": {}, "stock": {}}
	pulls := map[string]*harness.Recorder{"minato": {}, "stock": {}}
	order := []string{"minato", "stock"}
	// Round 0 warms both up (connections, page cache of the binaries) and
	// is not counted.
	for round := 0; round <= c.rounds; round++ {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		for _, name := range order {
			dir := filepath.Join(c.work, "layers")
			os.RemoveAll(dir)
			layers, err := makeLayers(dir, uint64(round)<<1|boolBit(name == "stock"), c.layers, c.layerMB)
			if err != nil {
				return nil, nil, err
			}
			// The layers' dirty pages go to disk now, not during the push.
			syscall.Sync()
			img, _ := manifestOf(layers, fmt.Sprint(name, round, time.Now().UnixNano()))
			repo := fmt.Sprintf("bench/r%d", round)
			if name == "minato" {
				if err := srv.createRepo(ctx, repo); err != nil {
					return nil, nil, err
				}
			}
			cl, err := srv.client(ctx, name)
			if err != nil {
				return nil, nil, err
			}
			d, err := push(cl, repo, layers, img, c.pushPar)
			if err != nil {
				return nil, nil, fmt.Errorf("%s push: %w", name, err)
			}
			p, err := pull(cl, repo, img, c.pullPar)
			if err != nil {
				return nil, nil, fmt.Errorf("%s pull: %w", name, err)
			}
			if round > 0 {
				pushes[name].Add(d)
				pulls[name].Add(p)
			}
			fmt.Printf("round %d %-6s push %6.0f ms  pull %6.0f ms\n", round, name, ms(d), ms(p))
		}
		order[0], order[1] = order[1], order[0]
	}
	return map[string]harness.Summary{"minato": pushes["minato"].Summary(), "stock": pushes["stock"].Summary()},
		map[string]harness.Summary{"minato": pulls["minato"].Summary(), "stock": pulls["stock"].Summary()}, nil
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
