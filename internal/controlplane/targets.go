package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	"github.com/minato-project/minato/internal/controller"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/store"
)

// serviceTargets lets ECS services use the load balancer: the ECS API
// checks the target groups a service names, and the service controller
// registers, reads and drains its tasks' targets.
type serviceTargets struct {
	elb *elbv2api.API
	// store and lb, when set, make SetRuleForward return only once this
	// server's load balancer routes by the new weights.
	store store.Store
	lb    interface {
		WaitApplied(ctx context.Context, rev int64) error
	}
}

// applyWait bounds how long SetRuleForward waits for the load balancer.
const applyWait = 10 * time.Second

var (
	_ ecsapi.TargetGroups = serviceTargets{}
	_ controller.Targets  = serviceTargets{}
)

func (s serviceTargets) LookupTargetGroup(ctx context.Context, arn string) (ecsapi.TargetGroupRef, bool, error) {
	tg, err := s.elb.TargetGroup(ctx, arn)
	if err != nil {
		var ce *core.Error
		if errors.As(err, &ce) && (ce.Kind == core.KindNotFound || ce.Kind == core.KindInvalid) {
			return ecsapi.TargetGroupRef{}, false, nil
		}
		return ecsapi.TargetGroupRef{}, false, err
	}
	return ecsapi.TargetGroupRef{TargetType: tg.TargetType, LoadBalancerARNs: tg.LoadBalancerARNs}, true, nil
}

func (s serviceTargets) TargetGroupInfo(ctx context.Context, arn string) (controller.TargetGroupInfo, error) {
	tg, err := s.elb.TargetGroup(ctx, arn)
	if err != nil {
		return controller.TargetGroupInfo{}, err
	}
	return controller.TargetGroupInfo{TargetType: tg.TargetType, DeregistrationDelay: tg.DeregistrationDelay}, nil
}

func (s serviceTargets) RegisterTarget(ctx context.Context, tgARN string, t lb.Key, az string) error {
	return s.elb.RegisterTarget(ctx, tgARN, t, az)
}

func (s serviceTargets) DeregisterTarget(ctx context.Context, tgARN string, t lb.Key) error {
	return s.elb.DeregisterTarget(ctx, tgARN, t)
}

func (s serviceTargets) TargetHealth(tgARN string, t lb.Key) (lb.TargetStatus, bool) {
	return s.elb.TargetHealth(tgARN, t)
}

var _ controller.Traffic = serviceTargets{}

// RuleForward returns the target groups a rule's forward action names,
// with their weights.
func (s serviceTargets) RuleForward(ctx context.Context, ruleARN string) ([]elbv2types.TargetGroupTuple, error) {
	out, err := s.elb.DescribeRules(ctx, nil, &elbv2types.DescribeRulesInput{RuleArns: []string{ruleARN}})
	if err != nil {
		return nil, err
	}
	if len(out.Rules) == 0 {
		return nil, nil
	}
	acts := out.Rules[0].Actions
	if len(acts) == 0 {
		return nil, nil
	}
	a := acts[len(acts)-1]
	if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
		return a.ForwardConfig.TargetGroups, nil
	}
	if a.TargetGroupArn != "" {
		return []elbv2types.TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn}}, nil
	}
	return nil, nil
}

// SetRuleForward rewrites a rule's forward action (its last action) to
// forward to groups, keeping the group stickiness and the actions before
// it, through ModifyRule, as `aws elbv2 modify-rule` would.
func (s serviceTargets) SetRuleForward(ctx context.Context, ruleARN string, groups []elbv2types.TargetGroupTuple) error {
	out, err := s.elb.DescribeRules(ctx, nil, &elbv2types.DescribeRulesInput{RuleArns: []string{ruleARN}})
	if err != nil {
		return err
	}
	if len(out.Rules) == 0 {
		return fmt.Errorf("rule %s not found", ruleARN)
	}
	acts := slices.Clone(out.Rules[0].Actions)
	fwd := elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: &elbv2types.ForwardActionConfig{TargetGroups: groups}}
	if n := len(acts); n > 0 && acts[n-1].Type == elbv2types.ActionTypeEnumForward {
		fwd.Order = acts[n-1].Order
		if fc := acts[n-1].ForwardConfig; fc != nil {
			fwd.ForwardConfig.TargetGroupStickinessConfig = fc.TargetGroupStickinessConfig
		}
		acts[n-1] = fwd
	} else {
		acts = append(acts, fwd)
	}
	if _, err = s.elb.ModifyRule(ctx, nil, &elbv2types.ModifyRuleInput{RuleArn: ruleARN, Actions: acts}); err != nil {
		return err
	}
	if s.store == nil || s.lb == nil {
		return nil
	}
	rev, err := s.store.Revision(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, applyWait)
	defer cancel()
	if err := s.lb.WaitApplied(wctx, rev); err != nil {
		return fmt.Errorf("the load balancer has not applied rule %s: %w", ruleARN, err)
	}
	return nil
}

var _ ecsapi.RuleChecker = serviceTargets{}

// RuleTargetGroups lists the target groups a listener rule forwards to.
func (s serviceTargets) RuleTargetGroups(ctx context.Context, ruleARN string) ([]string, error) {
	groups, err := s.RuleForward(ctx, ruleARN)
	var out []string
	for _, g := range groups {
		out = append(out, g.TargetGroupArn)
	}
	return out, err
}
