package agent

import (
	"context"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	rt "github.com/minato-project/minato/internal/runtime"
)

// DefaultMetricsInterval is Config.MetricsInterval's default: CloudWatch
// keeps one-minute buckets, and a few samples a minute fill each.
const DefaultMetricsInterval = 15 * time.Second

// containerReading is one stats reading of a task's container.
type containerReading struct {
	TaskID      string
	ContainerID string
	Stats       rt.ContainerStats
}

// taskUsage turns this interval's readings into each task's use, given the
// previous reading of each container (by container ID). CPU is the
// difference of the cumulative CPU time over the time between the two
// readings; a container without a previous reading, or whose counter went
// back (it restarted), adds no CPU this time. A task none of whose
// containers has a usable previous reading is left out: its CPU is not
// known yet. It returns the readings to keep for next time.
func taskUsage(prev map[string]rt.ContainerStats, cur []containerReading) ([]agentproto.TaskUsage, map[string]rt.ContainerStats) {
	next := make(map[string]rt.ContainerStats, len(cur))
	byTask := map[string]*agentproto.TaskUsage{}
	known := map[string]bool{}
	var order []string
	for _, r := range cur {
		next[r.ContainerID] = r.Stats
		u := byTask[r.TaskID]
		if u == nil {
			u = &agentproto.TaskUsage{TaskID: r.TaskID}
			byTask[r.TaskID] = u
			order = append(order, r.TaskID)
		}
		u.MemoryMiB += float64(r.Stats.MemoryBytes) / (1 << 20)
		if t := r.Stats.Read.UnixMilli(); t > u.Time {
			u.Time = t
		}
		p, ok := prev[r.ContainerID]
		if !ok || r.Stats.CPUNanos < p.CPUNanos || !r.Stats.Read.After(p.Read) {
			continue
		}
		known[r.TaskID] = true
		cores := float64(r.Stats.CPUNanos-p.CPUNanos) / float64(r.Stats.Read.Sub(p.Read).Nanoseconds())
		u.CPUUnits += cores * 1024
	}
	var out []agentproto.TaskUsage
	for _, id := range order {
		if known[id] {
			out = append(out, *byTask[id])
		}
	}
	return out, next
}

// metricsLoop samples the running containers of this instance's tasks
// every MetricsInterval and reports their use (agentproto.PathMetrics).
// It does nothing when the runtime cannot read stats.
func (a *Agent) metricsLoop(ctx context.Context) {
	d := a.cfg.MetricsInterval
	if d == 0 {
		d = DefaultMetricsInterval
	}
	sr, ok := a.cfg.Runtime.(rt.StatsReader)
	if d < 0 || !ok {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	prev := map[string]rt.ContainerStats{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		readings := a.readStats(ctx, sr)
		var usage []agentproto.TaskUsage
		usage, prev = taskUsage(prev, readings)
		if len(usage) == 0 {
			continue
		}
		rep := agentproto.MetricsReport{Cluster: a.cfg.Cluster, InstanceID: a.instance, Tasks: usage}
		if err := a.client.do(ctx, "POST", agentproto.PathMetrics, rep, nil); err != nil && ctx.Err() == nil {
			a.log.Debug("metrics report not delivered", "err", err)
		}
	}
}

// readStats reads every running task container of this instance (not the
// awsvpc pause containers).
func (a *Agent) readStats(ctx context.Context, sr rt.StatsReader) []containerReading {
	cs, err := a.cfg.Runtime.List(ctx, map[string]string{rt.LabelManaged: "true", rt.LabelInstance: a.instance})
	if err != nil {
		a.log.Debug("listing containers for metrics", "err", err)
		return nil
	}
	var out []containerReading
	for _, c := range cs {
		if !c.Running || c.Labels[rt.LabelPause] == "true" || c.Labels[rt.LabelTask] == "" {
			continue
		}
		st, err := sr.ContainerStats(ctx, c.ID)
		if err != nil {
			continue // it stopped meanwhile
		}
		out = append(out, containerReading{TaskID: c.Labels[rt.LabelTask], ContainerID: c.ID, Stats: st})
	}
	return out
}
