package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Dynamic host ports. minato chooses them at placement, before the
// container starts, so they must be ports nothing else on the host takes
// in the meantime: above all not ports the kernel hands out as ephemeral
// source ports of outgoing connections (net.ipv4.ip_local_port_range), as
// ECS's 49153-65535 would on Linux, whose default ephemeral range is
// 32768-60999. An agent registers the range it chose from its own
// kernel's (DynamicPortsOutside); DefaultDynamicPorts is for an instance
// that did not say.

// LinuxEphemeralPorts is Linux's default net.ipv4.ip_local_port_range.
var LinuxEphemeralPorts = PortRange{From: 32768, To: 60999}

// DefaultDynamicPorts is the host port range dynamic (hostPort 0) bridge
// mappings draw from when an instance does not say otherwise: the ports
// above Linux's default ephemeral range.
var DefaultDynamicPorts = PortRange{From: 61000, To: 65535}

// ECSDynamicPorts is the ECS agent's default ECS_DYNAMIC_HOST_PORT_RANGE,
// the fallback when the kernel leaves too little room outside its
// ephemeral range.
var ECSDynamicPorts = PortRange{From: 49153, To: 65535}

// MinDynamicPorts is the fewest ports DynamicPortsOutside accepts for a
// range.
const MinDynamicPorts = 1000

// DynamicPortsOutside returns a dynamic host port range outside eph, the
// kernel's ephemeral port range: the ports above it, else the ports just
// below it (no lower than 1024, and at most as many as ECSDynamicPorts
// has), whichever first holds MinDynamicPorts. ok is false when neither
// does; the range is then ECSDynamicPorts, which overlaps eph.
func DynamicPortsOutside(eph PortRange) (r PortRange, ok bool) {
	size := func(r PortRange) int { return r.To - r.From + 1 }
	if above := (PortRange{From: eph.To + 1, To: 65535}); size(above) >= MinDynamicPorts {
		return above, true
	}
	below := PortRange{From: max(1024, eph.From-size(ECSDynamicPorts)), To: eph.From - 1}
	if size(below) >= MinDynamicPorts {
		return below, true
	}
	return ECSDynamicPorts, false
}

// Overlaps reports whether r and o share a port.
func (r PortRange) Overlaps(o PortRange) bool { return r.From <= o.To && o.From <= r.To }

// String is "From-To".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.From, r.To) }

// MappingsOf returns the host port mappings of container c in a task of
// network mode mode ("" is bridge), in the order a Placement lists them
// and a task record keeps their host ports: one per port mapping, one per
// port of a containerPortRange. A HostPort of 0 is a dynamic port.
func MappingsOf(c ecstypes.ContainerDefinition, mode ecstypes.NetworkMode) ([]PortMapping, error) {
	if mode == "" {
		mode = ecstypes.NetworkModeBridge
	}
	return hostPorts(c, mode)
}

// PortMove is MovePorts' decision.
type PortMove struct {
	// HostPorts are the container's host ports after the move, in mapping
	// order.
	HostPorts []int
	// Freed and Taken are the host ports the container gives up and takes,
	// by protocol: what the task holds and the instance has used changes
	// by them.
	FreedTCP, TakenTCP, FreedUDP, TakenUDP []int
}

// MovePorts chooses new host ports for a placed container's dynamic port
// mappings whose host port turned out to be taken on the host (busy): its
// agent could not bind them. ms are the container's mappings as MappingsOf
// gives them and placed the host ports placement chose for them, in the
// same order; inst's used ports include placed. The new ports come from
// inst's dynamic range, from a random point of it on (the lowest with a
// nil rnd), and are neither used nor busy. Every busy port must be a
// dynamic host port of the container: a static one cannot move.
func MovePorts(inst Instance, ms []PortMapping, placed, busy []int, rnd *rand.Rand) (PortMove, error) {
	if len(ms) != len(placed) {
		return PortMove{}, fmt.Errorf("the container has %d port mappings but %d host ports", len(ms), len(placed))
	}
	if len(busy) == 0 {
		return PortMove{}, errors.New("no busy host port given")
	}
	busy = sortedSet(slices.Clone(busy))
	var moveTCP, moveUDP []int // indexes into ms
	for _, p := range busy {
		found := false
		for k, m := range ms {
			if m.HostPort == 0 && placed[k] == p {
				found = true
				if m.udp() {
					moveUDP = append(moveUDP, k)
				} else {
					moveTCP = append(moveTCP, k)
				}
			}
		}
		if !found {
			return PortMove{}, fmt.Errorf("host port %d is not a dynamic host port of the container", p)
		}
	}
	dyn := inst.DynamicPorts.orDefault()
	start := dyn.From
	if rnd != nil && dyn.To > dyn.From {
		start += rnd.IntN(dyn.To - dyn.From + 1)
	}
	mv := PortMove{HostPorts: slices.Clone(placed)}
	move := func(idx, used []int, freed, taken *[]int) error {
		if len(idx) == 0 {
			return nil
		}
		fresh := freeFrom(union(used, busy), dyn, len(idx), start)
		if fresh == nil {
			return fmt.Errorf("no free host port left in the dynamic range %s", dyn)
		}
		for i, k := range idx {
			*freed = append(*freed, placed[k])
			*taken = append(*taken, fresh[i])
			mv.HostPorts[k] = fresh[i]
		}
		return nil
	}
	if err := move(moveTCP, inst.UsedTCP, &mv.FreedTCP, &mv.TakenTCP); err != nil {
		return PortMove{}, err
	}
	if err := move(moveUDP, inst.UsedUDP, &mv.FreedUDP, &mv.TakenUDP); err != nil {
		return PortMove{}, err
	}
	return mv, nil
}

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
