package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/minato-project/minato/bench/internal/harness"
)

// service runs scenario service: -services services with -tasks tasks
// between them, created at once; how long until each runs its count.
func (s *sim) service(ctx context.Context) (*ServiceResult, error) {
	c, st, err := s.startCluster(ctx, "service", s.o.hosts, s.o.procs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			s.logf("service: stopping: %v", err)
		}
	}()
	n := max(1, s.o.services)
	res := &ServiceResult{Startup: st, Services: n, Tasks: s.o.tasks}
	client := c.ECS(64)
	if err := registerTaskDef(ctx, client); err != nil {
		return res, err
	}
	before := c.CPProc()
	prof := s.startProfile(c, "service")
	start := time.Now()
	desired := map[string]int32{}
	for i := range n {
		name := fmt.Sprintf("svc-%03d", i)
		count := s.o.tasks / n
		if i < s.o.tasks%n {
			count++
		}
		desired[name] = int32(count)
		if _, err := client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("default"), ServiceName: aws.String(name),
			TaskDefinition: aws.String(family), DesiredCount: aws.Int32(int32(count))}); err != nil {
			return res, fmt.Errorf("CreateService %s: %w", name, err)
		}
	}
	s.logf("service: %d services with %d tasks created; waiting for them to run", n, s.o.tasks)
	if _, err := c.WaitRunning(ctx, int64(s.o.tasks), s.o.timeout); err != nil {
		return res, err
	}
	res.RunningSeconds = harness.Round(time.Since(start).Seconds(), 2)
	for name, d := range desired {
		if _, err := waitService(ctx, client, name, d, s.o.timeout); err != nil {
			return res, err
		}
	}
	res.SteadySeconds = harness.Round(time.Since(start).Seconds(), 2)
	after := c.CPProc()
	res.Profiles = prof.stop(ctx)
	res.TasksPerSec = harness.Round(float64(s.o.tasks)/res.RunningSeconds, 1)
	res.CPCPUSeconds = harness.Round(after.CPUSeconds-before.CPUSeconds, 2)
	res.CPRSSMiB = harness.Round(after.RSSMiB, 1)
	if fs, err := c.FleetStats(); err == nil {
		res.FleetWarnings = fs.Warnings
	}
	s.logf("service: every task running after %.1fs (%.0f tasks/s); services report it after %.1fs; control plane CPU %.1fs",
		res.RunningSeconds, res.TasksPerSec, res.SteadySeconds, res.CPCPUSeconds)
	return res, nil
}
