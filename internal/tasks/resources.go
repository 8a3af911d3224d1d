package tasks

import (
	"slices"

	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

// Resource accounting: what a container instance has in use (its Used) is
// the sum of what its tasks hold (their Holds) until each is STOPPED. Take
// adds a task's holds, Release gives them back, and movePorts swaps the
// host ports of a move. Each returns a new value and never writes into
// the slices it is given (they may be shared with the cluster view).

// Take returns used plus what a task holds.
func Take(used, holds state.Resources) state.Resources {
	return state.Resources{
		CPU: used.CPU + holds.CPU, MemoryMiB: used.MemoryMiB + holds.MemoryMiB,
		Ports: append(slices.Clone(used.Ports), holds.Ports...), PortsUDP: append(slices.Clone(used.PortsUDP), holds.PortsUDP...),
	}
}

// Release returns used minus what a task held, never below zero.
func Release(used, holds state.Resources) state.Resources {
	out := state.Resources{
		CPU:       max(0, used.CPU-holds.CPU),
		MemoryMiB: max(0, used.MemoryMiB-holds.MemoryMiB),
	}
	out.Ports = removeAll(used.Ports, holds.Ports)
	out.PortsUDP = removeAll(used.PortsUDP, holds.PortsUDP)
	return out
}

// movePorts returns r with a move's freed host ports given back and its
// taken ones added.
func movePorts(r state.Resources, mv scheduler.PortMove) state.Resources {
	r.Ports = append(removeAll(r.Ports, mv.FreedTCP), mv.TakenTCP...)
	r.PortsUDP = append(removeAll(r.PortsUDP, mv.FreedUDP), mv.TakenUDP...)
	return r
}

// removeAll returns from without one occurrence of each port of drop.
func removeAll(from, drop []int) []int {
	out := make([]int, 0, len(from))
	for _, p := range from {
		if i := slices.Index(drop, p); i >= 0 {
			drop = slices.Delete(slices.Clone(drop), i, i+1)
			continue
		}
		out = append(out, p)
	}
	return out
}
