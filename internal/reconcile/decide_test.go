package reconcile

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Table tests: one snapshot, the exact plan.

func dep(id, td, state string) Deployment {
	return Deployment{ID: id, TaskDefinition: td, Status: StatusActive, RolloutState: state, CreatedAt: t0}
}

func primary(id, td string) Deployment {
	d := dep(id, td, RolloutInProgress)
	d.Status = StatusPrimary
	return d
}

func running(id, depID string) Task {
	return Task{ID: id, DeploymentID: depID, LastStatus: core.TaskRunning, DesiredStatus: core.TaskRunning, ReachedRunning: true, StartedAt: t0}
}

func pending(id, depID string) Task {
	return Task{ID: id, DeploymentID: depID, LastStatus: core.TaskPending, DesiredStatus: core.TaskRunning}
}

func checked(t Task, health string) Task {
	t.HealthChecked, t.Health = true, health
	return t
}

func target(t Task, health, tg string) Task {
	t.LB, t.TargetHealth = true, health
	if health == TargetUnhealthy {
		t.UnhealthyTargetGroup = tg
	}
	return t
}

func draining(t Task) Task {
	t.OnDrainingInstance = true
	return t
}

func stopped(t Task, code string, at time.Time) Task {
	t.LastStatus, t.DesiredStatus, t.StopCode, t.StoppedAt = core.TaskStopped, core.TaskStopped, code, at
	return t
}

func stopping(t Task) Task {
	t.DesiredStatus = core.TaskStopped
	return t
}

func completed(d Deployment, at time.Time) Deployment {
	d.RolloutState, d.RolloutReason, d.UpdatedAt = RolloutCompleted, RolloutReasonCompleted(d.ID), at
	return d
}

var now = t0.Add(time.Minute)

func TestDecide(t *testing.T) {
	p1, p2 := primary("ecs-svc/2", "app:2"), primary("ecs-svc/1", "app:1")
	old := dep("ecs-svc/1", "app:1", RolloutCompleted)
	scaling := ReasonScaling("ecs-svc/2")
	cfg := func(desired, maxPct, minPct int) Config { return replicaConfig(desired, maxPct, minPct) }
	failedP1 := p1
	failedP1.RolloutState, failedP1.RolloutReason = RolloutFailed, RolloutReasonFailed

	tests := []struct {
		name string
		in   Input
		want Plan
	}{{
		name: "create launches the desired count",
		in:   Input{Config: cfg(3, 200, 100), Deployments: []Deployment{p2}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/1", Count: 3}}, Deployments: []Deployment{p2}},
	}, {
		name: "200/100 launches a whole new set first",
		in: Input{Config: cfg(3, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("o1", "ecs-svc/1"), running("o2", "ecs-svc/1"), running("o3", "ecs-svc/1")}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/2", Count: 3}}, Deployments: []Deployment{p1, old}},
	}, {
		name: "100/50 stops half the old tasks, then launches",
		in: Input{Config: cfg(4, 100, 50), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("o4", "ecs-svc/1"), running("o3", "ecs-svc/1"), running("o2", "ecs-svc/1"), running("o1", "ecs-svc/1")}},
		want: Plan{
			Launch:      []Launch{{DeploymentID: "ecs-svc/2", Count: 2}},
			Stop:        []Stop{{"o1", scaling}, {"o2", scaling}},
			Deployments: []Deployment{p1, old},
			Events:      []string{"(service web) has stopped 2 running tasks: (task o1) (task o2)."},
		},
	}, {
		name: "old tasks go as the new ones become healthy",
		in: Input{Config: cfg(3, 150, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("o1", "ecs-svc/1"), running("o2", "ecs-svc/1"), running("o3", "ecs-svc/1"),
				checked(running("n1", "ecs-svc/2"), healthHealthy)}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/2", Count: 1}}, Stop: []Stop{{"o1", scaling}},
			Deployments: []Deployment{p1, old}, Events: []string{"(service web) has stopped 1 running tasks: (task o1)."}},
	}, {
		name: "a new task not yet healthy does not count",
		in: Input{Config: cfg(1, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("o1", "ecs-svc/1"), checked(running("n1", "ecs-svc/2"), "UNKNOWN")}},
		want: Plan{Deployments: []Deployment{p1, old}},
	}, {
		name: "old tasks that are not running go first, at no cost",
		in: Input{Config: cfg(2, 100, 50), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("o1", "ecs-svc/1"), pending("o2", "ecs-svc/1")}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/2", Count: 1}}, Stop: []Stop{{"o2", scaling}},
			Deployments: []Deployment{p1, old}, Events: []string{"(service web) has stopped 1 running tasks: (task o2)."}},
	}, {
		name: "100/100 with one task is stuck, as in ECS",
		in: Input{Config: cfg(1, 100, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("o1", "ecs-svc/1")}},
		want: Plan{Deployments: []Deployment{p1, old}, Events: []string{eventStuck("web")}},
	}, {
		name: "scale-in stops tasks not running first, then healthy ones down to the minimum",
		in: Input{Config: cfg(2, 200, 100), Deployments: []Deployment{completed(p2, t0)},
			Tasks: []Task{running("a", "ecs-svc/1"), running("b", "ecs-svc/1"), running("c", "ecs-svc/1"), pending("d", "ecs-svc/1")}},
		want: Plan{Stop: []Stop{{"d", ReasonScaling("ecs-svc/1")}, {"a", ReasonScaling("ecs-svc/1")}},
			Deployments: []Deployment{completed(p2, t0)},
			Events:      []string{"(service web) has stopped 2 running tasks: (task d) (task a)."}},
	}, {
		name: "desired count 0 stops everything",
		in: Input{Config: cfg(0, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("a", "ecs-svc/2"), running("o", "ecs-svc/1")}},
		want: Plan{Stop: []Stop{{"o", scaling}, {"a", scaling}}, Deployments: []Deployment{p1, old},
			Events: []string{"(service web) has stopped 2 running tasks: (task o) (task a)."}},
	}, {
		name: "a deployment with no tasks and desired count 0 completes",
		in:   Input{Now: now, Config: cfg(0, 200, 100), Deployments: []Deployment{p1, old}},
		want: Plan{Deployments: []Deployment{completed(p1, now)}, Completed: "app:2", Steady: true,
			Events: []string{"(service web) (deployment ecs-svc/2) deployment completed.", "(service web) has reached a steady state."}},
	}, {
		name: "completion drops drained deployments and reports steady once",
		in: Input{Now: now, Config: cfg(2, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("a", "ecs-svc/2"), running("b", "ecs-svc/2"), stopped(running("o", "ecs-svc/1"), stopCodeScheduler, t0)}},
		want: Plan{Deployments: []Deployment{completed(p1, now)}, Completed: "app:2", Steady: true,
			Events: []string{"(service web) (deployment ecs-svc/2) deployment completed.", "(service web) has reached a steady state."}},
	}, {
		name: "a task still stopping keeps its deployment",
		in: Input{Now: now, Config: cfg(1, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{running("a", "ecs-svc/2"), stopping(running("o", "ecs-svc/1"))}},
		want: Plan{Deployments: []Deployment{p1, old}},
	}, {
		name: "steady already: no event",
		in: Input{Now: now, Config: cfg(1, 200, 100), Deployments: []Deployment{completed(p2, t0)}, Steady: true,
			Tasks: []Task{running("a", "ecs-svc/1")}},
		want: Plan{Deployments: []Deployment{completed(p2, t0)}, Steady: true},
	}, {
		name: "unhealthy tasks are stopped and replaced",
		in: Input{Now: now, Config: cfg(2, 200, 100), Deployments: []Deployment{completed(p2, t0)}, Steady: true,
			Tasks: []Task{checked(running("a", "ecs-svc/1"), healthHealthy), checked(running("b", "ecs-svc/1"), healthUnhealthy)}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/1", Count: 1}}, Stop: []Stop{{"b", "Task failed container health checks"}},
			Deployments: []Deployment{completed(p2, t0)}, ReplacedUnhealthy: 1,
			Events: []string{"(service web) (task b) failed container health checks.", "(service web) has stopped 1 running tasks: (task b)."}},
	}, {
		name: "unhealthy within the grace period: wait for its end",
		in: Input{Now: now, Config: Config{Name: "web", DesiredCount: 1, MaximumPercent: 200, MinimumHealthyPercent: 100, HealthCheckGracePeriod: 2 * time.Minute},
			Deployments: []Deployment{completed(p2, t0)}, Tasks: []Task{checked(running("b", "ecs-svc/1"), healthUnhealthy)}},
		want: Plan{Deployments: []Deployment{completed(p2, t0)}, Recheck: t0.Add(2 * time.Minute)},
	}, {
		name: "load balanced: a new task whose target is still initial is not healthy yet",
		in: Input{Now: now, Config: cfg(1, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{target(running("o1", "ecs-svc/1"), TargetHealthy, ""), target(running("n1", "ecs-svc/2"), "", "")}},
		want: Plan{Deployments: []Deployment{p1, old}},
	}, {
		name: "load balanced: once the new target is healthy the old task goes",
		in: Input{Now: now, Config: cfg(1, 200, 100), Deployments: []Deployment{p1, old},
			Tasks: []Task{target(running("o1", "ecs-svc/1"), TargetHealthy, ""), target(running("n1", "ecs-svc/2"), TargetHealthy, "")}},
		want: Plan{Stop: []Stop{{"o1", scaling}}, Deployments: []Deployment{p1, old},
			Events: []string{"(service web) has stopped 1 running tasks: (task o1)."}},
	}, {
		name: "load balanced: an unhealthy target is replaced with ECS's reason",
		in: Input{Now: now, Config: cfg(2, 200, 100), Deployments: []Deployment{completed(p2, t0)}, Steady: true,
			Tasks: []Task{target(running("a", "ecs-svc/1"), TargetHealthy, ""), target(running("b", "ecs-svc/1"), TargetUnhealthy, "arn:tg/web")}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/1", Count: 1}}, Stop: []Stop{{"b", "Task failed ELB health checks in (target-group arn:tg/web)"}},
			Deployments: []Deployment{completed(p2, t0)}, ReplacedUnhealthy: 1,
			Events: []string{"(service web) (task b) is unhealthy in (target-group arn:tg/web) due to (reason Health checks failed).",
				"(service web) has stopped 1 running tasks: (task b)."}},
	}, {
		name: "load balanced: an unhealthy target within the grace period waits",
		in: Input{Now: now, Config: Config{Name: "web", DesiredCount: 1, MaximumPercent: 200, MinimumHealthyPercent: 100, HealthCheckGracePeriod: 2 * time.Minute},
			Deployments: []Deployment{completed(p2, t0)}, Tasks: []Task{target(running("b", "ecs-svc/1"), TargetUnhealthy, "arn:tg/web")}},
		want: Plan{Deployments: []Deployment{completed(p2, t0)}, Recheck: t0.Add(2 * time.Minute)},
	}, {
		name: "draining: replacements first, within the maximum",
		in: Input{Config: cfg(2, 200, 100), Deployments: []Deployment{completed(p2, t0)},
			Tasks: []Task{draining(running("a", "ecs-svc/1")), running("b", "ecs-svc/1")}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/1", Count: 1}}, Deployments: []Deployment{completed(p2, t0)}},
	}, {
		name: "draining: then the drained task stops, within the minimum",
		in: Input{Config: cfg(2, 200, 100), Deployments: []Deployment{completed(p2, t0)},
			Tasks: []Task{draining(running("a", "ecs-svc/1")), running("b", "ecs-svc/1"), running("c", "ecs-svc/1")}},
		want: Plan{Stop: []Stop{{"a", ReasonDraining}}, Deployments: []Deployment{completed(p2, t0)},
			Events: []string{"(service web) has stopped 1 running tasks: (task a)."}},
	}, {
		name: "draining: pending tasks stop at once",
		in: Input{Config: cfg(1, 100, 100), Deployments: []Deployment{completed(p2, t0)},
			Tasks: []Task{draining(pending("a", "ecs-svc/1"))}},
		want: Plan{Launch: []Launch{{DeploymentID: "ecs-svc/1", Count: 1}}, Stop: []Stop{{"a", ReasonDraining}},
			Deployments: []Deployment{completed(p2, t0)}, Events: []string{"(service web) has stopped 1 running tasks: (task a)."}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Config.Name = "web"
			got := Decide(tc.in)
			checkPlan(t, tc.in, got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecideCircuitBreaker(t *testing.T) {
	broken := primary("ecs-svc/2", "app:2")
	old := completed(dep("ecs-svc/1", "app:1", RolloutInProgress), t0)
	cb := Config{Name: "web", DesiredCount: 1, MaximumPercent: 200, MinimumHealthyPercent: 100, CircuitBreaker: true}
	failedAt := now.Add(-time.Second / 2)
	fail := stopped(pending("n3", "ecs-svc/2"), "TaskFailedToStart", failedAt)

	t.Run("a task that never ran counts, and the backoff holds launches", func(t *testing.T) {
		in := Input{Now: now, Config: cb, Deployments: []Deployment{broken, old}, Tasks: []Task{running("o1", "ecs-svc/1"), fail}}
		counted := broken
		counted.FailedTasks, counted.UpdatedAt = 1, now
		want := Plan{CountFailed: []string{"n3"}, Deployments: []Deployment{counted, old},
			ConsecutiveFailures: 1, NextLaunchAt: failedAt.Add(time.Second), Recheck: failedAt.Add(time.Second)}
		if got := Decide(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("the threshold fails the deployment and rolls back", func(t *testing.T) {
		cfg := cb
		cfg.Rollback = true
		two := broken
		two.FailedTasks = 2
		in := Input{Now: now, Config: cfg, Deployments: []Deployment{two, old}, LastCompleted: "app:1", NewDeploymentID: "ecs-svc/3",
			ConsecutiveFailures: 2, NextLaunchAt: now.Add(-time.Second), Tasks: []Task{running("o1", "ecs-svc/1"), fail}}
		failed := two
		failed.Status, failed.FailedTasks, failed.RolloutState, failed.RolloutReason, failed.UpdatedAt = StatusActive, 3, RolloutFailed,
			"ECS deployment circuit breaker: tasks failed to start.", now
		back := Deployment{ID: "ecs-svc/3", TaskDefinition: "app:1", Status: StatusPrimary, RolloutState: RolloutInProgress,
			RolloutReason: "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/3.", CreatedAt: now, UpdatedAt: now, RollbackFrom: "ecs-svc/2"}
		want := Plan{Launch: []Launch{{DeploymentID: "ecs-svc/3", Count: 1}}, CountFailed: []string{"n3"},
			Deployments: []Deployment{back, failed, old},
			Events: []string{"(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start.",
				"(service web) rolling back to deployment ecs-svc/3."}}
		if got := Decide(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("without rollback the FAILED deployment stays PRIMARY and launches nothing", func(t *testing.T) {
		for _, in := range []Input{
			{Now: now, Config: cb, LastCompleted: "app:1", NewDeploymentID: "ecs-svc/3"},
			{Now: now, Config: func() Config { c := cb; c.Rollback = true; return c }(), NewDeploymentID: "ecs-svc/3"}, // nothing to roll back to
		} {
			two := broken
			two.FailedTasks = 2
			in.Deployments = []Deployment{two, old}
			in.Tasks = []Task{running("o1", "ecs-svc/1"), fail}
			failed := two
			failed.FailedTasks, failed.RolloutState, failed.RolloutReason, failed.UpdatedAt = 3, RolloutFailed, RolloutReasonFailed, now
			want := Plan{CountFailed: []string{"n3"}, Deployments: []Deployment{failed, old},
				ConsecutiveFailures: 1, NextLaunchAt: failedAt.Add(time.Second),
				Events: []string{"(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start."}}
			if got := Decide(in); !reflect.DeepEqual(got, want) {
				t.Fatalf("plan\n got %+v\nwant %+v", got, want)
			}
			// Later, with tasks missing, still nothing is launched, and the
			// old tasks keep running.
			in.Deployments, in.Tasks = want.Deployments, []Task{running("o1", "ecs-svc/1")}
			in.ConsecutiveFailures = 0
			if got := Decide(in); len(got.Launch)+len(got.Stop) != 0 {
				t.Fatalf("FAILED deployment planned %+v", got)
			}
		}
	})

	t.Run("what counts as a failure", func(t *testing.T) {
		ran := running("x", "ecs-svc/2")
		for _, tc := range []struct {
			task Task
			want bool
		}{
			{stopped(pending("x", "ecs-svc/2"), "TaskFailedToStart", now), true},
			{stopped(pending("x", "ecs-svc/2"), "", now), true},
			{stopped(ran, stopCodeEssentialExit, now), true},
			{stopped(checked(ran, healthUnhealthy), stopCodeScheduler, now), true},
			{stopped(ran, stopCodeScheduler, now), false},
			{stopped(pending("x", "ecs-svc/2"), stopCodeScheduler, now), false},
			{stopped(pending("x", "ecs-svc/2"), stopCodeUser, now), false},
			{stopped(checked(ran, healthUnhealthy), stopCodeUser, now), false},
		} {
			if got := isFailure(tc.task); got != tc.want {
				t.Errorf("isFailure(%+v) = %v", tc.task, got)
			}
		}
	})

	t.Run("failures after COMPLETED feed the backoff, not the breaker", func(t *testing.T) {
		done := completed(primary("ecs-svc/2", "app:2"), t0)
		in := Input{Now: now, Config: cb, Deployments: []Deployment{done},
			Tasks: []Task{stopped(running("x", "ecs-svc/2"), stopCodeEssentialExit, now)}}
		got := Decide(in)
		if got.Deployments[0].FailedTasks != 0 || got.ConsecutiveFailures != 1 || len(got.Launch) != 0 || got.Recheck != now.Add(time.Second) {
			t.Fatalf("plan %+v", got)
		}
	})
}

func TestDecideBackoff(t *testing.T) {
	d := completed(primary("ecs-svc/1", "app:1"), t0)
	in := Input{Now: now, Config: replicaConfig(1, 200, 100), Deployments: []Deployment{d},
		ConsecutiveFailures: 2, NextLaunchAt: now.Add(time.Second)}

	got := Decide(in)
	if len(got.Launch) != 0 || got.Recheck != in.NextLaunchAt || got.ConsecutiveFailures != 2 || got.NextLaunchAt != in.NextLaunchAt {
		t.Fatalf("during the backoff: %+v", got)
	}
	in.Now = in.NextLaunchAt
	if got := Decide(in); len(got.Launch) != 1 || got.ConsecutiveFailures != 2 {
		t.Fatalf("after the backoff: %+v", got)
	}

	// A task that reached RUNNING after the last failure ends the run.
	in.Config.DesiredCount = 2
	in.Tasks = []Task{running("a", "ecs-svc/1")}
	in.Tasks[0].StartedAt = now.Add(-time.Millisecond)
	if got := Decide(in); got.ConsecutiveFailures != 0 || !got.NextLaunchAt.IsZero() || len(got.Launch) != 1 {
		t.Fatalf("after a task ran: %+v", got)
	}

	// The third failure in a row records ECS's throttle event, once.
	in.Tasks = []Task{stopped(pending("b", "ecs-svc/1"), "TaskFailedToStart", now)}
	got = Decide(in)
	if got.ConsecutiveFailures != 3 || got.NextLaunchAt != now.Add(4*time.Second) ||
		fmt.Sprint(got.Events) != "[(service web) is unable to consistently start tasks successfully.]" {
		t.Fatalf("third failure: %+v", got)
	}
	in.ConsecutiveFailures, in.NextLaunchAt = got.ConsecutiveFailures, got.NextLaunchAt
	in.Tasks = []Task{stopped(pending("c", "ecs-svc/1"), "TaskFailedToStart", now)}
	if got := Decide(in); got.ConsecutiveFailures != 4 || len(got.Events) != 0 {
		t.Fatalf("fourth failure: %+v", got)
	}
}

func TestDecideDaemon(t *testing.T) {
	d := completed(primary("ecs-svc/1", "log:1"), t0)
	cfg := Config{Name: "agent", Daemon: true, MaximumPercent: 100}
	on := func(t Task, inst string) Task { t.InstanceID = inst; return t }
	in := Input{Now: now, Config: cfg, Deployments: []Deployment{d}, Steady: true,
		Instances: []Instance{{ID: "i-1", Active: true}, {ID: "i-2", Active: true}, {ID: "i-3", Active: true, Draining: true}, {ID: "i-4"}},
		Tasks: []Task{on(running("a", "ecs-svc/1"), "i-1"), on(running("b", "ecs-svc/1"), "i-3"), on(running("c", "ecs-svc/1"), "i-4"),
			on(running("d", "ecs-svc/1"), "i-9"), on(pending("e", "ecs-svc/1"), "i-1")}}
	scaling := ReasonScaling("ecs-svc/1")
	want := Plan{
		Launch:      []Launch{{DeploymentID: "ecs-svc/1", Count: 1, InstanceID: "i-2"}},
		Stop:        []Stop{{"b", ReasonDraining}, {"c", scaling}, {"d", scaling}, {"e", scaling}},
		Deployments: []Deployment{d},
		Events:      []string{"(service agent) has stopped 4 running tasks: (task b) (task c) (task d) (task e)."},
	}
	got := Decide(in)
	checkPlan(t, in, got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan\n got %+v\nwant %+v", got, want)
	}
}

func TestDecideIgnoresTaskOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		in := randomInput(r)
		p := Decide(in)
		r.Shuffle(len(in.Tasks), func(i, j int) { in.Tasks[i], in.Tasks[j] = in.Tasks[j], in.Tasks[i] })
		if q := Decide(in); !plansEqual(p, q) {
			t.Fatalf("task order changed the plan:\n%+v\n%+v", p, q)
		}
	}
}

func TestDecideNoDeployments(t *testing.T) {
	if got := Decide(Input{Tasks: []Task{running("a", "x")}}); !reflect.DeepEqual(got, Plan{}) {
		t.Fatalf("plan %+v", got)
	}
}

func TestThreshold(t *testing.T) {
	for desired, want := range map[int]int{0: 3, 1: 3, 5: 3, 6: 3, 7: 4, 25: 13, 399: 200, 400: 200, 800: 200} {
		if got := Threshold(desired); got != want {
			t.Errorf("Threshold(%d) = %d, want %d", desired, got, want)
		}
	}
}

func TestLaunchDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 0, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		9: 256 * time.Second, 10: 5 * time.Minute, 1000: 5 * time.Minute} {
		if got := LaunchDelay(n); got != want {
			t.Errorf("LaunchDelay(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestStartedMessage(t *testing.T) {
	if got := StartedMessage("web", []string{"a", "b"}, 0); got != "(service web) has started 2 tasks: (task a) (task b)." {
		t.Error(got)
	}
	if got := StartedMessage("web", []string{"a"}, 1); got != "(service web) has started 1 tasks: (task a). Amazon ECS replaced 1 tasks due to an unhealthy status." {
		t.Error(got)
	}
}

func TestThresholdOf(t *testing.T) {
	tests := []struct {
		kind           string
		value, desired int
		want           int
	}{
		{"", 0, 10, 5}, {"", 0, 1, 3}, {"", 0, 1000, 200},
		{ThresholdCount, 7, 100, 7}, {ThresholdCount, 0, 4, 1},
		{ThresholdBoundedPercent, 50, 10, 5}, {ThresholdBoundedPercent, 10, 4, 3}, {ThresholdBoundedPercent, 100, 500, 200},
		{ThresholdUnboundedPercent, 10, 4, 1}, {ThresholdUnboundedPercent, 100, 500, 500},
	}
	for _, tt := range tests {
		if got := ThresholdOf(tt.kind, tt.value, tt.desired); got != tt.want {
			t.Errorf("ThresholdOf(%q, %d, %d) = %d, want %d", tt.kind, tt.value, tt.desired, got, tt.want)
		}
	}
}

// resetOnHealthyTask (ECS's default true): a task of the deployment that
// becomes healthy resets its failure count to 0, once; false keeps the
// count.
func TestDecideResetOnHealthyTask(t *testing.T) {
	d := primary("ecs-svc/2", "app:2")
	d.FailedTasks = 2
	cb := Config{Name: "web", DesiredCount: 2, MaximumPercent: 200, MinimumHealthyPercent: 100, CircuitBreaker: true,
		ThresholdType: ThresholdCount, ThresholdValue: 3}
	seen := running("n1", "ecs-svc/2")
	seen.HealthSeen = true
	tests := []struct {
		name       string
		keep       bool
		tasks      []Task
		wantFailed int
		wantSeen   []string
	}{
		{"a task becomes healthy: the count resets", false, []Task{running("n1", "ecs-svc/2")}, 0, []string{"n1"}},
		{"resetOnHealthyTask false keeps the count", true, []Task{running("n1", "ecs-svc/2")}, 2, []string{"n1"}},
		{"a task seen healthy before resets nothing more", false, []Task{seen}, 2, nil},
		{"an unhealthy task resets nothing", false, []Task{checked(running("n1", "ecs-svc/2"), "UNKNOWN")}, 2, nil},
		{"a failure after the reset counts from 0", false, []Task{seen, stopped(pending("n2", "ecs-svc/2"), "TaskFailedToStart", now)}, 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cb
			c.KeepFailureCount = tc.keep
			got := Decide(Input{Now: now, Config: c, Deployments: []Deployment{d}, Tasks: tc.tasks})
			if got.Deployments[0].FailedTasks != tc.wantFailed || !reflect.DeepEqual(got.SeenHealthy, tc.wantSeen) {
				t.Fatalf("failed tasks %d, seen healthy %v; want %d, %v", got.Deployments[0].FailedTasks, got.SeenHealthy,
					tc.wantFailed, tc.wantSeen)
			}
		})
	}
	// A task that has just started (within the stable period) resets
	// nothing yet: a revision whose tasks run a moment and crash must trip
	// the breaker.
	young := running("n1", "ecs-svc/2")
	young.StartedAt = now.Add(-time.Second)
	stable := cb
	stable.StablePeriod = 5 * time.Second
	if got := Decide(Input{Now: now, Config: stable, Deployments: []Deployment{d}, Tasks: []Task{young}}); len(got.SeenHealthy) != 0 ||
		(len(got.Deployments) > 0 && got.Deployments[0].FailedTasks != 2) {
		t.Fatalf("a task running 1 s of a 5 s stable period reset the count: %+v seen %v", got.Deployments, got.SeenHealthy)
	}

	// The count restarts from 0: the threshold (3) is three failures after
	// the last reset.
	reset := d
	reset.FailedTasks = 0
	got := Decide(Input{Now: now, Config: cb, Deployments: []Deployment{reset}, Tasks: []Task{seen,
		stopped(pending("n2", "ecs-svc/2"), "TaskFailedToStart", now), stopped(pending("n3", "ecs-svc/2"), "TaskFailedToStart", now)}})
	if got.Deployments[0].FailedTasks != 2 || got.Deployments[0].RolloutState != RolloutInProgress {
		t.Fatalf("after a reset, two failures: %+v", got.Deployments[0])
	}
}

// A deployment alarm in ALARM fails the IN_PROGRESS deployment, and rolls
// back when alarms.rollback says so; a completed deployment is left alone.
func TestDecideDeploymentAlarms(t *testing.T) {
	old := dep("ecs-svc/1", "app:1", RolloutCompleted)
	old.Status = StatusActive
	two := primary("ecs-svc/2", "app:2")
	cfg := Config{Name: "web", DesiredCount: 1, MaximumPercent: 200, MinimumHealthyPercent: 100}
	in := Input{Now: now, Config: cfg, Deployments: []Deployment{two, old}, LastCompleted: "app:1", NewDeploymentID: "ecs-svc/3",
		Tasks: []Task{running("o1", "ecs-svc/1"), running("n1", "ecs-svc/2")}}

	if got := Decide(in); got.Deployments != nil && got.Deployments[0].RolloutState == RolloutFailed {
		t.Fatalf("no alarm firing, yet: %+v", got.Deployments)
	}

	in.AlarmsFiring = []string{"p99-latency", "5xx"}
	got := Decide(in)
	if len(got.Deployments) == 0 || got.Deployments[0].RolloutState != RolloutFailed || got.Deployments[0].Status != StatusPrimary {
		t.Fatalf("without rollback: %+v", got.Deployments)
	}
	names, ok := AlarmsOfReason(got.Deployments[0].RolloutReason)
	if !ok || !reflect.DeepEqual(names, in.AlarmsFiring) {
		t.Fatalf("reason %q names %v", got.Deployments[0].RolloutReason, names)
	}
	if want := "(service web) (deployment ecs-svc/2) deployment failed: alarm(s) p99-latency, 5xx in ALARM state."; len(got.Events) == 0 || got.Events[0] != want {
		t.Fatalf("events %q", got.Events)
	}

	in.Config.AlarmRollback = true
	got = Decide(in)
	if len(got.Deployments) < 2 || got.Deployments[0].ID != "ecs-svc/3" || got.Deployments[0].TaskDefinition != "app:1" ||
		got.Deployments[0].RollbackFrom != "ecs-svc/2" || got.Deployments[1].RolloutState != RolloutFailed {
		t.Fatalf("with rollback: %+v", got.Deployments)
	}

	// The rollback deployment goes on while the alarm still fires.
	// (As the controller reads it back from the store: RollbackFrom is not
	// stored, the reason says it is a rollback.)
	back := got.Deployments[0]
	back.RollbackFrom, back.Rollback = "", IsRollbackReason(back.RolloutReason)
	if !back.Rollback {
		t.Fatalf("the rollback's reason %q does not read as a rollback", back.RolloutReason)
	}
	failed := got.Deployments[1]
	in.Deployments = []Deployment{back, failed, old}
	in.NewDeploymentID = "ecs-svc/4"
	if got := Decide(in); len(got.Deployments) > 0 && (got.Deployments[0].ID != "ecs-svc/3" || got.Deployments[0].RolloutState == RolloutFailed) {
		t.Fatalf("the rollback failed by the alarm: %+v", got.Deployments)
	}

	// The circuit breaker's reason is not an alarm reason.
	if _, ok := AlarmsOfReason(RolloutReasonFailed); ok {
		t.Fatal("the circuit breaker's reason read as an alarm reason")
	}
	// A deployment that completed is not failed by a later alarm.
	done := two
	done.RolloutState = RolloutCompleted
	in.Deployments = []Deployment{done}
	in.Tasks = []Task{running("n1", "ecs-svc/2")}
	if got := Decide(in); got.Deployments != nil && got.Deployments[0].RolloutState == RolloutFailed {
		t.Fatalf("a completed deployment failed: %+v", got.Deployments)
	}
}
