package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// A small fake world for whole scenarios: the simulator plays the service
// controller (it builds the snapshot, calls Decide, carries the plan out)
// and the agents (launched tasks go PENDING, then RUNNING, then HEALTHY;
// a stop takes one step).

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// image is how tasks of one task definition behave.
type image struct {
	startFails bool // stop before RUNNING (bad image, pull failure)
	unhealthy  bool // reach RUNNING, then fail their health checks
}

type world struct {
	t    testing.TB
	now  time.Time
	step time.Duration

	cfg           Config
	deps          []Deployment
	lastCompleted string
	tasks         []*Task
	instances     []Instance
	images        map[string]image  // by task definition
	depTD         map[string]string // deployment ID -> task definition
	history       map[string]Deployment
	consecutive   int
	nextLaunch    time.Time
	steady        bool
	events        []string
	lastEventAt   time.Time
	healthChecked bool
	// startSteps: steps from launch to RUNNING; healthSteps: from RUNNING
	// to a health status.
	startSteps, healthSteps int

	age      map[string]int
	seen     map[string]bool // stopped tasks the controller no longer lists
	nTask    int
	nDep     int
	placeRR  int
	launched int // tasks launched, all told
	// launchesWhileFailed counts launches for a FAILED PRIMARY deployment.
	launchesWhileFailed int
	plans               int
}

func newWorld(t testing.TB, cfg Config, td string) *world {
	w := &world{
		t: t, now: t0, step: time.Second, cfg: cfg,
		images: map[string]image{}, depTD: map[string]string{}, history: map[string]Deployment{},
		age: map[string]int{}, seen: map[string]bool{},
		startSteps: 2, healthSteps: 1,
	}
	w.deploy(td)
	return w
}

// deploy starts a new deployment of td, as UpdateService does.
func (w *world) deploy(td string) string {
	w.nDep++
	id := fmt.Sprintf("ecs-svc/%d", w.nDep)
	for i := range w.deps {
		w.deps[i].Status = StatusActive
	}
	dep := Deployment{ID: id, TaskDefinition: td, Status: StatusPrimary, RolloutState: RolloutInProgress,
		RolloutReason: RolloutReasonInProgress(id), CreatedAt: w.now, UpdatedAt: w.now}
	w.deps = append([]Deployment{dep}, w.deps...)
	w.depTD[id] = td
	w.history[id] = dep
	return id
}

func (w *world) instance(id string) *Instance {
	for i := range w.instances {
		if w.instances[i].ID == id {
			return &w.instances[i]
		}
	}
	return nil
}

func (w *world) input() Input {
	in := Input{
		Now: w.now, Config: w.cfg, Deployments: slices.Clone(w.deps), LastCompleted: w.lastCompleted,
		Instances: slices.Clone(w.instances), ConsecutiveFailures: w.consecutive, NextLaunchAt: w.nextLaunch,
		Steady: w.steady, NewDeploymentID: fmt.Sprintf("ecs-svc/%d", w.nDep+1),
	}
	for _, t := range w.tasks {
		if t.LastStatus == core.TaskStopped && (t.FailureCounted || w.seen[t.ID]) {
			continue
		}
		c := *t
		if i := w.instance(t.InstanceID); i != nil {
			c.OnDrainingInstance = i.Draining
		}
		in.Tasks = append(in.Tasks, c)
	}
	return in
}

func (w *world) task(id string) *Task {
	for _, t := range w.tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// decide runs one decision, checks it and carries it out.
func (w *world) decide() Plan {
	w.t.Helper()
	in := w.input()
	p := Decide(in)
	w.plans++
	checkPlan(w.t, in, p)
	if again := Decide(in); !plansEqual(p, again) {
		w.t.Fatalf("same snapshot, different plans:\n%+v\n%+v", p, again)
	}
	w.apply(in, p)
	return p
}

func (w *world) apply(in Input, p Plan) {
	counted := map[string]bool{}
	for _, id := range p.CountFailed {
		counted[id] = true
		w.task(id).FailureCounted = true
	}
	for _, t := range in.Tasks {
		if t.LastStatus == core.TaskStopped && !counted[t.ID] {
			w.seen[t.ID] = true
		}
	}
	kept := map[string]bool{}
	for _, dep := range p.Deployments {
		kept[dep.ID] = true
		w.history[dep.ID] = dep
		if _, ok := w.depTD[dep.ID]; !ok {
			w.depTD[dep.ID] = dep.TaskDefinition
			w.nDep++
		}
	}
	for _, dep := range w.deps {
		if !kept[dep.ID] {
			h := w.history[dep.ID]
			h.Status = StatusInactive
			w.history[dep.ID] = h
		}
	}
	w.deps = p.Deployments
	if p.Completed != "" {
		w.lastCompleted = p.Completed
	}
	for _, e := range p.Events {
		// The controller drops a message that repeats the newest one
		// recorded in the last six hours, as ECS omits duplicates.
		if n := len(w.events); n > 0 && w.events[n-1] == e && w.now.Sub(w.lastEventAt) < 6*time.Hour {
			continue
		}
		w.events, w.lastEventAt = append(w.events, e), w.now
	}
	w.steady = p.Steady
	w.consecutive, w.nextLaunch = p.ConsecutiveFailures, p.NextLaunchAt
	for _, s := range p.Stop {
		w.task(s.TaskID).DesiredStatus = core.TaskStopped
	}
	failed := len(p.Deployments) > 0 && p.Deployments[0].RolloutState == RolloutFailed
	for _, l := range p.Launch {
		if failed {
			w.launchesWhileFailed += l.Count
		}
		for range l.Count {
			w.nTask++
			w.launched++
			t := &Task{ID: fmt.Sprintf("t%04d", w.nTask), DeploymentID: l.DeploymentID, InstanceID: l.InstanceID,
				LastStatus: core.TaskPending, DesiredStatus: core.TaskRunning, Health: "UNKNOWN", HealthChecked: w.healthChecked}
			if t.InstanceID == "" {
				t.InstanceID = w.place()
			}
			w.tasks = append(w.tasks, t)
		}
	}
}

// place picks an instance for a REPLICA task, round robin over the
// instances that take tasks.
func (w *world) place() string {
	var ok []string
	for _, i := range w.instances {
		if i.Active && !i.Draining {
			ok = append(ok, i.ID)
		}
	}
	if len(ok) == 0 {
		return ""
	}
	w.placeRR++
	return ok[w.placeRR%len(ok)]
}

// advance moves the world one step on.
func (w *world) advance() {
	w.now = w.now.Add(w.step)
	for _, t := range w.tasks {
		if t.LastStatus == core.TaskStopped {
			continue
		}
		w.age[t.ID]++
		img := w.images[w.depTD[t.DeploymentID]]
		switch {
		case t.DesiredStatus == core.TaskStopped:
			w.stopTask(t, stopCodeScheduler)
		case t.LastStatus == core.TaskPending && img.startFails:
			t.DesiredStatus = core.TaskStopped
			w.stopTask(t, "TaskFailedToStart")
		case t.LastStatus == core.TaskPending && w.age[t.ID] >= w.startSteps:
			t.LastStatus, t.StartedAt, t.ReachedRunning = core.TaskRunning, w.now, true
			w.age[t.ID] = 0
		case t.LastStatus == core.TaskRunning && t.HealthChecked && t.Health == "UNKNOWN" && w.age[t.ID] >= w.healthSteps:
			t.Health = healthHealthy
			if img.unhealthy {
				t.Health = healthUnhealthy
			}
		}
	}
}

func (w *world) stopTask(t *Task, code string) {
	t.LastStatus, t.StoppedAt = core.TaskStopped, w.now
	if t.StopCode == "" {
		t.StopCode = code
	}
}

// run decides and advances until the service is steady; it fails the test
// after max steps.
func (w *world) run(max int) {
	w.t.Helper()
	if !w.runFor(max, func(p Plan) bool { return p.Steady }) {
		w.t.Fatalf("not steady after %d steps:\n%s", max, w.dump())
	}
}

// runFor decides and advances until done says so, at most max steps.
func (w *world) runFor(max int, done func(Plan) bool) bool {
	w.t.Helper()
	for range max {
		if done(w.decide()) {
			return true
		}
		w.advance()
	}
	return false
}

// live lists the tasks that are not stopped, by task definition.
func (w *world) live() map[string]int {
	m := map[string]int{}
	for _, t := range w.tasks {
		if isLive(*t) {
			m[w.depTD[t.DeploymentID]]++
		}
	}
	return m
}

func (w *world) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "now %s, consecutive %d, next %s\n", w.now.Sub(t0), w.consecutive, w.nextLaunch.Sub(t0))
	for _, d := range w.deps {
		fmt.Fprintf(&b, "  %+v\n", d)
	}
	for _, t := range w.tasks {
		if t.LastStatus != core.TaskStopped {
			fmt.Fprintf(&b, "  task %s %s %s/%s %s on %s\n", t.ID, t.DeploymentID, t.LastStatus, t.DesiredStatus, t.Health, t.InstanceID)
		}
	}
	for _, e := range w.events {
		fmt.Fprintf(&b, "  event %s\n", e)
	}
	return b.String()
}

func (w *world) hasEvent(e string) bool { return slices.Contains(w.events, e) }

func plansEqual(a, b Plan) bool { return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b) }

// checkPlan checks what every plan must respect, whatever the snapshot.
func checkPlan(t testing.TB, in Input, p Plan) {
	t.Helper()
	if len(in.Deployments) == 0 {
		return
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\ninput: %+v\nplan: %+v", fmt.Sprintf(format, args...), in, p)
	}
	desired := in.Config.DesiredCount
	eligible := map[string]bool{}
	if in.Config.Daemon {
		for _, id := range eligibleInstances(in.Instances) {
			eligible[id] = true
		}
		desired = len(eligible)
	}
	desired = max(desired, 0)
	maxLive := desired * in.Config.MaximumPercent / 100
	minHealthy := (desired*in.Config.MinimumHealthyPercent + 99) / 100

	byID := map[string]Task{}
	for _, t := range in.Tasks {
		byID[t.ID] = t
	}
	stopped := map[string]bool{}
	healthyStopped := false
	for _, s := range p.Stop {
		t, ok := byID[s.TaskID]
		if !ok || !isLive(t) || stopped[s.TaskID] {
			fail("stop of %s, which is not a live task, or twice", s.TaskID)
		}
		stopped[s.TaskID] = true
		exempt := in.Config.Daemon && !eligible[t.InstanceID]
		if isHealthy(t) && !exempt {
			healthyStopped = true
		}
	}
	liveBefore, liveAfter, healthyAfter := 0, 0, 0
	for _, t := range in.Tasks {
		if isLive(t) {
			liveBefore++
			if !stopped[t.ID] {
				liveAfter++
				if isHealthy(t) && (!in.Config.Daemon || eligible[t.InstanceID]) {
					healthyAfter++
				}
			}
		}
	}
	launched := 0
	for _, l := range p.Launch {
		if l.Count <= 0 {
			fail("launch of %d tasks", l.Count)
		}
		if in.Config.Daemon && (l.Count != 1 || !eligible[l.InstanceID]) {
			fail("daemon launch %+v", l)
		}
		if l.DeploymentID != p.Deployments[0].ID {
			fail("launch for %s, not the PRIMARY deployment", l.DeploymentID)
		}
		launched += l.Count
	}
	liveAfter += launched
	if liveAfter > max(maxLive, liveBefore) {
		fail("%d live tasks after the plan, over the maximum %d (there were %d)", liveAfter, maxLive, liveBefore)
	}
	if healthyStopped && healthyAfter < minHealthy {
		fail("a healthy task stopped leaving %d healthy, under the minimum %d", healthyAfter, minHealthy)
	}
	if launched > 0 && p.Deployments[0].RolloutState == RolloutFailed {
		fail("launch for a FAILED deployment")
	}
	if launched > 0 && p.ConsecutiveFailures > 0 && in.Now.Before(p.NextLaunchAt) {
		fail("launch during the backoff (until %s)", p.NextLaunchAt)
	}
	for i, d := range p.Deployments {
		if (i == 0) != (d.Status == StatusPrimary) {
			fail("deployment %d has status %s", i, d.Status)
		}
	}
}
