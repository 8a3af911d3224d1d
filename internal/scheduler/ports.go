package scheduler

import (
	"slices"
	"sort"
)

// Host port sets are sorted []int. They are shared with the caller's
// snapshot until written, and every write makes a new slice.

// sortedSet returns ports sorted and without duplicates: ports itself when
// it already is, else a new slice.
func sortedSet(ports []int) []int {
	ok := true
	for i := 1; i < len(ports) && ok; i++ {
		ok = ports[i-1] < ports[i]
	}
	if ok {
		return ports
	}
	return slices.Compact(slices.Sorted(slices.Values(ports)))
}

func has(set []int, p int) bool {
	_, ok := slices.BinarySearch(set, p)
	return ok
}

// countIn counts the members of set in r.
func countIn(set []int, r PortRange) int {
	lo := sort.SearchInts(set, r.From)
	hi := sort.SearchInts(set, r.To+1)
	return hi - lo
}

// union returns the sorted union of set and add, as a new slice.
func union(set, add []int) []int {
	if len(set)+len(add) == 0 {
		return nil
	}
	out := make([]int, 0, len(set)+len(add))
	out = append(out, set...)
	out = append(out, add...)
	slices.Sort(out)
	return slices.Compact(out)
}

// without returns set minus drop, as a new slice.
func without(set, drop []int) []int {
	out := make([]int, 0, len(set))
	for _, p := range set {
		if !slices.Contains(drop, p) {
			out = append(out, p)
		}
	}
	return out
}

// freeIn returns the n lowest ports of r that are not in used (sorted),
// or nil when there are fewer than n.
func freeIn(used []int, r PortRange, n int) []int {
	if n == 0 {
		return nil
	}
	out := make([]int, 0, n)
	j := sort.SearchInts(used, r.From)
	for p := r.From; p <= r.To && len(out) < n; p++ {
		for j < len(used) && used[j] < p {
			j++
		}
		if j < len(used) && used[j] == p {
			continue
		}
		out = append(out, p)
	}
	if len(out) < n {
		return nil
	}
	return out
}

// portNeeds is the compiled form of a request's port mappings, one protocol.
type portNeeds struct {
	static  []int // sorted, distinct
	dup     bool  // the request names a static host port twice
	dynamic int   // how many dynamic ports
}

func needsOf(ms []PortMapping, udp bool) portNeeds {
	var n portNeeds
	for _, m := range ms {
		if m.udp() != udp {
			continue
		}
		if m.HostPort == 0 {
			n.dynamic++
			continue
		}
		n.static = append(n.static, m.HostPort)
	}
	slices.Sort(n.static)
	before := len(n.static)
	n.static = slices.Compact(n.static)
	n.dup = len(n.static) != before
	return n
}

// fits reports whether an instance whose used ports are used can give n,
// dynamic ports coming from r.
func (n portNeeds) fits(used []int, r PortRange) bool {
	if n.dup {
		return false
	}
	inRange := 0
	for _, p := range n.static {
		if has(used, p) {
			return false
		}
		if p >= r.From && p <= r.To {
			inRange++
		}
	}
	if n.dynamic == 0 {
		return true
	}
	free := r.To - r.From + 1 - countIn(used, r) - inRange
	return free >= n.dynamic
}

// freeFrom returns n ports of r that are not in used (sorted), taken in
// order from start to the end of r and then from its beginning, or nil
// when there are fewer than n.
func freeFrom(used []int, r PortRange, n, start int) []int {
	if n == 0 {
		return nil
	}
	if start < r.From || start > r.To {
		start = r.From
	}
	out := make([]int, 0, n)
	for k := 0; k <= r.To-r.From && len(out) < n; k++ {
		p := start + k
		if p > r.To {
			p -= r.To - r.From + 1
		}
		if !has(used, p) {
			out = append(out, p)
		}
	}
	if len(out) < n {
		return nil
	}
	return out
}
