package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/minato-project/minato/bench/internal/harness"
)

// Operations of the mixed load, in the order they take turns.
var mixedOps = []string{"RunTask", "DescribeTasks", "ListTasks", "UpdateService"}

// mixed runs scenario mixed on a fresh cluster: seed stored tasks, then the
// mixed load, then (with ramp) the RunTask ramp.
func (s *sim) mixed(ctx context.Context, name string, hosts, stored int, dur time.Duration, ramp bool) (*MixedResult, error) {
	if dur == 0 {
		dur = 60 * time.Second
	}
	c, st, err := s.startCluster(ctx, name, hosts, s.o.procs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			s.logf("%s: stopping: %v", name, err)
		}
	}()
	res := &MixedResult{Startup: st, Hosts: hosts, Rate: s.o.rate, RampCount: s.o.rampCount}
	client := c.ECS(512)
	if err := registerTaskDef(ctx, client); err != nil {
		return res, err
	}
	res.CPRSSEmptyMiB = harness.Round(c.CPProc().RSSMiB, 1)

	// Seed: a service with half of the tasks, RunTask bursts the rest.
	res.ServiceTasks = stored / 2
	if res.ServiceTasks > 0 {
		s.logf("%s: service web with %d tasks", name, res.ServiceTasks)
		if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("default"), ServiceName: aws.String("web"),
			TaskDefinition: aws.String(family), DesiredCount: aws.Int32(int32(res.ServiceTasks))}); err != nil {
			return res, fmt.Errorf("CreateService web: %w", err)
		}
		d, err := waitService(ctx, client, "web", int32(res.ServiceTasks), s.o.timeout)
		if err != nil {
			return res, err
		}
		res.ServiceSteadySeconds = harness.Round(d.Seconds(), 2)
		s.logf("%s: service web runs %d tasks after %.1fs", name, res.ServiceTasks, d.Seconds())
	}
	rest := stored - res.ServiceTasks
	start := time.Now()
	calls, _ := burst(ctx, client, rest, s.o.concurrency, 0, time.Time{}, s.progressLogger(name+" seed", rest))
	res.SeedRunTaskSeconds = harness.Round(time.Since(start).Seconds(), 2)
	var seedRec harness.Recorder
	var arns []string
	for _, call := range calls {
		if call.err != nil {
			seedRec.Fail(call.err)
			continue
		}
		seedRec.Add(call.latency)
		arns = append(arns, call.arns...)
	}
	res.SeedRunTaskLatency = seedRec.Summary()
	if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("default"), ServiceName: aws.String("knob"),
		TaskDefinition: aws.String(family), DesiredCount: aws.Int32(1)}); err != nil {
		return res, fmt.Errorf("CreateService knob: %w", err)
	}
	res.Stored = res.ServiceTasks + len(arns) + 1
	fs, err := c.WaitRunning(ctx, int64(res.Stored), s.o.timeout)
	if err != nil {
		return res, err
	}
	if len(arns) == 0 {
		arns = []string{"arn:aws:ecs:us-east-1:000000000000:task/default/00000000000000000000000000000000"}
	}
	sleepCtx(ctx, s.o.settle)
	ps := c.CPProc()
	res.CPRSSStoredMiB, res.CPHWMStoredMiB = harness.Round(ps.RSSMiB, 1), harness.Round(ps.HWMMiB, 1)
	res.CPAnonStoredMiB, res.CPFileStoredMiB = harness.Round(ps.AnonMiB, 1), harness.Round(ps.FileMiB, 1)
	if res.Stored > 0 {
		res.CPRSSPerStoredTaskKiB = harness.Round(1024*(ps.RSSMiB-res.CPRSSEmptyMiB)/float64(res.Stored), 2)
	}
	s.logf("%s: %d tasks stored and running; control plane RSS %.0f MiB (peak %.0f)", name, res.Stored, ps.RSSMiB, ps.HWMMiB)

	// The mixed load.
	var knob atomic.Int64
	s.logf("%s: mixed load, %.0f req/s for %v", name, s.o.rate, dur)
	prof := s.startProfile(c, name+"-mixed")
	before := c.CPProc()
	ol := openLoop(ctx, s.o.rate, dur, 1000, func(i int) (string, func(context.Context) error) {
		op := mixedOps[i%len(mixedOps)]
		switch op {
		case "RunTask":
			return op, func(ctx context.Context) error {
				c := runTask(ctx, client, 1, false)
				if c.err == nil && c.placed != 1 {
					return fmt.Errorf("RunTask placed %d of 1", c.placed)
				}
				return c.err
			}
		case "DescribeTasks":
			pick := make([]string, 10)
			for j := range pick {
				pick[j] = arns[rand.IntN(len(arns))]
			}
			return op, func(ctx context.Context) error {
				out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("default"), Tasks: pick})
				if err == nil && len(out.Tasks) != len(pick) {
					return fmt.Errorf("DescribeTasks found %d of %d", len(out.Tasks), len(pick))
				}
				return err
			}
		case "ListTasks":
			return op, func(ctx context.Context) error {
				out, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("default"), MaxResults: aws.Int32(100)})
				if err == nil && len(out.TaskArns) == 0 {
					return fmt.Errorf("ListTasks listed nothing")
				}
				return err
			}
		default:
			desired := int32(1 + knob.Add(1)%2)
			return op, func(ctx context.Context) error {
				_, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("default"), Service: aws.String("knob"), DesiredCount: aws.Int32(desired)})
				return err
			}
		}
	})
	after := c.CPProc()
	res.MixedProfiles = prof.stop(ctx)
	res.Seconds = harness.Round(ol.seconds, 2)
	res.Late = ol.late
	res.Ops = map[string]harness.Summary{}
	var reqs int
	for op, r := range ol.recs {
		res.Ops[op] = r.Summary()
		reqs += res.Ops[op].Count + res.Ops[op].Errors
	}
	res.CPCPUSeconds = harness.Round(after.CPUSeconds-before.CPUSeconds, 2)
	if reqs > 0 {
		res.CPCPUPerReqMs = harness.Round(1000*res.CPCPUSeconds/float64(reqs), 2)
	}
	res.CPUtilization = harness.Round(res.CPCPUSeconds/ol.seconds, 3)
	for _, op := range mixedOps {
		sm := res.Ops[op]
		s.logf("%s: %-13s n=%-5d err=%-3d p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms", name, op, sm.Count, sm.Errors, sm.P50Ms, sm.P99Ms, sm.MaxMs)
	}
	s.logf("%s: control plane CPU %.2fs over %.0fs (%.0f%% of one core), %.1f ms per request", name,
		res.CPCPUSeconds, ol.seconds, 100*res.CPUtilization, res.CPCPUPerReqMs)
	stored = res.Stored + res.Ops["RunTask"].Count

	if ramp && strings.TrimSpace(s.o.ramp) != "" {
		prof := s.startProfile(c, name+"-ramp")
		for _, f := range strings.Split(s.o.ramp, ",") {
			rate, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return res, fmt.Errorf("-ramp: %w", err)
			}
			step := s.rampStep(ctx, client, rate, stored)
			stored += step.Latency.Count * s.o.rampCount
			res.Ramp = append(res.Ramp, step)
			s.logf("%s: ramp %4.0f/s: sent %d, achieved %.1f/s, p50 %.1f ms, p99 %.1f ms, errors %d (throttled %d), dropped %d: %v %s",
				name, rate, step.Sent, step.Achieved, step.Latency.P50Ms, step.Latency.P99Ms, step.Latency.Errors, step.Throttled, step.Dropped, step.Sustained, step.Why)
			if !step.Sustained {
				break
			}
			res.MaxSustainedRPS = rate
			sleepCtx(ctx, 2*time.Second)
		}
		res.RampProfiles = prof.stop(ctx)
		s.logf("%s: max sustained RunTask rate %.0f calls/s (count %d)", name, res.MaxSustainedRPS, s.o.rampCount)
	}
	if fs, err = c.FleetStats(); err == nil {
		res.FleetWarnings = fs.Warnings
	}
	return res, nil
}

// rampStep offers RunTask calls at rate for the ramp step length.
func (s *sim) rampStep(ctx context.Context, client *ecs.Client, rate float64, stored int) RampStep {
	var throttled atomic.Int64
	ol := openLoop(ctx, rate, s.o.rampStep, int(4*rate)+200, func(int) (string, func(context.Context) error) {
		return "RunTask", func(ctx context.Context) error {
			c := runTask(ctx, client, s.o.rampCount, false)
			if c.err == nil && c.placed != s.o.rampCount {
				return fmt.Errorf("RunTask placed %d of %d", c.placed, s.o.rampCount)
			}
			if isThrottle(c.err) {
				throttled.Add(1)
			}
			return c.err
		}
	})
	r := ol.recs["RunTask"]
	if r == nil {
		r = &harness.Recorder{}
	}
	st := RampStep{Offered: rate, Sent: ol.sent, Latency: r.Summary(), Dropped: ol.dropped, Stored: stored, Throttled: int(throttled.Load())}
	if ol.lastDone > 0 {
		st.Achieved = harness.Round(float64(st.Latency.Count)/ol.lastDone.Seconds(), 1)
	}
	var why []string
	if st.Latency.Errors > 0 {
		why = append(why, fmt.Sprintf("%d errors (%d of them throttled)", st.Latency.Errors, st.Throttled))
	}
	if st.Dropped > 0 {
		why = append(why, fmt.Sprintf("%d not sent (too many in flight)", st.Dropped))
	}
	if st.Achieved < 0.95*rate {
		why = append(why, fmt.Sprintf("achieved %.1f/s < 95%% of offered", st.Achieved))
	}
	if st.Latency.P99Ms > 1000 {
		why = append(why, fmt.Sprintf("p99 %.0f ms > 1 s", st.Latency.P99Ms))
	}
	st.Sustained = len(why) == 0
	st.Why = strings.Join(why, "; ")
	return st
}

// openLoopResult is what an open-loop run measured.
type openLoopResult struct {
	recs    map[string]*harness.Recorder
	sent    int
	dropped int
	late    int
	seconds float64
	// lastDone is when the last call answered, from the start.
	lastDone time.Duration
}

// openLoop sends requests at a fixed rate for dur, each in its own
// goroutine, whatever the previous ones do (an open loop: a slow server
// does not slow the arrivals). Latency counts from the scheduled send
// time. With maxInflight requests outstanding, further ones are dropped
// and counted. It waits up to two minutes for the last answers.
func openLoop(ctx context.Context, rate float64, dur time.Duration, maxInflight int, next func(i int) (string, func(context.Context) error)) openLoopResult {
	res := openLoopResult{recs: map[string]*harness.Recorder{}}
	for _, op := range mixedOps {
		res.recs[op] = &harness.Recorder{}
	}
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	var (
		wg       sync.WaitGroup
		inflight atomic.Int64
		mu       sync.Mutex
		lastDone time.Duration
	)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= dur || ctx.Err() != nil {
			break
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		} else if -d > 10*time.Millisecond {
			res.late++
		}
		if inflight.Load() >= int64(maxInflight) {
			res.dropped++
			continue
		}
		op, call := next(i)
		rec := res.recs[op]
		res.sent++
		inflight.Add(1)
		wg.Go(func() {
			defer inflight.Add(-1)
			err := call(callCtx)
			done := time.Now()
			if err != nil {
				rec.Fail(err)
			} else {
				rec.Add(done.Sub(at))
			}
			mu.Lock()
			lastDone = max(lastDone, done.Sub(start))
			mu.Unlock()
		})
	}
	res.seconds = time.Since(start).Seconds()
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(2 * time.Minute):
		cancel()
		<-waited
	}
	res.lastDone = lastDone
	return res
}

// isThrottle reports whether err is the API shedding load
// (ThrottlingException), which the SDKs retry with backoff.
func isThrottle(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "ThrottlingException" || ae.ErrorCode() == "Throttling")
}
