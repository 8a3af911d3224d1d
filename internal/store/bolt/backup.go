package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minato-project/minato/internal/store"
	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent copy of the store file to w while the store
// runs: the file as of one read transaction (bbolt's Tx.WriteTo), so it
// holds every write acknowledged before Backup was called. start is called
// once, before the first byte, with the copy's size in bytes and its store
// revision.
//
// Writers go on while the copy is written, except a commit that must grow
// bbolt's memory map, which waits for the copy to end.
func (s *Store) Backup(ctx context.Context, w io.Writer, start func(size, rev int64)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return backupTx(ctx, s.view, w, start)
}

// BackupFile writes a copy of the store file at path, which no running
// store may have open (it takes the file's lock, shared, waiting at most
// lockTimeout), to w, as Backup does.
func BackupFile(ctx context.Context, path string, lockTimeout time.Duration, w io.Writer, start func(size, rev int64)) error {
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	var db *bbolt.DB
	err := guard(func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, ReadOnly: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	defer closeDB(db, 0)
	view := func(fn func(*bbolt.Tx) error) error { return guard(func() error { return db.View(fn) }) }
	return backupTx(ctx, view, w, start)
}

// backupTx copies the file as of one read transaction of view to w.
func backupTx(ctx context.Context, view func(func(*bbolt.Tx) error) error, w io.Writer, start func(size, rev int64)) error {
	var werr error // an error of w, not of the store
	err := view(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("no meta bucket")
		}
		rev, err := readRev(meta)
		if err != nil {
			return err
		}
		start(tx.Size(), rev)
		_, err = tx.WriteTo(writerFunc(func(p []byte) (int, error) {
			if err := ctx.Err(); err != nil {
				werr = err
				return 0, err
			}
			n, err := w.Write(p)
			if err != nil {
				werr = err
			}
			return n, err
		}))
		return err
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("store/bolt: backup: %w", err)
	}
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// FileInfo describes a verified store file.
type FileInfo struct {
	Revision int64 // the store revision
	Records  int   // the number of records
	Size     int64 // bytes
}

// Verify checks the store file at path without changing it, as Open does:
// the structure of the bbolt file, then every record. The file must not be
// open for writing by a running store (Verify waits LockTimeout for its
// lock). The error matches ErrDamaged when the file is damaged.
func Verify(path string, lockTimeout time.Duration) (FileInfo, error) {
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, err
	}
	if st.Size() == 0 {
		return FileInfo{}, &DamagedError{Path: path, Err: errors.New("empty file")}
	}
	var db *bbolt.DB
	err = guard(func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, ReadOnly: true})
		return err
	})
	var p *panicError
	switch {
	case errors.As(err, &p), errors.Is(err, bberrors.ErrInvalid), errors.Is(err, bberrors.ErrChecksum):
		return FileInfo{}, &DamagedError{Path: path, Err: err}
	case err != nil:
		return FileInfo{}, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	defer closeDB(db, 0)
	f, err := os.Open(path)
	if err != nil {
		return FileInfo{}, err
	}
	defer f.Close()
	if err := verifyStructure(db, f); err != nil {
		return FileInfo{}, err
	}
	info := FileInfo{Size: st.Size()}
	err = guard(func() error {
		return db.View(func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return &DamagedError{Path: path, Err: errors.New("no meta bucket")}
			}
			if err := checkFormat(meta); err != nil {
				return err
			}
			rev, err := readRev(meta)
			info.Revision = rev
			return err
		})
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("store/bolt: %s: %w", path, err)
	}
	if info.Records, err = checkRecords(db); err != nil {
		return FileInfo{}, err
	}
	return info, nil
}
