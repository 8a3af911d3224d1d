package main

import (
	"context"
	"fmt"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
)

// memory runs scenario memory. Both parts run the control plane and the
// fleet in child processes whatever -procs says: RSS is per process.
//
// The agent: one agent in a process of its own, on the fake runtime (its
// containers cost nothing, so this is the agent's own memory: its task
// runners, its connections and its share of the Go runtime), idle and then
// with 100 tasks. The control plane: -tasks tasks stored on -hosts hosts.
func (s *sim) memory(ctx context.Context) (*MemoryResult, error) {
	res := &MemoryResult{AgentTasks: 100, Hosts: s.o.hosts, Tasks: s.o.tasks}

	c, _, err := s.startCluster(ctx, "memory-agent", 1, 3)
	if err != nil {
		return res, err
	}
	err = func() error {
		defer c.Stop()
		client := c.ECS(8)
		if err := registerTaskDef(ctx, client); err != nil {
			return err
		}
		sleepCtx(ctx, s.o.settle)
		idle := c.FleetProc()
		res.AgentIdleRSSMiB, res.AgentIdleAnon = harness.Round(idle.RSSMiB, 1), harness.Round(idle.AnonMiB, 1)
		if fs, err := c.FleetStats(); err == nil {
			res.AgentIdleGoroutines = fs.Goroutines
		}
		s.logf("memory: one idle agent: RSS %.1f MiB", res.AgentIdleRSSMiB)
		for range res.AgentTasks / 10 {
			if call := runTask(ctx, client, 10, false); call.err != nil || call.placed != 10 {
				return fmt.Errorf("RunTask on the lone agent: placed %d: %v", call.placed, call.err)
			}
		}
		if _, err := c.WaitRunning(ctx, int64(res.AgentTasks), time.Minute); err != nil {
			return err
		}
		sleepCtx(ctx, s.o.settle)
		ps := c.FleetProc()
		res.AgentWithTasksMiB, res.AgentWithTasksHWM = harness.Round(ps.RSSMiB, 1), harness.Round(ps.HWMMiB, 1)
		res.AgentTaskAnon = harness.Round(ps.AnonMiB, 1)
		if fs, err := c.FleetStats(); err == nil {
			res.AgentTaskGoroutines = fs.Goroutines
		}
		s.logf("memory: the agent with %d tasks: RSS %.1f MiB (peak %.1f)", res.AgentTasks, res.AgentWithTasksMiB, res.AgentWithTasksHWM)
		return nil
	}()
	if err != nil {
		return res, err
	}

	c, _, err = s.startCluster(ctx, "memory-cp", s.o.hosts, 3)
	if err != nil {
		return res, err
	}
	defer c.Stop()
	client := c.ECS(s.o.concurrency * 2)
	if err := registerTaskDef(ctx, client); err != nil {
		return res, err
	}
	sleepCtx(ctx, s.o.settle)
	res.CPEmptyRSSMiB = harness.Round(c.CPProc().RSSMiB, 1)
	calls, _ := burst(ctx, client, s.o.tasks, s.o.concurrency, 0, time.Time{}, s.progressLogger("memory", s.o.tasks))
	placed := 0
	for _, call := range calls {
		placed += call.placed
	}
	if placed != s.o.tasks {
		return res, fmt.Errorf("placed %d of %d tasks", placed, s.o.tasks)
	}
	if _, err := c.WaitRunning(ctx, int64(placed), s.o.timeout); err != nil {
		return res, err
	}
	sleepCtx(ctx, s.o.settle)
	// With nothing asked of the API, what do the running tasks cost?
	prof := s.startProfile(c, "memory-cp-idle")
	idle0, fl0, t0 := c.CPProc(), c.FleetProc(), time.Now()
	sleepCtx(ctx, max(s.o.settle, 10*time.Second))
	ps := c.CPProc()
	res.Profiles = prof.stop(ctx)
	el := time.Since(t0).Seconds()
	res.CPIdleCPUPercent = harness.Round(100*(ps.CPUSeconds-idle0.CPUSeconds)/el, 1)
	res.FleetIdleCPUPercent = harness.Round(100*(c.FleetProc().CPUSeconds-fl0.CPUSeconds)/el, 1)
	res.CPRSSMiB, res.CPHWMMiB = harness.Round(ps.RSSMiB, 1), harness.Round(ps.HWMMiB, 1)
	res.CPAnonMiB, res.CPFileMiB = harness.Round(ps.AnonMiB, 1), harness.Round(ps.FileMiB, 1)
	if placed > 0 {
		res.CPPerTaskKiB = harness.Round(1024*(ps.RSSMiB-res.CPEmptyRSSMiB)/float64(placed), 2)
	}
	s.logf("memory: control plane with %d tasks on %d hosts: RSS %.1f MiB (anon %.1f, file %.1f; peak %.1f; %.1f with no tasks)",
		placed, s.o.hosts, res.CPRSSMiB, res.CPAnonMiB, res.CPFileMiB, res.CPHWMMiB, res.CPEmptyRSSMiB)
	s.logf("memory: with the API idle, the control plane uses %.1f%% of a core and the fleet %.1f%%", res.CPIdleCPUPercent, res.FleetIdleCPUPercent)
	return res, nil
}
