package registry

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Online garbage collection.
//
// distribution's own collector (storage.MarkAndSweep) needs a registry
// that is stopped or read-only: a push that uploads a layer, or finds it
// present, between the mark and the sweep would lose it. minato's
// collector runs beside pushes and pulls. It deletes blob B only when all
// of these hold:
//
//  1. B is referenced by no manifest of any repository. The mark phase
//     reads every manifest in storage without holding any lock; every
//     manifest put while a collection runs is noted (namespace's Put), and
//     the sweep adds the noted references to the mark. The sweep holds the
//     exclusive side of gcState.mu, and every manifest put holds the shared
//     side from before distribution verifies the manifest's blobs until the
//     manifest is stored. So a manifest is either stored before the sweep
//     (and marked, or noted) or verified after it (and finds B gone, and
//     the push fails with MANIFEST_BLOB_UNKNOWN, which docker answers by
//     uploading the layer again). No acknowledged manifest ever names a
//     deleted blob.
//  2. B was unreferenced at an earlier collection at least GCGrace ago
//     (condemned). A pull that fetched a manifest before lifecycle expiry
//     or BatchDeleteImage removed it has GCGrace to fetch the layers.
//  3. B was not touched for GCGrace: no existence check (HEAD, which
//     docker sends before uploading a layer, so that it skips layers the
//     registry has), no upload that named B and no cross-repository mount
//     of B, and its file is older than GCGrace. The HEAD holds the shared
//     lock too, so a HEAD is either seen by the sweep or sees B gone. A
//     push that found B present therefore has GCGrace to put its manifest.
//  4. The process has run for GCGrace: touches are kept in memory, and
//     the grace covers what a restart forgot.
//
// A blob upload in flight is no blob yet (it lives under _uploads), so it
// cannot be collected; abandoned uploads are removed by distribution's
// upload purger after a day.
type gcState struct {
	mu    sync.RWMutex // shared: manifest puts, blob HEADs; exclusive: the sweep
	cycle sync.Mutex   // one collection at a time

	noteMu    sync.Mutex
	recording bool
	noted     map[digest.Digest]struct{}
	touched   map[digest.Digest]time.Time
	clock     func() time.Time

	started   time.Time
	condemned map[digest.Digest]time.Time // guarded by cycle
}

func (g *gcState) init(now time.Time, clock func() time.Time) {
	g.started, g.clock = now, clock
	g.touched = map[digest.Digest]time.Time{}
	g.condemned = map[digest.Digest]time.Time{}
}

// enter takes the shared lock; it returns its release.
func (g *gcState) enter() func() {
	g.mu.RLock()
	return g.mu.RUnlock
}

// touch records that a request named blob d now.
func (g *gcState) touch(d string) {
	dg, err := digest.Parse(d)
	if err != nil {
		return
	}
	now := g.clock()
	g.noteMu.Lock()
	g.touched[dg] = now
	g.noteMu.Unlock()
}

// noteManifest records, while a collection runs, a manifest that was put
// and what it references.
func (g *gcState) noteManifest(d digest.Digest, m distribution.Manifest) {
	g.noteMu.Lock()
	defer g.noteMu.Unlock()
	if !g.recording {
		return
	}
	g.noted[d] = struct{}{}
	for _, ref := range m.References() {
		g.noted[ref.Digest] = struct{}{}
	}
}

// GCStats is what one collection deleted.
type GCStats struct {
	Blobs int   // blobs deleted
	Bytes int64 // their size
}

// CollectGarbage deletes the blobs that no manifest references, by the
// rules above.
func (r *Registry) CollectGarbage(ctx context.Context) (GCStats, error) {
	g := &r.gc
	g.cycle.Lock()
	defer g.cycle.Unlock()
	g.noteMu.Lock()
	g.recording, g.noted = true, map[digest.Digest]struct{}{}
	g.noteMu.Unlock()
	defer func() {
		g.noteMu.Lock()
		g.recording, g.noted = false, nil
		g.noteMu.Unlock()
	}()

	marked, links, err := r.mark(ctx)
	if err != nil {
		return GCStats{}, err
	}
	var unmarked []digest.Digest
	err = r.base.Blobs().Enumerate(ctx, func(d digest.Digest) error {
		if _, ok := marked[d]; !ok {
			unmarked = append(unmarked, d)
		}
		return nil
	})
	if err != nil && !isPathNotFound(err) {
		return GCStats{}, fmt.Errorf("registry gc: list blobs: %w", err)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	grace := r.cfg.GCGrace
	g.noteMu.Lock()
	for d := range g.noted {
		marked[d] = struct{}{}
	}
	for d, at := range g.touched {
		if now.Sub(at) >= grace {
			delete(g.touched, d) // too old to matter again
		}
	}
	touched := make(map[digest.Digest]time.Time, len(g.touched))
	for d, at := range g.touched {
		touched[d] = at
	}
	g.noteMu.Unlock()

	var st GCStats
	vac := storage.NewVacuum(ctx, r.driver)
	condemned := map[digest.Digest]time.Time{}
	for _, d := range unmarked {
		if _, ok := marked[d]; ok {
			continue
		}
		since, ok := g.condemned[d]
		if !ok {
			since = now
		}
		condemned[d] = since
		last := later(touched[d], g.started)
		fi, err := r.driver.Stat(ctx, blobDataPath(d))
		if err != nil {
			continue // gone already, or unreadable: leave it
		}
		last = later(last, fi.ModTime())
		if now.Sub(since) < grace || now.Sub(last) < grace {
			continue
		}
		if err := vac.RemoveBlob(d.String()); err != nil {
			return st, fmt.Errorf("registry gc: delete blob %s: %w", d, err)
		}
		delete(condemned, d)
		st.Blobs++
		st.Bytes += fi.Size()
		for _, repo := range links[d] {
			if err := vac.RemoveLayer(repo, d); err != nil && !isPathNotFound(err) {
				return st, fmt.Errorf("registry gc: delete layer link %s of %s: %w", d, repo, err)
			}
		}
	}
	g.condemned = condemned
	if st.Blobs > 0 {
		return st, r.durable.Flush()
	}
	return st, nil
}

// mark returns every blob some manifest references (manifests included),
// and the repositories that link each blob as a layer.
func (r *Registry) mark(ctx context.Context) (map[digest.Digest]struct{}, map[digest.Digest][]string, error) {
	marked := map[digest.Digest]struct{}{}
	links := map[digest.Digest][]string{}
	repos, ok := r.base.(distribution.RepositoryEnumerator)
	if !ok {
		return nil, nil, errors.New("registry gc: storage cannot list repositories")
	}
	err := repos.Enumerate(ctx, func(name string) error {
		named, err := reference.WithName(name)
		if err != nil {
			return nil // not a repository distribution could have written
		}
		repo, err := r.base.Repository(ctx, named)
		if err != nil {
			return err
		}
		ms, err := repo.Manifests(ctx)
		if err != nil {
			return err
		}
		err = ms.(distribution.ManifestEnumerator).Enumerate(ctx, func(d digest.Digest) error {
			marked[d] = struct{}{}
			m, err := ms.Get(ctx, d)
			if err != nil {
				r.log.Warn("registry gc: unreadable manifest; its blobs are kept", "repository", name, "digest", d, "err", err)
				return nil
			}
			for _, ref := range m.References() {
				marked[ref.Digest] = struct{}{}
			}
			return nil
		})
		if err != nil && !isPathNotFound(err) {
			return fmt.Errorf("manifests of %s: %w", name, err)
		}
		err = repo.Blobs(ctx).(distribution.ManifestEnumerator).Enumerate(ctx, func(d digest.Digest) error {
			links[d] = append(links[d], name)
			return nil
		})
		if err != nil && !isPathNotFound(err) {
			return fmt.Errorf("layers of %s: %w", name, err)
		}
		return nil
	})
	if err != nil && !isPathNotFound(err) {
		return nil, nil, fmt.Errorf("registry gc: mark: %w", err)
	}
	return marked, links, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func isPathNotFound(err error) bool {
	var pe storagedriver.PathNotFoundError
	return errors.As(err, &pe)
}

// Storage layout (distribution's registry/storage/paths.go, stable since
// registry v2).
const storageRoot = "/docker/registry/v2"

func blobDataPath(d digest.Digest) string {
	hex := d.Encoded()
	return path.Join(storageRoot, "blobs", d.Algorithm().String(), hex[:2], hex, "data")
}

func revisionLinkPath(repo string, d digest.Digest) string {
	return path.Join(storageRoot, "repositories", repo, "_manifests", "revisions", d.Algorithm().String(), d.Encoded(), "link")
}
