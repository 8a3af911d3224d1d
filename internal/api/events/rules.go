package events

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/events/pattern"
	"github.com/minato-project/minato/internal/events/schedule"
	ev "github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Buses.

// CreateEventBus creates a custom bus.
func (a *API) CreateEventBus(ctx context.Context, c *awsproto.Call, in *ev.CreateEventBusRequest) (*ev.CreateEventBusResponse, error) {
	if in.Name == outbox.DefaultBus || strings.Contains(in.Name, "/") {
		return nil, validation("Parameter Name is not valid.")
	}
	if in.EventSourceName != "" {
		return nil, validation("Partner event sources are not supported.")
	}
	now := a.now()
	b, err := state.Encode(state.EventBus{Name: in.Name, Description: in.Description, Tags: in.Tags, CreatedAt: now, ModifiedAt: now})
	if err != nil {
		return nil, err
	}
	key := state.EventBusKey(in.Name)
	if _, err := a.store.Txn(ctx, []store.Cond{store.MustNotExist(key)}, []store.Op{store.Put(key, b)}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, exists("Event bus %s already exists.", in.Name)
		}
		return nil, err
	}
	return &ev.CreateEventBusResponse{EventBusArn: busARN(a.scope(c), in.Name), Description: in.Description}, nil
}

// DeleteEventBus deletes a custom bus and its rules (AWS answers success
// for a bus that does not exist).
func (a *API) DeleteEventBus(ctx context.Context, c *awsproto.Call, in *ev.DeleteEventBusRequest) (*struct{}, error) {
	if in.Name == outbox.DefaultBus {
		return nil, validation("Cannot delete event bus default.")
	}
	rules, err := state.List[state.EventRule](ctx, a.store, state.EventRulesPrefix(in.Name), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	if len(rules) > 0 {
		return nil, validation("Cannot delete event bus %s because it has rules.", in.Name)
	}
	_, err = a.store.Txn(ctx, nil, []store.Op{store.Delete(state.EventBusKey(in.Name))})
	return nil, err
}

// DescribeEventBus describes a bus.
func (a *API) DescribeEventBus(ctx context.Context, c *awsproto.Call, in *ev.DescribeEventBusRequest) (*ev.DescribeEventBusResponse, error) {
	name, err := busName(in.Name)
	if err != nil {
		return nil, err
	}
	it, err := a.checkBus(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &ev.DescribeEventBusResponse{Name: name, Arn: busARN(a.scope(c), name), Description: it.Value.Description}
	if !it.Value.CreatedAt.IsZero() {
		out.CreationTime, out.LastModifiedTime = shape.NewTimestamp(it.Value.CreatedAt), shape.NewTimestamp(it.Value.ModifiedAt)
	}
	return out, nil
}

// ListEventBuses lists the default bus and the custom ones.
func (a *API) ListEventBuses(ctx context.Context, c *awsproto.Call, in *ev.ListEventBusesRequest) (*ev.ListEventBusesResponse, error) {
	items, err := state.List[state.EventBus](ctx, a.store, state.EventBusesPrefix(), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	s := a.scope(c)
	all := []ev.EventBus{{Name: outbox.DefaultBus, Arn: busARN(s, outbox.DefaultBus)}}
	for _, it := range items {
		b := it.Value
		all = append(all, ev.EventBus{Name: b.Name, Arn: busARN(s, b.Name), Description: b.Description,
			CreationTime: shape.NewTimestamp(b.CreatedAt), LastModifiedTime: shape.NewTimestamp(b.ModifiedAt)})
	}
	slices.SortFunc(all, func(x, y ev.EventBus) int { return strings.Compare(x.Name, y.Name) })
	all = slices.DeleteFunc(all, func(b ev.EventBus) bool { return !strings.HasPrefix(b.Name, in.NamePrefix) })
	got, next, err := page(all, func(b ev.EventBus) string { return b.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return &ev.ListEventBusesResponse{EventBuses: got, NextToken: next}, nil
}

// Rules.

// CheckPattern compiles an EventPattern, answering EventBridge's error.
func CheckPattern(p string) (*pattern.Pattern, error) {
	cp, err := pattern.Compile(p)
	if err != nil {
		return nil, invalidPattern(err)
	}
	return cp, nil
}

func invalidPattern(err error) error {
	return coreErr(ev.ErrCodeInvalidEventPatternException, err.Error())
}

// PutRule creates or updates a rule.
func (a *API) PutRule(ctx context.Context, c *awsproto.Call, in *ev.PutRuleRequest) (*ev.PutRuleResponse, error) {
	bus, err := busName(in.EventBusName)
	if err != nil {
		return nil, err
	}
	if in.EventPattern == "" && in.ScheduleExpression == "" {
		return nil, validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if in.EventPattern != "" {
		if _, err := CheckPattern(in.EventPattern); err != nil {
			return nil, err
		}
	}
	if in.ScheduleExpression != "" {
		if bus != outbox.DefaultBus {
			return nil, validation("ScheduleExpression is supported only on the default event bus.")
		}
		if _, err := schedule.Parse(in.ScheduleExpression); err != nil {
			return nil, validation("Parameter ScheduleExpression is not valid.")
		}
	}
	if _, err := a.checkBus(ctx, bus); err != nil {
		return nil, err
	}
	st := string(in.State)
	if st == "" {
		st = string(ev.RuleStateEnabled)
	}
	if st != string(ev.RuleStateEnabled) && st != string(ev.RuleStateDisabled) {
		return nil, validation("Parameter State is not valid.")
	}
	key := state.EventRuleKey(bus, in.Name)
	now := a.now()
	err = a.updateRule(ctx, key, true, func(r *state.EventRule, created bool) error {
		if created {
			*r = state.EventRule{Name: in.Name, Bus: bus, CreatedAt: now, EnabledAt: now, Tags: in.Tags}
		}
		if r.ScheduleExpression != in.ScheduleExpression || (r.State != st && st == string(ev.RuleStateEnabled)) {
			r.EnabledAt = now
		}
		r.EventPattern, r.ScheduleExpression, r.State, r.Description, r.RoleArn = in.EventPattern, in.ScheduleExpression, st, in.Description, in.RoleArn
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ev.PutRuleResponse{RuleArn: RuleARN(a.scope(c), bus, in.Name)}, nil
}

func coreErr(code, msg string) error {
	return coreErrorf(code, "%s", msg)
}

// updateRule reads, changes and writes a rule under a revision condition,
// retrying on conflict. create allows a rule that does not exist.
func (a *API) updateRule(ctx context.Context, key string, create bool, change func(r *state.EventRule, created bool) error) error {
	return store.RetryConflicts(ctx, func() error {
		it, err := state.Get[state.EventRule](ctx, a.store, key)
		created := false
		cond := store.Cond{Key: key, ModRevision: it.ModRevision}
		switch {
		case state.IsNotFound(err) && create:
			created = true
			cond = store.MustNotExist(key)
		case state.IsNotFound(err):
			bus, name := ruleOfKey(key)
			return ruleNotFound(bus, name)
		case err != nil:
			return err
		}
		r := it.Value
		if err := change(&r, created); err != nil {
			return err
		}
		b, err := state.Encode(r)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{cond}, []store.Op{store.Put(key, b)})
		return err
	})
}

func ruleOfKey(key string) (bus, name string) {
	rest := strings.TrimPrefix(key, state.EventRulesPrefix(""))
	bus, name, _ = strings.Cut(rest, "/")
	return bus, name
}

func ruleNotFound(bus, name string) error {
	return notFound("Rule %s does not exist on EventBus %s.", name, bus)
}

func (a *API) getRule(ctx context.Context, busRef, name string) (state.Item[state.EventRule], string, error) {
	bus, err := busName(busRef)
	if err != nil {
		return state.Item[state.EventRule]{}, "", err
	}
	it, err := state.Get[state.EventRule](ctx, a.store, state.EventRuleKey(bus, name))
	if state.IsNotFound(err) {
		if _, berr := a.checkBus(ctx, bus); berr != nil {
			return it, bus, berr
		}
		return it, bus, ruleNotFound(bus, name)
	}
	return it, bus, err
}

// DescribeRule describes a rule.
func (a *API) DescribeRule(ctx context.Context, c *awsproto.Call, in *ev.DescribeRuleRequest) (*ev.DescribeRuleResponse, error) {
	it, bus, err := a.getRule(ctx, in.EventBusName, in.Name)
	if err != nil {
		return nil, err
	}
	r := it.Value
	return &ev.DescribeRuleResponse{Name: r.Name, Arn: RuleARN(a.scope(c), bus, r.Name), EventPattern: r.EventPattern,
		ScheduleExpression: r.ScheduleExpression, State: ev.RuleState(r.State), Description: r.Description, RoleArn: r.RoleArn,
		EventBusName: bus, CreatedBy: a.scope(c).AccountID}, nil
}

func (a *API) renderRule(c *awsproto.Call, r state.EventRule) ev.Rule {
	return ev.Rule{Name: r.Name, Arn: RuleARN(a.scope(c), r.Bus, r.Name), EventPattern: r.EventPattern, State: ev.RuleState(r.State),
		Description: r.Description, ScheduleExpression: r.ScheduleExpression, RoleArn: r.RoleArn, EventBusName: r.Bus}
}

// ListRules lists the rules of a bus.
func (a *API) ListRules(ctx context.Context, c *awsproto.Call, in *ev.ListRulesRequest) (*ev.ListRulesResponse, error) {
	bus, err := busName(in.EventBusName)
	if err != nil {
		return nil, err
	}
	if _, err := a.checkBus(ctx, bus); err != nil {
		return nil, err
	}
	items, err := state.List[state.EventRule](ctx, a.store, state.EventRulesPrefix(bus)+in.NamePrefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	rules := make([]ev.Rule, 0, len(items))
	for _, it := range items {
		rules = append(rules, a.renderRule(c, it.Value))
	}
	got, next, err := page(rules, func(r ev.Rule) string { return r.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return &ev.ListRulesResponse{Rules: got, NextToken: next}, nil
}

func (a *API) setState(ctx context.Context, busRef, name, st string) error {
	if _, _, err := a.getRule(ctx, busRef, name); err != nil {
		return err
	}
	bus, _ := busName(busRef)
	now := a.now()
	return a.updateRule(ctx, state.EventRuleKey(bus, name), false, func(r *state.EventRule, _ bool) error {
		if r.State != st && st == string(ev.RuleStateEnabled) {
			r.EnabledAt = now
		}
		r.State = st
		return nil
	})
}

// EnableRule enables a rule.
func (a *API) EnableRule(ctx context.Context, c *awsproto.Call, in *ev.EnableRuleRequest) (*struct{}, error) {
	return nil, a.setState(ctx, in.EventBusName, in.Name, string(ev.RuleStateEnabled))
}

// DisableRule disables a rule.
func (a *API) DisableRule(ctx context.Context, c *awsproto.Call, in *ev.DisableRuleRequest) (*struct{}, error) {
	return nil, a.setState(ctx, in.EventBusName, in.Name, string(ev.RuleStateDisabled))
}

// DeleteRule deletes a rule that has no targets (AWS answers success for
// a rule that does not exist).
func (a *API) DeleteRule(ctx context.Context, c *awsproto.Call, in *ev.DeleteRuleRequest) (*struct{}, error) {
	it, bus, err := a.getRule(ctx, in.EventBusName, in.Name)
	if err != nil {
		if state.IsNotFound(err) || strings.Contains(err.Error(), "Rule ") {
			return nil, nil
		}
		return nil, err
	}
	if len(it.Value.Targets) > 0 && !in.Force {
		return nil, validation("Rule can't be deleted since it has targets.")
	}
	_, err = a.store.Txn(ctx, []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}},
		[]store.Op{store.Delete(it.Key), store.Delete(state.ScheduleMarkKey(bus, in.Name))})
	if errors.Is(err, store.ErrConflict) {
		return nil, core409()
	}
	return nil, err
}

func core409() error {
	return coreErrorf(ev.ErrCodeConcurrentModificationException, "The rule was changed while it was being deleted; try again.")
}

// TestEventPattern matches an event against a pattern.
func (a *API) TestEventPattern(ctx context.Context, c *awsproto.Call, in *ev.TestEventPatternRequest) (*ev.TestEventPatternResponse, error) {
	p, err := CheckPattern(in.EventPattern)
	if err != nil {
		return nil, err
	}
	e, err := pattern.DecodeEvent([]byte(in.Event))
	if err != nil {
		return nil, validation("Parameter Event is not valid.")
	}
	for _, f := range []string{"id", "account", "source", "time", "region", "detail-type"} {
		if _, ok := e[f].(string); !ok {
			return nil, validation("Parameter Event is not valid. Reason: Provided Event is missing required field %s.", f)
		}
	}
	return &ev.TestEventPatternResponse{Result: p.Match(e)}, nil
}
