package logstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// segment is one file of a group's log. Only the newest segment of a
// group is appended to; older ones are read-only until retention removes
// them whole.
type segment struct {
	num     uint32
	path    string
	f       *os.File
	size    int64 // bytes published to readers (written and synced)
	created int64 // ms, wall clock when the segment was started
	maxTS   int64 // newest event timestamp in it
}

func segName(num uint32) string { return fmt.Sprintf("%010d.seg", num) }

// listSegments returns the segment numbers in dir, oldest first.
func listSegments(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		nums = append(nums, uint32(n))
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	return nums, nil
}

// scanSegment reads a segment from the start and calls fn for each record
// with its offset. It returns the length of the valid prefix: a torn or
// corrupt tail (a crash mid-write) ends the scan there.
func scanSegment(f *os.File, fn func(off int64, r record, n int)) (int64, error) {
	const chunk = 1 << 20
	buf := make([]byte, 0, 2*chunk)
	var base int64 // file offset of buf[0]
	eof := false
	for {
		for !eof && len(buf) < chunk {
			if cap(buf)-len(buf) < chunk {
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				buf = nb
			}
			n, err := f.ReadAt(buf[len(buf):cap(buf)], base+int64(len(buf)))
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return base, err
			}
		}
		p := 0
		for {
			r, n, err := decodeRecord(buf[p:])
			if err == errShort && !eof {
				break // read more
			}
			if err != nil {
				return base + int64(p), nil // end, or a torn tail
			}
			fn(base+int64(p), r, n)
			p += n
		}
		base += int64(p)
		buf = append(buf[:0], buf[p:]...)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileSync writes a file atomically and durably: a temporary file,
// fsync, rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
