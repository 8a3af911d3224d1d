package main

import (
	"context"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
)

// idleHosts runs scenario hosts: start -hosts simulated hosts, then idle
// for -duration and measure what the long polls cost.
func (s *sim) idleHosts(ctx context.Context) (*HostsResult, error) {
	c, st, err := s.startCluster(ctx, "hosts", s.o.hosts, s.o.procs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			s.logf("hosts: stopping: %v", err)
		}
	}()
	dur := s.o.duration
	if dur == 0 {
		dur = 60 * time.Second
	}
	res := &HostsResult{Startup: st}
	s.logf("hosts: idle for %v", dur)
	cp0, fl0 := c.CPProc(), c.FleetProc()
	prof := s.startProfile(c, "hosts-idle")
	start := time.Now()
	sleepCtx(ctx, dur)
	el := time.Since(start).Seconds()
	cp1, fl1 := c.CPProc(), c.FleetProc()
	res.Profiles = prof.stop(ctx)
	res.IdleSeconds = harness.Round(el, 1)
	res.CPCPUPercent = harness.Round(100*(cp1.CPUSeconds-cp0.CPUSeconds)/el, 1)
	res.FlCPUPercent = harness.Round(100*(fl1.CPUSeconds-fl0.CPUSeconds)/el, 1)
	res.CPRSSMiB, res.FleetRSSMiB = harness.Round(cp1.RSSMiB, 1), harness.Round(fl1.RSSMiB, 1)
	if s.o.hosts > 0 {
		res.FleetPerHost = harness.Round(1024*fl1.RSSMiB/float64(s.o.hosts), 1)
	}
	if fs, err := c.FleetStats(); err == nil {
		res.Goroutines, res.FleetWarnings = fs.Goroutines, fs.Warnings
	}
	s.logf("hosts: %d hosts idle: control plane %.1f%% CPU, RSS %.0f MiB; fleet %.1f%% CPU, RSS %.0f MiB (%.0f KiB/host)",
		s.o.hosts, res.CPCPUPercent, res.CPRSSMiB, res.FlCPUPercent, res.FleetRSSMiB, res.FleetPerHost)
	return res, nil
}
