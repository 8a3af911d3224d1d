package reconcile

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDecide1000 decides for a 1,000-task service in the middle of a
// deployment: 1,000 old tasks, 600 new ones in every state, a few failures
// to count and some tasks on a draining instance.
func BenchmarkDecide1000(b *testing.B) {
	in := Input{
		Now:    now,
		Config: Config{Name: "big", DesiredCount: 1000, MaximumPercent: 200, MinimumHealthyPercent: 100, CircuitBreaker: true, Rollback: true},
		Deployments: []Deployment{primary("ecs-svc/2", "app:2"),
			completed(dep("ecs-svc/1", "app:1", RolloutInProgress), t0)},
		LastCompleted: "app:1", NewDeploymentID: "ecs-svc/3",
	}
	for i := range 1000 {
		t := checked(running(fmt.Sprintf("old-%04d", i), "ecs-svc/1"), healthHealthy)
		if i%50 == 0 {
			t.OnDrainingInstance = true
		}
		in.Tasks = append(in.Tasks, t)
	}
	for i := range 600 {
		t := checked(running(fmt.Sprintf("new-%04d", i), "ecs-svc/2"), healthHealthy)
		switch i % 6 {
		case 0:
			t = pending(t.ID, "ecs-svc/2")
		case 1:
			t.Health = "UNKNOWN"
		case 2:
			t.Health, t.StartedAt = healthUnhealthy, now.Add(-time.Hour)
		}
		in.Tasks = append(in.Tasks, t)
	}
	for i := range 2 {
		in.Tasks = append(in.Tasks, stopped(pending(fmt.Sprintf("bad-%d", i), "ecs-svc/2"), "TaskFailedToStart", now))
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(in)
	}
}
