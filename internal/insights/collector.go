package insights

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Usages keeps the latest use the agents reported of each task (by task
// ID), for the minute's metrics.
type Usages struct {
	mu     sync.Mutex
	latest map[string]usageAt
}

type usageAt struct {
	Usage
	at time.Time
}

// RecordUsage keeps the use of a report's tasks. It never fails.
func (u *Usages) RecordUsage(_ context.Context, rep agentproto.MetricsReport) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.latest == nil {
		u.latest = map[string]usageAt{}
	}
	for _, t := range rep.Tasks {
		if t.Time <= 0 {
			continue
		}
		at := time.UnixMilli(t.Time)
		if prev, ok := u.latest[t.TaskID]; ok && prev.at.After(at) {
			continue
		}
		u.latest[t.TaskID] = usageAt{Usage: Usage{CPUUnits: max(0, t.CPUUnits), MemoryMiB: max(0, t.MemoryMiB)}, at: at}
	}
	return nil
}

// Recent returns the latest use of every task reported since since, and
// forgets the older ones.
func (u *Usages) Recent(since time.Time) map[string]Usage {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]Usage{}
	for id, v := range u.latest {
		if v.at.Before(since) {
			delete(u.latest, id)
			continue
		}
		out[id] = v.Usage
	}
	return out
}

// Putter stores samples. *metricstore.Store implements it.
type Putter interface {
	Put(samples []metricstore.Sample) error
}

// Collector puts the Container Insights metrics of the clusters that turn
// them on into the metric store every minute.
type Collector struct {
	Store   store.Store // clusters and services
	View    *clusterview.View
	Usages  *Usages
	Metrics Putter
	Clock   core.Clock
	Logger  *slog.Logger
	// Interval between publications; default a minute.
	Interval time.Duration
}

// Run collects until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	every := c.Interval
	if every <= 0 {
		every = time.Minute
	}
	clock := c.Clock
	if clock == nil {
		clock = core.SystemClock{}
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		now := clock.Now()
		// Just before the minute ends, as the load balancer's metrics.
		next := now.Truncate(every).Add(every - 500*time.Millisecond)
		if !next.After(now) {
			next = next.Add(every)
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// The minute the collection was due in, however late it runs.
		samples, err := c.Collect(ctx, next)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("collecting Container Insights metrics", "err", err)
			}
			continue
		}
		if len(samples) > 0 {
			if err := c.Metrics.Put(samples); err != nil {
				log.Warn("storing Container Insights metrics", "err", err)
			}
		}
	}
}

// Collect returns the samples of every cluster with Container Insights on,
// stamped with now's minute.
func (c *Collector) Collect(ctx context.Context, now time.Time) ([]metricstore.Sample, error) {
	clusters, err := state.List[ecstypes.Cluster](ctx, c.Store, state.ClustersPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	// Agents report every 15 s: a task with nothing for two minutes is not
	// measured.
	usage := c.Usages.Recent(now.Add(-2 * time.Minute))
	var out []metricstore.Sample
	for _, it := range clusters {
		cl := it.Value
		if cl.Status != "ACTIVE" || !Enabled(cl.Settings) {
			continue
		}
		in := Cluster{Name: cl.ClusterName, Instances: int(c.View.ClusterCounts(cl.ClusterName).Instances)}
		svcs, err := state.List[state.Service](ctx, c.Store, state.ServicesPrefix(cl.ClusterName), store.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			sv := s.Value.Service
			if sv.Status != "ACTIVE" {
				continue
			}
			in.Services = append(in.Services, Service{Name: sv.ServiceName, Desired: int(sv.DesiredCount), Deployments: len(sv.Deployments)})
		}
		ids, _ := c.View.ListTasks(cl.ClusterName, clusterview.TaskFilter{}, "", 0)
		for _, id := range ids {
			ti, ok := c.View.Task(cl.ClusterName, id)
			if !ok {
				continue
			}
			t := ti.Value
			task := Task{Service: t.ServiceName, Family: t.Family, LastStatus: t.Task.LastStatus, CPU: t.Holds.CPU, MemoryMiB: t.Holds.MemoryMiB}
			if u, ok := usage[id]; ok {
				task.Usage = &u
			}
			in.Tasks = append(in.Tasks, task)
		}
		out = append(out, Samples(in, now.Truncate(time.Minute))...)
	}
	return out, nil
}
