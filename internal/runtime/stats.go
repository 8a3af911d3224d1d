package runtime

import (
	"context"
	"time"
)

// ContainerStats is one reading of a running container's resource use.
type ContainerStats struct {
	// CPUNanos is the CPU time the container used since it started, in
	// nanoseconds (cumulative: use the difference of two readings).
	CPUNanos uint64
	// MemoryBytes is the memory in use, without the page cache that can be
	// reclaimed (as `docker stats` shows it).
	MemoryBytes uint64
	// Read is when the reading was taken.
	Read time.Time
}

// StatsReader reads a container's resource use. A Runtime that can
// implements it; the agent samples running tasks through it.
type StatsReader interface {
	ContainerStats(ctx context.Context, id string) (ContainerStats, error)
}
