package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/bench/internal/harness"
)

// The workload's task definition: one small container of an image every
// simulated host has.
const (
	family       = "sim-app"
	simImage     = "sim/app:1"
	taskMemory   = 64 // MiB, container hard limit
	taskCPU      = 16 // CPU units
	constraintEx = "attribute:ecs.instance-type =~ m5.*"
)

// startCluster starts a control plane and hosts simulated hosts in a new
// directory under the work directory.
func (s *sim) startCluster(ctx context.Context, name string, hosts int, procs int) (*harness.Cluster, Startup, error) {
	dir := filepath.Join(s.o.dir, name)
	s.logf("%s: starting the control plane and %d simulated hosts", name, hosts)
	c, err := harness.StartCluster(ctx, harness.ClusterConfig{
		Dir: dir, Hosts: hosts, Images: []string{simImage}, Procs: procs, CPLogLevel: s.o.cpLog, Store: s.o.store,
	})
	if err != nil {
		return nil, Startup{}, err
	}
	st := Startup{Hosts: hosts, CPSeconds: harness.Round(c.CPStartSeconds, 3), FleetSeconds: harness.Round(c.Ready.StartSeconds, 2),
		CPRSSMiB: harness.Round(c.CPProc().RSSMiB, 1), FleetRSSMiB: harness.Round(c.FleetProc().RSSMiB, 1)}
	s.logf("%s: %d hosts registered in %.1fs; control plane RSS %.0f MiB, fleet RSS %.0f MiB",
		name, hosts, st.FleetSeconds, st.CPRSSMiB, st.FleetRSSMiB)
	return c, st, nil
}

// registerTaskDef registers the workload's task definition.
func registerTaskDef(ctx context.Context, client *ecs.Client) error {
	_, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(simImage), Memory: aws.Int32(taskMemory), Cpu: taskCPU, Essential: aws.Bool(true),
		}},
	})
	return err
}

// runTaskCall is one RunTask call's outcome.
type runTaskCall struct {
	constrained bool
	latency     time.Duration
	placed      int
	failures    int
	arns        []string
	err         error
	at          time.Time // when it was sent
}

// runTask calls RunTask for count tasks of the workload.
func runTask(ctx context.Context, client *ecs.Client, count int, constrained bool) runTaskCall {
	in := &ecs.RunTaskInput{Cluster: aws.String("default"), TaskDefinition: aws.String(family), Count: aws.Int32(int32(count))}
	if constrained {
		in.PlacementConstraints = []ecstypes.PlacementConstraint{{Type: ecstypes.PlacementConstraintTypeMemberOf, Expression: aws.String(constraintEx)}}
	}
	start := time.Now()
	out, err := client.RunTask(ctx, in)
	c := runTaskCall{constrained: constrained, latency: time.Since(start), err: err, at: start}
	if err == nil {
		c.placed, c.failures = len(out.Tasks), len(out.Failures)
		for _, t := range out.Tasks {
			c.arns = append(c.arns, aws.ToString(t.TaskArn))
		}
	}
	return c
}

// burst places tasks with closed-loop RunTask callers: concurrency callers,
// each calling RunTask (count 10, the last call fewer) until tasks are
// asked for or the deadline passes. Every constrainedEvery-th call (0:
// none) carries the memberOf constraint.
func burst(ctx context.Context, client *ecs.Client, tasks, concurrency int, constrained float64, deadline time.Time, progress func(done, placed int)) ([]runTaskCall, bool) {
	calls := (tasks + 9) / 10
	next := atomic.Int64{}
	var (
		mu        sync.Mutex
		out       = make([]runTaskCall, 0, calls)
		placed    int
		truncated atomic.Bool
		wg        sync.WaitGroup
	)
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= calls {
					return
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					truncated.Store(true)
					return
				}
				count := min(10, tasks-10*i)
				// Spread constrained calls evenly: call i is constrained
				// when floor((i+1)*f) > floor(i*f).
				con := int(float64(i+1)*constrained) > int(float64(i)*constrained)
				c := runTask(ctx, client, count, con)
				mu.Lock()
				out = append(out, c)
				placed += c.placed
				n, p := len(out), placed
				mu.Unlock()
				if progress != nil {
					progress(n, p)
				}
			}
		})
	}
	wg.Wait()
	return out, truncated.Load()
}

// progressLogger logs progress every few seconds.
func (s *sim) progressLogger(what string, total int) func(done, placed int) {
	var mu sync.Mutex
	last := time.Now()
	start := last
	return func(done, placed int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		el := time.Since(start).Seconds()
		s.logf("%s: %d calls, %d of %d tasks placed, %.0f tasks/s", what, done, placed, total, float64(placed)/el)
	}
}

// profiler takes a CPU profile of the control plane over a phase and a
// heap profile at its end.
type profiler struct {
	s     *sim
	c     *harness.Cluster
	name  string
	cpu   string
	heap  string
	start error
}

func (s *sim) startProfile(c *harness.Cluster, name string) *profiler {
	p := &profiler{s: s, c: c, name: name}
	if !s.o.profile {
		return p
	}
	dir := s.profileDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.start = err
		return p
	}
	p.cpu = filepath.Join(dir, name+"-cpu.pb.gz")
	p.heap = filepath.Join(dir, name+"-heap.pb.gz")
	p.start = harness.StartCPUProfile(c.CPDebug, p.cpu)
	return p
}

// stop ends the CPU profile, takes the heap profile and summarizes both.
func (p *profiler) stop(ctx context.Context) Profiles {
	if !p.s.o.profile {
		return Profiles{}
	}
	if p.start != nil {
		return Profiles{Error: p.start.Error()}
	}
	var out Profiles
	if err := harness.StopCPUProfile(p.c.CPDebug); err != nil {
		return Profiles{Error: err.Error()}
	}
	out.CPU = p.cpu
	if err := harness.SaveHeapProfile(p.c.CPDebug, p.heap); err != nil {
		out.Error = err.Error()
	} else {
		out.Heap = p.heap
	}
	var err error
	if out.CPUTop, err = harness.PprofTop(ctx, p.cpu, 25, false, ""); err != nil {
		out.Error = err.Error()
	}
	out.CPUCum, _ = harness.PprofTop(ctx, p.cpu, 30, true, "")
	if out.Heap != "" {
		out.HeapTop, _ = harness.PprofTop(ctx, p.heap, 15, false, "inuse_space")
		out.AllocTop, _ = harness.PprofTop(ctx, p.heap, 15, false, "alloc_space")
	}
	p.s.logf("%s: profiles in %s", p.name, filepath.Dir(p.cpu))
	return out
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitService waits until a service runs desired tasks.
func waitService(ctx context.Context, client *ecs.Client, name string, desired int32, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("default"), Services: []string{name}})
		if err == nil && len(out.Services) == 1 && out.Services[0].RunningCount >= desired {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			got := int32(-1)
			if err == nil && len(out.Services) == 1 {
				got = out.Services[0].RunningCount
			}
			return 0, fmt.Errorf("service %s: %d of %d running after %v (last error %v)", name, got, desired, timeout, err)
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
	}
}
