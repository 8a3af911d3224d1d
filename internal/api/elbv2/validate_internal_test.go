package elbv2

import (
	"testing"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
)

func code(err error) string {
	if e, ok := core.AsError(err); ok {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestCheckMatcher(t *testing.T) {
	for m, ok := range map[string]bool{
		"200": true, "200,202": true, "200-299": true, "499": true, "404,200": true,
		"": false, "199": false, "500": false, "200-": false, "299-200": false, "2000": false, "200,,201": false, "abc": false,
	} {
		if got := checkMatcher(m) == nil; got != ok {
			t.Errorf("checkMatcher(%q) ok = %v, want %v", m, got, ok)
		}
	}
}

func TestCheckHealth(t *testing.T) {
	good := state.ELBHealth{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/", IntervalSeconds: 30,
		TimeoutSeconds: 5, HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: "200"}
	if err := checkHealth(good); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		f    func(*state.ELBHealth)
		code string
	}{
		"timeout equals interval": {func(h *state.ELBHealth) { h.TimeoutSeconds = 30 }, "ValidationError"},
		"interval 301":            {func(h *state.ELBHealth) { h.IntervalSeconds = 301 }, "ValidationError"},
		"timeout 1":               {func(h *state.ELBHealth) { h.TimeoutSeconds = 1 }, "ValidationError"},
		"port 0":                  {func(h *state.ELBHealth) { h.Port = "0" }, "ValidationError"},
		"port name":               {func(h *state.ELBHealth) { h.Port = "http" }, "ValidationError"},
		"path":                    {func(h *state.ELBHealth) { h.Path = "" }, "ValidationError"},
		"https":                   {func(h *state.ELBHealth) { h.Protocol = "HTTPS" }, "InvalidConfigurationRequest"},
		"healthy 1":               {func(h *state.ELBHealth) { h.HealthyThreshold = 1 }, "ValidationError"},
	} {
		h := good
		tc.f(&h)
		if got := code(checkHealth(h)); got != tc.code {
			t.Errorf("%s: %q, want %q", name, got, tc.code)
		}
	}
}

func TestCheckConditions(t *testing.T) {
	if _, err := checkConditions(nil); code(err) != "ValidationError" {
		t.Fatalf("no conditions: %v", err)
	}
	out, err := checkConditions([]elbv2types.RuleCondition{
		{Field: "host-header", Values: []string{"api.example.com"}},
		{Field: "http-header", HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: "X-A", Values: []string{"1"}}},
		{Field: "http-header", HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: "X-B", Values: []string{"2"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].HostHeaderConfig == nil || out[0].HostHeaderConfig.Values[0] != "api.example.com" || out[0].Values[0] != "api.example.com" {
		t.Fatalf("host-header not normalized: %+v", out[0])
	}
	if _, err := checkConditions([]elbv2types.RuleCondition{{Field: "host-header", Values: []string{"bad host!"}}}); code(err) != "ValidationError" {
		t.Fatalf("bad host: %v", err)
	}
	if _, err := checkConditions([]elbv2types.RuleCondition{{Field: "query-string", QueryStringConfig: &elbv2types.QueryStringConditionConfig{
		Values: []elbv2types.QueryStringKeyValuePair{{Key: "a"}}}}}); code(err) != "ValidationError" {
		t.Fatalf("query without value: %v", err)
	}
}

func TestCheckRedirect(t *testing.T) {
	rc := &elbv2types.RedirectActionConfig{Protocol: "HTTPS", StatusCode: "HTTP_301"}
	if err := checkRedirect(rc); err != nil {
		t.Fatal(err)
	}
	if rc.Host != "#{host}" || rc.Port != "#{port}" || rc.Path != "/#{path}" || rc.Query != "#{query}" {
		t.Fatalf("defaults %+v", rc)
	}
	for _, bad := range []elbv2types.RedirectActionConfig{
		{StatusCode: "HTTP_301"},                  // a loop
		{StatusCode: "HTTP_301", Protocol: "FTP"}, // protocol
		{StatusCode: "HTTP_301", Port: "0"},       // port
		{StatusCode: "HTTP_301", Path: "x"},       // path
		{StatusCode: "HTTP_301", Query: "?a=1"},   // query
		{Protocol: "HTTPS"},                       // status
	} {
		if err := checkRedirect(&bad); err == nil {
			t.Errorf("checkRedirect(%+v) accepted", bad)
		}
	}
}

func TestParseARN(t *testing.T) {
	for s, want := range map[string]parsedARN{
		"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/0123456789abcdef":                                    {kind: kindLoadBalancer, lbID: "0123456789abcdef"},
		"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg/0123456789abcdef":                                          {kind: kindTargetGroup, tgID: "0123456789abcdef"},
		"arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/aaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbb":                       {kind: kindListener, lbID: "aaaaaaaaaaaaaaaa", listenerID: "bbbbbbbbbbbbbbbb"},
		"arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/web/aaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbb/cccccccccccccccc": {kind: kindRule, lbID: "aaaaaaaaaaaaaaaa", listenerID: "bbbbbbbbbbbbbbbb", ruleID: "cccccccccccccccc"},
	} {
		got, ok := parseARN(s)
		if !ok || got != want {
			t.Errorf("parseARN(%s) = %+v %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "web", "arn:aws:ecs:us-east-1:1:cluster/x", "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1",
		"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup//1", "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1"} {
		if _, ok := parseARN(s); ok {
			t.Errorf("parseARN(%q) accepted", s)
		}
	}
}
