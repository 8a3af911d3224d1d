package elbv2

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
)

// Redirect placeholders, ALB's defaults for the parts a redirect leaves out.
const (
	redirProtocol = "#{protocol}"
	redirHost     = "#{host}"
	redirPort     = "#{port}"
	redirPath     = "/#{path}"
	redirQuery    = "#{query}"
)

var (
	fixedStatusRe = regexp.MustCompile(`^[245]\d\d$`)
	contentTypes  = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}
)

func errAction(format string, args ...any) error {
	return errf(core.KindInvalid, elbv2types.ErrCodeInvalidLoadBalancerActionException, format, args...)
}

// checkedActions is a listener's or rule's actions with ALB's defaults
// filled in, in order, and the target groups they forward to.
type checkedActions struct {
	actions []elbv2types.Action
	groups  []state.Item[state.TargetGroup]
}

// checkActions validates the actions of a listener or rule of load
// balancer lbARN and fills in ALB's defaults: a forward to one target
// group gets its ForwardConfig (weight 1, group stickiness off) and a
// ForwardConfig with one group its TargetGroupArn; redirects get
// #{protocol}, #{host}, #{port}, /#{path} and #{query} for the parts they
// leave out; every action gets an Order.
func (a *API) checkActions(ctx context.Context, in []elbv2types.Action, lbARN string) (checkedActions, error) {
	var out checkedActions
	if len(in) == 0 {
		return out, validationErr("At least one action must be specified")
	}
	acts := slices.Clone(in)
	seenOrder := map[int32]bool{}
	for i := range acts {
		if acts[i].Order == nil {
			acts[i].Order = int32p(i + 1)
		}
		o := *acts[i].Order
		if o < 1 || o > 50000 {
			return out, validationErr("Action order '%d' must be between 1 and 50000", o)
		}
		if seenOrder[o] {
			return out, validationErr("Action order '%d' is used by more than one action", o)
		}
		seenOrder[o] = true
	}
	slices.SortStableFunc(acts, func(x, y elbv2types.Action) int { return int(*x.Order - *y.Order) })
	if len(acts) > 1 {
		return out, errAction("Only one terminal action (forward, fixed-response or redirect) can be specified, and minato supports no other actions")
	}
	assoc, err := a.associations(ctx)
	if err != nil {
		return out, err
	}
	for i := range acts {
		ac := &acts[i]
		if err := validate(ac); err != nil {
			return out, err
		}
		switch ac.Type {
		case elbv2types.ActionTypeEnumForward:
			groups, err := a.checkForward(ctx, ac, lbARN, assoc)
			if err != nil {
				return out, err
			}
			out.groups = append(out.groups, groups...)
			ac.FixedResponseConfig, ac.RedirectConfig = nil, nil
		case elbv2types.ActionTypeEnumFixedResponse:
			if err := checkFixedResponse(ac.FixedResponseConfig); err != nil {
				return out, err
			}
			ac.TargetGroupArn, ac.ForwardConfig, ac.RedirectConfig = "", nil, nil
		case elbv2types.ActionTypeEnumRedirect:
			if err := checkRedirect(ac.RedirectConfig); err != nil {
				return out, err
			}
			ac.TargetGroupArn, ac.ForwardConfig, ac.FixedResponseConfig = "", nil, nil
		default:
			return out, errAction("minato's load balancer does not support action type '%s': use forward, fixed-response or redirect", ac.Type)
		}
		ac.AuthenticateCognitoConfig, ac.AuthenticateOidcConfig, ac.JwtValidationConfig = nil, nil, nil
	}
	out.actions = acts
	return out, nil
}

func (a *API) checkForward(ctx context.Context, ac *elbv2types.Action, lbARN string, assoc associations) ([]state.Item[state.TargetGroup], error) {
	fc := ac.ForwardConfig
	switch {
	case fc == nil && ac.TargetGroupArn == "":
		return nil, validationErr("A forward action must specify a target group ARN or a forward config")
	case fc == nil:
		fc = &elbv2types.ForwardActionConfig{TargetGroups: []elbv2types.TargetGroupTuple{{TargetGroupArn: ac.TargetGroupArn, Weight: int32p(1)}}}
	case len(fc.TargetGroups) == 0:
		return nil, validationErr("A forward config must specify at least one target group")
	case ac.TargetGroupArn != "" && (len(fc.TargetGroups) != 1 || fc.TargetGroups[0].TargetGroupArn != ac.TargetGroupArn):
		return nil, validationErr("When a forward action specifies both a target group ARN and a forward config, the forward config must hold that one target group only")
	}
	if len(fc.TargetGroups) > 5 {
		return nil, errf(core.KindInvalid, elbv2types.ErrCodeTooManyTargetGroupsException, "A forward action can forward to at most 5 target groups")
	}
	next := &elbv2types.ForwardActionConfig{}
	var groups []state.Item[state.TargetGroup]
	var foreign []string
	for _, tup := range fc.TargetGroups {
		if tup.TargetGroupArn == "" {
			return nil, validationErr("A target group ARN must be specified for every target group of a forward config")
		}
		w := int32(1)
		if tup.Weight != nil {
			w = *tup.Weight
		}
		if w < 0 || w > 999 {
			return nil, validationErr("Target group weight '%d' must be between 0 and 999", w)
		}
		if slices.ContainsFunc(next.TargetGroups, func(t elbv2types.TargetGroupTuple) bool { return t.TargetGroupArn == tup.TargetGroupArn }) {
			return nil, validationErr("Target group '%s' is specified more than once", tup.TargetGroupArn)
		}
		g, err := a.targetGroup(ctx, tup.TargetGroupArn)
		if err != nil {
			return nil, err
		}
		for _, other := range assoc.loadBalancers(g.Value.ARN) {
			if other != lbARN {
				foreign = append(foreign, "'"+g.Value.ARN+"'")
				break
			}
		}
		groups = append(groups, g)
		next.TargetGroups = append(next.TargetGroups, elbv2types.TargetGroupTuple{TargetGroupArn: g.Value.ARN, Weight: int32p(int(w))})
	}
	if len(foreign) > 0 {
		return nil, errf(core.KindInvalid, elbv2types.ErrCodeTargetGroupAssociationLimitException,
			"The following target groups cannot be associated with more than one load balancer: %s", strings.Join(foreign, ", "))
	}
	st := &elbv2types.TargetGroupStickinessConfig{Enabled: boolp(false)}
	if sc := fc.TargetGroupStickinessConfig; sc != nil && sc.Enabled != nil && *sc.Enabled {
		if sc.DurationSeconds == nil || *sc.DurationSeconds < 1 || *sc.DurationSeconds > 604800 {
			return nil, validationErr("Target group stickiness duration must be between 1 and 604800 seconds when stickiness is enabled")
		}
		st = &elbv2types.TargetGroupStickinessConfig{Enabled: boolp(true), DurationSeconds: sc.DurationSeconds}
	}
	next.TargetGroupStickinessConfig = st
	ac.ForwardConfig = next
	ac.TargetGroupArn = ""
	if len(next.TargetGroups) == 1 {
		ac.TargetGroupArn = next.TargetGroups[0].TargetGroupArn
	}
	return groups, nil
}

func checkFixedResponse(fr *elbv2types.FixedResponseActionConfig) error {
	if fr == nil {
		return validationErr("A fixed-response action must specify a fixed response config")
	}
	if !fixedStatusRe.MatchString(fr.StatusCode) {
		return validationErr("Fixed response status code '%s' must be a 2XX, 4XX or 5XX code", fr.StatusCode)
	}
	if fr.ContentType != "" && !slices.Contains(contentTypes, fr.ContentType) {
		return validationErr("Fixed response content type '%s' must be one of %s", fr.ContentType, strings.Join(contentTypes, ", "))
	}
	if len(fr.MessageBody) > 1024 {
		return validationErr("Fixed response message body cannot be longer than 1024 characters")
	}
	return nil
}

func checkRedirect(rc *elbv2types.RedirectActionConfig) error {
	if rc == nil {
		return validationErr("A redirect action must specify a redirect config")
	}
	if rc.StatusCode == "" {
		return validationErr("A redirect action must specify a status code (HTTP_301 or HTTP_302)")
	}
	if rc.Protocol == "" {
		rc.Protocol = redirProtocol
	}
	if rc.Host == "" {
		rc.Host = redirHost
	}
	if rc.Port == "" {
		rc.Port = redirPort
	}
	if rc.Path == "" {
		rc.Path = redirPath
	}
	if rc.Query == "" {
		rc.Query = redirQuery
	}
	switch rc.Protocol {
	case "HTTP", "HTTPS", redirProtocol:
	default:
		return validationErr("Redirect protocol '%s' must be HTTP, HTTPS or #{protocol}", rc.Protocol)
	}
	if rc.Port != redirPort {
		if n, err := strconv.Atoi(rc.Port); err != nil || n < 1 || n > 65535 {
			return validationErr("Redirect port '%s' must be between 1 and 65535 or #{port}", rc.Port)
		}
	}
	if !strings.HasPrefix(rc.Path, "/") {
		return validationErr("Redirect path '%s' must begin with '/'", rc.Path)
	}
	if strings.HasPrefix(rc.Query, "?") {
		return validationErr("Redirect query '%s' must not begin with '?'", rc.Query)
	}
	if len(rc.Host) > 128 || len(rc.Path) > 128 || len(rc.Query) > 128 {
		return validationErr("Redirect host, path and query cannot be longer than 128 characters")
	}
	if rc.Protocol == redirProtocol && rc.Host == redirHost && rc.Port == redirPort && rc.Path == redirPath && rc.Query == redirQuery {
		return errAction("The redirect configuration is not valid because it creates a loop.")
	}
	return nil
}
