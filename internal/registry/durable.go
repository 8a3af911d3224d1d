package registry

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// durable wraps distribution's filesystem driver so that what it writes
// survives a crash once the write returns: the registry acknowledges a
// push only after its writes returned.
//
// What the filesystem driver does itself (v3.1): a blob upload's data is
// fsynced on commit (FileWriter.Commit), and PutContent (links, tags,
// manifests' revision links) writes a temporary file, fsyncs it, renames it
// into place and fsyncs the parent directory. What it does not: Move (a
// committed upload renamed to its content-addressed place) fsyncs no
// directory, and neither does the MkdirAll that creates the directories of
// a new blob, link or repository. After a crash the rename, or the new
// directories with everything below them, could be gone although the push
// was acknowledged.
//
// So after Move and PutContent, durable fsyncs every directory from the
// file's own up to the storage root: each holds the entry of the one below
// it, and any of them may have been created by this write or by a
// concurrent one that has not synced yet. A directory that has no unsynced
// change costs microseconds to fsync; the dirty ones share one journal
// commit.
//
// One gap remains: a concurrent request can see a file another request is
// still making durable (a second push of the same layer finds the blob
// already there and skips writing it) and be acknowledged first. durable
// closes it: until a write has synced, Stat, GetContent and Reader of its
// path wait for it.
type durable struct {
	storagedriver.StorageDriver
	root string // the driver's root directory, as a file path
	sync func(dir string) error

	mu      sync.Mutex
	pending map[string]chan struct{} // driver paths being made durable
}

func newDurable(d storagedriver.StorageDriver, root string) *durable {
	return &durable{StorageDriver: d, root: filepath.Clean(root), sync: syncDir, pending: map[string]chan struct{}{}}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// begin registers a write of path; the returned func makes it durable
// and releases the readers waiting for it.
func (d *durable) begin(path string) (done func() error) {
	ch := make(chan struct{})
	d.mu.Lock()
	prev := d.pending[path]
	d.pending[path] = ch
	d.mu.Unlock()
	return func() error {
		err := d.syncUp(path)
		d.mu.Lock()
		if d.pending[path] == ch {
			delete(d.pending, path)
		}
		d.mu.Unlock()
		close(ch)
		if prev != nil {
			<-prev // an earlier write of the same path: it too must be durable
		}
		return err
	}
}

// wait blocks while a write of path is being made durable.
func (d *durable) wait(ctx context.Context, path string) error {
	d.mu.Lock()
	ch := d.pending[path]
	d.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syncUp fsyncs the directories from the one holding driver path p up to
// the root.
func (d *durable) syncUp(p string) error {
	dir := filepath.Dir(filepath.Join(d.root, filepath.FromSlash(p)))
	for {
		if err := d.sync(dir); err != nil && !os.IsNotExist(err) {
			return err
		}
		if dir == d.root || !strings.HasPrefix(dir, d.root+string(filepath.Separator)) {
			return nil
		}
		dir = filepath.Dir(dir)
	}
}

func (d *durable) PutContent(ctx context.Context, path string, content []byte) error {
	done := d.begin(path)
	err := d.StorageDriver.PutContent(ctx, path, content)
	if serr := done(); err == nil {
		err = serr
	}
	return err
}

func (d *durable) Move(ctx context.Context, src, dst string) error {
	done := d.begin(dst)
	err := d.StorageDriver.Move(ctx, src, dst)
	if serr := done(); err == nil {
		err = serr
	}
	return err
}

func (d *durable) Stat(ctx context.Context, path string) (storagedriver.FileInfo, error) {
	if err := d.wait(ctx, path); err != nil {
		return nil, err
	}
	return d.StorageDriver.Stat(ctx, path)
}

func (d *durable) GetContent(ctx context.Context, path string) ([]byte, error) {
	if err := d.wait(ctx, path); err != nil {
		return nil, err
	}
	return d.StorageDriver.GetContent(ctx, path)
}

func (d *durable) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if err := d.wait(ctx, path); err != nil {
		return nil, err
	}
	return d.StorageDriver.Reader(ctx, path, offset)
}
