// Package controller runs the control plane's loops: it reads state from
// the store (tasks and container instances from the cluster view, which
// the store feeds), asks the pure deciders what to do, and carries the
// decision out: what becomes of tasks through the task domain
// (internal/tasks, behind the Tasks interface), what becomes of services
// by committing their records. The service controller keeps every service at its desired count
// and moves its deployments. Loops are level triggered: each pass
// re-derives what to do from the state, so a restart in the middle of
// anything goes on where it stopped.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/tasks"
)

// Tasks is the task domain as the service controller uses it: it
// launches and stops a service's tasks and records what the controller
// learned of them.
type Tasks interface {
	// LaunchService places and creates tasks of a service deployment.
	LaunchService(ctx context.Context, l tasks.ServiceLaunch) ([]state.Task, scheduler.Result, error)
	// StopServiceTask stops a task and says whether it is DEACTIVATING
	// (a load balancer target to drain before its agent stops it).
	StopServiceTask(ctx context.Context, cluster, id, reason string) (deactivating bool, err error)
	// FinishDeactivation has a drained DEACTIVATING task stopped.
	FinishDeactivation(ctx context.Context, cluster, id string) error
	// MarkCounted records that the circuit breaker counted a task.
	MarkCounted(ctx context.Context, cluster, id string) error
	// MarkHealthSeen records that the circuit breaker saw a task healthy.
	MarkHealthSeen(ctx context.Context, cluster, id string) error
	// SetTargets records a task's registered targets;
	// MarkTargetsReleased that they were deregistered.
	SetTargets(ctx context.Context, cluster, id string, refs []state.TargetRef) error
	MarkTargetsReleased(ctx context.Context, cluster, id string) error
}

var _ Tasks = (*tasks.Manager)(nil)

// Services is the service controller.
type Services struct {
	// Store holds the services; the controller writes their records and
	// deployment history. It must be View's store (View.Store()), so
	// that its next pass reads its own writes.
	Store store.Store
	Tasks Tasks
	// View is where the controller reads tasks and container instances.
	View   *clusterview.View
	Clock  core.Clock
	IDs    core.IDs
	Logger *slog.Logger
	// Targets is the load balancer services with loadBalancers use (nil:
	// none; their tasks are then never registered).
	Targets Targets
	// Agents tells which agents are connected (DAEMON placement).
	Connected func(instanceID string) bool
	// Interval is how often every service is looked at even without a
	// change (default 2 s).
	Interval time.Duration
	// StablePeriod is how long a deployment's tasks must run before it
	// completes (default 5 s; see reconcile.Config).
	StablePeriod time.Duration
	// Traffic moves traffic between a service's target groups in
	// progressive deployments (nil: Targets, if it is a Traffic).
	Traffic Traffic
	// Alarms tells which deployment alarms (deploymentConfiguration.alarms)
	// are in ALARM; nil: the alarms are not watched.
	Alarms AlarmStates
	// Minute is how long one minute of a deployment configuration (bake
	// times, hook timeouts) lasts; default a minute. Tests shorten it.
	Minute time.Duration
	// Scope makes the ARNs lifecycle hooks are told of.
	Scope arn.Scope
	// HookClient calls URL lifecycle hooks (default: http.DefaultClient).
	HookClient *http.Client
	// Observe, when set, is told how long each pass over the services
	// that changed took (the operators' /metrics).
	Observe func(time.Duration)

	hookMu  sync.Mutex
	replies map[string]map[string]deploy.Reply // by green deployment, hook run
	details map[string]shape.Document          // hookDetails a hook returned, by green/run

	mu    sync.Mutex
	dirty map[serviceRef]bool
	wake  chan struct{}
}

type serviceRef struct{ cluster, name string }

func (c *Services) defaults() {
	if c.Clock == nil {
		c.Clock = core.SystemClock{}
	}
	if c.IDs == nil {
		c.IDs = core.RandomIDs{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.StablePeriod == 0 {
		c.StablePeriod = 5 * time.Second
	}
	if c.Connected == nil {
		c.Connected = func(string) bool { return true }
	}
	if c.HookClient == nil {
		c.HookClient = http.DefaultClient
	}
	if c.Scope.Region == "" {
		c.Scope.Region = "us-east-1"
	}
	if c.Scope.AccountID == "" {
		c.Scope.AccountID = "000000000000"
	}
	c.replies = map[string]map[string]deploy.Reply{}
	c.details = map[string]shape.Document{}
	c.dirty = map[serviceRef]bool{}
	c.wake = make(chan struct{}, 1)
}

// Run runs the controller until ctx ends.
func (c *Services) Run(ctx context.Context) error {
	c.defaults()
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx, state.AllServicesPrefix()) })
	wg.Go(func() { c.watch(ctx, state.AllTasksPrefix()) })
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	c.markAll(ctx)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			c.markAll(ctx)
		case <-c.wake:
		}
		c.mu.Lock()
		work := make([]serviceRef, 0, len(c.dirty))
		for r := range c.dirty {
			work = append(work, r)
		}
		clear(c.dirty)
		c.mu.Unlock()
		start := time.Now()
		c.reconcileAll(ctx, work)
		if c.Observe != nil {
			c.Observe(time.Since(start))
		}
	}
}

// reconcileAll reconciles the services in work, one after the other.
func (c *Services) reconcileAll(ctx context.Context, work []serviceRef) {
	for _, r := range work {
		if ctx.Err() != nil {
			return
		}
		if err := c.reconcile(ctx, r); err != nil && ctx.Err() == nil {
			if errors.Is(err, store.ErrConflict) {
				c.mark(r) // someone wrote meanwhile: look again
				continue
			}
			c.Logger.Warn("service reconcile failed", "cluster", r.cluster, "service", r.name, "err", err)
		}
	}
}

// markAt marks r again once the clock reaches at: when the decider said
// something changes on its own (a backoff ends, a grace period runs out).
func (c *Services) markAt(r serviceRef, at time.Time) {
	core.AfterFunc(c.Clock, at.Sub(c.Clock.Now()), func() { c.mark(r) })
}

func (c *Services) mark(r serviceRef) {
	c.mu.Lock()
	c.dirty[r] = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// markAll marks every service that is not INACTIVE.
func (c *Services) markAll(ctx context.Context) {
	kvs, _, err := c.Store.List(ctx, state.AllServicesPrefix(), store.ListOptions{})
	if err != nil {
		return
	}
	for _, kv := range kvs {
		cl, name, ok := state.ParseServiceKey(kv.Key)
		if !ok {
			continue
		}
		// Only the service's own status is read of the record.
		var rec struct {
			Service struct {
				Status string `json:"status"`
			} `json:"service"`
		}
		if err := jsonUnmarshal(kv.Value, &rec); err == nil && rec.Service.Status != state.ServiceInactive {
			c.mark(serviceRef{cl, name})
		}
	}
}

// watch marks the services whose records or tasks change.
func (c *Services) watch(ctx context.Context, prefix string) {
	for ctx.Err() == nil {
		rev, err := c.Store.Revision(ctx)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		w, err := c.Store.Watch(ctx, prefix, rev)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.Events() {
			if ev.Type != store.EventPut {
				continue
			}
			if prefix == state.AllServicesPrefix() {
				if cl, name, ok := state.ParseServiceKey(ev.KV.Key); ok {
					c.mark(serviceRef{cl, name})
				}
				continue
			}
			var t struct {
				Cluster     string `json:"cluster"`
				ServiceName string `json:"serviceName"`
			}
			if err := jsonUnmarshal(ev.KV.Value, &t); err == nil && t.ServiceName != "" {
				c.mark(serviceRef{t.Cluster, t.ServiceName})
			}
		}
		c.markAll(ctx) // the watch ended (compacted or closed): catch up
	}
}

// reconcile makes one decision for one service and carries it out.
func (c *Services) reconcile(ctx context.Context, r serviceRef) error {
	it, err := state.Get[state.Service](ctx, c.Store, state.ServiceKey(r.cluster, r.name))
	if state.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	svc := it.Value
	if svc.Service.Status == state.ServiceInactive {
		return nil
	}
	// The view holds at least what the store held when the service was
	// read, as listing the tasks after reading the service did.
	if err := c.View.Sync(ctx); err != nil {
		return err
	}
	now := c.Clock.Now()
	// Stopped tasks matter only until the circuit breaker has looked at
	// them; those it did not count stay out after a while.
	mine := c.View.ServiceTasks(r.cluster, r.name, now.Add(-10*time.Minute))
	slices.SortFunc(mine, func(a, b state.Task) int { return strings.Compare(a.ID, b.ID) })
	targets, events, draining := c.targetPass(ctx, svc, mine)
	if draining {
		core.AfterFunc(c.Clock, time.Second, func() { c.mark(r) })
	}
	in := c.input(svc, mine, c.instances(r.cluster, svc, mine), now)
	in.AlarmsFiring, in.Config.AlarmRollback = c.alarmsFiring(ctx, svc)
	if len(svc.Service.LoadBalancers) > 0 && c.Targets != nil {
		for i := range in.Tasks {
			t := &in.Tasks[i]
			t.LB = true
			if h, ok := targets[t.ID]; ok {
				t.TargetHealth, t.UnhealthyTargetGroup = h.health, h.targetGroup
			} else if reconcile.FailedELBChecks(mine[i].Task.StoppedReason) {
				t.TargetHealth = reconcile.TargetUnhealthy
			}
		}
	}
	if svc.Rollout != nil && svc.Service.Status != state.ServiceActive {
		// A service being deleted drops its progressive deployment (the
		// API has stopped it in the history); its tasks all stop.
		svc.Rollout = nil
	}
	if svc.Rollout != nil {
		return c.progressive(ctx, r, it.ModRevision, svc, mine, in, events, now)
	}
	plan := reconcile.Decide(in)
	byID := map[string]reconcile.Deployment{}
	known := map[string]bool{}
	for _, d := range svc.Service.Deployments {
		known[d.Id] = true
	}
	created := false
	for _, d := range plan.Deployments {
		byID[d.ID] = d
		created = created || !known[d.ID]
	}
	if created {
		// A new deployment (a rollback) is recorded before any task is
		// launched for it, so no task ever names a deployment the service
		// record does not hold.
		defer c.mark(r)
	}
	evs, err := c.carryOut(ctx, r, svc, mine, plan, byID, !created)
	if err != nil {
		return err
	}
	events = append(events, evs...)
	events = append(plan.Events, events...)
	if !plan.Recheck.IsZero() {
		c.markAt(r, plan.Recheck)
	}
	return c.commit(ctx, r, it.ModRevision, svc, plan, in, events, now)
}

// carryOut stops, counts and (if launch) launches what plan says, and
// returns the events to record.
func (c *Services) carryOut(ctx context.Context, r serviceRef, svc state.Service, mine []state.Task, plan reconcile.Plan,
	byID map[string]reconcile.Deployment, launch bool) ([]string, error) {
	var events []string
	byTask := make(map[string]*state.Task, len(mine))
	for i := range mine {
		byTask[mine[i].ID] = &mine[i]
	}
	for _, s := range plan.Stop {
		t := byTask[s.TaskID]
		if t == nil {
			t = &state.Task{ID: s.TaskID}
		}
		evs, err := c.stopTask(ctx, svc, t, s.Reason)
		if err != nil {
			c.Logger.Warn("stopping service task", "service", r.name, "task", s.TaskID, "err", err)
		}
		events = append(events, evs...)
	}
	for _, id := range plan.CountFailed {
		if err := c.Tasks.MarkCounted(ctx, r.cluster, id); err != nil {
			return events, err
		}
	}
	for _, id := range plan.SeenHealthy {
		if err := c.Tasks.MarkHealthSeen(ctx, r.cluster, id); err != nil {
			return events, err
		}
	}
	if !launch {
		return events, nil
	}
	for _, l := range plan.Launch {
		d, ok := byID[l.DeploymentID]
		if !ok || l.Count <= 0 {
			continue
		}
		started, res, err := c.Tasks.LaunchService(ctx, tasks.ServiceLaunch{
			Service: svc, DeploymentID: l.DeploymentID, TaskDefinition: d.TaskDefinition, Count: l.Count, InstanceID: l.InstanceID,
		})
		if err != nil {
			events = append(events, fmt.Sprintf("(service %s) failed to launch a task: %v", r.name, err))
			continue
		}
		if len(started) > 0 {
			ids := make([]string, len(started))
			for i, t := range started {
				ids[i] = t.ID
			}
			events = append(events, reconcile.StartedMessage(r.name, ids, plan.ReplacedUnhealthy))
		}
		if msg := res.EventMessage(r.name); msg != "" {
			events = append(events, msg)
		}
	}
	return events, nil
}

// instances returns the container instances the decision needs: every one
// of the cluster for a DAEMON service, otherwise those its tasks are on
// (whether they are DRAINING), in their own cluster: a FARGATE task's host
// of the Fargate pool may be in another.
func (c *Services) instances(cluster string, svc state.Service, tasks []state.Task) []state.ContainerInstance {
	var out []state.ContainerInstance
	if svc.Service.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon {
		for i := range c.View.Instances(cluster, "") {
			out = append(out, i.Record)
		}
		return out
	}
	seen := map[string]bool{}
	for _, t := range tasks {
		if t.InstanceID == "" || seen[t.InstanceID] {
			continue
		}
		seen[t.InstanceID] = true
		if i, ok := c.View.Instance(t.InstanceCluster(), t.InstanceID); ok {
			out = append(out, i.Record)
		}
	}
	return out
}

// commit writes the decision into the service record.
func (c *Services) commit(ctx context.Context, r serviceRef, rev int64, svc state.Service, plan reconcile.Plan, in reconcile.Input, events []string, now time.Time) error {
	before, _ := state.Encode(svc)
	old := map[string]ecstypes.Deployment{}
	for _, d := range svc.Service.Deployments {
		old[d.Id] = d
	}
	var deps []ecstypes.Deployment
	var logs []logLine // logged once the decision is stored
	for _, d := range plan.Deployments {
		ed, ok := old[d.ID]
		if l, logged := deploymentChange(r, d, !ok, string(ed.RolloutState)); logged {
			logs = append(logs, l)
		}
		if !ok { // a deployment the plan created: a rollback
			ed = ecstypes.Deployment{Id: d.ID, CreatedAt: shape.NewTimestamp(now), LaunchType: svc.Service.LaunchType,
				NetworkConfiguration: svc.Service.NetworkConfiguration, CapacityProviderStrategy: svc.Service.CapacityProviderStrategy}
			svc.DeploymentCount++
			c.recordRollback(ctx, r, svc, d, plan.Deployments, now)
		}
		changed := ed.Status != d.Status || string(ed.RolloutState) != d.RolloutState || int(ed.FailedTasks) != d.FailedTasks
		ed.Status, ed.TaskDefinition = d.Status, d.TaskDefinition
		ed.RolloutState = ecstypes.DeploymentRolloutState(d.RolloutState)
		ed.RolloutStateReason = d.RolloutReason
		ed.FailedTasks = int32(d.FailedTasks)
		if changed {
			ed.UpdatedAt = shape.NewTimestamp(now)
		}
		deps = append(deps, ed)
		if changed && ok {
			c.recordOutcome(ctx, r, svc, d, now)
		}
	}
	for i := range deps {
		deps[i].DesiredCount = 0
		if deps[i].Status == reconcile.StatusPrimary {
			deps[i].DesiredCount = svc.Service.DesiredCount
		}
	}
	if in.Config.Daemon && svc.Service.Status == state.ServiceActive {
		// A daemon's desired count is the number of instances it belongs on.
		n := reconcile.DaemonDesiredCount(in.Instances)
		if int32(n) != svc.Service.DesiredCount {
			logs = append(logs, logLine{"service desired count changed", []any{"cluster", r.cluster, "service", r.name,
				"from", svc.Service.DesiredCount, "to", n}})
		}
		svc.Service.DesiredCount = int32(n)
		for i := range deps {
			if deps[i].Status == reconcile.StatusPrimary {
				deps[i].DesiredCount = int32(n)
			}
		}
	}
	svc.Service.Deployments = deps
	if len(deps) > 0 {
		svc.Service.TaskDefinition = deps[0].TaskDefinition
	}
	if plan.Completed != "" {
		svc.LastCompleted = plan.Completed
	}
	svc.Steady = plan.Steady
	svc.ConsecutiveFailures, svc.NextLaunchAt = plan.ConsecutiveFailures, plan.NextLaunchAt
	svc.Service.Events = addEvents(svc.Service.Events, events, now, c.IDs)
	if svc.Service.Status == state.ServiceDraining && !hasLiveTasks(in.Tasks) && len(plan.Launch) == 0 && len(plan.Stop) == 0 {
		svc.Service.Status = state.ServiceInactive
		svc.Service.Deployments = nil
	}
	after, _ := state.Encode(svc)
	if string(before) == string(after) {
		return nil
	}
	b, err := state.Encode(svc)
	if err != nil {
		return err
	}
	key := state.ServiceKey(r.cluster, r.name)
	_, err = c.Store.Txn(ctx, []store.Cond{{Key: key, ModRevision: rev}}, []store.Op{store.Put(key, b)})
	if err == nil {
		logAll(c.Logger, logs)
	}
	return err
}

func hasLiveTasks(ts []reconcile.Task) bool {
	return slices.ContainsFunc(ts, func(t reconcile.Task) bool { return !t.LastStatus.Terminal() })
}

// addEvents prepends new events (given oldest first), skipping one that
// repeats the newest event within 5 minutes, and keeps the newest 100.
func addEvents(have []ecstypes.ServiceEvent, msgs []string, now time.Time, ids core.IDs) []ecstypes.ServiceEvent {
	for _, m := range msgs {
		if len(have) > 0 && have[0].Message == m && now.Sub(have[0].CreatedAt.Time()) < 5*time.Minute {
			continue
		}
		id := ids.NewID()
		ev := ecstypes.ServiceEvent{Id: id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:], CreatedAt: shape.NewTimestamp(now), Message: m}
		have = append([]ecstypes.ServiceEvent{ev}, have...)
	}
	if len(have) > 100 {
		have = have[:100]
	}
	return have
}

// AlarmStates reads CloudWatch alarms' states.
type AlarmStates interface {
	// InAlarm returns those of the named alarms that are in ALARM.
	InAlarm(ctx context.Context, names []string) ([]string, error)
}

// alarmsFiring returns the service's deployment alarms now in ALARM (when
// deploymentConfiguration.alarms is enabled) and whether they roll back.
func (c *Services) alarmsFiring(ctx context.Context, svc state.Service) ([]string, bool) {
	dc := svc.Service.DeploymentConfiguration
	if c.Alarms == nil || dc == nil || dc.Alarms == nil || !dc.Alarms.Enable || len(dc.Alarms.AlarmNames) == 0 {
		return nil, false
	}
	firing, err := c.Alarms.InAlarm(ctx, dc.Alarms.AlarmNames)
	if err != nil {
		c.Logger.Warn("reading the deployment alarms", "cluster", svc.Cluster, "service", svc.Name, "err", err)
		return nil, false
	}
	return firing, dc.Alarms.Rollback
}
