package clusterview

import (
	"slices"
	"sort"
)

// chunkMax bounds the keys of one chunk of a sortedSet: an insert moves at
// most that many strings.
const chunkMax = 512

// sortedSet is an ordered set of strings: sorted chunks of at most
// chunkMax keys, every key of a chunk below every key of the next. Insert
// and remove cost O(log n + chunkMax); ascending from a key costs
// O(log n) to find it. The zero value is empty.
type sortedSet struct {
	chunks [][]string
	n      int
}

// chunkFor returns the index of the chunk k belongs in: the first whose
// last key is >= k, or the last chunk.
func (s *sortedSet) chunkFor(k string) int {
	i := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1] >= k
	})
	return min(i, len(s.chunks)-1)
}

// insert adds k and reports whether it was absent.
func (s *sortedSet) insert(k string) bool {
	if len(s.chunks) == 0 {
		s.chunks = [][]string{{k}}
		s.n = 1
		return true
	}
	ci := s.chunkFor(k)
	c := s.chunks[ci]
	j, found := slices.BinarySearch(c, k)
	if found {
		return false
	}
	c = slices.Insert(c, j, k)
	s.n++
	if len(c) <= chunkMax {
		s.chunks[ci] = c
		return true
	}
	half := len(c) / 2
	lo := slices.Clip(c[:half])
	hi := slices.Clone(c[half:])
	s.chunks[ci] = lo
	s.chunks = slices.Insert(s.chunks, ci+1, hi)
	return true
}

// remove deletes k and reports whether it was present.
func (s *sortedSet) remove(k string) bool {
	if len(s.chunks) == 0 {
		return false
	}
	ci := s.chunkFor(k)
	c := s.chunks[ci]
	j, found := slices.BinarySearch(c, k)
	if !found {
		return false
	}
	c = slices.Delete(c, j, j+1)
	s.n--
	if len(c) == 0 {
		s.chunks = slices.Delete(s.chunks, ci, ci+1)
	} else {
		s.chunks[ci] = c
	}
	return true
}

// len returns the number of keys.
func (s *sortedSet) len() int { return s.n }

// ascend calls fn with every key greater than after, in order, until fn
// returns false.
func (s *sortedSet) ascend(after string, fn func(string) bool) {
	if len(s.chunks) == 0 {
		return
	}
	ci := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1] > after
	})
	for ; ci < len(s.chunks); ci++ {
		c := s.chunks[ci]
		j := sort.Search(len(c), func(i int) bool { return c[i] > after })
		for _, k := range c[j:] {
			if !fn(k) {
				return
			}
		}
	}
}
