package reconcile

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Health statuses and stop codes, as ECS names them.
const (
	healthHealthy   = "HEALTHY"
	healthUnhealthy = "UNHEALTHY"

	stopCodeScheduler     = "ServiceSchedulerInitiated"
	stopCodeUser          = "UserInitiated"
	stopCodeEssentialExit = "EssentialContainerExited"
)

// Threshold is the deployment circuit breaker's threshold: how many failed
// tasks fail a deployment of a service with desired count desired. It is
// 0.5 × desired rounded up, at least 3 and at most 200 (ECS's
// ServiceDeploymentCircuitBreaker.threshold). A desired count of 0
// launches nothing, so its threshold is the minimum, 3.
func Threshold(desired int) int {
	return min(max((desired+1)/2, 3), 200)
}

// Threshold types of the circuit breaker's thresholdConfiguration.
const (
	ThresholdCount            = "COUNT"
	ThresholdBoundedPercent   = "BOUNDED_PERCENT"
	ThresholdUnboundedPercent = "UNBOUNDED_PERCENT"
)

// ThresholdOf is the threshold a thresholdConfiguration gives for a
// desired count: COUNT the value itself; BOUNDED_PERCENT value % of the
// desired count rounded up, between 3 and 200 (the default, with 50, is
// Threshold); UNBOUNDED_PERCENT the same without the bounds (at least 1).
// An empty kind is the default.
func ThresholdOf(kind string, value, desired int) int {
	pct := (value*desired + 99) / 100
	switch kind {
	case ThresholdCount:
		return max(value, 1)
	case ThresholdUnboundedPercent:
		return max(pct, 1)
	case ThresholdBoundedPercent:
		return min(max(pct, 3), 200)
	}
	return Threshold(desired)
}

// Decide is the service scheduler's decision for one service: given the
// snapshot in, which tasks to launch and stop, how the deployments move,
// which events to record, and whether the service is steady. It is pure and
// level triggered: the same snapshot gives the same plan, whatever the
// order of in.Tasks. See README.md for the rules and their ECS sources.
//
// The steps, in order:
//
//  1. Stopped tasks not yet counted that failed (never reached RUNNING and
//     were not stopped by the scheduler or a user, exited an essential
//     container, or failed health checks) go to Plan.CountFailed, feed the
//     launch backoff, and while the PRIMARY deployment is IN_PROGRESS and
//     the circuit breaker is on, add to its FailedTasks.
//  2. The circuit breaker fails an IN_PROGRESS PRIMARY deployment once
//     FailedTasks reaches Threshold, and rolls back if it can.
//  3. The REPLICA or DAEMON rollout decides stops and launches within
//     maximumPercent and minimumHealthyPercent.
//  4. The PRIMARY deployment completes once the service runs exactly its
//     desired tasks, all of it and all healthy; ACTIVE deployments with no
//     tasks left are dropped (INACTIVE); the service is steady once its
//     PRIMARY deployment is COMPLETED and nothing is left to do.
//
// Events that mark a change (completion, failure, rollback, throttling,
// steady state, stops) come once. The one that describes a condition, that
// the deployment configuration lets nothing move, comes with every decision
// that finds it: as ECS omits duplicate messages, the caller drops one equal
// to the newest it recorded in the last six hours.
func Decide(in Input) Plan {
	d := newDecider(in)
	if len(d.deps) == 0 {
		return Plan{ConsecutiveFailures: in.ConsecutiveFailures, NextLaunchAt: in.NextLaunchAt}
	}
	d.desired = in.Config.DesiredCount
	if in.Config.Daemon {
		d.eligible = eligibleInstances(in.Instances)
		d.desired = len(d.eligible)
	}
	d.desired = max(d.desired, 0)
	d.maxLive = d.desired * max(in.Config.MaximumPercent, 0) / 100
	d.minHealthy = (d.desired*max(in.Config.MinimumHealthyPercent, 0) + 99) / 100

	failedAt := d.countFailures()
	d.bo = d.updateBackoff(failedAt)
	d.circuitBreaker()
	d.alarms()
	if d.bo.failures >= throttleEventAt && in.ConsecutiveFailures < throttleEventAt {
		d.events = append(d.events, eventThrottled(in.Config.Name))
	}

	if in.Config.Daemon {
		d.daemon()
	} else {
		d.replica()
	}
	return d.finish()
}

// decider holds one decision's working state.
type decider struct {
	in    Input
	now   time.Time
	tasks []Task // in.Tasks by ID
	deps  []Deployment
	// changed names the deployments this decision changed; they stay in
	// the plan even without tasks, so the caller records their new state.
	changed map[string]bool

	desired, maxLive, minHealthy int
	eligible                     []string // DAEMON: instance IDs, sorted

	countFailed []string
	seenHealthy []string
	bo          backoff
	stopping    map[string]bool // tasks this plan stops
	stops       []Stop
	launches    []Launch
	// wanted is how many tasks the rollout means to launch (some of them
	// perhaps held by the backoff); unhealthyStops counts the unhealthy tasks
	// stopped.
	wanted, unhealthyStops int
	// outstanding says the rollout has work left that only the deployment
	// configuration keeps it from doing (for ECS's "unable to stop or
	// start tasks" event); recheck is the earliest time something changes
	// on its own.
	outstanding bool
	recheck     time.Time
	events      []string
}

func newDecider(in Input) *decider {
	d := &decider{
		in:       in,
		now:      in.Now,
		tasks:    sortedByID(in.Tasks),
		deps:     slices.Clone(in.Deployments),
		changed:  map[string]bool{},
		stopping: map[string]bool{},
	}
	for i := range d.deps {
		d.deps[i].Status = StatusActive
	}
	if len(d.deps) > 0 {
		d.deps[0].Status = StatusPrimary
	}
	return d
}

// sortedByID is a copy of tasks in ID order, so that plans do not depend
// on the order of the snapshot. (It sorts positions rather than the large
// Task values themselves.)
func sortedByID(tasks []Task) []Task {
	byID := func(a, b Task) int { return cmp.Compare(a.ID, b.ID) }
	if slices.IsSortedFunc(tasks, byID) {
		return slices.Clone(tasks)
	}
	order := make([]int, len(tasks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return byID(tasks[a], tasks[b]) })
	sorted := make([]Task, len(tasks))
	for i, j := range order {
		sorted[i] = tasks[j]
	}
	return sorted
}

// primary is the PRIMARY deployment.
func (d *decider) primary() *Deployment { return &d.deps[0] }

func (d *decider) touch(dep *Deployment) {
	dep.UpdatedAt = d.now
	d.changed[dep.ID] = true
}

// isLive says a task counts toward maximumPercent: it is neither stopped
// nor asked to stop.
func isLive(t Task) bool {
	return t.DesiredStatus != core.TaskStopped && !t.LastStatus.Stopping()
}

// left says a task still exists: its deployment cannot become INACTIVE.
func left(t Task) bool { return !t.LastStatus.Terminal() }

// isHealthy says a task counts toward minimumHealthyPercent.
func isHealthy(t Task) bool {
	return isLive(t) && t.LastStatus == core.TaskRunning && (!t.HealthChecked || t.Health == healthHealthy) &&
		(!t.LB || t.TargetHealth == TargetHealthy)
}

// Healthy says whether a task counts as healthy: RUNNING, not asked to
// stop, its container health and its load balancer targets healthy.
func Healthy(t Task) bool { return isHealthy(t) }

// failedChecks says why a task failed its health checks, as its
// stoppedReason: its containers' or its load balancer targets'; "" if it
// did not.
func failedChecks(t Task) string {
	switch {
	case t.HealthChecked && t.Health == healthUnhealthy:
		return ReasonUnhealthy
	case t.LB && t.TargetHealth == TargetUnhealthy:
		return ReasonELBUnhealthy(t.UnhealthyTargetGroup)
	}
	return ""
}

// graceEnd is when the health check grace period of a task ends.
func (d *decider) graceEnd(t Task) time.Time {
	return t.StartedAt.Add(d.in.Config.HealthCheckGracePeriod)
}

// unhealthy says why a task failed its health checks past its grace
// period and is to be stopped and replaced; "" if it is not.
func (d *decider) unhealthy(t Task) string {
	why := failedChecks(t)
	if !isLive(t) || t.LastStatus != core.TaskRunning || why == "" {
		return ""
	}
	if end := d.graceEnd(t); !t.StartedAt.IsZero() && d.now.Before(end) {
		d.wakeAt(end)
		return ""
	}
	return why
}

// isFailure says a stopped task failed: the launch backoff and the circuit
// breaker count it.
func isFailure(t Task) bool {
	switch {
	case t.StopCode == stopCodeUser:
		return false
	case t.ReachedRunning && failedChecks(t) != "":
		return true // failed health checks (the scheduler stopped it)
	case t.StopCode == stopCodeScheduler:
		return false
	case !t.ReachedRunning:
		return true
	}
	return t.StopCode == stopCodeEssentialExit
}

// countFailures counts the stopped tasks not yet counted that failed, and
// returns when they failed.
func (d *decider) countFailures() []time.Time {
	p := d.primary()
	var at []time.Time
	for _, t := range d.tasks {
		if !t.LastStatus.Terminal() || t.FailureCounted || !isFailure(t) {
			continue
		}
		d.countFailed = append(d.countFailed, t.ID)
		when := t.StoppedAt
		if when.IsZero() || when.After(d.now) {
			when = d.now
		}
		at = append(at, when)
		if d.in.Config.CircuitBreaker && t.DeploymentID == p.ID && p.RolloutState == RolloutInProgress {
			p.FailedTasks++
			d.touch(p)
		}
	}
	// resetOnHealthyTask: a task of the deployment that becomes healthy
	// resets its failure count to 0 (once per task). Healthy means as
	// completion judges it: healthy, and running for the stable period,
	// so that a task that starts and crashes at once resets nothing.
	if d.in.Config.CircuitBreaker && p.RolloutState == RolloutInProgress {
		for _, t := range d.tasks {
			if t.DeploymentID != p.ID || t.HealthSeen || t.LastStatus.Terminal() || t.DesiredStatus.Terminal() || !isHealthy(t) {
				continue
			}
			if stable := t.StartedAt.Add(d.in.Config.StablePeriod); d.now.Before(stable) {
				d.wakeAt(stable)
				continue
			}
			d.seenHealthy = append(d.seenHealthy, t.ID)
			if !d.in.Config.KeepFailureCount && p.FailedTasks > 0 {
				p.FailedTasks = 0
				d.touch(p)
			}
		}
	}
	return at
}

// circuitBreaker fails the PRIMARY deployment when its failed tasks reach
// the threshold, and rolls back to the last completed task definition when
// it can. A rollback deployment that fails is not rolled back again.
func (d *decider) circuitBreaker() {
	p := d.primary()
	if !d.in.Config.CircuitBreaker || p.RolloutState != RolloutInProgress || p.FailedTasks < d.threshold() {
		return
	}
	d.failPrimary(RolloutReasonFailed, eventDeploymentFailed(d.in.Config.Name, p.ID), d.in.Config.Rollback)
}

// alarms fails the PRIMARY deployment while one of the deployment's
// alarms (deploymentConfiguration.alarms) is in ALARM, and rolls back
// when alarms.rollback says so, as the circuit breaker does. The rollback
// itself is not failed by the alarm that caused it (nor by any other).
func (d *decider) alarms() {
	p := d.primary()
	if len(d.in.AlarmsFiring) == 0 || p.RolloutState != RolloutInProgress || p.isRollback() {
		return
	}
	d.failPrimary(RolloutReasonAlarms(d.in.AlarmsFiring), eventDeploymentAlarms(d.in.Config.Name, p.ID, d.in.AlarmsFiring),
		d.in.Config.AlarmRollback)
}

// failPrimary fails the IN_PROGRESS PRIMARY deployment with reason, and
// with rollback goes back to the last completed task definition when it
// can. A rollback deployment that fails is not rolled back again.
func (d *decider) failPrimary(reason, event string, rollback bool) {
	p := d.primary()
	name := d.in.Config.Name
	p.RolloutState, p.RolloutReason = RolloutFailed, reason
	d.touch(p)
	d.events = append(d.events, event)
	if !rollback || d.in.LastCompleted == "" || p.isRollback() || d.in.NewDeploymentID == "" {
		return // the FAILED deployment stays PRIMARY and launches nothing
	}
	id := d.in.NewDeploymentID
	back := Deployment{
		ID:             id,
		TaskDefinition: d.in.LastCompleted,
		Status:         StatusPrimary,
		RolloutState:   RolloutInProgress,
		RolloutReason:  RolloutReasonRollback(id),
		CreatedAt:      d.now,
		UpdatedAt:      d.now,
		RollbackFrom:   p.ID,
	}
	p.Status = StatusActive
	d.deps = append([]Deployment{back}, d.deps...)
	d.changed[id] = true
	d.events = append(d.events, eventRollingBack(name, id))
	// A new deployment is not throttled.
	d.bo = backoff{}
}

// threshold is the circuit breaker's threshold for this decision.
func (d *decider) threshold() int {
	c := d.in.Config
	return ThresholdOf(c.ThresholdType, c.ThresholdValue, d.desired)
}

// primaryFailed says the PRIMARY deployment launches nothing.
func (d *decider) primaryFailed() bool { return d.primary().RolloutState == RolloutFailed }

// stop asks for a live task to stop.
func (d *decider) stop(t Task, reason string) {
	if d.stopping[t.ID] {
		return
	}
	d.stopping[t.ID] = true
	d.stops = append(d.stops, Stop{TaskID: t.ID, Reason: reason})
}

// stopUnhealthy stops the tasks that failed their health checks; they are
// not healthy, so this never lowers the healthy count.
func (d *decider) stopUnhealthy() {
	for _, t := range d.tasks {
		if why := d.unhealthy(t); why != "" {
			d.stop(t, why)
			d.unhealthyStops++
		}
	}
}

// liveCount is how many tasks count toward maximumPercent after this
// plan's stops (before its launches).
func (d *decider) liveCount() int {
	n := 0
	for _, t := range d.tasks {
		if isLive(t) && !d.stopping[t.ID] {
			n++
		}
	}
	return n
}

// healthyCount is how many tasks are healthy after this plan's stops.
func (d *decider) healthyCount(keep func(Task) bool) int {
	n := 0
	for _, t := range d.tasks {
		if isHealthy(t) && !d.stopping[t.ID] && keep(t) {
			n++
		}
	}
	return n
}

// candidate is a healthy task to stop, with its reason.
type candidate struct {
	task   *Task
	reason string
}

// stopHealthy stops healthy tasks in order while minimumHealthyPercent
// allows, given the healthy tasks there are now, and says whether it
// stopped them all.
func (d *decider) stopHealthy(healthy int, cands []candidate) bool {
	for _, c := range cands {
		if healthy <= d.minHealthy {
			return false
		}
		d.stop(*c.task, c.reason)
		healthy--
	}
	return true
}

// launchGate says whether launches may go ahead now; when the backoff
// holds them it asks to be woken when it ends.
func (d *decider) launchGate(n int) bool {
	if n <= 0 || d.primaryFailed() {
		return false
	}
	d.wanted += n
	if d.bo.failures > 0 && d.now.Before(d.bo.next) {
		d.wakeAt(d.bo.next)
		return false
	}
	return true
}

func (d *decider) wakeAt(t time.Time) {
	if t.After(d.now) && (d.recheck.IsZero() || t.Before(d.recheck)) {
		d.recheck = t
	}
}

// inFlight says something is under way that will change the snapshot on
// its own: a task starting, becoming healthy, or stopping.
func (d *decider) inFlight() bool {
	for _, t := range d.tasks {
		if left(t) && (!isLive(t) || !isHealthy(t)) {
			return true
		}
	}
	return false
}

// settled says the service runs exactly what it should: every task left is
// a healthy PRIMARY task where it belongs, and there are desired of them.
func (d *decider) settled() bool {
	if len(d.stops) > 0 || len(d.launches) > 0 {
		return false
	}
	p := d.primary()
	onInstance := map[string]bool{}
	eligible := map[string]bool{}
	for _, id := range d.eligible {
		eligible[id] = true
	}
	n := 0
	for _, t := range d.tasks {
		if !left(t) {
			continue
		}
		if t.DeploymentID != p.ID || !isHealthy(t) || t.OnDrainingInstance {
			return false
		}
		if stable := t.StartedAt.Add(d.in.Config.StablePeriod); d.now.Before(stable) {
			d.wakeAt(stable) // a task that just started may yet crash
			return false
		}
		if d.in.Config.Daemon {
			if !eligible[t.InstanceID] || onInstance[t.InstanceID] {
				return false
			}
			onInstance[t.InstanceID] = true
		}
		n++
	}
	return n == d.desired
}

// finish completes deployments, drops drained ones, and writes the plan.
func (d *decider) finish() Plan {
	name := d.in.Config.Name
	if len(d.stops) > 0 {
		var ids []string
		for _, s := range d.stops {
			switch {
			case s.Reason == ReasonUnhealthy:
				d.events = append(d.events, eventUnhealthy(name, s.TaskID))
			case strings.HasPrefix(s.Reason, reasonELBPrefix):
				d.events = append(d.events, eventELBUnhealthy(name, s.TaskID, strings.TrimSuffix(strings.TrimPrefix(s.Reason, reasonELBPrefix+"(target-group "), ")")))
			}
			ids = append(ids, s.TaskID)
		}
		d.events = append(d.events, eventStopped(name, ids))
	}
	if d.outstanding && len(d.stops) == 0 && len(d.launches) == 0 && d.wanted == 0 && !d.primaryFailed() && !d.inFlight() {
		d.events = append(d.events, eventStuck(name))
	}

	plan := Plan{
		Launch:              d.launches,
		Stop:                d.stops,
		CountFailed:         d.countFailed,
		SeenHealthy:         d.seenHealthy,
		ConsecutiveFailures: d.bo.failures,
		NextLaunchAt:        d.bo.next,
		ReplacedUnhealthy:   min(d.unhealthyStops, d.launched()),
	}
	settled := d.settled()
	p := d.primary()
	if settled && p.RolloutState == RolloutInProgress && !d.in.Config.HoldCompletion {
		p.RolloutState, p.RolloutReason = RolloutCompleted, RolloutReasonCompleted(p.ID)
		d.touch(p)
		plan.Completed = p.TaskDefinition
		d.events = append(d.events, eventDeploymentCompleted(name, p.ID))
	}

	hasTasks := map[string]bool{}
	for _, t := range d.tasks {
		if left(t) {
			hasTasks[t.DeploymentID] = true
		}
	}
	plan.Deployments = append(plan.Deployments, *p)
	for _, dep := range d.deps[1:] {
		if hasTasks[dep.ID] || d.changed[dep.ID] {
			plan.Deployments = append(plan.Deployments, dep)
		}
	}

	plan.Steady = settled && p.RolloutState == RolloutCompleted && len(plan.Deployments) == 1 && !d.in.Config.HoldCompletion
	if plan.Steady && !d.in.Steady {
		d.events = append(d.events, eventSteady(name))
	}
	plan.Events = d.events
	plan.Recheck = d.recheck
	return plan
}

func (d *decider) launched() int {
	n := 0
	for _, l := range d.launches {
		n += l.Count
	}
	return n
}

// isRollback says a rollback created the deployment.
func (d *Deployment) isRollback() bool { return d.RollbackFrom != "" || d.Rollback }
