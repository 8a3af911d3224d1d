package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Progressive deployments (BLUE_GREEN, LINEAR, CANARY). While a service
// has a Rollout, the green deployment's tasks are kept at the desired
// count by the decider (reconcile.Decide on green alone, its completion
// held), blue's tasks are left running, and the pure state machine
// (internal/deploy) says where traffic goes and when blue goes. Traffic
// moves by rewriting the weights of the forward actions of the service's
// production and test listener rules between its target group and the
// alternate one, and always before tasks stop: a rollback moves traffic
// back to blue, then scales green in.

// Traffic reads and rewrites the forward action of listener rules (the
// records `aws elbv2 describe-rules` shows).
type Traffic interface {
	// RuleForward returns the target groups and weights a rule forwards to.
	RuleForward(ctx context.Context, ruleARN string) ([]elbv2types.TargetGroupTuple, error)
	// SetRuleForward makes the rule forward to groups with their weights.
	SetRuleForward(ctx context.Context, ruleARN string, groups []elbv2types.TargetGroupTuple) error
}

// traffic is the Traffic to use: c.Traffic, or c.Targets if it is one.
func (c *Services) traffic() Traffic {
	if c.Traffic != nil {
		return c.Traffic
	}
	if t, ok := c.Targets.(Traffic); ok {
		return t
	}
	return nil
}

// minute is how long one of the deployment configuration's minutes lasts.
func (c *Services) minute() time.Duration {
	if c.Minute > 0 {
		return c.Minute
	}
	return time.Minute
}

// RolloutConfig turns a service's deployment configuration into the state
// machine's, with minutes of length minute.
func RolloutConfig(svc ecstypes.Service, minute time.Duration) deploy.Config {
	cfg := deploy.Config{StepBake: deploy.DefaultStepBake, CanaryBake: deploy.DefaultCanaryBake}
	scale := func(d time.Duration) time.Duration { return d / time.Minute * minute }
	cfg.StepBake, cfg.CanaryBake = scale(cfg.StepBake), scale(cfg.CanaryBake)
	dc := svc.DeploymentConfiguration
	if dc == nil {
		return cfg
	}
	cfg.Strategy = string(dc.Strategy)
	if dc.BakeTimeInMinutes != nil {
		cfg.Bake = time.Duration(*dc.BakeTimeInMinutes) * minute
	}
	if l := dc.LinearConfiguration; l != nil {
		if l.StepPercent != nil {
			cfg.StepPercent = *l.StepPercent
		}
		if l.StepBakeTimeInMinutes != nil {
			cfg.StepBake = time.Duration(*l.StepBakeTimeInMinutes) * minute
		}
	}
	if k := dc.CanaryConfiguration; k != nil {
		if k.CanaryPercent != nil {
			cfg.CanaryPercent = *k.CanaryPercent
		}
		if k.CanaryBakeTimeInMinutes != nil {
			cfg.CanaryBake = time.Duration(*k.CanaryBakeTimeInMinutes) * minute
		}
	}
	for _, lb := range svc.LoadBalancers {
		if ac := lb.AdvancedConfiguration; ac != nil && ac.TestListenerRule != "" {
			cfg.TestTraffic = true
		}
	}
	for _, h := range dc.LifecycleHooks {
		hook := deploy.Hook{Pause: h.TargetType == ecstypes.DeploymentLifecycleHookTargetTypePause, URL: h.HookTargetArn,
			Timeout: scale(deploy.DefaultHookTimeout), TimeoutAction: deploy.ActionRollback}
		if tc := h.TimeoutConfiguration; tc != nil {
			if tc.TimeoutInMinutes != nil {
				hook.Timeout = time.Duration(*tc.TimeoutInMinutes) * minute
			}
			if tc.Action != "" {
				hook.TimeoutAction = string(tc.Action)
			}
		}
		for _, s := range h.LifecycleStages {
			hook.Stages = append(hook.Stages, deploy.Stage(s))
		}
		cfg.Hooks = append(cfg.Hooks, hook)
	}
	return cfg
}

// targetGroupOf is the target group a task of deployment registers in
// for load balancer l: the production one, or for green the other one.
func targetGroupOf(svc state.Service, l ecstypes.LoadBalancer, deploymentID string) string {
	alt := ""
	if l.AdvancedConfiguration != nil {
		alt = l.AdvancedConfiguration.AlternateTargetGroupArn
	}
	onAlt := svc.ProdAlternate
	if ro := svc.Rollout; ro != nil && deploymentID == ro.Green {
		onAlt = !onAlt
	}
	if onAlt && alt != "" {
		return alt
	}
	return l.TargetGroupArn
}

// progressive moves a service's progressive deployment one step.
func (c *Services) progressive(ctx context.Context, r serviceRef, rev int64, svc state.Service, mine []state.Task,
	in reconcile.Input, events []string, now time.Time) error {
	before, _ := state.Encode(svc)
	ro := *svc.Rollout
	gi := slices.IndexFunc(svc.Service.Deployments, func(d ecstypes.Deployment) bool { return d.Id == ro.Green })
	if gi < 0 {
		// The green deployment is gone (the record was edited): forget it.
		svc.Rollout = nil
		return c.putService(ctx, r, rev, svc)
	}
	green := svc.Service.Deployments[gi]
	cfg := RolloutConfig(svc.Service, c.minute())
	desired := int(svc.Service.DesiredCount)

	var greenTasks, blueTasks []reconcile.Task
	obs := deploy.Observed{Now: now, GreenFailed: green.RolloutState == ecstypes.DeploymentRolloutStateFailed}
	healthy, blueHealthy, blueLive := 0, 0, 0
	for _, t := range in.Tasks {
		live := !t.LastStatus.Terminal()
		switch {
		case t.DeploymentID == ro.Green:
			greenTasks = append(greenTasks, t)
			if live {
				obs.GreenLeft++
				if reconcile.Healthy(t) {
					healthy++
				}
			}
		case ro.Blue == "" || t.DeploymentID == ro.Blue:
			blueTasks = append(blueTasks, t)
			if live {
				obs.BlueLeft++
				blueLive++
				if reconcile.Healthy(t) {
					blueHealthy++
				}
			}
		case live:
			// A revision a superseded deployment left.
			obs.BlueLeft++
			obs.OthersLeft++
		}
	}
	obs.GreenReady = healthy >= desired && obs.GreenLeft == healthy
	obs.BlueReady = blueHealthy >= desired && blueLive == blueHealthy
	obs.Replies = c.takeReplies(ro.Green)
	dec := deploy.Step(cfg, ro.Progress, obs)
	p := dec.Progress

	// Traffic moves first: before green scales in or blue goes.
	if err := c.applyTraffic(ctx, svc, p); err != nil {
		c.putBackReplies(ro.Green, obs.Replies)
		return fmt.Errorf("moving traffic: %w", err)
	}

	// Blue: while it may serve production again, the decider keeps it at
	// the desired count (a blue task that stops is replaced by a blue one).
	if bi := slices.IndexFunc(svc.Service.Deployments, func(d ecstypes.Deployment) bool { return d.Id == ro.Blue }); dec.Blue && bi >= 0 {
		blue := svc.Service.Deployments[bi]
		bin := in
		bin.Tasks = blueTasks
		bin.Deployments = []reconcile.Deployment{{ID: blue.Id, TaskDefinition: blue.TaskDefinition, Status: reconcile.StatusPrimary,
			RolloutState: string(ecstypes.DeploymentRolloutStateInProgress), CreatedAt: blue.CreatedAt.Time(), UpdatedAt: blue.UpdatedAt.Time()}}
		bin.Config.HoldCompletion, bin.Config.Rollback, bin.Config.CircuitBreaker = true, false, false
		bin.AlarmsFiring = nil // the alarms judge green, not blue
		bin.Config.MaximumPercent, bin.Config.MinimumHealthyPercent = 200, 100
		bin.Config.DesiredCount = desired
		bplan := reconcile.Decide(bin)
		evs, err := c.carryOut(ctx, r, svc, mine, bplan, map[string]reconcile.Deployment{blue.Id: bin.Deployments[0]}, true)
		if err != nil {
			c.putBackReplies(ro.Green, obs.Replies)
			return err
		}
		events = append(append(events, bplan.Events...), evs...)
		in.ConsecutiveFailures, in.NextLaunchAt = bplan.ConsecutiveFailures, bplan.NextLaunchAt
		c.wakeLater(r, deploy.Decision{}, bplan)
	}

	// Green: the decider keeps it at the desired count (or scales it in).
	gin := in
	gin.Tasks = greenTasks
	gin.Deployments = []reconcile.Deployment{{ID: green.Id, TaskDefinition: green.TaskDefinition, Status: reconcile.StatusPrimary,
		RolloutState: string(green.RolloutState), RolloutReason: green.RolloutStateReason, FailedTasks: int(green.FailedTasks),
		CreatedAt: green.CreatedAt.Time(), UpdatedAt: green.UpdatedAt.Time()}}
	// A failed green (circuit breaker or deployment alarms) is rolled back
	// by the state machine, traffic first: the decider makes no rollback.
	gin.Config.HoldCompletion, gin.Config.Rollback, gin.Config.AlarmRollback = true, false, false
	gin.Config.MaximumPercent, gin.Config.MinimumHealthyPercent = 200, 100
	gin.Config.DesiredCount = 0
	if dec.Green {
		gin.Config.DesiredCount = desired
	}
	plan := reconcile.Decide(gin)
	evs, err := c.carryOut(ctx, r, svc, mine, plan, map[string]reconcile.Deployment{green.Id: gin.Deployments[0]}, true)
	if err != nil {
		c.putBackReplies(ro.Green, obs.Replies)
		return err
	}
	events = append(append(plan.Events, events...), evs...)
	if len(plan.Deployments) > 0 {
		gd := plan.Deployments[0]
		green.FailedTasks = int32(gd.FailedTasks)
		if string(green.RolloutState) != gd.RolloutState {
			green.RolloutState, green.RolloutStateReason = ecstypes.DeploymentRolloutState(gd.RolloutState), gd.RolloutReason
			green.UpdatedAt = shape.NewTimestamp(now)
		}
	}
	svc.ConsecutiveFailures, svc.NextLaunchAt = plan.ConsecutiveFailures, plan.NextLaunchAt

	// Blue goes once traffic is all on green and the bake is over; the
	// revisions a superseded deployment left go once blue is ready (no
	// traffic goes to them).
	if dec.StopBlue || dec.StopOthers {
		var ids []string
		for i := range mine {
			t := &mine[i]
			if t.DeploymentID == ro.Green || t.LastStatus().Terminal() || t.DesiredStatus().Terminal() || t.LastStatus().Stopping() {
				continue
			}
			if !dec.StopBlue && (ro.Blue == "" || t.DeploymentID == ro.Blue) {
				continue
			}
			evs, err := c.stopTask(ctx, svc, t, reconcile.ReasonScaling(ro.Green))
			if err != nil {
				c.Logger.Warn("stopping blue task", "service", r.name, "task", t.ID, "err", err)
				continue
			}
			ids = append(ids, t.ID)
			events = append(events, evs...)
		}
		if len(ids) > 0 {
			events = append(events, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", r.name, len(ids), taskRefs(ids)))
		}
	}
	for _, e := range dec.Events {
		events = append(events, fmt.Sprintf("(service %s) (deployment %s) %s.", r.name, ro.Green, e))
	}

	svc.Service.Deployments = slices.Clone(svc.Service.Deployments)
	svc.Service.Deployments[gi] = green
	ro.Progress = p
	svc.Rollout = &ro
	svc.Steady = false
	var logs []logLine
	if !p.Active() {
		logs = append(logs, c.finishRollout(&svc, ro, now, &events))
	}
	svc.Service.Events = addEvents(svc.Service.Events, events, now, c.IDs)
	if after, _ := state.Encode(svc); string(after) == string(before) {
		c.wakeLater(r, dec, plan)
		return nil
	}
	if err := c.putService(ctx, r, rev, svc); err != nil {
		c.putBackReplies(ro.Green, obs.Replies)
		return err
	}
	logAll(c.Logger, logs)
	c.recordRollout(ctx, r, svc, ro, now)
	for _, run := range dec.Call {
		c.callHook(r, svc, ro, run)
	}
	c.wakeLater(r, dec, plan)
	return nil
}

func (c *Services) wakeLater(r serviceRef, dec deploy.Decision, plan reconcile.Plan) {
	for _, at := range []time.Time{dec.Recheck, plan.Recheck} {
		if !at.IsZero() {
			c.markAt(r, at)
		}
	}
}

// finishRollout ends a rollout in the service record: green becomes the
// service's only deployment, or, rolled back, blue is PRIMARY again.
func (c *Services) finishRollout(svc *state.Service, ro state.Rollout, now time.Time, events *[]string) logLine {
	ts := shape.NewTimestamp(now)
	svc.Rollout = nil
	var keep []ecstypes.Deployment
	if ro.Result == deploy.ResultSuccessful {
		for _, d := range svc.Service.Deployments {
			if d.Id == ro.Green {
				d.Status = reconcile.StatusPrimary
				d.RolloutState, d.RolloutStateReason = ecstypes.DeploymentRolloutStateCompleted, reconcile.RolloutReasonCompleted(d.Id)
				d.UpdatedAt = ts
				keep = append(keep, d)
				svc.LastCompleted = d.TaskDefinition
				svc.Service.TaskDefinition = d.TaskDefinition
			}
		}
		for _, l := range svc.Service.LoadBalancers {
			if l.AdvancedConfiguration != nil && l.AdvancedConfiguration.AlternateTargetGroupArn != "" {
				svc.ProdAlternate = !svc.ProdAlternate
				break
			}
		}
		*events = append(*events, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", svc.Name, ro.Green))
		svc.Service.Deployments = keep
		return logLine{"deployment completed", []any{"cluster", svc.Cluster, "service", svc.Name, "deployment", ro.Green, "strategy", ro.Strategy}}
	}
	for _, d := range svc.Service.Deployments {
		if d.Id != ro.Green {
			keep = append(keep, d)
		}
	}
	if i := slices.IndexFunc(keep, func(d ecstypes.Deployment) bool { return d.Id == ro.Blue }); i > 0 {
		keep[0], keep[i] = keep[i], keep[0] // blue is the service's deployment again
	}
	if len(keep) > 0 {
		keep[0].Status = reconcile.StatusPrimary
		keep[0].RolloutState, keep[0].RolloutStateReason = ecstypes.DeploymentRolloutStateCompleted, reconcile.RolloutReasonCompleted(keep[0].Id)
		keep[0].UpdatedAt = ts
		svc.Service.TaskDefinition = keep[0].TaskDefinition
		*events = append(*events, fmt.Sprintf("(service %s) rolled back to deployment %s.", svc.Name, keep[0].Id))
	}
	svc.Service.Deployments = keep
	return logLine{"deployment rolled back", []any{"cluster", svc.Cluster, "service", svc.Name, "deployment", ro.Green,
		"reason", ro.RollbackReason}}
}

// applyTraffic makes every production and test listener rule of the
// service forward to blue and green with the progress's weights.
func (c *Services) applyTraffic(ctx context.Context, svc state.Service, p deploy.Progress) error {
	tr := c.traffic()
	if tr == nil {
		return nil
	}
	for _, l := range svc.Service.LoadBalancers {
		ac := l.AdvancedConfiguration
		if ac == nil || ac.AlternateTargetGroupArn == "" {
			continue
		}
		blue, green := l.TargetGroupArn, ac.AlternateTargetGroupArn
		if svc.ProdAlternate {
			blue, green = green, blue
		}
		for _, rw := range []struct {
			rule   string
			weight float64
		}{{ac.ProductionListenerRule, p.ProdWeight}, {ac.TestListenerRule, p.TestWeight}} {
			if rw.rule == "" {
				continue
			}
			bw, gw := deploy.ForwardWeights(rw.weight)
			want := []elbv2types.TargetGroupTuple{{TargetGroupArn: blue, Weight: &bw}, {TargetGroupArn: green, Weight: &gw}}
			have, err := tr.RuleForward(ctx, rw.rule)
			if err != nil {
				return err
			}
			if sameForward(have, want) {
				continue
			}
			if err := tr.SetRuleForward(ctx, rw.rule, want); err != nil {
				return err
			}
			c.Logger.Info("traffic moved", "cluster", svc.Cluster, "service", svc.Name, "rule", rw.rule,
				"green", green, "greenPercent", rw.weight)
		}
	}
	return nil
}

func sameForward(a, b []elbv2types.TargetGroupTuple) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		wa, wb := int32(1), int32(1)
		if a[i].Weight != nil {
			wa = *a[i].Weight
		}
		if b[i].Weight != nil {
			wb = *b[i].Weight
		}
		if a[i].TargetGroupArn != b[i].TargetGroupArn || wa != wb {
			return false
		}
	}
	return true
}

func taskRefs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += " "
		}
		out += "(task " + id + ")"
	}
	return out
}

// putService writes the service record if it is still at rev.
func (c *Services) putService(ctx context.Context, r serviceRef, rev int64, svc state.Service) error {
	b, err := state.Encode(svc)
	if err != nil {
		return err
	}
	key := state.ServiceKey(r.cluster, r.name)
	_, err = c.Store.Txn(ctx, []store.Cond{{Key: key, ModRevision: rev}}, []store.Op{store.Put(key, b)})
	return err
}
