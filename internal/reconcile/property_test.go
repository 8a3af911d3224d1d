package reconcile

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Property tests, seeded so a failure can be replayed: random snapshots
// (every plan keeps the bounds) and random histories on the simulated world
// (and healthy images always end steady).

func cases(t *testing.T, full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// randomConfig is a configuration ECS accepts: desired 0..10, maximum
// 100..200 %, minimum 0..100 %.
func randomConfig(r *rand.Rand, daemon bool) Config {
	return Config{
		Name: "svc", DesiredCount: r.IntN(11), Daemon: daemon,
		MaximumPercent: 100 + r.IntN(101), MinimumHealthyPercent: r.IntN(101),
		CircuitBreaker: r.IntN(2) == 0, Rollback: r.IntN(2) == 0,
		HealthCheckGracePeriod: time.Duration(r.IntN(3)) * 30 * time.Second,
	}
}

// randomInput is any snapshot at all, consistent or not.
func randomInput(r *rand.Rand) Input {
	in := Input{Now: now, Config: randomConfig(r, r.IntN(4) == 0), NewDeploymentID: "ecs-svc/9",
		ConsecutiveFailures: r.IntN(5), NextLaunchAt: now.Add(time.Duration(r.IntN(11)-5) * time.Second), Steady: r.IntN(4) == 0}
	if r.IntN(2) == 0 {
		in.LastCompleted = "app:1"
	}
	states := []string{RolloutInProgress, RolloutInProgress, RolloutInProgress, RolloutCompleted, RolloutFailed}
	for i := range 1 + r.IntN(3) {
		d := dep(fmt.Sprintf("ecs-svc/%d", 5-i), fmt.Sprintf("app:%d", 5-i), states[r.IntN(len(states))])
		d.FailedTasks = r.IntN(5)
		if r.IntN(4) == 0 {
			d.RollbackFrom = "ecs-svc/0"
		}
		in.Deployments = append(in.Deployments, d)
	}
	for i := range 5 {
		in.Instances = append(in.Instances, Instance{ID: fmt.Sprintf("i-%d", i), Active: r.IntN(5) > 0, Draining: r.IntN(5) == 0})
	}
	statuses := []core.TaskStatus{core.TaskProvisioning, core.TaskPending, core.TaskRunning, core.TaskRunning, core.TaskRunning, core.TaskStopped, core.TaskDeactivating}
	healths := []string{"UNKNOWN", healthHealthy, healthHealthy, healthUnhealthy}
	codes := []string{"", "TaskFailedToStart", stopCodeEssentialExit, stopCodeScheduler, stopCodeUser}
	for i := range r.IntN(2*in.Config.DesiredCount + 5) {
		t := Task{
			ID:            fmt.Sprintf("t%02d", i),
			DeploymentID:  fmt.Sprintf("ecs-svc/%d", 2+r.IntN(4)),
			InstanceID:    fmt.Sprintf("i-%d", r.IntN(6)),
			LastStatus:    statuses[r.IntN(len(statuses))],
			DesiredStatus: core.TaskRunning,
			Health:        healths[r.IntN(len(healths))],
			HealthChecked: r.IntN(2) == 0,
			StartedAt:     now.Add(-time.Duration(r.IntN(120)) * time.Second),
		}
		t.ReachedRunning = t.LastStatus == core.TaskRunning || r.IntN(2) == 0
		t.OnDrainingInstance = r.IntN(6) == 0
		if r.IntN(6) == 0 || t.LastStatus == core.TaskStopped {
			t.DesiredStatus = core.TaskStopped
		}
		if t.LastStatus == core.TaskStopped {
			t.StopCode = codes[r.IntN(len(codes))]
			t.StoppedAt = now.Add(-time.Duration(r.IntN(10)) * time.Second)
			t.FailureCounted = r.IntN(3) == 0
		}
		in.Tasks = append(in.Tasks, t)
	}
	return in
}

func TestPropertyRandomSnapshots(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range cases(t, 20000, 2000) {
		in := randomInput(r)
		p := Decide(in)
		checkPlan(t, in, p)
		if q := Decide(in); !plansEqual(p, q) {
			t.Fatalf("case %d: same snapshot, different plans", i)
		}
		// A FAILED deployment that stays PRIMARY never launches, and one
		// the breaker fails now either rolls back or launches nothing.
		if p.Deployments[0].RolloutState == RolloutFailed && len(p.Launch) > 0 {
			t.Fatalf("case %d: launch for a FAILED deployment", i)
		}
		for _, id := range p.CountFailed {
			for _, task := range in.Tasks {
				if task.ID == id && (task.LastStatus != core.TaskStopped || task.FailureCounted) {
					t.Fatalf("case %d: counted %+v", i, task)
				}
			}
		}
	}
}

// canProgress says the bounds let a deployment through: ECS's own advice
// is to let the scheduler "stop or start at least one task".
func canProgress(desired int, cfg Config) bool {
	return desired == 0 || desired*cfg.MaximumPercent/100 > desired || (desired*cfg.MinimumHealthyPercent+99)/100 < desired
}

// TestPropertyHistories runs random histories on the simulated world: task
// crashes, failed starts, unhealthy tasks, instances draining, joining and
// leaving, desired count changes and new deployments, each decision
// checked; then, with healthy images, the service must end steady.
func TestPropertyHistories(t *testing.T) {
	converged, skipped, decisions, deploys := 0, 0, 0, 0
	defer func() {
		t.Logf("%d histories ended steady, %d had bounds that cannot progress; %d decisions, %d deployments", converged, skipped, decisions, deploys)
	}()
	for seed := range uint64(cases(t, 1500, 200)) {
		r := rand.New(rand.NewPCG(seed, 3))
		daemon := r.IntN(3) == 0
		cfg := randomConfig(r, daemon)
		if daemon {
			cfg.MaximumPercent = 100 + 100*r.IntN(2)
		}
		w := newWorld(t, cfg, "app:1")
		w.healthChecked = r.IntN(2) == 0
		for i := range 1 + r.IntN(4) {
			w.instances = append(w.instances, Instance{ID: fmt.Sprintf("i-%d", i), Active: true})
		}
		failures := 0 // failures injected; the breaker never sees 3
		for range 40 + r.IntN(40) {
			w.decide()
			switch ev := r.IntN(12); {
			case ev == 0 && failures < 2:
				if task := w.pick(r, core.TaskRunning); task != nil {
					task.DesiredStatus = core.TaskStopped
					w.stopTask(task, stopCodeEssentialExit)
					failures++
				}
			case ev == 1 && failures < 2:
				if task := w.pick(r, core.TaskRunning); task != nil {
					task.HealthChecked, task.Health = true, healthUnhealthy
					failures++
				}
			case ev == 2 && failures < 2:
				if task := w.pick(r, core.TaskPending); task != nil {
					task.DesiredStatus = core.TaskStopped
					w.stopTask(task, "TaskFailedToStart")
					failures++
				}
			case ev == 3 && len(w.instances) > 1:
				i := &w.instances[1+r.IntN(len(w.instances)-1)]
				i.Draining = !i.Draining
			case ev == 4 && daemon:
				w.instances = append(w.instances, Instance{ID: fmt.Sprintf("i-%d", 10+w.plans), Active: true})
			case ev == 5 && daemon && len(w.instances) > 1:
				w.instances = w.instances[:len(w.instances)-1]
			case ev == 6:
				w.cfg.DesiredCount = r.IntN(11)
			case ev == 7 && r.IntN(3) == 0:
				w.deploy(fmt.Sprintf("app:%d", w.nDep+1))
			}
			w.advance()
		}
		// Calm: let it settle.
		desired := w.cfg.DesiredCount
		if daemon {
			desired = len(eligibleInstances(w.instances))
		}
		deploys += w.nDep
		if !canProgress(desired, w.cfg) {
			w.runFor(50, func(Plan) bool { return false })
			skipped++
			decisions += w.plans
			continue
		}
		if !w.runFor(300, func(p Plan) bool { return p.Steady }) {
			t.Fatalf("seed %d (%+v): not steady:\n%s", seed, w.cfg, w.dump())
		}
		converged++
		decisions += w.plans
		if w.launchesWhileFailed != 0 {
			t.Fatalf("seed %d: launches for a FAILED deployment", seed)
		}
	}
}

// pick is a random task in status, or nil.
func (w *world) pick(r *rand.Rand, status core.TaskStatus) *Task {
	var ts []*Task
	for _, t := range w.tasks {
		if t.LastStatus == status && t.DesiredStatus != core.TaskStopped {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	return ts[r.IntN(len(ts))]
}

// TestPropertyBrokenImages: a deployment whose tasks never start, with the
// circuit breaker on, always fails; with rollback it ends steady on the old
// revision, without it it never launches again.
func TestPropertyBrokenImages(t *testing.T) {
	for seed := range uint64(cases(t, 300, 50)) {
		r := rand.New(rand.NewPCG(seed, 5))
		cfg := randomConfig(r, false)
		cfg.DesiredCount = 1 + r.IntN(10)
		cfg.CircuitBreaker = true
		w := newWorld(t, cfg, "app:1")
		w.instances = []Instance{{ID: "i-1", Active: true}}
		w.run(100)
		w.images["app:2"] = image{startFails: r.IntN(2) == 0, unhealthy: true}
		w.healthChecked = true
		w.deploy("app:2")
		if !canProgress(cfg.DesiredCount, cfg) {
			continue
		}
		if !w.runFor(600, func(p Plan) bool { return w.history["ecs-svc/2"].RolloutState == RolloutFailed }) {
			t.Fatalf("seed %d (%+v): the broken deployment did not fail:\n%s", seed, cfg, w.dump())
		}
		if cfg.Rollback {
			w.run(300)
			if live := w.live(); live["app:1"] != cfg.DesiredCount || live["app:2"] != 0 {
				t.Fatalf("seed %d: after rollback %v", seed, live)
			}
			continue
		}
		w.runFor(100, func(Plan) bool { return false })
		if w.launchesWhileFailed != 0 {
			t.Fatalf("seed %d: %d launches for the FAILED deployment", seed, w.launchesWhileFailed)
		}
	}
}
