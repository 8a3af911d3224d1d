package registry

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// durable wraps distribution's filesystem driver so that a push, once
// acknowledged, survives a crash (kill -9, power loss).
//
// What the filesystem driver does itself (v3.1): a blob upload's data is
// fsynced on commit (FileWriter.Commit), and PutContent (links, tags,
// manifests) writes a temporary file, fsyncs it, renames it into place and
// fsyncs the parent directory. What it does not: Move (a committed upload
// renamed to its content-addressed place) fsyncs no directory, and neither
// does the MkdirAll that creates the directories of a new blob, link or
// repository, nor Delete. After a crash the rename, or new directories
// with everything below them, could be gone although the push that wrote
// them was acknowledged.
//
// A push is acknowledged when its manifest put answers; its layers'
// uploads answer before, but docker counts nothing pushed until the
// manifest is, and a layer lost in a crash is only missing (a later push
// uploads it again), never half there. So durable keeps, instead of
// syncing at every write, the set of directories that writes changed
// (each directory from the written file's up to the root: any of them may
// be new), and Flush syncs the whole set. The registry calls it at the
// commit points: before a manifest put's answer goes out (front.go holds
// it), at the end of PutImage and of the ECR API's deletes. One flush makes
// durable every change made before it, its own push's and any other's it
// relies on (a push that found a layer another, still running, push
// uploaded).
//
// A directory enters the set before the write that changes it, so a
// change that anyone can see is in the set already; it leaves the set
// only when a sync that started after every write to it had ended
// covered it. Uploads in progress (_uploads) are not tracked: they are
// scratch space until committed.
type durable struct {
	storagedriver.StorageDriver
	root string // the driver's root directory, as a file path
	sync func(dir string) error

	mu      sync.Mutex
	pending map[string]*dirtyDir // file paths of directories to sync
}

type dirtyDir struct {
	writers int    // writes to it in progress
	gen     uint64 // bumped by every write that starts
}

func newDurable(d storagedriver.StorageDriver, root string) *durable {
	return &durable{StorageDriver: d, root: filepath.Clean(root), sync: syncDir, pending: map[string]*dirtyDir{}}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// tracked reports whether writes of driver path p must be made durable.
func tracked(p string) bool { return !strings.Contains(p, "/_uploads/") }

// dirs returns the file paths of the directories from the one holding
// driver path p up to the root.
func (d *durable) dirs(p string) []string {
	var out []string
	dir := filepath.Join(d.root, filepath.FromSlash(path.Dir(p)))
	for strings.HasPrefix(dir, d.root) {
		out = append(out, dir)
		if dir == d.root {
			break
		}
		dir = filepath.Dir(dir)
	}
	return out
}

// begin marks the directories of p as being written.
func (d *durable) begin(p string) []string {
	dirs := d.dirs(p)
	d.mu.Lock()
	for _, dir := range dirs {
		e := d.pending[dir]
		if e == nil {
			e = &dirtyDir{}
			d.pending[dir] = e
		}
		e.writers++
		e.gen++
	}
	d.mu.Unlock()
	return dirs
}

func (d *durable) end(dirs []string) {
	d.mu.Lock()
	for _, dir := range dirs {
		d.pending[dir].writers--
	}
	d.mu.Unlock()
}

// Flush makes every change made so far durable.
func (d *durable) Flush() error {
	d.mu.Lock()
	snap := make(map[string]uint64, len(d.pending))
	for dir, e := range d.pending {
		snap[dir] = e.gen
	}
	d.mu.Unlock()
	// Deepest first: a directory's entry in its parent is synced after
	// its own content (any order is correct; this one is tidier).
	dirs := make([]string, 0, len(snap))
	for dir := range snap {
		dirs = append(dirs, dir)
	}
	sortDeepestFirst(dirs)
	for _, dir := range dirs {
		if err := d.sync(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	d.mu.Lock()
	for dir, gen := range snap {
		if e := d.pending[dir]; e != nil && e.writers == 0 && e.gen == gen {
			delete(d.pending, dir)
		}
	}
	d.mu.Unlock()
	return nil
}

func sortDeepestFirst(dirs []string) {
	depth := func(s string) int { return strings.Count(s, string(filepath.Separator)) }
	for i := 1; i < len(dirs); i++ {
		for j := i; j > 0 && depth(dirs[j]) > depth(dirs[j-1]); j-- {
			dirs[j], dirs[j-1] = dirs[j-1], dirs[j]
		}
	}
}

// write runs a write of driver path p, tracked.
func (d *durable) write(p string, op func() error) error {
	if !tracked(p) {
		return op()
	}
	dirs := d.begin(p)
	defer d.end(dirs)
	return op()
}

func (d *durable) PutContent(ctx context.Context, p string, content []byte) error {
	return d.write(p, func() error { return d.StorageDriver.PutContent(ctx, p, content) })
}

func (d *durable) Move(ctx context.Context, src, dst string) error {
	return d.write(dst, func() error { return d.StorageDriver.Move(ctx, src, dst) })
}

// Delete is tracked like the writes: whoever needs a delete durable calls
// Flush (the ECR API's deletes do; garbage collection does once per
// sweep).
func (d *durable) Delete(ctx context.Context, p string) error {
	if !tracked(p) {
		return d.StorageDriver.Delete(ctx, p)
	}
	dirs := d.begin(p)
	defer d.end(dirs)
	return d.StorageDriver.Delete(ctx, p)
}
