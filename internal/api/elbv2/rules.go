package elbv2

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

func checkPriority(p int32) error {
	if p < 1 || p > 50000 {
		return validationErr("Priority '%d' must be between 1 and 50000", p)
	}
	return nil
}

func errPriorityInUse(p int) error {
	return errf(core.KindConflict, elbv2types.ErrCodePriorityInUseException, "Priority '%d' is currently in use", p)
}

func errDefaultRule(what string) error {
	return errf(core.KindInvalid, elbv2types.ErrCodeOperationNotPermittedException, "%s", what)
}

// CreateRule adds a rule to a listener.
func (a *API) CreateRule(ctx context.Context, _ *awsproto.Call, in *elbv2types.CreateRuleInput) (*elbv2types.CreateRuleOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if in.Priority == nil {
		return nil, validationErr("A rule priority must be specified")
	}
	if err := checkPriority(*in.Priority); err != nil {
		return nil, err
	}
	if len(in.Transforms) > 0 {
		return nil, validationErr("minato's load balancer does not support rule transforms")
	}
	conds, err := checkConditions(in.Conditions)
	if err != nil {
		return nil, err
	}
	tags, err := checkNewTags(in.Tags)
	if err != nil {
		return nil, err
	}
	prio := int(*in.Priority)
	var rec state.Rule
	err = store.RetryConflicts(ctx, func() error {
		l, err := a.listener(ctx, in.ListenerArn)
		if err != nil {
			return err
		}
		acts, err := a.checkActions(ctx, in.Actions, l.Value.LoadBalancerARN)
		if err != nil {
			return err
		}
		if _, err := a.store.Get(ctx, state.RulePriorityKey(l.Value.ID, prio)); err == nil {
			return errPriorityInUse(prio)
		} else if !state.IsNotFound(err) {
			return err
		}
		id := a.newID()
		rec = state.Rule{ID: id, ARN: ruleARN(l.Value.ARN, id), ListenerID: l.Value.ID, ListenerARN: l.Value.ARN,
			Priority: prio, Conditions: conds, Actions: acts.actions, Tags: tags}
		t := &txn{}
		t.create(state.RulePriorityKey(l.Value.ID, prio), state.PriorityIndex{RuleID: id})
		t.create(state.RuleKey(l.Value.ID, id), rec)
		t.update(l.Key, l.ModRevision, l.Value)
		touchGroups(t, acts.groups)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.CreateRuleOutput{Rules: []elbv2types.Rule{renderRule(rec)}}, nil
}

func renderRule(r state.Rule) elbv2types.Rule {
	return elbv2types.Rule{RuleArn: r.ARN, Priority: strconv.Itoa(r.Priority), Conditions: r.Conditions,
		Actions: r.Actions, IsDefault: boolp(false)}
}

func renderDefaultRule(l state.Listener) elbv2types.Rule {
	return elbv2types.Rule{RuleArn: l.DefaultRuleARN, Priority: "default", Conditions: []elbv2types.RuleCondition{},
		Actions: l.DefaultActions, IsDefault: boolp(true)}
}

// ModifyRule replaces a rule's conditions or actions. The default rule's
// actions are its listener's default actions; its conditions cannot change.
func (a *API) ModifyRule(ctx context.Context, _ *awsproto.Call, in *elbv2types.ModifyRuleInput) (*elbv2types.ModifyRuleOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if len(in.Transforms) > 0 {
		return nil, validationErr("minato's load balancer does not support rule transforms")
	}
	var conds []elbv2types.RuleCondition
	if in.Conditions != nil {
		var err error
		if conds, err = checkConditions(in.Conditions); err != nil {
			return nil, err
		}
	}
	var out elbv2types.Rule
	err := store.RetryConflicts(ctx, func() error {
		ref, err := a.rule(ctx, in.RuleArn)
		if err != nil {
			return err
		}
		t := &txn{}
		var acts checkedActions
		if in.Actions != nil {
			if acts, err = a.checkActions(ctx, in.Actions, ref.Listener.Value.LoadBalancerARN); err != nil {
				return err
			}
			touchGroups(t, acts.groups)
		}
		if ref.Rule == nil {
			if in.Conditions != nil {
				return errDefaultRule("The conditions of a default rule cannot be modified")
			}
			l := ref.Listener.Value
			if in.Actions != nil {
				l.DefaultActions = acts.actions
			}
			t.update(ref.Listener.Key, ref.Listener.ModRevision, l)
			out = renderDefaultRule(l)
			return a.commit(ctx, t)
		}
		r := ref.Rule.Value
		if in.Conditions != nil {
			r.Conditions = conds
		}
		if in.Actions != nil {
			r.Actions = acts.actions
		}
		t.update(ref.Rule.Key, ref.Rule.ModRevision, r)
		out = renderRule(r)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyRuleOutput{Rules: []elbv2types.Rule{out}}, nil
}

// DeleteRule deletes a rule other than the default rule.
func (a *API) DeleteRule(ctx context.Context, _ *awsproto.Call, in *elbv2types.DeleteRuleInput) (*elbv2types.DeleteRuleOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	err := store.RetryConflicts(ctx, func() error {
		ref, err := a.rule(ctx, in.RuleArn)
		if err != nil {
			return err
		}
		if ref.Rule == nil {
			return errDefaultRule("A default rule cannot be deleted")
		}
		r := ref.Rule.Value
		t := &txn{}
		t.remove(ref.Rule.Key, ref.Rule.ModRevision)
		t.drop(state.RulePriorityKey(r.ListenerID, r.Priority))
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.DeleteRuleOutput{}, nil
}

// describedRule is a rule as DescribeRules lists it, with its sort key:
// by priority, the default rule last.
type describedRule struct {
	key  string
	rule elbv2types.Rule
}

// DescribeRules lists the rules of a listener, or by ARN.
func (a *API) DescribeRules(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeRulesInput) (*elbv2types.DescribeRulesOutput, error) {
	var sel []describedRule
	addRule := func(r state.Rule) {
		sel = append(sel, describedRule{key: fmt.Sprintf("%05d/%s", r.Priority, r.ID), rule: renderRule(r)})
	}
	addDefault := func(l state.Listener) {
		sel = append(sel, describedRule{key: "99999/" + l.DefaultRuleID, rule: renderDefaultRule(l)})
	}
	switch {
	case in.ListenerArn != "" && len(in.RuleArns) > 0:
		return nil, validationErr("Rule ARNs and a listener ARN cannot be specified at the same time")
	case in.ListenerArn != "":
		l, err := a.listener(ctx, in.ListenerArn)
		if err != nil {
			return nil, err
		}
		rules, err := state.List[state.Rule](ctx, a.store, state.RulesPrefix(l.Value.ID), store.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			addRule(r.Value)
		}
		addDefault(l.Value)
	case len(in.RuleArns) > 0:
		seen := map[string]bool{}
		for _, arnStr := range in.RuleArns {
			ref, err := a.rule(ctx, arnStr)
			if err != nil {
				return nil, err
			}
			if seen[arnStr] {
				continue
			}
			seen[arnStr] = true
			if ref.Rule == nil {
				addDefault(ref.Listener.Value)
			} else {
				addRule(ref.Rule.Value)
			}
		}
	default:
		return nil, validationErr("You must specify either rule ARNs or a listener ARN")
	}
	slices.SortFunc(sel, func(x, y describedRule) int { return strings.Compare(x.key, y.key) })
	pg, next, err := page(sel, func(r describedRule) string { return r.key }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2types.DescribeRulesOutput{NextMarker: next, Rules: []elbv2types.Rule{}}
	for _, r := range pg {
		out.Rules = append(out.Rules, r.rule)
	}
	return out, nil
}

// SetRulePriorities changes the priorities of rules of one listener at
// once, so that rules can swap priorities.
func (a *API) SetRulePriorities(ctx context.Context, _ *awsproto.Call, in *elbv2types.SetRulePrioritiesInput) (*elbv2types.SetRulePrioritiesOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if len(in.RulePriorities) == 0 {
		return nil, validationErr("At least one rule priority must be specified")
	}
	for _, p := range in.RulePriorities {
		if p.Priority == nil {
			return nil, validationErr("A priority must be specified for rule '%s'", p.RuleArn)
		}
		if err := checkPriority(*p.Priority); err != nil {
			return nil, err
		}
	}
	var out []elbv2types.Rule
	err := store.RetryConflicts(ctx, func() error {
		out = out[:0]
		var listenerID string
		var listener state.Item[state.Listener]
		moving := map[string]state.Item[state.Rule]{} // by rule ID
		newPrio := map[string]int{}                   // rule ID -> priority
		taken := map[int]string{}                     // new priority -> rule ID
		var order []string
		for _, p := range in.RulePriorities {
			ref, err := a.rule(ctx, p.RuleArn)
			if err != nil {
				return err
			}
			if ref.Rule == nil {
				return errDefaultRule("The priority of a default rule cannot be changed")
			}
			r := *ref.Rule
			if listenerID == "" {
				listenerID, listener = r.Value.ListenerID, ref.Listener
			} else if r.Value.ListenerID != listenerID {
				return validationErr("The rules of one SetRulePriorities request must belong to the same listener")
			}
			prio := int(*p.Priority)
			if other, ok := taken[prio]; ok && other != r.Value.ID {
				return errPriorityInUse(prio)
			}
			if _, dup := moving[r.Value.ID]; !dup {
				order = append(order, r.Value.ID)
			} else {
				delete(taken, newPrio[r.Value.ID])
			}
			moving[r.Value.ID] = r
			newPrio[r.Value.ID] = prio
			taken[prio] = r.Value.ID
		}
		// The listener's current priority index.
		held := map[int]state.Item[state.PriorityIndex]{}
		idx, err := state.List[state.PriorityIndex](ctx, a.store, state.RulePrioritiesPrefix(listenerID), store.ListOptions{})
		if err != nil {
			return err
		}
		for _, it := range idx {
			n, err := strconv.Atoi(state.LastSegment(it.Key))
			if err != nil {
				continue
			}
			held[n] = it
		}
		for prio := range taken {
			if h, ok := held[prio]; ok {
				if _, moves := moving[h.Value.RuleID]; !moves {
					return errPriorityInUse(prio)
				}
			}
		}
		t := &txn{}
		// Touch the listener, as CreateRule does: a DeleteListener that
		// listed its priority entries before this commits then conflicts
		// instead of leaving the new entries behind.
		t.update(listener.Key, listener.ModRevision, listener.Value)
		// Old entries of the moving rules go, unless a moving rule takes
		// the priority; new entries are written under conditions on what
		// they replace.
		for _, id := range order {
			old := moving[id].Value.Priority
			if _, reused := taken[old]; !reused {
				if h, ok := held[old]; ok {
					t.remove(h.Key, h.ModRevision)
				}
			}
		}
		for _, id := range order {
			r := moving[id]
			prio := newPrio[id]
			key := state.RulePriorityKey(listenerID, prio)
			if h, ok := held[prio]; ok {
				t.update(key, h.ModRevision, state.PriorityIndex{RuleID: id})
			} else {
				t.create(key, state.PriorityIndex{RuleID: id})
			}
			next := r.Value
			next.Priority = prio
			t.update(r.Key, r.ModRevision, next)
			out = append(out, renderRule(next))
		}
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.SetRulePrioritiesOutput{Rules: out}, nil
}
