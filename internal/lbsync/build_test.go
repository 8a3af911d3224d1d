package lbsync

import (
	"reflect"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
)

const (
	lbARN   = "arn:aws:elasticloadbalancing:us-east-1:0:loadbalancer/app/web/aaaaaaaaaaaaaaaa"
	l80ARN  = "arn:aws:elasticloadbalancing:us-east-1:0:listener/app/web/aaaaaaaaaaaaaaaa/1111111111111111"
	l81ARN  = "arn:aws:elasticloadbalancing:us-east-1:0:listener/app/web/aaaaaaaaaaaaaaaa/2222222222222222"
	blueARN = "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/blue/bbbbbbbbbbbbbbbb"
	grnARN  = "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/green/cccccccccccccccc"
	idleARN = "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/idle/dddddddddddddddd"
)

func i32(n int32) *int32 { return &n }
func bp(b bool) *bool    { return &b }

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func health() state.ELBHealth {
	return state.ELBHealth{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/health", IntervalSeconds: 10,
		TimeoutSeconds: 5, HealthyThreshold: 3, UnhealthyThreshold: 2, Matcher: "200-299"}
}

func forward(arn string) elbv2types.Action {
	return elbv2types.Action{Type: "forward", TargetGroupArn: arn, Order: i32(1), ForwardConfig: &elbv2types.ForwardActionConfig{
		TargetGroups: []elbv2types.TargetGroupTuple{{TargetGroupArn: arn, Weight: i32(1)}}, TargetGroupStickinessConfig: &elbv2types.TargetGroupStickinessConfig{Enabled: bp(false)}}}
}

func baseSnapshot() state.ELBv2Snapshot {
	return state.ELBv2Snapshot{
		LoadBalancers: []state.LoadBalancer{{ID: "aaaaaaaaaaaaaaaa", Name: "web", ARN: lbARN}},
		Listeners: []state.Listener{
			{ID: "2222222222222222", ARN: l81ARN, LoadBalancerID: "aaaaaaaaaaaaaaaa", LoadBalancerARN: lbARN, Port: 81, Protocol: "HTTP",
				DefaultRuleARN: l81ARN + "-default", DefaultActions: []elbv2types.Action{{Type: "redirect", Order: i32(1),
					RedirectConfig: &elbv2types.RedirectActionConfig{Protocol: "#{protocol}", Host: "#{host}", Port: "80", Path: "/#{path}", Query: "#{query}", StatusCode: "HTTP_302"}}}},
			{ID: "1111111111111111", ARN: l80ARN, LoadBalancerID: "aaaaaaaaaaaaaaaa", LoadBalancerARN: lbARN, Port: 80, Protocol: "HTTP",
				DefaultRuleARN: l80ARN + "-default", DefaultActions: []elbv2types.Action{forward(blueARN)}},
		},
		Rules: []state.Rule{
			{ID: "r2", ARN: "rule-20", ListenerID: "1111111111111111", Priority: 20,
				Conditions: []elbv2types.RuleCondition{{Field: "http-header", HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: "X-Env", Values: []string{"canary"}}},
					{Field: "query-string", QueryStringConfig: &elbv2types.QueryStringConditionConfig{Values: []elbv2types.QueryStringKeyValuePair{{Key: "v", Value: "2"}}}}},
				Actions: []elbv2types.Action{{Type: "fixed-response", Order: i32(1), FixedResponseConfig: &elbv2types.FixedResponseActionConfig{StatusCode: "503", ContentType: "text/plain", MessageBody: "down"}}}},
			{ID: "r1", ARN: "rule-10", ListenerID: "1111111111111111", Priority: 10,
				Conditions: []elbv2types.RuleCondition{{Field: "path-pattern", Values: []string{"/api/*"}, PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: []string{"/api/*"}}},
					{Field: "source-ip", SourceIpConfig: &elbv2types.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}}},
				Actions: []elbv2types.Action{{Type: "forward", Order: i32(1), ForwardConfig: &elbv2types.ForwardActionConfig{
					TargetGroups:                []elbv2types.TargetGroupTuple{{TargetGroupArn: blueARN, Weight: i32(90)}, {TargetGroupArn: grnARN, Weight: i32(10)}},
					TargetGroupStickinessConfig: &elbv2types.TargetGroupStickinessConfig{Enabled: bp(true), DurationSeconds: i32(60)}}}}},
		},
		TargetGroups: []state.TargetGroup{
			{ID: "bbbbbbbbbbbbbbbb", Name: "blue", ARN: blueARN, Protocol: "HTTP", Port: 80, TargetType: "instance", HealthCheck: health(),
				Attributes: map[string]string{"deregistration_delay.timeout_seconds": "30", "load_balancing.algorithm.type": "least_outstanding_requests",
					"stickiness.enabled": "true", "stickiness.type": "lb_cookie", "stickiness.lb_cookie.duration_seconds": "120", "slow_start.duration_seconds": "30"}},
			{ID: "cccccccccccccccc", Name: "green", ARN: grnARN, Protocol: "HTTP", Port: 8080, TargetType: "ip", HealthCheck: health()},
			{ID: "dddddddddddddddd", Name: "idle", ARN: idleARN, Protocol: "HTTP", Port: 80, TargetType: "ip", HealthCheck: health()},
		},
		Registrations: []state.Registration{
			{TargetGroupID: "bbbbbbbbbbbbbbbb", TargetID: "i-2", Port: 32770, RegisteredAt: t0},
			{TargetGroupID: "bbbbbbbbbbbbbbbb", TargetID: "i-1", Port: 32769, RegisteredAt: t0, Draining: true, DeregisteredAt: t0.Add(time.Minute)},
			{TargetGroupID: "bbbbbbbbbbbbbbbb", TargetID: "i-1", Port: 32768, RegisteredAt: t0, AvailabilityZone: "us-east-1a"},
			{TargetGroupID: "bbbbbbbbbbbbbbbb", TargetID: "i-missing", Port: 80, RegisteredAt: t0},
			{TargetGroupID: "cccccccccccccccc", TargetID: "172.17.0.5", Port: 8080, RegisteredAt: t0},
		},
		Instances: []state.ContainerInstance{
			{ID: "ci-old", EC2InstanceID: "i-1", Status: "INACTIVE", Address: "10.0.0.99", RegisteredAt: t0.Add(time.Hour)},
			{ID: "ci-1", EC2InstanceID: "i-1", Status: "ACTIVE", Address: "10.0.0.1", RegisteredAt: t0},
			{ID: "ci-2", EC2InstanceID: "i-2", Status: "ACTIVE"},
		},
	}
}

func TestBuild(t *testing.T) {
	hc := lb.HealthCheck{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/health", Interval: 10 * time.Second,
		Timeout: 5 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 2, Matcher: "200-299"}
	defaults := func(tg *lb.TargetGroup) *lb.TargetGroup {
		tg.Algorithm = lb.AlgorithmRoundRobin
		tg.DeregistrationDelay = 300 * time.Second
		tg.Stickiness = lb.Stickiness{Type: lb.StickinessTypeLBCookie, Duration: 86400 * time.Second}
		return tg
	}
	want := &lb.Config{
		Listeners: []lb.Listener{
			{ARN: l80ARN, LoadBalancerARN: lbARN, Addr: "10.1.2.3:80", Protocol: "HTTP", Rules: []lb.Rule{
				{ARN: "rule-10", Priority: 10,
					Conditions: []lb.Condition{{Field: lb.FieldPathPattern, Values: []string{"/api/*"}}, {Field: lb.FieldSourceIP, Values: []string{"10.0.0.0/8"}}},
					Actions: []lb.Action{{Type: lb.ActionForward, Forward: &lb.Forward{
						TargetGroups: []lb.WeightedTargetGroup{{ARN: blueARN, Weight: 90}, {ARN: grnARN, Weight: 10}}, GroupStickiness: time.Minute}}}},
				{ARN: "rule-20", Priority: 20,
					Conditions: []lb.Condition{{Field: lb.FieldHTTPHeader, HeaderName: "X-Env", Values: []string{"canary"}},
						{Field: lb.FieldQueryString, Query: []lb.KeyValue{{Key: "v", Value: "2"}}}},
					Actions: []lb.Action{{Type: lb.ActionFixedResponse, FixedResponse: &lb.FixedResponse{StatusCode: 503, ContentType: "text/plain", Body: "down"}}}},
				{ARN: l80ARN + "-default", IsDefault: true,
					Actions: []lb.Action{{Type: lb.ActionForward, Forward: &lb.Forward{TargetGroups: []lb.WeightedTargetGroup{{ARN: blueARN, Weight: 1}}}}}},
			}},
			{ARN: l81ARN, LoadBalancerARN: lbARN, Addr: "10.1.2.3:81", Protocol: "HTTP", Rules: []lb.Rule{
				{ARN: l81ARN + "-default", IsDefault: true, Actions: []lb.Action{{Type: lb.ActionRedirect, Redirect: &lb.Redirect{
					Protocol: "#{protocol}", Host: "#{host}", Port: "80", Path: "/#{path}", Query: "#{query}", StatusCode: 302}}}},
			}},
		},
		TargetGroups: map[string]*lb.TargetGroup{
			blueARN: {ARN: blueARN, Name: "blue", Protocol: "HTTP", Port: 80, TargetType: "instance", InUse: true, HealthCheck: hc,
				Algorithm: lb.AlgorithmLeastOutstanding, DeregistrationDelay: 30 * time.Second, SlowStart: 30 * time.Second,
				Stickiness: lb.Stickiness{Enabled: true, Type: lb.StickinessTypeLBCookie, Duration: 2 * time.Minute},
				Targets: []lb.Target{
					{ID: "i-1", Port: 32768, Addr: "10.0.0.1:32768", AvailabilityZone: "us-east-1a", RegisteredAt: t0},
					{ID: "i-1", Port: 32769, Addr: "10.0.0.1:32769", RegisteredAt: t0, Draining: true, DeregisteredAt: t0.Add(time.Minute)},
					{ID: "i-2", Port: 32770, Addr: "127.0.0.1:32770", RegisteredAt: t0},
					{ID: "i-missing", Port: 80, RegisteredAt: t0},
				}},
			grnARN: defaults(&lb.TargetGroup{ARN: grnARN, Name: "green", Protocol: "HTTP", Port: 8080, TargetType: "ip", InUse: true, HealthCheck: hc,
				Targets: []lb.Target{{ID: "172.17.0.5", Port: 8080, Addr: "172.17.0.5:8080", RegisteredAt: t0}}}),
			idleARN: defaults(&lb.TargetGroup{ARN: idleARN, Name: "idle", Protocol: "HTTP", Port: 80, TargetType: "ip", HealthCheck: hc}),
		},
	}
	tests := []struct {
		name string
		snap func() state.ELBv2Snapshot
		addr string
		want func() *lb.Config
	}{
		{"everything", baseSnapshot, "10.1.2.3", func() *lb.Config { return want }},
		{"empty", func() state.ELBv2Snapshot { return state.ELBv2Snapshot{} }, "127.0.0.1",
			func() *lb.Config { return &lb.Config{TargetGroups: map[string]*lb.TargetGroup{}} }},
		{"listener of a deleted load balancer is left out; its groups are unused", func() state.ELBv2Snapshot {
			s := baseSnapshot()
			s.LoadBalancers = nil
			return s
		}, "10.1.2.3", func() *lb.Config {
			c := &lb.Config{TargetGroups: map[string]*lb.TargetGroup{}}
			for arn, tg := range want.TargetGroups {
				cp := *tg
				cp.InUse = false
				c.TargetGroups[arn] = &cp
			}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.snap(), tt.addr)
			w := tt.want()
			if !reflect.DeepEqual(got.Listeners, w.Listeners) {
				t.Errorf("listeners:\n got %+v\nwant %+v", got.Listeners, w.Listeners)
			}
			if len(got.TargetGroups) != len(w.TargetGroups) {
				t.Fatalf("%d groups, want %d", len(got.TargetGroups), len(w.TargetGroups))
			}
			for arn, tg := range w.TargetGroups {
				if !reflect.DeepEqual(got.TargetGroups[arn], tg) {
					t.Errorf("group %s:\n got %+v\nwant %+v", arn, got.TargetGroups[arn], tg)
				}
			}
		})
	}
}
