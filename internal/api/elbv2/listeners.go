package elbv2

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// checkListenerProtocol refuses what minato's HTTP-only data plane cannot
// serve.
func checkListenerProtocol(p elbv2types.ProtocolEnum, certs []elbv2types.Certificate, sslPolicy string) error {
	if p != "" && p != elbv2types.ProtocolEnumHttp {
		return errf(core.KindInvalid, elbv2types.ErrCodeUnsupportedProtocolException,
			"minato's load balancer serves HTTP listeners only: protocol '%s' is not supported", p)
	}
	if len(certs) > 0 || sslPolicy != "" {
		return invalidConfig("Certificates and SSL policies cannot be specified for HTTP listeners")
	}
	return nil
}

// portOwner returns who holds listener port port, if anyone.
func (a *API) portOwner(ctx context.Context, port int) (state.PortIndex, bool, error) {
	it, err := state.Get[state.PortIndex](ctx, a.store, state.ListenerPortKey(port))
	if state.IsNotFound(err) {
		return state.PortIndex{}, false, nil
	}
	return it.Value, err == nil, err
}

// errPortTaken is the DuplicateListener of a port held by owner when
// load balancer lbARN asks for it.
func (a *API) errPortTaken(port int, owner state.PortIndex, lbARN string) error {
	if owner.LoadBalancerARN == lbARN {
		return errf(core.KindConflict, elbv2types.ErrCodeDuplicateListenerException,
			"A listener already exists on port %d of load balancer '%s'", port, lbARN)
	}
	return errf(core.KindConflict, elbv2types.ErrCodeDuplicateListenerException,
		"Port %d is already used by a listener of load balancer '%s': every minato load balancer listens on the same address (%s), so a port can serve one load balancer only",
		port, owner.LoadBalancerARN, a.lbAddr)
}

// touchGroups rewrites the target groups an action forwards to under a
// revision condition, so that deleting one of them concurrently conflicts.
func touchGroups(t *txn, groups []state.Item[state.TargetGroup]) {
	seen := map[string]bool{}
	for _, g := range groups {
		if !seen[g.Key] {
			seen[g.Key] = true
			t.update(g.Key, g.ModRevision, g.Value)
		}
	}
}

// CreateListener creates an HTTP listener. Creating one again with the
// same settings returns the existing listener, as ELBv2 does.
func (a *API) CreateListener(ctx context.Context, _ *awsproto.Call, in *elbv2types.CreateListenerInput) (*elbv2types.CreateListenerOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkListenerProtocol(in.Protocol, in.Certificates, in.SslPolicy); err != nil {
		return nil, err
	}
	if in.Port == nil {
		return nil, validationErr("A listener port must be specified")
	}
	if err := checkPort("Listener port", *in.Port); err != nil {
		return nil, err
	}
	port := int(*in.Port)
	tags, err := checkNewTags(in.Tags)
	if err != nil {
		return nil, err
	}
	var rec state.Listener
	err = store.RetryConflicts(ctx, func() error {
		lbIt, err := a.loadBalancer(ctx, in.LoadBalancerArn)
		if err != nil {
			return err
		}
		acts, err := a.checkActions(ctx, in.DefaultActions, lbIt.Value.ARN)
		if err != nil {
			return err
		}
		owner, taken, err := a.portOwner(ctx, port)
		if err != nil {
			return err
		}
		if taken {
			if owner.LoadBalancerARN == lbIt.Value.ARN {
				cur, err := a.listener(ctx, owner.ListenerARN)
				if err != nil {
					return err
				}
				if reflect.DeepEqual(cur.Value.DefaultActions, acts.actions) {
					rec = cur.Value
					return nil
				}
			}
			return a.errPortTaken(port, owner, lbIt.Value.ARN)
		}
		id := a.newID()
		larn := listenerARN(lbIt.Value.ARN, id)
		ruleID := a.newID()
		rec = state.Listener{
			ID: id, ARN: larn, LoadBalancerID: lbIt.Value.ID, LoadBalancerARN: lbIt.Value.ARN,
			Port: port, Protocol: string(elbv2types.ProtocolEnumHttp), DefaultActions: acts.actions,
			DefaultRuleID: ruleID, DefaultRuleARN: ruleARN(larn, ruleID), Tags: tags, CreatedAt: a.now(),
		}
		t := &txn{}
		t.create(state.ListenerPortKey(port), state.PortIndex{ListenerID: id, ListenerARN: larn, LoadBalancerARN: lbIt.Value.ARN})
		t.create(state.ListenerKey(lbIt.Value.ID, id), rec)
		t.update(lbIt.Key, lbIt.ModRevision, lbIt.Value)
		touchGroups(t, acts.groups)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.CreateListenerOutput{Listeners: []elbv2types.Listener{renderListener(rec)}}, nil
}

func renderListener(l state.Listener) elbv2types.Listener {
	return elbv2types.Listener{
		ListenerArn:     l.ARN,
		LoadBalancerArn: l.LoadBalancerARN,
		Port:            int32p(l.Port),
		Protocol:        elbv2types.ProtocolEnum(l.Protocol),
		DefaultActions:  l.DefaultActions,
	}
}

// ModifyListener changes a listener's port or default actions.
func (a *API) ModifyListener(ctx context.Context, _ *awsproto.Call, in *elbv2types.ModifyListenerInput) (*elbv2types.ModifyListenerOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkListenerProtocol(in.Protocol, in.Certificates, in.SslPolicy); err != nil {
		return nil, err
	}
	if in.Port != nil {
		if err := checkPort("Listener port", *in.Port); err != nil {
			return nil, err
		}
	}
	var rec state.Listener
	err := store.RetryConflicts(ctx, func() error {
		cur, err := a.listener(ctx, in.ListenerArn)
		if err != nil {
			return err
		}
		rec = cur.Value
		t := &txn{}
		if in.DefaultActions != nil {
			acts, err := a.checkActions(ctx, in.DefaultActions, rec.LoadBalancerARN)
			if err != nil {
				return err
			}
			rec.DefaultActions = acts.actions
			touchGroups(t, acts.groups)
		}
		if in.Port != nil && int(*in.Port) != rec.Port {
			port := int(*in.Port)
			owner, taken, err := a.portOwner(ctx, port)
			if err != nil {
				return err
			}
			if taken {
				return a.errPortTaken(port, owner, rec.LoadBalancerARN)
			}
			t.drop(state.ListenerPortKey(rec.Port))
			t.create(state.ListenerPortKey(port), state.PortIndex{ListenerID: rec.ID, ListenerARN: rec.ARN, LoadBalancerARN: rec.LoadBalancerARN})
			rec.Port = port
		}
		t.update(cur.Key, cur.ModRevision, rec)
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyListenerOutput{Listeners: []elbv2types.Listener{renderListener(rec)}}, nil
}

// DescribeListeners lists the listeners of a load balancer, or by ARN.
func (a *API) DescribeListeners(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeListenersInput) (*elbv2types.DescribeListenersOutput, error) {
	var sel []state.Listener
	switch {
	case in.LoadBalancerArn != "" && len(in.ListenerArns) > 0:
		return nil, validationErr("Listener ARNs and a load balancer ARN cannot be specified at the same time")
	case in.LoadBalancerArn != "":
		lbIt, err := a.loadBalancer(ctx, in.LoadBalancerArn)
		if err != nil {
			return nil, err
		}
		items, err := state.List[state.Listener](ctx, a.store, state.ListenersPrefix(lbIt.Value.ID), store.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			sel = append(sel, it.Value)
		}
	case len(in.ListenerArns) > 0:
		for _, arnStr := range in.ListenerArns {
			it, err := a.listener(ctx, arnStr)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(sel, func(l state.Listener) bool { return l.ID == it.Value.ID }) {
				sel = append(sel, it.Value)
			}
		}
	default:
		return nil, validationErr("You must specify either listener ARNs or a load balancer ARN")
	}
	slices.SortFunc(sel, func(x, y state.Listener) int { return x.Port - y.Port })
	pg, next, err := page(sel, func(l state.Listener) string { return fmt.Sprintf("%05d", l.Port) }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2types.DescribeListenersOutput{NextMarker: next, Listeners: []elbv2types.Listener{}}
	for _, l := range pg {
		out.Listeners = append(out.Listeners, renderListener(l))
	}
	return out, nil
}

// DeleteListener deletes a listener and its rules.
func (a *API) DeleteListener(ctx context.Context, _ *awsproto.Call, in *elbv2types.DeleteListenerInput) (*elbv2types.DeleteListenerOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	err := store.RetryConflicts(ctx, func() error {
		cur, err := a.listener(ctx, in.ListenerArn)
		if err != nil {
			return err
		}
		t := &txn{}
		if err := a.deleteListenerOps(ctx, t, cur); err != nil {
			return err
		}
		return a.commit(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.DeleteListenerOutput{}, nil
}

// deleteListenerOps adds to t the deletion of listener l, its port, its
// rules and their priorities.
func (a *API) deleteListenerOps(ctx context.Context, t *txn, l state.Item[state.Listener]) error {
	t.remove(l.Key, l.ModRevision)
	owner, taken, err := a.portOwner(ctx, l.Value.Port)
	if err != nil {
		return err
	}
	if taken && owner.ListenerID == l.Value.ID {
		t.drop(state.ListenerPortKey(l.Value.Port))
	}
	for _, prefix := range []string{state.RulesPrefix(l.Value.ID), state.RulePrioritiesPrefix(l.Value.ID)} {
		kvs, _, err := a.store.List(ctx, prefix, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			t.drop(kv.Key)
		}
	}
	return nil
}
