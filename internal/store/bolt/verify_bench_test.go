package bolt

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// benchFile builds a store file of n records of about 1 KiB (a task record
// is 1-3 KiB of JSON) and returns its path.
func benchFile(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 1024)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		kv, meta := tx.Bucket(bucketKV), tx.Bucket(bucketMeta)
		for i := range n {
			if err := kv.Put(fmt.Appendf(nil, "tasks/default/%012d", i), encode(1, 1, val)); err != nil {
				return err
			}
		}
		return meta.Put(keyRev, u64(1))
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpen measures what Open costs on files of growing size: bbolt's
// open alone, bbolt's tx.Check (for comparison; not used), the structural
// check of verify.go, the record check, and Open, which does all of
// minato's. The file is in the page cache; a cold start adds one read of
// the file.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 500_000} {
		path := benchFile(b, n)
		st, _ := os.Stat(path)
		b.Run(fmt.Sprintf("records=%d/MiB=%d", n, st.Size()>>20), func(b *testing.B) {
			b.Run("bbolt.Open", func(b *testing.B) {
				for b.Loop() {
					db, err := bbolt.Open(path, 0o600, nil)
					if err != nil {
						b.Fatal(err)
					}
					db.Close()
				}
			})
			b.Run("tx.Check", func(b *testing.B) {
				db, err := bbolt.Open(path, 0o600, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				for b.Loop() {
					db.View(func(tx *bbolt.Tx) error {
						for err := range tx.Check() {
							b.Fatal(err)
						}
						return nil
					})
				}
			})
			b.Run("verifyFile", func(b *testing.B) {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				for b.Loop() {
					if err := verifyFile(f, st.Size(), 4096); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("checkRecords", func(b *testing.B) {
				db, err := bbolt.Open(path, 0o600, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				for b.Loop() {
					if _, err := checkRecords(db); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Open", func(b *testing.B) {
				for b.Loop() {
					s, err := Open(path, Options{})
					if err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
			})
		})
	}
}

// BenchmarkCheckFreelistPage is what every commit adds: the check of the
// freelist page's header (checkFreelistPage).
func BenchmarkCheckFreelistPage(b *testing.B) {
	s := openBench(b, commitGroup)
	b.ReportAllocs()
	for b.Loop() {
		if err := checkFreelistPage(s.file, 4096); err != nil {
			b.Fatal(err)
		}
	}
}
