package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
)

// placement runs scenario placement on a fresh cluster.
func (s *sim) placement(ctx context.Context, name string, hosts, tasks int) (*PlacementResult, error) {
	c, st, err := s.startCluster(ctx, name, hosts, s.o.procs)
	if err != nil {
		return nil, err
	}
	res, err := s.placementOn(ctx, c, name, hosts, tasks)
	if res != nil {
		res.Startup = st
	}
	if serr := c.Stop(); serr != nil {
		s.logf("%s: stopping: %v", name, serr)
	}
	if err != nil {
		return res, err
	}
	if !s.o.noPure {
		s.logf("%s: the pure scheduler: %d tasks onto %d hosts", name, tasks, hosts)
		res.Pure = pureScheduler(hosts, tasks, s.o.constrained)
		s.logf("%s: pure scheduler %.0f placements/s, p99 per call of 10 %.2f ms", name, res.Pure.PlacementsPerSec, res.Pure.CallLatency.P99Ms)
	}
	return res, nil
}

func (s *sim) placementOn(ctx context.Context, c *harness.Cluster, name string, hosts, tasks int) (*PlacementResult, error) {
	client := c.ECS(s.o.concurrency * 2)
	if err := registerTaskDef(ctx, client); err != nil {
		return nil, err
	}
	res := &PlacementResult{Hosts: hosts, Tasks: tasks, Calls: (tasks + 9) / 10, Concurrency: s.o.concurrency, ConstrainedFraction: s.o.constrained}
	before, flBefore, drBefore := c.CPProc(), c.FleetProc(), harness.Self()
	res.CPRSSBeforeMiB = harness.Round(before.RSSMiB, 1)
	var deadline time.Time
	if s.o.duration > 0 {
		deadline = time.Now().Add(s.o.duration)
	}
	s.logf("%s: %d RunTask calls (count 10) from %d callers, %.0f%% with memberOf", name, res.Calls, s.o.concurrency, 100*s.o.constrained)
	prof := s.startProfile(c, name)
	start := time.Now()
	calls, truncated := burst(ctx, client, tasks, s.o.concurrency, s.o.constrained, deadline, s.progressLogger(name, tasks))
	elapsed := time.Since(start)
	after, flAfter, drAfter := c.CPProc(), c.FleetProc(), harness.Self()
	res.Profiles = prof.stop(ctx)
	res.Truncated = truncated
	var all, con, free harness.Recorder
	slices.SortFunc(calls, func(a, b runTaskCall) int { return a.at.Compare(b.at) })
	for _, call := range calls {
		if call.err != nil {
			res.ErrorsCalls++
			all.Fail(call.err)
			continue
		}
		res.Placed += call.placed
		res.Unplaced += call.failures
		all.Add(call.latency)
		if call.constrained {
			con.Add(call.latency)
		} else {
			free.Add(call.latency)
		}
	}
	res.Latency, res.LatencyConstrained, res.LatencyFree = all.Summary(), con.Summary(), free.Summary()
	res.LatencyByDecile = byDecile(calls)
	res.Seconds = harness.Round(elapsed.Seconds(), 3)
	res.PlacementsPerSec = harness.Round(float64(res.Placed)/elapsed.Seconds(), 1)
	res.CallsPerSec = harness.Round(float64(len(calls))/elapsed.Seconds(), 1)
	res.CPCPUSeconds = harness.Round(after.CPUSeconds-before.CPUSeconds, 2)
	res.CPCores = harness.Round(res.CPCPUSeconds/elapsed.Seconds(), 2)
	if c.FleetPID != c.CPPID {
		res.FleetCPUSeconds = harness.Round(flAfter.CPUSeconds-flBefore.CPUSeconds, 2)
		res.DriverCPUSecs = harness.Round(drAfter.CPUSeconds-drBefore.CPUSeconds, 2)
	}
	if res.CPCPUSeconds > 0 {
		res.PerCPCoreSecond = harness.Round(float64(res.Placed)/res.CPCPUSeconds, 1)
	}
	if res.Placed > 0 {
		res.CPCPUPerTaskMs = harness.Round(1000*res.CPCPUSeconds/float64(res.Placed), 3)
		res.WallPerTaskUs = harness.Round(1e6*elapsed.Seconds()/float64(res.Placed), 1)
	}
	s.logf("%s: %d placed (%d unplaced, %d failed calls) in %.1fs: %.0f placements/s, RunTask p50 %.1f ms p99 %.1f ms",
		name, res.Placed, res.Unplaced, res.ErrorsCalls, elapsed.Seconds(), res.PlacementsPerSec, res.Latency.P50Ms, res.Latency.P99Ms)
	s.logf("%s: control plane CPU %.1fs (%.2f cores, %.0f placements per core-second); fleet %.1fs, driver %.1fs",
		name, res.CPCPUSeconds, res.CPCores, res.PerCPCoreSecond, res.FleetCPUSeconds, res.DriverCPUSecs)

	fs, err := c.WaitRunning(ctx, int64(res.Placed), s.o.timeout)
	res.Converged = err == nil
	res.ConvergeSeconds = harness.Round(time.Since(start).Seconds(), 2)
	res.FleetWarnings = fs.Warnings
	if err != nil {
		s.logf("%s: %v", name, err)
	} else {
		s.logf("%s: every placed task running %.1fs after the first call", name, res.ConvergeSeconds)
	}
	sleepCtx(ctx, s.o.settle)
	end := c.CPProc()
	res.CPRSSAfterMiB, res.CPHWMMiB = harness.Round(end.RSSMiB, 1), harness.Round(end.HWMMiB, 1)
	res.CPAnonAfterMiB, res.CPFileAfterMiB = harness.Round(end.AnonMiB, 1), harness.Round(end.FileMiB, 1)
	if res.Placed > 0 {
		res.CPRSSPerTaskKiB = harness.Round(1024*(end.RSSMiB-before.RSSMiB)/float64(res.Placed), 2)
	}
	res.FleetRSSMiB = harness.Round(c.FleetProc().RSSMiB, 1)
	return res, nil
}

// byDecile returns the p50 latency (ms) of the calls in each tenth of the
// run, in the order they were sent.
func byDecile(calls []runTaskCall) []float64 {
	var ok []time.Duration
	for _, c := range calls {
		if c.err == nil {
			ok = append(ok, c.latency)
		}
	}
	if len(ok) < 10 {
		return nil
	}
	out := make([]float64, 10)
	for d := range 10 {
		part := ok[d*len(ok)/10 : (d+1)*len(ok)/10]
		out[d] = harness.Summarize(part).P50Ms
	}
	return out
}

// pureScheduler places tasks onto hosts with scheduler.Place alone, ten
// per call as RunTask does, on a snapshot shaped like the simulated
// cluster's and kept exact with scheduler.Reserve.
func pureScheduler(hosts, tasks int, constrained float64) *PureResult {
	insts := make([]scheduler.Instance, hosts)
	for i := range insts {
		attrs := map[string]string{
			"ecs.os-type": "linux", "ecs.os-family": "LINUX", "ecs.cpu-architecture": "x86_64",
			scheduler.AttrAvailabilityZone: harness.Zones[i%len(harness.Zones)],
			scheduler.AttrInstanceType:     harness.InstanceType(i),
		}
		for j := range 26 { // the agent registers 26 capabilities
			attrs[fmt.Sprintf("com.amazonaws.ecs.capability.sim-%02d", j)] = ""
		}
		id := fmt.Sprintf("%032x", i)
		insts[i] = scheduler.Instance{
			ID: id, ARN: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + id,
			Status: scheduler.StatusActive, AgentConnected: true, Attributes: attrs,
			CPU: 4096, Memory: 16384, UsedTCP: []int{22, 2375, 2376, 51678, 51679},
		}
	}
	mem := int32(taskMemory)
	td := ecstypes.TaskDefinition{Family: family, Revision: 1, ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: "app", Image: simImage, Memory: &mem, Cpu: taskCPU}}}
	req, err := scheduler.RequestFor(&td, nil, "", ecstypes.LaunchTypeEc2)
	if err != nil {
		panic(err)
	}
	strategies := scheduler.RunTaskDefaultStrategies()
	free := scheduler.Constraints(&td, nil)
	con := scheduler.Constraints(&td, []ecstypes.PlacementConstraint{{Type: ecstypes.PlacementConstraintTypeMemberOf, Expression: constraintEx}})
	index := make(map[string]int, hosts)
	for i, in := range insts {
		index[in.ID] = i
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	placed := 0
	start := time.Now()
	for i := 0; placed < tasks; i++ {
		count := min(10, tasks-placed)
		cs := free
		if int(float64(i+1)*constrained) > int(float64(i)*constrained) {
			cs = con
		}
		t0 := time.Now()
		r := scheduler.Place(insts, req, count, strategies, cs, rnd)
		lat = append(lat, time.Since(t0))
		for _, p := range r.Placements {
			j := index[p.InstanceID]
			insts[j] = scheduler.Reserve(insts[j], p)
		}
		if len(r.Placements) == 0 {
			break
		}
		placed += len(r.Placements)
	}
	el := time.Since(start)
	return &PureResult{Hosts: hosts, Tasks: placed, Seconds: harness.Round(el.Seconds(), 3),
		PlacementsPerSec: harness.Round(float64(placed)/el.Seconds(), 0), CallLatency: harness.Summarize(lat)}
}
