// Package elbv2 serves the Elastic Load Balancing v2 API (Query protocol)
// for application load balancers: load balancers, listeners and their
// rules, target groups, target registration and health, attributes and
// tags. It validates each request as ALB does, keeps the records in the
// state store (package state, under "elbv2/") and answers in ELBv2's
// shapes and error codes. It never talks to the data plane: the load
// balancer (package lb) is fed from the records by package lbsync, and
// target health is read through HealthSource.
package elbv2

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// HealthSource tells what the load balancer knows of a target group's
// targets. *lb.Plane implements it.
type HealthSource interface {
	Health(tgARN string) []lb.TargetStatus
}

// Config is what the API needs.
type Config struct {
	Store  store.Store
	Clock  core.Clock
	Logger *slog.Logger
	// IDs makes the 16 hex digits that end ARNs; default random.
	IDs core.IDs
	// Health is the data plane's view of target health; nil reports every
	// target as the records alone say (initial, draining, unused).
	Health HealthSource
	// LBAddr is the address every listener binds (default 127.0.0.1); the
	// load balancers' DNSName resolves to it.
	LBAddr string
}

// API is the ELBv2 service.
type API struct {
	store  store.Store
	clock  core.Clock
	log    *slog.Logger
	ids    core.IDs
	health HealthSource
	lbAddr string
}

// New returns the ELBv2 API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, ids: cfg.IDs, health: cfg.Health, lbAddr: cfg.LBAddr}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.ids == nil {
		a.ids = core.RandomIDs{}
	}
	if a.lbAddr == "" {
		a.lbAddr = "127.0.0.1"
	}
	return a
}

// Service returns the Query service to register with awsproto.Server.
// Operations of the model that are not listed answer InvalidAction, as
// awsproto does for every unknown action.
func (a *API) Service() awsproto.QueryService {
	return awsproto.QueryService{
		SigningName:  elbv2types.SigningName,
		Version:      elbv2types.APIVersion,
		XMLNamespace: elbv2types.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"CreateLoadBalancer":             awsproto.Op(a.CreateLoadBalancer),
			"DescribeLoadBalancers":          awsproto.Op(a.DescribeLoadBalancers),
			"DeleteLoadBalancer":             awsproto.Op(a.DeleteLoadBalancer),
			"DescribeLoadBalancerAttributes": awsproto.Op(a.DescribeLoadBalancerAttributes),
			"ModifyLoadBalancerAttributes":   awsproto.Op(a.ModifyLoadBalancerAttributes),

			"CreateTargetGroup":             awsproto.Op(a.CreateTargetGroup),
			"ModifyTargetGroup":             awsproto.Op(a.ModifyTargetGroup),
			"DescribeTargetGroups":          awsproto.Op(a.DescribeTargetGroups),
			"DeleteTargetGroup":             awsproto.Op(a.DeleteTargetGroup),
			"DescribeTargetGroupAttributes": awsproto.Op(a.DescribeTargetGroupAttributes),
			"ModifyTargetGroupAttributes":   awsproto.Op(a.ModifyTargetGroupAttributes),

			"RegisterTargets":      awsproto.Op(a.RegisterTargets),
			"DeregisterTargets":    awsproto.Op(a.DeregisterTargets),
			"DescribeTargetHealth": awsproto.Op(a.DescribeTargetHealth),

			"CreateListener":    awsproto.Op(a.CreateListener),
			"ModifyListener":    awsproto.Op(a.ModifyListener),
			"DescribeListeners": awsproto.Op(a.DescribeListeners),
			"DeleteListener":    awsproto.Op(a.DeleteListener),

			"CreateRule":        awsproto.Op(a.CreateRule),
			"ModifyRule":        awsproto.Op(a.ModifyRule),
			"DeleteRule":        awsproto.Op(a.DeleteRule),
			"DescribeRules":     awsproto.Op(a.DescribeRules),
			"SetRulePriorities": awsproto.Op(a.SetRulePriorities),

			"AddTags":      awsproto.Op(a.AddTags),
			"RemoveTags":   awsproto.Op(a.RemoveTags),
			"DescribeTags": awsproto.Op(a.DescribeTags),
		},
	}
}

// Implemented lists the operations this package serves, for the
// compatibility matrix.
func (a *API) Implemented() []string {
	svc := a.Service()
	out := make([]string, 0, len(svc.Actions))
	for name := range svc.Actions {
		out = append(out, name)
	}
	return out
}

// DNSName is the DNS name of every load balancer: where the listeners
// bind. Loopback is "localhost"; any other address is its own name.
func (a *API) DNSName() string {
	if a.lbAddr == "127.0.0.1" {
		return "localhost"
	}
	return a.lbAddr
}

func (a *API) now() time.Time { return a.clock.Now().UTC() }

// newID returns the 16 hex digits that end an ELBv2 ARN.
func (a *API) newID() string { return a.ids.NewID()[:16] }

// ARNs.

const service = "elasticloadbalancing"

func scopeOf(c *awsproto.Call) arn.Scope {
	return arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}
}

func lbARN(s arn.Scope, name, id string) string {
	return s.New(service, "loadbalancer/app/"+name+"/"+id)
}

func tgARN(s arn.Scope, name, id string) string {
	return s.New(service, "targetgroup/"+name+"/"+id)
}

func listenerARN(lbARNStr, id string) string {
	return strings.Replace(lbARNStr, ":loadbalancer/", ":listener/", 1) + "/" + id
}

func ruleARN(listenerARNStr, id string) string {
	return strings.Replace(listenerARNStr, ":listener/", ":listener-rule/", 1) + "/" + id
}

// Resource kinds, as the resource part of their ARNs begins.
const (
	kindLoadBalancer = "loadbalancer"
	kindTargetGroup  = "targetgroup"
	kindListener     = "listener"
	kindRule         = "listener-rule"
)

// parsedARN is an ELBv2 ARN taken apart. IDs that the kind has not are
// empty.
type parsedARN struct {
	kind       string
	lbID       string
	tgID       string
	listenerID string
	ruleID     string
}

// parseARN takes an ELBv2 ARN apart; ok is false for anything that is not
// one of an application load balancer's resources.
func parseARN(s string) (parsedARN, bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != service {
		return parsedARN{}, false
	}
	p := strings.Split(a.Resource, "/")
	for _, seg := range p {
		if seg == "" {
			return parsedARN{}, false
		}
	}
	switch {
	case p[0] == kindLoadBalancer && len(p) == 4 && p[1] == "app":
		return parsedARN{kind: p[0], lbID: p[3]}, true
	case p[0] == kindTargetGroup && len(p) == 3:
		return parsedARN{kind: p[0], tgID: p[2]}, true
	case p[0] == kindListener && len(p) == 5 && p[1] == "app":
		return parsedARN{kind: p[0], lbID: p[3], listenerID: p[4]}, true
	case p[0] == kindRule && len(p) == 6 && p[1] == "app":
		return parsedARN{kind: p[0], lbID: p[3], listenerID: p[4], ruleID: p[5]}, true
	}
	return parsedARN{}, false
}

// Errors, with the codes of the ELBv2 model (all HTTP 400).

func errf(kind core.Kind, code, format string, args ...any) error {
	return core.Errorf(kind, code, format, args...)
}

// validationErr is the Query services' generic ValidationError.
func validationErr(format string, args ...any) error {
	return errf(core.KindInvalid, "ValidationError", format, args...)
}

func invalidConfig(format string, args ...any) error {
	return errf(core.KindInvalid, elbv2types.ErrCodeInvalidConfigurationRequestException, format, args...)
}

func errLBNotFound() error {
	return errf(core.KindNotFound, elbv2types.ErrCodeLoadBalancerNotFoundException, "One or more load balancers not found")
}

func errTGNotFound() error {
	return errf(core.KindNotFound, elbv2types.ErrCodeTargetGroupNotFoundException, "One or more target groups not found")
}

func errListenerNotFound() error {
	return errf(core.KindNotFound, elbv2types.ErrCodeListenerNotFoundException, "One or more listeners not found")
}

func errRuleNotFound() error {
	return errf(core.KindNotFound, elbv2types.ErrCodeRuleNotFoundException, "One or more rules not found")
}

// validate runs the model's checks (required members, enum values) and
// reports a failure as ValidationError.
func validate(v interface{ Validate() error }) error {
	if err := v.Validate(); err != nil {
		return validationErr("%v", err)
	}
	return nil
}

// txn collects the conditions and writes of one store transaction.
type txn struct {
	conds []store.Cond
	ops   []store.Op
	err   error
}

func (t *txn) put(key string, v any) {
	b, err := state.Encode(v)
	if err != nil && t.err == nil {
		t.err = err
	}
	t.ops = append(t.ops, store.Put(key, b))
}

// create writes a record that must not exist yet.
func (t *txn) create(key string, v any) {
	t.conds = append(t.conds, store.MustNotExist(key))
	t.put(key, v)
}

// update rewrites a record that must still be at rev.
func (t *txn) update(key string, rev int64, v any) {
	t.conds = append(t.conds, store.MustBeAt(key, rev))
	t.put(key, v)
}

// remove deletes a record that must still be at rev.
func (t *txn) remove(key string, rev int64) {
	t.conds = append(t.conds, store.MustBeAt(key, rev))
	t.ops = append(t.ops, store.Delete(key))
}

// drop deletes key unconditionally.
func (t *txn) drop(key string) { t.ops = append(t.ops, store.Delete(key)) }

func (a *API) commit(ctx context.Context, t *txn) error {
	if t.err != nil {
		return t.err
	}
	_, err := a.store.Txn(ctx, t.conds, t.ops)
	return err
}

// Record lookups by ARN. A well-formed ARN of a record that does not exist,
// or that names it in another region or account, is not found.

func (a *API) loadBalancer(ctx context.Context, arnStr string) (state.Item[state.LoadBalancer], error) {
	p, ok := parseARN(arnStr)
	if !ok || p.kind != kindLoadBalancer {
		return state.Item[state.LoadBalancer]{}, validationErr("'%s' is not a valid load balancer ARN", arnStr)
	}
	it, err := state.Get[state.LoadBalancer](ctx, a.store, state.LoadBalancerKey(p.lbID))
	if state.IsNotFound(err) || (err == nil && it.Value.ARN != arnStr) {
		return it, errLBNotFound()
	}
	return it, err
}

func (a *API) targetGroup(ctx context.Context, arnStr string) (state.Item[state.TargetGroup], error) {
	p, ok := parseARN(arnStr)
	if !ok || p.kind != kindTargetGroup {
		return state.Item[state.TargetGroup]{}, validationErr("'%s' is not a valid target group ARN", arnStr)
	}
	it, err := state.Get[state.TargetGroup](ctx, a.store, state.TargetGroupKey(p.tgID))
	if state.IsNotFound(err) || (err == nil && it.Value.ARN != arnStr) {
		return it, errTGNotFound()
	}
	return it, err
}

func (a *API) listener(ctx context.Context, arnStr string) (state.Item[state.Listener], error) {
	p, ok := parseARN(arnStr)
	if !ok || p.kind != kindListener {
		return state.Item[state.Listener]{}, validationErr("'%s' is not a valid listener ARN", arnStr)
	}
	it, err := state.Get[state.Listener](ctx, a.store, state.ListenerKey(p.lbID, p.listenerID))
	if state.IsNotFound(err) || (err == nil && it.Value.ARN != arnStr) {
		return it, errListenerNotFound()
	}
	return it, err
}

// ruleRef is a rule found by ARN: a stored rule, or a listener's default
// rule (Rule is then nil).
type ruleRef struct {
	Listener state.Item[state.Listener]
	Rule     *state.Item[state.Rule]
}

func (a *API) rule(ctx context.Context, arnStr string) (ruleRef, error) {
	p, ok := parseARN(arnStr)
	if !ok || p.kind != kindRule {
		return ruleRef{}, validationErr("'%s' is not a valid rule ARN", arnStr)
	}
	l, err := state.Get[state.Listener](ctx, a.store, state.ListenerKey(p.lbID, p.listenerID))
	if state.IsNotFound(err) {
		return ruleRef{}, errRuleNotFound()
	}
	if err != nil {
		return ruleRef{}, err
	}
	if l.Value.DefaultRuleARN == arnStr {
		return ruleRef{Listener: l}, nil
	}
	r, err := state.Get[state.Rule](ctx, a.store, state.RuleKey(p.listenerID, p.ruleID))
	if state.IsNotFound(err) || (err == nil && r.Value.ARN != arnStr) {
		return ruleRef{}, errRuleNotFound()
	}
	if err != nil {
		return ruleRef{}, err
	}
	return ruleRef{Listener: l, Rule: &r}, nil
}

func int32p(n int) *int32 { v := int32(n); return &v }

func boolp(b bool) *bool { return &b }
