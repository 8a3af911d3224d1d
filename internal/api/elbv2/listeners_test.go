package elbv2_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func TestListenersAndActions(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.createLB(t, "web")
	lbARN := aws.ToString(l.LoadBalancerArn)
	g := e.createTG(t, "blue", types.TargetTypeEnumIp, 80)
	g2 := e.createTG(t, "green", types.TargetTypeEnumIp, 80)
	blue, green := aws.ToString(g.TargetGroupArn), aws.ToString(g2.TargetGroupArn)

	li := e.createListener(t, lbARN, 8080, blue)
	larn := aws.ToString(li.ListenerArn)
	if !strings.HasPrefix(larn, strings.Replace(lbARN, ":loadbalancer/", ":listener/", 1)+"/") || len(idOf(larn)) != 16 {
		t.Fatalf("listener ARN %s (load balancer %s)", larn, lbARN)
	}
	da := li.DefaultActions[0]
	if da.Type != types.ActionTypeEnumForward || aws.ToString(da.TargetGroupArn) != blue || da.ForwardConfig == nil ||
		len(da.ForwardConfig.TargetGroups) != 1 || aws.ToInt32(da.ForwardConfig.TargetGroups[0].Weight) != 1 ||
		aws.ToBool(da.ForwardConfig.TargetGroupStickinessConfig.Enabled) || aws.ToInt32(da.Order) != 1 {
		t.Fatalf("default action %+v", da)
	}
	// The same listener again is the same; another port of this LB or of
	// another LB on a taken port is a duplicate.
	if again := e.createListener(t, lbARN, 8080, blue); aws.ToString(again.ListenerArn) != larn {
		t.Fatal("idempotent create made another listener")
	}
	_, err := e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(8080), DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(green)}}})
	wantCode(t, err, "DuplicateListener")
	other := e.createLB(t, "other")
	_, err = e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: other.LoadBalancerArn, Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(8080), DefaultActions: []types.Action{fixed("404")}})
	wantCode(t, err, "DuplicateListener")
	if !strings.Contains(err.Error(), "same address") {
		t.Fatalf("the message does not say why: %v", err)
	}

	bad := []struct {
		name string
		in   elb.CreateListenerInput
		code string
	}{
		{"https", elb.CreateListenerInput{Protocol: types.ProtocolEnumHttps}, "UnsupportedProtocol"},
		{"port 0", elb.CreateListenerInput{Port: aws.Int32(0)}, "ValidationError"},
		{"port 65536", elb.CreateListenerInput{Port: aws.Int32(65536)}, "ValidationError"},
		{"no actions", elb.CreateListenerInput{DefaultActions: []types.Action{}}, "ValidationError"},
		{"missing group", elb.CreateListenerInput{DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward,
			TargetGroupArn: aws.String(strings.Replace(blue, "/blue/", "/nope/", 1))}}}, "TargetGroupNotFound"},
		{"weight", elb.CreateListenerInput{DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward,
			ForwardConfig: &types.ForwardActionConfig{TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: aws.String(blue), Weight: aws.Int32(1000)}}}}}}, "ValidationError"},
		{"stickiness without duration", elb.CreateListenerInput{DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward,
			ForwardConfig: &types.ForwardActionConfig{TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: aws.String(blue)}},
				TargetGroupStickinessConfig: &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true)}}}}}, "ValidationError"},
		{"fixed status", elb.CreateListenerInput{DefaultActions: []types.Action{fixed("302")}}, "ValidationError"},
		{"redirect loop", elb.CreateListenerInput{DefaultActions: []types.Action{{Type: types.ActionTypeEnumRedirect,
			RedirectConfig: &types.RedirectActionConfig{StatusCode: types.RedirectActionStatusCodeEnumHttp301}}}}, "InvalidLoadBalancerAction"},
		{"authenticate", elb.CreateListenerInput{DefaultActions: []types.Action{{Type: types.ActionTypeEnumAuthenticateOidc,
			AuthenticateOidcConfig: &types.AuthenticateOidcActionConfig{Issuer: aws.String("i"), AuthorizationEndpoint: aws.String("a"),
				TokenEndpoint: aws.String("t"), UserInfoEndpoint: aws.String("u"), ClientId: aws.String("c")}}}}, "InvalidLoadBalancerAction"},
		{"two terminal", elb.CreateListenerInput{DefaultActions: []types.Action{fixed("404"), fixed("503")}}, "InvalidLoadBalancerAction"},
		{"missing lb", elb.CreateListenerInput{LoadBalancerArn: aws.String(strings.Replace(lbARN, "/web/", "/nope/", 1))}, "LoadBalancerNotFound"},
	}
	for _, tc := range bad {
		in := tc.in
		if in.LoadBalancerArn == nil {
			in.LoadBalancerArn = aws.String(lbARN)
		}
		if in.Protocol == "" {
			in.Protocol = types.ProtocolEnumHttp
		}
		if in.Port == nil {
			in.Port = aws.Int32(9090)
		}
		if in.DefaultActions == nil {
			in.DefaultActions = []types.Action{fixed("200")}
		}
		_, err := e.c.CreateListener(ctx, &in)
		t.Run(tc.name, func(t *testing.T) { wantCode(t, err, tc.code) })
	}

	// Weighted forward with group stickiness; redirect defaults.
	w, err := e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(8081), DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{
			TargetGroups:                []types.TargetGroupTuple{{TargetGroupArn: aws.String(blue), Weight: aws.Int32(90)}, {TargetGroupArn: aws.String(green), Weight: aws.Int32(10)}},
			TargetGroupStickinessConfig: &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(300)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	fc := w.Listeners[0].DefaultActions[0]
	if fc.TargetGroupArn != nil || len(fc.ForwardConfig.TargetGroups) != 2 || aws.ToInt32(fc.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds) != 300 {
		t.Fatalf("weighted forward %+v", fc)
	}
	r, err := e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(8082), DefaultActions: []types.Action{{Type: types.ActionTypeEnumRedirect,
			RedirectConfig: &types.RedirectActionConfig{Port: aws.String("8080"), StatusCode: types.RedirectActionStatusCodeEnumHttp302}}}})
	if err != nil {
		t.Fatal(err)
	}
	rc := r.Listeners[0].DefaultActions[0].RedirectConfig
	if aws.ToString(rc.Protocol) != "#{protocol}" || aws.ToString(rc.Host) != "#{host}" || aws.ToString(rc.Path) != "/#{path}" ||
		aws.ToString(rc.Query) != "#{query}" || aws.ToString(rc.Port) != "8080" {
		t.Fatalf("redirect defaults %+v", rc)
	}

	desc, err := e.c.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil {
		t.Fatal(err)
	}
	var ports []int32
	for _, x := range desc.Listeners {
		ports = append(ports, aws.ToInt32(x.Port))
	}
	if !slices.Equal(ports, []int32{8080, 8081, 8082}) {
		t.Fatalf("ports %v", ports)
	}
	_, err = e.c.DescribeListeners(ctx, &elb.DescribeListenersInput{})
	wantCode(t, err, "ValidationError")

	// Modify: move the port (the old one is free again), change actions.
	m, err := e.c.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(larn), Port: aws.Int32(8090),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(green)}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(m.Listeners[0].Port) != 8090 || aws.ToString(m.Listeners[0].DefaultActions[0].TargetGroupArn) != green {
		t.Fatalf("modified %+v", m.Listeners[0])
	}
	_, err = e.c.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(larn), Port: aws.Int32(8081)})
	wantCode(t, err, "DuplicateListener")
	if _, err := e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: other.LoadBalancerArn, Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(8080), DefaultActions: []types.Action{fixed("404")}}); err != nil {
		t.Fatalf("the freed port: %v", err)
	}
	if _, err := e.c.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: aws.String(larn)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: aws.String(larn)})
	wantCode(t, err, "ListenerNotFound")
}

func fixed(code string) types.Action {
	return types.Action{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
		StatusCode: aws.String(code), ContentType: aws.String("text/plain"), MessageBody: aws.String("hi")}}
}

func TestRules(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.createLB(t, "web")
	g := e.createTG(t, "api", types.TargetTypeEnumIp, 80)
	tg := aws.ToString(g.TargetGroupArn)
	li := e.createListener(t, aws.ToString(l.LoadBalancerArn), 8080, tg)
	larn := aws.ToString(li.ListenerArn)
	create := func(prio int32, conds ...types.RuleCondition) (*elb.CreateRuleOutput, error) {
		return e.c.CreateRule(ctx, &elb.CreateRuleInput{ListenerArn: aws.String(larn), Priority: aws.Int32(prio),
			Conditions: conds, Actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}})
	}
	path := func(v ...string) types.RuleCondition {
		return types.RuleCondition{Field: aws.String("path-pattern"), Values: v}
	}
	r1, err := create(10, path("/api/*"))
	if err != nil {
		t.Fatal(err)
	}
	rule := r1.Rules[0]
	if aws.ToString(rule.Priority) != "10" || aws.ToBool(rule.IsDefault) || !slices.Equal(rule.Conditions[0].Values, []string{"/api/*"}) ||
		!slices.Equal(rule.Conditions[0].PathPatternConfig.Values, []string{"/api/*"}) ||
		!strings.HasPrefix(aws.ToString(rule.RuleArn), strings.Replace(larn, ":listener/", ":listener-rule/", 1)+"/") {
		t.Fatalf("rule %+v", rule)
	}
	r2, err := create(20,
		types.RuleCondition{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{Values: []string{"*.example.com"}}},
		types.RuleCondition{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Env"), Values: []string{"canary"}}},
		types.RuleCondition{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"GET"}}},
		types.RuleCondition{Field: aws.String("query-string"), QueryStringConfig: &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("v"), Value: aws.String("2")}}}},
		types.RuleCondition{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	_, err = create(10, path("/x"))
	wantCode(t, err, "PriorityInUse")
	for name, conds := range map[string][]types.RuleCondition{
		"unknown field":    {{Field: aws.String("cookie"), Values: []string{"x"}}},
		"too many values":  {path("/a", "/b", "/c", "/d", "/e", "/f")},
		"two paths":        {path("/a"), path("/b")},
		"bad cidr":         {{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.1"}}}},
		"header no config": {{Field: aws.String("http-header"), Values: []string{"x"}}},
		"both forms":       {{Field: aws.String("path-pattern"), Values: []string{"/a"}, PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/b"}}}},
		"bad method":       {{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"G T"}}}},
	} {
		_, err := create(30, conds...)
		t.Run(name, func(t *testing.T) { wantCode(t, err, "ValidationError") })
	}
	_, err = create(50001, path("/x"))
	wantCode(t, err, "ValidationError")

	list := func() []string {
		t.Helper()
		out, err := e.c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(larn)})
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range out.Rules {
			s = append(s, aws.ToString(r.Priority))
		}
		return s
	}
	if got := list(); !slices.Equal(got, []string{"10", "20", "default"}) {
		t.Fatalf("rules %v", got)
	}
	out, err := e.c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(larn), PageSize: aws.Int32(1)})
	if err != nil || len(out.Rules) != 1 || aws.ToString(out.NextMarker) == "" {
		t.Fatalf("paged: %v %+v", err, out)
	}
	all, _ := e.c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(larn)})
	def := all.Rules[2]
	if !aws.ToBool(def.IsDefault) || len(def.Conditions) != 0 || aws.ToString(def.Actions[0].TargetGroupArn) != tg {
		t.Fatalf("default rule %+v", def)
	}
	byARN, err := e.c.DescribeRules(ctx, &elb.DescribeRulesInput{RuleArns: []string{aws.ToString(def.RuleArn), aws.ToString(rule.RuleArn)}})
	if err != nil || len(byARN.Rules) != 2 || aws.ToString(byARN.Rules[1].Priority) != "default" {
		t.Fatalf("by ARN: %v %+v", err, byARN)
	}

	// Swap priorities in one call.
	sp, err := e.c.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{
		{RuleArn: rule.RuleArn, Priority: aws.Int32(20)}, {RuleArn: r2.Rules[0].RuleArn, Priority: aws.Int32(10)}}})
	if err != nil || len(sp.Rules) != 2 {
		t.Fatalf("swap: %v", err)
	}
	got, _ := e.c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(larn)})
	if aws.ToString(got.Rules[0].RuleArn) != aws.ToString(r2.Rules[0].RuleArn) || aws.ToString(got.Rules[1].RuleArn) != aws.ToString(rule.RuleArn) {
		t.Fatalf("after swap: %+v", got.Rules)
	}
	r3, err := create(30, path("/z"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: r3.Rules[0].RuleArn, Priority: aws.Int32(10)}}})
	wantCode(t, err, "PriorityInUse")
	_, err = e.c.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: def.RuleArn, Priority: aws.Int32(5)}}})
	wantCode(t, err, "OperationNotPermitted")

	// Modify; the default rule's actions only.
	mr, err := e.c.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: rule.RuleArn, Conditions: []types.RuleCondition{path("/v2/*")},
		Actions: []types.Action{fixed("503")}})
	if err != nil || mr.Rules[0].Actions[0].Type != types.ActionTypeEnumFixedResponse || mr.Rules[0].Conditions[0].Values[0] != "/v2/*" {
		t.Fatalf("modify: %v %+v", err, mr)
	}
	if _, err := e.c.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: def.RuleArn, Actions: []types.Action{fixed("404")}}); err != nil {
		t.Fatal(err)
	}
	dl, _ := e.c.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{larn}})
	if dl.Listeners[0].DefaultActions[0].Type != types.ActionTypeEnumFixedResponse {
		t.Fatalf("default actions after ModifyRule: %+v", dl.Listeners[0].DefaultActions)
	}
	_, err = e.c.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: def.RuleArn, Conditions: []types.RuleCondition{path("/x")}})
	wantCode(t, err, "OperationNotPermitted")

	_, err = e.c.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: def.RuleArn})
	wantCode(t, err, "OperationNotPermitted")
	if _, err := e.c.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: rule.RuleArn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: rule.RuleArn})
	wantCode(t, err, "RuleNotFound")
	if _, err := create(20, path("/again")); err != nil {
		t.Fatalf("the deleted rule's priority: %v", err)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.createLB(t, "web")
	g := e.createTG(t, "tg", types.TargetTypeEnumIp, 80)
	li := e.createListener(t, aws.ToString(l.LoadBalancerArn), 8080, aws.ToString(g.TargetGroupArn))
	rules, _ := e.c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: li.ListenerArn})
	arns := []string{aws.ToString(l.LoadBalancerArn), aws.ToString(g.TargetGroupArn), aws.ToString(li.ListenerArn), aws.ToString(rules.Rules[0].RuleArn)}
	if _, err := e.c.AddTags(ctx, &elb.AddTagsInput{ResourceArns: arns, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")},
		{Key: aws.String("team"), Value: aws.String("web")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AddTags(ctx, &elb.AddTagsInput{ResourceArns: arns[:1], Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.RemoveTags(ctx, &elb.RemoveTagsInput{ResourceArns: arns[1:], TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	d, err := e.c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: arns})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"env=prod,team=web", "env=dev", "env=dev", "env=dev"}
	for i, td := range d.TagDescriptions {
		var kv []string
		for _, tg := range td.Tags {
			kv = append(kv, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
		}
		if aws.ToString(td.ResourceArn) != arns[i] || strings.Join(kv, ",") != want[i] {
			t.Errorf("%s: %v, want %s", arns[i], kv, want[i])
		}
	}
	_, err = e.c.AddTags(ctx, &elb.AddTagsInput{ResourceArns: arns[:1], Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("2")}}})
	wantCode(t, err, "DuplicateTagKeys")
	_, err = e.c.AddTags(ctx, &elb.AddTagsInput{ResourceArns: arns[:1], Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("1")}}})
	wantCode(t, err, "ValidationError")
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String("k" + string(rune('a'+i%26)) + string(rune('a'+i/26))), Value: aws.String("v")})
	}
	_, err = e.c.AddTags(ctx, &elb.AddTagsInput{ResourceArns: arns[:1], Tags: many})
	wantCode(t, err, "TooManyTags")
	_, err = e.c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{strings.Replace(arns[0], "/web/", "/nope/", 1)}})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = e.c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{strings.Replace(arns[1], "/tg/", "/nope/", 1)}})
	wantCode(t, err, "TargetGroupNotFound")
	_, err = e.c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{"arn:aws:ecs:us-east-1:000000000000:cluster/x"}})
	wantCode(t, err, "ValidationError")
	// Tags given at creation.
	c, err := e.c.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("tagged"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ = e.c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{aws.ToString(c.TargetGroups[0].TargetGroupArn)}})
	if len(d.TagDescriptions[0].Tags) != 1 || aws.ToString(d.TagDescriptions[0].Tags[0].Key) != "x" {
		t.Fatalf("creation tags %+v", d.TagDescriptions)
	}
}

// Unimplemented operations answer InvalidAction, as awsproto does for any
// unknown action.
func TestUnimplementedOperation(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.DescribeSSLPolicies(ctxT(t), &elb.DescribeSSLPoliciesInput{})
	wantCode(t, err, "InvalidAction")
}
