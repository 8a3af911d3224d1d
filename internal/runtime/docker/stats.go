package docker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/container"

	rt "github.com/minato-project/minato/internal/runtime"
)

var _ rt.StatsReader = (*Runtime)(nil)

// ContainerStats reads one stats entry of a container (the engine's
// one-shot stats, which does not wait for a second sample).
func (r *Runtime) ContainerStats(ctx context.Context, id string) (rt.ContainerStats, error) {
	resp, err := r.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return rt.ContainerStats{}, fmt.Errorf("stats of %s: %w", id, err)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return rt.ContainerStats{}, fmt.Errorf("stats of %s: %w", id, err)
	}
	return rt.ContainerStats{CPUNanos: s.CPUStats.CPUUsage.TotalUsage, MemoryBytes: memoryInUse(s.MemoryStats), Read: s.Read}, nil
}

// memoryInUse is usage less the inactive page cache, as the docker CLI
// computes it (cgroup v2: inactive_file; v1: total_inactive_file).
func memoryInUse(m container.MemoryStats) uint64 {
	cache, ok := m.Stats["inactive_file"]
	if !ok {
		cache = m.Stats["total_inactive_file"]
	}
	if cache > m.Usage {
		return 0
	}
	return m.Usage - cache
}
