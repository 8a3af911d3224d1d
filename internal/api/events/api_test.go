package events_test

import (
	"context"
	"path/filepath"
	"testing"

	eventsapi "github.com/minato-project/minato/internal/api/events"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	ev "github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func newAPI(t *testing.T) (*eventsapi.API, store.Store) {
	t.Helper()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return eventsapi.New(eventsapi.Config{Store: b}), b
}

var call = &awsproto.Call{Region: "eu-west-1", Principal: awsproto.Principal{AccountID: "123456789012"}}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	e, ok := core.AsError(err)
	if !ok || e.Code != code {
		t.Errorf("%s: %v, want %s", what, err, code)
	}
}

func TestRulesAndErrors(t *testing.T) {
	ctx := context.Background()
	a, st := newAPI(t)
	out, err := a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "r1", EventPattern: `{"source":["aws.ecs"]}`})
	if err != nil || out.RuleArn != "arn:aws:events:eu-west-1:123456789012:rule/r1" {
		t.Fatalf("PutRule: %v %+v", err, out)
	}
	_, err = a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "bad", EventPattern: `{"source":"aws.ecs"}`})
	wantCode(t, "a leaf that is not an array", err, ev.ErrCodeInvalidEventPatternException)
	_, err = a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "bad", ScheduleExpression: "cron(* * * * * *)"})
	wantCode(t, "a cron without ?", err, ev.ValidationErrorCode)
	_, err = a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "bad"})
	wantCode(t, "neither pattern nor schedule", err, ev.ValidationErrorCode)
	_, err = a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "bad", EventPattern: `{"a":["b"]}`, EventBusName: "nope"})
	wantCode(t, "a bus that does not exist", err, ev.ErrCodeResourceNotFoundException)
	if _, err := a.CreateEventBus(ctx, call, &ev.CreateEventBusRequest{Name: "custom"}); err != nil {
		t.Fatal(err)
	}
	_, err = a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "s", ScheduleExpression: "rate(5 minutes)", EventBusName: "custom"})
	wantCode(t, "a schedule on a custom bus", err, ev.ValidationErrorCode)
	out, err = a.PutRule(ctx, call, &ev.PutRuleRequest{Name: "r2", EventPattern: `{"a":["b"]}`,
		EventBusName: "arn:aws:events:eu-west-1:123456789012:event-bus/custom", Tags: []ev.Tag{{Key: "team", Value: "ops"}}})
	if err != nil || out.RuleArn != "arn:aws:events:eu-west-1:123456789012:rule/custom/r2" {
		t.Fatalf("PutRule on a custom bus by ARN: %v %+v", err, out)
	}
	tags, err := a.ListTagsForResource(ctx, call, &ev.ListTagsForResourceRequest{ResourceARN: out.RuleArn})
	if err != nil || len(tags.Tags) != 1 || tags.Tags[0].Value != "ops" {
		t.Fatalf("ListTagsForResource: %v %+v", err, tags)
	}

	// Targets.
	logs := ev.Target{Id: "l", Arn: "arn:aws:logs:eu-west-1:123456789012:log-group:/g"}
	res, err := a.PutTargets(ctx, call, &ev.PutTargetsRequest{Rule: "r1", Targets: []ev.Target{logs,
		{Id: "lambda", Arn: "arn:aws:lambda:eu-west-1:123456789012:function:f"}}})
	if err != nil || res.FailedEntryCount != 1 || res.FailedEntries[0].TargetId != "lambda" {
		t.Fatalf("PutTargets: %v %+v", err, res)
	}
	for name, bad := range map[string]ev.Target{
		"not an ARN":       {Id: "x", Arn: "nope"},
		"two inputs":       {Id: "x", Arn: logs.Arn, Input: `{}`, InputPath: "$.detail"},
		"bad input path":   {Id: "x", Arn: logs.Arn, InputPath: "detail"},
		"bad input JSON":   {Id: "x", Arn: logs.Arn, Input: `{`},
		"ECS without task": {Id: "x", Arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/default"},
		"bad template":     {Id: "x", Arn: logs.Arn, InputTransformer: &ev.InputTransformer{InputPathsMap: map[string]string{"a b": "$.x"}, InputTemplate: "x"}},
	} {
		_, err := a.PutTargets(ctx, call, &ev.PutTargetsRequest{Rule: "r1", Targets: []ev.Target{bad}})
		wantCode(t, name, err, ev.ValidationErrorCode)
	}
	var many []ev.Target
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		many = append(many, ev.Target{Id: id, Arn: logs.Arn})
	}
	_, err = a.PutTargets(ctx, call, &ev.PutTargetsRequest{Rule: "r1", Targets: many})
	wantCode(t, "a sixth target", err, ev.ErrCodeLimitExceededException)
	_, err = a.DeleteRule(ctx, call, &ev.DeleteRuleRequest{Name: "r1"})
	wantCode(t, "a rule with targets", err, ev.ValidationErrorCode)
	lt, err := a.ListTargetsByRule(ctx, call, &ev.ListTargetsByRuleRequest{Rule: "r1"})
	if err != nil || len(lt.Targets) != 1 {
		t.Fatalf("ListTargetsByRule: %v %+v", err, lt)
	}
	if _, err := a.RemoveTargets(ctx, call, &ev.RemoveTargetsRequest{Rule: "r1", Ids: []string{"l"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DisableRule(ctx, call, &ev.DisableRuleRequest{Name: "r1"}); err != nil {
		t.Fatal(err)
	}
	d, err := a.DescribeRule(ctx, call, &ev.DescribeRuleRequest{Name: "r1"})
	if err != nil || d.State != ev.RuleStateDisabled || d.EventBusName != "default" {
		t.Fatalf("DescribeRule: %v %+v", err, d)
	}
	if _, err := a.DeleteRule(ctx, call, &ev.DeleteRuleRequest{Name: "r1"}); err != nil {
		t.Fatal(err)
	}
	_, err = a.DescribeRule(ctx, call, &ev.DescribeRuleRequest{Name: "r1"})
	wantCode(t, "a deleted rule", err, ev.ErrCodeResourceNotFoundException)

	// Paging.
	for _, n := range []string{"p1", "p2", "p3"} {
		if _, err := a.PutRule(ctx, call, &ev.PutRuleRequest{Name: n, EventPattern: `{"a":["b"]}`}); err != nil {
			t.Fatal(err)
		}
	}
	page1, err := a.ListRules(ctx, call, &ev.ListRulesRequest{NamePrefix: "p", Limit: 2})
	if err != nil || len(page1.Rules) != 2 || page1.NextToken == "" {
		t.Fatalf("ListRules page 1: %v %+v", err, page1)
	}
	page2, err := a.ListRules(ctx, call, &ev.ListRulesRequest{NamePrefix: "p", Limit: 2, NextToken: page1.NextToken})
	if err != nil || len(page2.Rules) != 1 || page2.Rules[0].Name != "p3" || page2.NextToken != "" {
		t.Fatalf("ListRules page 2: %v %+v", err, page2)
	}

	// PutEvents: good entries reach the outbox, bad ones are answered.
	pe, err := a.PutEvents(ctx, call, &ev.PutEventsRequest{Entries: []ev.PutEventsRequestEntry{
		{Source: "my.app", DetailType: "t", Detail: `{"a":1}`},
		{Source: "my.app", DetailType: "t", Detail: `[1]`},
		{Source: "aws.ecs", DetailType: "t", Detail: `{}`},
		{Source: "my.app", Detail: `{}`},
		{Source: "my.app", DetailType: "t", Detail: `{}`, EventBusName: "nope"},
	}})
	if err != nil || pe.FailedEntryCount != 4 || pe.Entries[0].EventId == "" || pe.Entries[1].ErrorCode != "MalformedDetail" ||
		pe.Entries[2].ErrorCode != "NotAuthorizedForSourceException" || pe.Entries[3].ErrorCode != "InvalidArgument" ||
		pe.Entries[4].ErrorCode != "InvalidArgument" {
		t.Fatalf("PutEvents: %v %+v", err, pe)
	}
	if kvs, _, _ := st.List(ctx, state.OutboxPrefix(), store.ListOptions{}); len(kvs) != 1 {
		t.Fatalf("%d outbox entries, want 1", len(kvs))
	}

	// TestEventPattern.
	tr, err := a.TestEventPattern(ctx, call, &ev.TestEventPatternRequest{EventPattern: `{"detail":{"n":[{"numeric":[">",1]}]}}`,
		Event: `{"id":"1","account":"1","source":"s","time":"t","region":"r","detail-type":"d","detail":{"n":2}}`})
	if err != nil || !tr.Result {
		t.Fatalf("TestEventPattern: %v %+v", err, tr)
	}
	_, err = a.TestEventPattern(ctx, call, &ev.TestEventPatternRequest{EventPattern: `{"a":["b"]}`, Event: `{"a":"b"}`})
	wantCode(t, "an event without its envelope", err, ev.ValidationErrorCode)
}

func TestConnectionsAndDestinations(t *testing.T) {
	ctx := context.Background()
	a, _ := newAPI(t)
	c, err := a.CreateConnection(ctx, call, &ev.CreateConnectionRequest{Name: "c", AuthorizationType: ev.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &ev.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &ev.CreateConnectionApiKeyAuthRequestParameters{ApiKeyName: "k", ApiKeyValue: "secret"}}})
	if err != nil || c.ConnectionState != ev.ConnectionStateAuthorized {
		t.Fatalf("CreateConnection: %v %+v", err, c)
	}
	_, err = a.CreateConnection(ctx, call, &ev.CreateConnectionRequest{Name: "c", AuthorizationType: ev.ConnectionAuthorizationTypeBasic,
		AuthParameters: &ev.CreateConnectionAuthRequestParameters{BasicAuthParameters: &ev.CreateConnectionBasicAuthRequestParameters{Username: "u", Password: "p"}}})
	wantCode(t, "a second connection c", err, ev.ErrCodeResourceAlreadyExistsException)
	dc, err := a.DescribeConnection(ctx, call, &ev.DescribeConnectionRequest{Name: "c"})
	if err != nil || dc.AuthParameters.ApiKeyAuthParameters.ApiKeyName != "k" || dc.ConnectionArn != c.ConnectionArn {
		t.Fatalf("DescribeConnection: %v %+v", err, dc)
	}
	_, err = a.CreateApiDestination(ctx, call, &ev.CreateApiDestinationRequest{Name: "d", ConnectionArn: c.ConnectionArn,
		InvocationEndpoint: "ftp://x", HttpMethod: "POST"})
	wantCode(t, "an ftp endpoint", err, ev.ValidationErrorCode)
	_, err = a.CreateApiDestination(ctx, call, &ev.CreateApiDestinationRequest{Name: "d", ConnectionArn: "arn:aws:events:eu-west-1:123456789012:connection/nope/x",
		InvocationEndpoint: "https://x", HttpMethod: "POST"})
	wantCode(t, "a connection that does not exist", err, ev.ErrCodeResourceNotFoundException)
	d, err := a.CreateApiDestination(ctx, call, &ev.CreateApiDestinationRequest{Name: "d", ConnectionArn: c.ConnectionArn,
		InvocationEndpoint: "https://hooks.example.com/*", HttpMethod: "POST", InvocationRateLimitPerSecond: 5})
	if err != nil || d.ApiDestinationState != ev.ApiDestinationStateActive {
		t.Fatalf("CreateApiDestination: %v %+v", err, d)
	}
	dd, err := a.DescribeApiDestination(ctx, call, &ev.DescribeApiDestinationRequest{Name: "d"})
	if err != nil || dd.ConnectionArn != c.ConnectionArn || dd.InvocationRateLimitPerSecond != 5 {
		t.Fatalf("DescribeApiDestination: %v %+v", err, dd)
	}
	if _, err := a.DeleteApiDestination(ctx, call, &ev.DeleteApiDestinationRequest{Name: "d"}); err != nil {
		t.Fatal(err)
	}
	_, err = a.DescribeApiDestination(ctx, call, &ev.DescribeApiDestinationRequest{Name: "d"})
	wantCode(t, "a deleted destination", err, ev.ErrCodeResourceNotFoundException)
}
