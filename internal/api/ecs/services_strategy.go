package ecs

import (
	"context"
	"math"
	"net/url"
	"slices"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// What CreateService and UpdateService check of the deployment strategies
// (ROLLING, BLUE_GREEN, LINEAR, CANARY), their load balancer settings and
// lifecycle hooks: ranges and defaults from the ECS model.

// checkDeploymentStrategy checks a deployment configuration's strategy, bake
// times, linear and canary settings and lifecycle hooks.
func checkDeploymentStrategy(dc *ecstypes.DeploymentConfiguration, daemon bool) error {
	strategy := dc.Strategy
	if strategy == "" {
		strategy = ecstypes.DeploymentStrategyRolling
	}
	progressive := deploy.Progressive(string(strategy))
	if progressive && daemon {
		return invalidParam("The %s deployment strategy is not supported for services that use the DAEMON scheduling strategy.", strategy)
	}
	if b := dc.BakeTimeInMinutes; b != nil && (*b < 0 || *b > 1440) {
		return invalidParam("bakeTimeInMinutes must be between 0 and 1440, not %d.", *b)
	}
	if strategy == ecstypes.DeploymentStrategyBlueGreen && dc.BakeTimeInMinutes == nil {
		return invalidParam("bakeTimeInMinutes is required when the deployment strategy is BLUE_GREEN.")
	}
	if l := dc.LinearConfiguration; l != nil {
		if strategy != ecstypes.DeploymentStrategyLinear {
			return invalidParam("linearConfiguration is only valid when the deployment strategy is LINEAR.")
		}
		if p := l.StepPercent; p != nil && (*p < 3 || *p > 100 || !tenths(*p)) {
			return invalidParam("stepPercent must be a multiple of 0.1 between 3.0 and 100.0, not %v.", *p)
		}
		if b := l.StepBakeTimeInMinutes; b != nil && (*b < 0 || *b > 1440) {
			return invalidParam("stepBakeTimeInMinutes must be between 0 and 1440, not %d.", *b)
		}
	}
	if c := dc.CanaryConfiguration; c != nil {
		if strategy != ecstypes.DeploymentStrategyCanary {
			return invalidParam("canaryConfiguration is only valid when the deployment strategy is CANARY.")
		}
		if p := c.CanaryPercent; p != nil && (*p < 0.1 || *p > 100 || !tenths(*p)) {
			return invalidParam("canaryPercent must be a multiple of 0.1 between 0.1 and 100.0, not %v.", *p)
		}
		if b := c.CanaryBakeTimeInMinutes; b != nil && (*b < 0 || *b > 1440) {
			return invalidParam("canaryBakeTimeInMinutes must be between 0 and 1440, not %d.", *b)
		}
	}
	if len(dc.LifecycleHooks) > 0 && !progressive {
		return invalidParam("Deployment lifecycle hooks are only valid with the BLUE_GREEN, LINEAR and CANARY deployment strategies.")
	}
	for _, h := range dc.LifecycleHooks {
		if err := checkHook(h); err != nil {
			return err
		}
	}
	return nil
}

func tenths(f float64) bool { return math.Abs(f*10-math.Round(f*10)) < 1e-6 }

// checkHook checks a lifecycle hook. minato has no AWS Lambda: a hook
// that is not PAUSE names an http:// or https:// URL as its
// hookTargetArn, which minato calls with the event a Lambda hook gets.
func checkHook(h ecstypes.DeploymentLifecycleHook) error {
	if len(h.LifecycleStages) == 0 {
		return invalidParam("lifecycleStages is required for a deployment lifecycle hook.")
	}
	seen := map[ecstypes.DeploymentLifecycleHookStage]bool{}
	for _, s := range h.LifecycleStages {
		if seen[s] {
			return invalidParam("The lifecycle stage %s is specified more than once for a hook.", s)
		}
		seen[s] = true
	}
	if h.TargetType == ecstypes.DeploymentLifecycleHookTargetTypePause {
		if h.HookTargetArn != "" {
			return invalidParam("hookTargetArn is not applicable to PAUSE lifecycle hooks.")
		}
		for _, s := range h.LifecycleStages {
			if s == ecstypes.DeploymentLifecycleHookStageTestTrafficShift || s == ecstypes.DeploymentLifecycleHookStageProductionTrafficShift {
				return invalidParam("PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages. These stages are only valid for AWS_LAMBDA hooks.")
			}
		}
		return nil
	}
	if h.HookTargetArn == "" {
		return invalidParam("hookTargetArn is required for an AWS_LAMBDA lifecycle hook.")
	}
	if arn.IsARN(h.HookTargetArn) {
		return invalidParam("minato has no AWS Lambda, so the lifecycle hook %s cannot be invoked. Use a PAUSE hook, or give an http:// or "+
			"https:// URL as hookTargetArn (a minato extension): minato POSTs the lifecycle hook event to it and reads hookStatus from the reply.",
			h.HookTargetArn)
	}
	u, err := url.Parse(h.HookTargetArn)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidParam("hookTargetArn %q is neither a Lambda function ARN nor an http:// or https:// URL.", h.HookTargetArn)
	}
	return nil
}

// checkAdvanced checks the blue/green settings of a service's load
// balancers: a progressive strategy needs an alternate target group and a
// production listener rule on each; the rules must forward to the
// service's target groups.
func (a *API) checkAdvanced(ctx context.Context, svc *ecstypes.Service) error {
	strategy := ecstypes.DeploymentStrategyRolling
	if svc.DeploymentConfiguration != nil && svc.DeploymentConfiguration.Strategy != "" {
		strategy = svc.DeploymentConfiguration.Strategy
	}
	progressive := deploy.Progressive(string(strategy))
	for _, l := range svc.LoadBalancers {
		ac := l.AdvancedConfiguration
		if ac == nil {
			if progressive {
				return invalidParam("The %s deployment strategy needs loadBalancers[].advancedConfiguration with an alternateTargetGroupArn "+
					"and a productionListenerRule.", strategy)
			}
			continue
		}
		switch {
		case ac.AlternateTargetGroupArn == "":
			return invalidParam("advancedConfiguration.alternateTargetGroupArn is required.")
		case ac.ProductionListenerRule == "":
			return invalidParam("advancedConfiguration.productionListenerRule is required.")
		case ac.AlternateTargetGroupArn == l.TargetGroupArn:
			return invalidParam("The alternate target group must differ from the target group %s.", l.TargetGroupArn)
		case ac.TestListenerRule != "" && ac.TestListenerRule == ac.ProductionListenerRule:
			return invalidParam("The test listener rule must differ from the production listener rule.")
		}
		if a.tgs == nil {
			continue
		}
		if _, found, err := a.tgs.LookupTargetGroup(ctx, ac.AlternateTargetGroupArn); err != nil {
			return err
		} else if !found {
			return invalidParam("The target group with targetGroupArn %s does not exist.", ac.AlternateTargetGroupArn)
		}
		if rc, ok := a.tgs.(RuleChecker); ok {
			for _, rule := range []string{ac.ProductionListenerRule, ac.TestListenerRule} {
				if rule == "" {
					continue
				}
				groups, err := rc.RuleTargetGroups(ctx, rule)
				if err != nil {
					return invalidParam("The listener rule %s could not be read: %v", rule, err)
				}
				if !slices.ContainsFunc(groups, func(g string) bool { return g == l.TargetGroupArn || g == ac.AlternateTargetGroupArn }) {
					return invalidParam("The listener rule %s does not forward to the target group %s or %s.", rule, l.TargetGroupArn, ac.AlternateTargetGroupArn)
				}
			}
		}
	}
	return nil
}

// RuleChecker is what the API reads of listener rules (optional part of
// TargetGroups): the target groups a rule forwards to.
type RuleChecker interface {
	RuleTargetGroups(ctx context.Context, ruleARN string) ([]string, error)
}
