package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
)

// This file checks the structure of a bbolt file by reading it with
// bounds-checked Go slices, never through bbolt's memory map.
//
// Why not bbolt's own tx.Check: it runs in a goroutine of its own and
// follows page offsets and element positions through unsafe pointers into
// the map. On a damaged page those point outside the mapped file, and the
// resulting fault ("unexpected fault address") cannot be recovered in a
// goroutine we do not own: it kills the process. Measured on single-page
// corruptions of a small state.db, tx.Check crashed the process in 10 of
// 384 cases. The same checks done here can only return an error.
//
// The format is bbolt's (version 2, unchanged since 2014), in the byte
// order of the machine that wrote it, which is this one.

// bbolt page flags and layout.
const (
	pageBranch    = 0x01
	pageLeaf      = 0x02
	pageMeta      = 0x04
	pageFreelist  = 0x10
	leafBucket    = 0x01 // leaf element flag: the value is a sub-bucket
	pageHeader    = 16   // id u64, flags u16, count u16, overflow u32
	elementSize   = 16   // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeader  = 16   // root pgid u64, sequence u64
	metaMagic     = 0xED0CDAED
	metaVersion   = 2
	metaSumOffset = 56 // the checksum covers the meta's first 56 bytes
	noFreelist    = ^uint64(0)
)

var ne = binary.NativeEndian

// damage is one inconsistency found in a file.
type damage struct {
	page   uint64
	reason string
}

func (d *damage) Error() string { return fmt.Sprintf("page %d: %s", d.page, d.reason) }

// meta is the part of a bbolt meta page the check needs.
type meta struct {
	root, freelist, hwm, txid uint64
}

// verifier walks one file.
type verifier struct {
	r    io.ReaderAt
	size int64
	psz  int
	hwm  uint64
	used []bool   // page reachable from the root (or the freelist page)
	free []bool   // page listed as free
	bufs [][]byte // one page buffer per tree depth
}

// maxTreeDepth bounds recursion: a bbolt tree of a few billion keys is
// less than 10 levels deep, so anything deeper is a reference cycle.
const maxTreeDepth = 64

// verifyFile checks the structure of the bbolt file r of size bytes, whose
// pages are psz bytes: both meta pages, the newest valid one (the one bbolt
// uses), the freelist, and every branch and leaf page reachable from the
// root, bucket by bucket. It checks what tx.Check checks — every page below
// the high-water mark is reachable exactly once or free, keys are in order
// within pages and within their parents' ranges — and also that every
// element lies inside its page, so that no later read can leave the file.
func verifyFile(r io.ReaderAt, size int64, psz int) error {
	if psz < 512 || psz > 1<<20 {
		return &damage{0, fmt.Sprintf("page size %d", psz)}
	}
	v := &verifier{r: r, size: size, psz: psz}
	m, err := v.meta()
	if err != nil {
		return err
	}
	if m.hwm < 3 || m.hwm > uint64(size)/uint64(psz) {
		return &damage{0, fmt.Sprintf("high-water mark %d pages, file holds %d", m.hwm, size/int64(psz))}
	}
	v.hwm = m.hwm
	v.used = make([]bool, m.hwm)
	v.free = make([]bool, m.hwm)
	v.used[0], v.used[1] = true, true
	if m.freelist != noFreelist {
		if err := v.freelist(m.freelist); err != nil {
			return err
		}
	}
	if err := v.tree(m.root, nil, nil, 0); err != nil {
		return err
	}
	if m.freelist == noFreelist {
		return nil // free pages are not on disk; nothing to compare
	}
	for id := uint64(2); id < m.hwm; id++ {
		if !v.used[id] && !v.free[id] {
			return &damage{id, "neither reachable nor free"}
		}
	}
	return nil
}

// checkFreelistPage checks the header of the freelist page the next commit
// will free. Every commit frees the old freelist page with all the
// overflow pages its header claims, one by one, so a header damaged while
// the store runs would make bbolt loop over billions of page IDs and run
// out of memory rather than panic. Run it inside the write transaction,
// where the meta pages cannot change.
func checkFreelistPage(r io.ReaderAt, psz int) error {
	v := &verifier{r: r, psz: psz}
	m, err := v.meta()
	if err != nil || m.freelist == noFreelist {
		return err
	}
	b := make([]byte, pageHeader)
	if _, err := r.ReadAt(b, int64(m.freelist)*int64(psz)); err != nil {
		return &damage{m.freelist, fmt.Sprintf("unreadable: %v", err)}
	}
	switch {
	case ne.Uint64(b) != m.freelist:
		return &damage{m.freelist, fmt.Sprintf("page says it is page %d", ne.Uint64(b))}
	case ne.Uint16(b[8:]) != pageFreelist:
		return &damage{m.freelist, fmt.Sprintf("freelist page has flags %#x", ne.Uint16(b[8:]))}
	case m.freelist >= m.hwm || uint64(ne.Uint32(b[12:])) >= m.hwm-m.freelist:
		return &damage{m.freelist, "freelist page runs past the high-water mark"}
	}
	return nil
}

// meta reads both meta pages and returns the one bbolt would use: the
// valid one with the higher transaction ID.
func (v *verifier) meta() (meta, error) {
	var ms [2]meta
	var errs [2]error
	for i := range 2 {
		ms[i], errs[i] = v.readMeta(uint64(i))
	}
	switch {
	case errs[0] != nil && errs[1] != nil:
		return meta{}, fmt.Errorf("both meta pages are invalid: %v; %v", errs[0], errs[1])
	case errs[0] != nil:
		return ms[1], nil
	case errs[1] != nil:
		return ms[0], nil
	case ms[1].txid > ms[0].txid:
		return ms[1], nil
	}
	return ms[0], nil
}

func (v *verifier) readMeta(id uint64) (meta, error) {
	b := make([]byte, pageHeader+64)
	if _, err := v.r.ReadAt(b, int64(id)*int64(v.psz)); err != nil {
		return meta{}, &damage{id, fmt.Sprintf("meta page unreadable: %v", err)}
	}
	m := b[pageHeader:]
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	switch {
	case ne.Uint16(b[8:]) != pageMeta:
		return meta{}, &damage{id, fmt.Sprintf("not a meta page (flags %#x)", ne.Uint16(b[8:]))}
	case ne.Uint32(m[0:]) != metaMagic:
		return meta{}, &damage{id, "meta page: bad magic"}
	case ne.Uint32(m[4:]) != metaVersion:
		return meta{}, &damage{id, fmt.Sprintf("meta page: version %d", ne.Uint32(m[4:]))}
	case ne.Uint64(m[metaSumOffset:]) != h.Sum64():
		return meta{}, &damage{id, "meta page: bad checksum"}
	case int(ne.Uint32(m[8:])) != v.psz:
		return meta{}, &damage{id, fmt.Sprintf("meta page: page size %d, expected %d", ne.Uint32(m[8:]), v.psz)}
	}
	return meta{root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), hwm: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, nil
}

// page reads page id and its overflow pages into the buffer of depth and
// marks them reachable.
func (v *verifier) page(id uint64, depth int) ([]byte, error) {
	if id < 2 || id >= v.hwm {
		return nil, &damage{id, fmt.Sprintf("referenced page outside 2..%d", v.hwm-1)}
	}
	for len(v.bufs) <= depth {
		v.bufs = append(v.bufs, make([]byte, v.psz))
	}
	b := v.bufs[depth][:v.psz]
	if _, err := v.r.ReadAt(b, int64(id)*int64(v.psz)); err != nil {
		return nil, &damage{id, fmt.Sprintf("unreadable: %v", err)}
	}
	if got := ne.Uint64(b); got != id {
		return nil, &damage{id, fmt.Sprintf("page says it is page %d", got)}
	}
	overflow := uint64(ne.Uint32(b[12:]))
	if overflow >= v.hwm-id {
		return nil, &damage{id, fmt.Sprintf("%d overflow pages run past the high-water mark %d", overflow, v.hwm)}
	}
	if overflow > 0 {
		n := int(overflow+1) * v.psz
		if cap(v.bufs[depth]) < n {
			v.bufs[depth] = make([]byte, n)
		}
		b = v.bufs[depth][:n]
		if _, err := v.r.ReadAt(b, int64(id)*int64(v.psz)); err != nil {
			return nil, &damage{id, fmt.Sprintf("unreadable: %v", err)}
		}
	}
	for p := id; p <= id+overflow; p++ {
		switch {
		case v.used[p]:
			return nil, &damage{p, "referenced twice"}
		case v.free[p]:
			return nil, &damage{p, "in use and listed as free"}
		}
		v.used[p] = true
	}
	return b, nil
}

// freelist reads the freelist page and marks every page it lists.
func (v *verifier) freelist(id uint64) error {
	b, err := v.page(id, 0)
	if err != nil {
		return err
	}
	if f := ne.Uint16(b[8:]); f != pageFreelist {
		return &damage{id, fmt.Sprintf("freelist page has flags %#x", f)}
	}
	n, at := uint64(ne.Uint16(b[10:])), pageHeader
	if n == 0xFFFF { // the count did not fit: it is the first element
		n, at = ne.Uint64(b[pageHeader:]), pageHeader+8
	}
	if n > uint64(len(b)-at)/8 {
		return &damage{id, fmt.Sprintf("freelist of %d pages does not fit its page", n)}
	}
	for i := range n {
		p := ne.Uint64(b[at+int(i)*8:])
		switch {
		case p < 2 || p >= v.hwm:
			return &damage{id, fmt.Sprintf("free page %d outside 2..%d", p, v.hwm-1)}
		case v.free[p]:
			return &damage{id, fmt.Sprintf("page %d listed as free twice", p)}
		case v.used[p]:
			return &damage{p, "in use and listed as free"}
		}
		v.free[p] = true
	}
	return nil
}

// tree checks the subtree at page id, whose keys must lie in [lo, hi) (nil:
// unbounded), and every bucket below it.
func (v *verifier) tree(id uint64, lo, hi []byte, depth int) error {
	if depth > maxTreeDepth {
		return &damage{id, "tree deeper than any real one: a reference cycle"}
	}
	b, err := v.page(id, depth)
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(b[8:]); flags {
	case pageBranch:
		return v.branch(id, b, lo, hi, depth)
	case pageLeaf:
		return v.leaf(id, b, lo, hi, depth)
	default:
		return &damage{id, fmt.Sprintf("expected a branch or leaf page, found flags %#x", flags)}
	}
}

func (v *verifier) branch(id uint64, b, lo, hi []byte, depth int) error {
	n := int(ne.Uint16(b[10:]))
	if n == 0 {
		return &damage{id, "empty branch page"}
	}
	keys := make([][]byte, n)
	kids := make([]uint64, n)
	for i := range n {
		e := pageHeader + i*elementSize
		if e+elementSize > len(b) {
			return &damage{id, fmt.Sprintf("branch element %d of %d runs past the page", i, n)}
		}
		k, err := span(b, e, ne.Uint32(b[e:]), ne.Uint32(b[e+4:]))
		if err != nil {
			return &damage{id, fmt.Sprintf("branch element %d: %v", i, err)}
		}
		if err := inOrder(k, keys[:i], lo, hi); err != nil {
			return &damage{id, fmt.Sprintf("branch element %d: %v", i, err)}
		}
		keys[i] = bytes.Clone(k) // b is reused by the children
		kids[i] = ne.Uint64(b[e+8:])
	}
	for i := range n {
		next := hi
		if i+1 < n {
			next = keys[i+1]
		}
		if err := v.tree(kids[i], keys[i], next, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks a leaf page (or an inline bucket's page, which is a leaf
// page inside a value) and the buckets in it.
func (v *verifier) leaf(id uint64, b, lo, hi []byte, depth int) error {
	n := int(ne.Uint16(b[10:]))
	var prev []byte
	type sub struct {
		key, val []byte
	}
	var subs []sub
	for i := range n {
		e := pageHeader + i*elementSize
		if e+elementSize > len(b) {
			return &damage{id, fmt.Sprintf("leaf element %d of %d runs past the page", i, n)}
		}
		flags, pos, ksize, vsize := ne.Uint32(b[e:]), ne.Uint32(b[e+4:]), ne.Uint32(b[e+8:]), ne.Uint32(b[e+12:])
		start := uint64(e) + uint64(pos)
		kend := start + uint64(ksize)
		if end := kend + uint64(vsize); end > uint64(len(b)) {
			return &damage{id, fmt.Sprintf("leaf element %d: %d bytes at offset %d run past the page's %d", i, end-start, start, len(b))}
		}
		k, val := b[start:kend], b[kend:kend+uint64(vsize)]
		if len(k) == 0 {
			return &damage{id, fmt.Sprintf("leaf element %d: empty key", i)}
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return &damage{id, fmt.Sprintf("leaf element %d: keys out of order", i)}
		}
		if lo != nil && bytes.Compare(k, lo) < 0 || hi != nil && bytes.Compare(k, hi) >= 0 {
			return &damage{id, fmt.Sprintf("leaf element %d: key outside its parent's range", i)}
		}
		prev = k
		switch flags {
		case 0:
		case leafBucket:
			subs = append(subs, sub{bytes.Clone(k), bytes.Clone(val)})
		default:
			return &damage{id, fmt.Sprintf("leaf element %d: flags %#x", i, flags)}
		}
	}
	for _, s := range subs {
		if err := v.bucket(id, s.key, s.val, depth); err != nil {
			return err
		}
	}
	return nil
}

// bucket checks the bucket whose header is val: its root page, or the
// inline page that follows the header.
func (v *verifier) bucket(parent uint64, name, val []byte, depth int) error {
	if len(val) < bucketHeader {
		return &damage{parent, fmt.Sprintf("bucket %q: header of %d bytes", name, len(val))}
	}
	if root := ne.Uint64(val); root != 0 {
		return v.tree(root, nil, nil, depth+1)
	}
	inline := val[bucketHeader:]
	if len(inline) < pageHeader || ne.Uint16(inline[8:]) != pageLeaf {
		return &damage{parent, fmt.Sprintf("bucket %q: inline page is not a leaf", name)}
	}
	if depth > maxTreeDepth {
		return &damage{parent, "buckets nested deeper than any real ones"}
	}
	// An inline page holds no sub-buckets in a file bbolt wrote, but
	// checking it as a leaf also covers one that claims some.
	return v.leaf(parent, inline, nil, nil, depth+1)
}

// span returns the size bytes at pos bytes after offset e of b, or an error
// when they do not lie inside b.
func span(b []byte, e int, pos, size uint32) ([]byte, error) {
	start := uint64(e) + uint64(pos)
	end := start + uint64(size)
	if end > uint64(len(b)) {
		return nil, fmt.Errorf("%d bytes at offset %d run past the page's %d", size, start, len(b))
	}
	return b[start:end], nil
}

// inOrder checks key k of a branch page against the keys before it on the
// page and against the parent's range [lo, hi).
func inOrder(k []byte, before [][]byte, lo, hi []byte) error {
	switch {
	case len(k) == 0:
		return fmt.Errorf("empty key")
	case len(before) > 0 && bytes.Compare(before[len(before)-1], k) >= 0:
		return fmt.Errorf("keys out of order")
	case lo != nil && bytes.Compare(k, lo) < 0, hi != nil && bytes.Compare(k, hi) >= 0:
		return fmt.Errorf("key outside its parent's range")
	}
	return nil
}
