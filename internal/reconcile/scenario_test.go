package reconcile

import (
	"fmt"
	"testing"
	"time"
)

// Whole scenarios on the simulated world, each run to its end.

func replicaConfig(desired, maxPct, minPct int) Config {
	return Config{Name: "web", DesiredCount: desired, MaximumPercent: maxPct, MinimumHealthyPercent: minPct}
}

// steadyWorld is a service at steady state on app:1 with desired tasks.
func steadyWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	w := newWorld(t, cfg, "app:1")
	w.instances = []Instance{{ID: "i-1", Active: true}, {ID: "i-2", Active: true}}
	w.run(50)
	return w
}

func TestScenarioCreate(t *testing.T) {
	w := newWorld(t, replicaConfig(3, 200, 100), "app:1")
	w.run(20)
	if got := w.live()["app:1"]; got != 3 {
		t.Fatalf("%d tasks, want 3", got)
	}
	if w.lastCompleted != "app:1" || w.history["ecs-svc/1"].RolloutState != RolloutCompleted {
		t.Fatalf("deployment not completed: %+v", w.history["ecs-svc/1"])
	}
	if w.history["ecs-svc/1"].RolloutReason != "ECS deployment ecs-svc/1 completed." {
		t.Errorf("reason %q", w.history["ecs-svc/1"].RolloutReason)
	}
	want := []string{
		"(service web) (deployment ecs-svc/1) deployment completed.",
		"(service web) has reached a steady state.",
	}
	if fmt.Sprint(w.events) != fmt.Sprint(want) {
		t.Fatalf("events %q, want %q", w.events, want)
	}
	// Steady stays steady, and says so only once.
	for range 5 {
		if p := w.decide(); !p.Steady || len(p.Events) > 0 || len(p.Launch)+len(p.Stop) > 0 {
			t.Fatalf("steady service planned %+v", p)
		}
		w.advance()
	}
}

func TestScenarioRollingUpdate(t *testing.T) {
	for _, tc := range []struct{ maxPct, minPct int }{{200, 100}, {100, 50}, {150, 100}, {100, 0}, {125, 50}, {200, 0}} {
		t.Run(fmt.Sprintf("%d-%d", tc.maxPct, tc.minPct), func(t *testing.T) {
			w := steadyWorld(t, replicaConfig(3, tc.maxPct, tc.minPct))
			w.healthChecked = true
			w.deploy("app:2")
			w.run(60)
			if live := w.live(); live["app:2"] != 3 || live["app:1"] != 0 {
				t.Fatalf("live tasks %v", live)
			}
			if len(w.deps) != 1 || w.history["ecs-svc/1"].Status != StatusInactive {
				t.Fatalf("old deployment left: %+v", w.deps)
			}
			if w.lastCompleted != "app:2" || !w.hasEvent("(service web) (deployment ecs-svc/2) deployment completed.") {
				t.Fatalf("not completed:\n%s", w.dump())
			}
		})
	}
}

func TestScenarioScaleMidRollout(t *testing.T) {
	for _, desired := range []int{6, 1, 0} {
		t.Run(fmt.Sprint(desired), func(t *testing.T) {
			w := steadyWorld(t, replicaConfig(3, 200, 50))
			w.deploy("app:2")
			w.runFor(2, func(Plan) bool { return false })
			w.cfg.DesiredCount = desired
			w.run(60)
			if live := w.live(); live["app:2"] != desired || live["app:1"] != 0 {
				t.Fatalf("live tasks %v", live)
			}
			if w.lastCompleted != "app:2" {
				t.Fatalf("not completed:\n%s", w.dump())
			}
		})
	}
}

func TestScenarioBrokenImageRollsBack(t *testing.T) {
	cfg := replicaConfig(3, 200, 100)
	cfg.CircuitBreaker, cfg.Rollback = true, true
	w := steadyWorld(t, cfg)
	w.images["app:2"] = image{startFails: true}
	start, before := w.now, len(w.events)
	w.deploy("app:2")
	w.run(120)

	failed, back := w.history["ecs-svc/2"], w.history["ecs-svc/3"]
	if failed.RolloutState != RolloutFailed || failed.RolloutReason != RolloutReasonFailed || failed.FailedTasks < 3 {
		t.Fatalf("failed deployment %+v", failed)
	}
	if back.TaskDefinition != "app:1" || back.RolloutState != RolloutCompleted || back.RollbackFrom != "ecs-svc/2" {
		t.Fatalf("rollback deployment %+v", back)
	}
	if live := w.live(); live["app:1"] != 3 || live["app:2"] != 0 {
		t.Fatalf("live tasks %v", live)
	}
	want := []string{
		"(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start.",
		"(service web) rolling back to deployment ecs-svc/3.",
		"(service web) has stopped 3 running tasks: (task t0001) (task t0002) (task t0003).",
		"(service web) (deployment ecs-svc/3) deployment completed.",
		"(service web) has reached a steady state.",
	}
	if got := w.events[before:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n%q\nwant\n%q", got, want)
	}
	// The old tasks never went below the minimum (100%): all three kept
	// running, and the rollback replaced them with tasks of its own.
	if w.now.Sub(start) > 40*time.Second {
		t.Errorf("rollback took %s", w.now.Sub(start))
	}
}

func TestScenarioBrokenImageWithoutRollback(t *testing.T) {
	cfg := replicaConfig(2, 200, 100)
	cfg.CircuitBreaker = true
	w := steadyWorld(t, cfg)
	w.images["app:2"] = image{startFails: true}
	w.deploy("app:2")
	failed := w.runFor(60, func(p Plan) bool { return p.Deployments[0].RolloutState == RolloutFailed })
	if !failed {
		t.Fatalf("deployment did not fail:\n%s", w.dump())
	}
	launched := w.launched
	w.runFor(60, func(Plan) bool { return false })
	if w.launched != launched || w.launchesWhileFailed != 0 {
		t.Fatalf("launched %d tasks after the deployment failed", w.launched-launched)
	}
	if d := w.deps[0]; d.ID != "ecs-svc/2" || d.Status != StatusPrimary || d.RolloutState != RolloutFailed {
		t.Fatalf("deployments %+v", w.deps)
	}
	if live := w.live(); live["app:1"] != 2 {
		t.Fatalf("the old tasks did not keep running: %v", live)
	}
	if !w.hasEvent("(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start.") {
		t.Errorf("no failure event:\n%s", w.dump())
	}
}

func TestScenarioBrokenImageBacksOff(t *testing.T) {
	// No circuit breaker: the service keeps trying, less and less often.
	w := steadyWorld(t, replicaConfig(1, 100, 0))
	w.images["app:2"] = image{startFails: true}
	w.deploy("app:2")
	w.runFor(600, func(Plan) bool { return false }) // ten minutes
	if w.launched > 1+12 {
		t.Fatalf("%d launches in ten minutes: a tight loop", w.launched)
	}
	if w.consecutive < 8 || !w.hasEvent("(service web) is unable to consistently start tasks successfully.") {
		t.Fatalf("consecutive failures %d:\n%s", w.consecutive, w.dump())
	}
	// A new task definition is not throttled: it launches at once.
	launched := w.launched
	w.deploy("app:3")
	w.decide()
	if w.launched != launched+1 {
		t.Fatalf("new deployment throttled")
	}
}

func TestScenarioUnhealthyTaskReplaced(t *testing.T) {
	cfg := replicaConfig(2, 200, 100)
	cfg.HealthCheckGracePeriod = 10 * time.Second
	w := newWorld(t, cfg, "app:1")
	w.healthChecked = true
	w.run(20)
	victim := w.tasks[0]
	victim.Health = healthUnhealthy
	victim.StartedAt = w.now // within the grace period: left alone
	p := w.decide()
	if len(p.Stop) != 0 || p.Recheck != w.now.Add(10*time.Second) {
		t.Fatalf("within grace: %+v", p)
	}
	w.now = w.now.Add(10 * time.Second)
	p = w.decide()
	if len(p.Stop) != 1 || p.Stop[0] != (Stop{TaskID: victim.ID, Reason: "Task failed container health checks"}) {
		t.Fatalf("stops %+v", p.Stop)
	}
	if len(p.Launch) != 1 || p.Launch[0].Count != 1 || p.ReplacedUnhealthy != 1 {
		t.Fatalf("launches %+v", p)
	}
	want := []string{
		"(service web) (task " + victim.ID + ") failed container health checks.",
		"(service web) has stopped 1 running tasks: (task " + victim.ID + ").",
	}
	if fmt.Sprint(p.Events) != fmt.Sprint(want) {
		t.Fatalf("events %q", p.Events)
	}
	w.advance()
	w.run(20)
	if !w.hasEvent("(service web) has reached a steady state.") || w.live()["app:1"] != 2 {
		t.Fatalf("not back:\n%s", w.dump())
	}
}

func TestScenarioDrainingInstance(t *testing.T) {
	for _, tc := range []struct{ maxPct, minPct int }{{200, 100}, {100, 50}, {100, 0}} {
		t.Run(fmt.Sprintf("%d-%d", tc.maxPct, tc.minPct), func(t *testing.T) {
			w := steadyWorld(t, replicaConfig(4, tc.maxPct, tc.minPct))
			w.instance("i-1").Draining = true
			w.run(40)
			for _, task := range w.tasks {
				if isLive(*task) && task.InstanceID == "i-1" {
					t.Fatalf("task %s still on the draining instance", task.ID)
				}
			}
			if w.live()["app:1"] != 4 {
				t.Fatalf("live %v", w.live())
			}
		})
	}
}

func TestScenarioStuckConfiguration(t *testing.T) {
	// D=1 with 100/100, or ECS's own example, D=3 with 125/75: ECS can
	// neither start a new task nor stop an old one, so the deployment waits
	// and says why.
	for _, cfg := range []Config{replicaConfig(1, 100, 100), replicaConfig(3, 125, 75)} {
		w := steadyWorld(t, cfg)
		w.deploy("app:2")
		p := w.decide()
		if len(p.Launch)+len(p.Stop) != 0 {
			t.Fatalf("plan %+v", p)
		}
		want := "(service web) was unable to stop or start tasks during a deployment because of the service deployment configuration. " +
			"Update the minimumHealthyPercent or maximumPercent value and try again."
		if len(p.Events) != 1 || p.Events[0] != want {
			t.Fatalf("events %q", p.Events)
		}
		// Raising the maximum lets it go on.
		w.cfg.MaximumPercent = 200
		w.run(20)
		if w.live()["app:2"] != cfg.DesiredCount {
			t.Fatalf("live %v", w.live())
		}
	}
}

func TestScenarioDaemon(t *testing.T) {
	cfg := Config{Name: "agent", Daemon: true, MaximumPercent: 100, MinimumHealthyPercent: 0}
	w := newWorld(t, cfg, "log:1")
	w.instances = []Instance{{ID: "i-1", Active: true}, {ID: "i-2", Active: true}}
	w.run(20)
	perInstance := func() map[string]string {
		m := map[string]string{}
		for _, task := range w.tasks {
			if isLive(*task) {
				if m[task.InstanceID] != "" {
					t.Fatalf("two tasks on %s", task.InstanceID)
				}
				m[task.InstanceID] = w.depTD[task.DeploymentID]
			}
		}
		return m
	}
	if got := fmt.Sprint(perInstance()); got != "map[i-1:log:1 i-2:log:1]" {
		t.Fatalf("tasks %s", got)
	}

	// An instance joins: it gets a task.
	w.instances = append(w.instances, Instance{ID: "i-3", Active: true})
	w.run(20)
	if got := fmt.Sprint(perInstance()); got != "map[i-1:log:1 i-2:log:1 i-3:log:1]" {
		t.Fatalf("after join: %s", got)
	}

	// One drains, one leaves: their tasks stop.
	w.instance("i-1").Draining = true
	w.instances = w.instances[:2]
	p := w.decide()
	if len(p.Stop) != 2 || p.Stop[0].Reason != ReasonDraining || p.Stop[1].Reason != "Scaling activity initiated by (deployment ecs-svc/1)" {
		t.Fatalf("stops %+v", p.Stop)
	}
	w.advance()
	w.run(20)
	if got := fmt.Sprint(perInstance()); got != "map[i-2:log:1]" {
		t.Fatalf("after drain: %s", got)
	}

	// A deployment replaces the task instance by instance; with 100/0 it
	// stops the old task and launches the new one in one plan.
	w.instance("i-1").Draining = false
	w.instances = append(w.instances, Instance{ID: "i-3", Active: true})
	w.run(20)
	w.deploy("log:2")
	p = w.decide()
	if len(p.Stop) != 3 || len(p.Launch) != 3 {
		t.Fatalf("plan %+v", p)
	}
	w.advance()
	w.run(20)
	if got := fmt.Sprint(perInstance()); got != "map[i-1:log:2 i-2:log:2 i-3:log:2]" {
		t.Fatalf("after deployment: %s", got)
	}
}

func TestScenarioDaemonHonoursPercents(t *testing.T) {
	cfg := Config{Name: "agent", Daemon: true, MaximumPercent: 100, MinimumHealthyPercent: 50}
	w := newWorld(t, cfg, "log:1")
	w.instances = []Instance{{ID: "i-1", Active: true}, {ID: "i-2", Active: true}, {ID: "i-3", Active: true}, {ID: "i-4", Active: true}}
	w.run(20)
	w.deploy("log:2")
	p := w.decide()
	if len(p.Stop) != 2 || len(p.Launch) != 2 {
		t.Fatalf("plan %+v", p)
	}
	w.advance()
	w.run(30)
}

func TestScenarioRestartSafety(t *testing.T) {
	// A controller that dies after carrying out half a plan starts again
	// from the snapshot it left: the plans that follow still keep the
	// bounds (checkPlan) and reach the same end.
	w := steadyWorld(t, replicaConfig(4, 150, 50))
	w.deploy("app:2")
	for range 30 {
		in := w.input()
		p := Decide(in)
		checkPlan(t, in, p)
		half := p
		half.Stop = p.Stop[:len(p.Stop)/2]
		half.Launch = nil
		if len(p.Launch) > 0 && p.Launch[0].Count > 1 {
			half.Launch = []Launch{{DeploymentID: p.Launch[0].DeploymentID, Count: p.Launch[0].Count / 2}}
		}
		w.apply(in, half)
		w.advance()
	}
	w.run(40)
	if live := w.live(); live["app:2"] != 4 || live["app:1"] != 0 {
		t.Fatalf("live %v", live)
	}
}
