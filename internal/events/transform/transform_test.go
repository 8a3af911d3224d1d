package transform_test

import (
	"testing"

	"github.com/minato-project/minato/internal/events/transform"
)

const event = `{"version":"0","id":"e1","detail-type":"ECS Task State Change","source":"aws.ecs","account":"000000000000","time":"2026-12-07T10:00:00Z","region":"us-east-1","resources":["arn:aws:ecs:us-east-1:000000000000:task/default/abc"],"detail":{"lastStatus":"STOPPED","taskArn":"arn:aws:ecs:us-east-1:000000000000:task/default/abc","containers":[{"name":"app","exitCode":3,"reason":"say \"hi\""}],"count":2.5,"ok":false,"tags":{"a":"b"}}}`

func TestApply(t *testing.T) {
	ctx := transform.Context{RuleARN: "arn:aws:events:us-east-1:000000000000:rule/r", RuleName: "r", IngestionTime: "2026-12-07T10:00:01Z"}
	tmpl := func(paths map[string]string, t string) transform.Input {
		return transform.Input{Paths: paths, Template: t, HasTemplate: true}
	}
	cases := []struct {
		name string
		in   transform.Input
		want string
	}{
		{"whole event", transform.Input{}, event},
		{"constant", transform.Input{Input: `{"a": 1}`}, `{"a": 1}`},
		{"input path object", transform.Input{InputPath: "$.detail.tags"}, `{"a":"b"}`},
		{"input path string", transform.Input{InputPath: "$.detail.lastStatus"}, `"STOPPED"`},
		{"input path number", transform.Input{InputPath: "$.detail.containers[0].exitCode"}, `3`},
		{"input path bracket", transform.Input{InputPath: "$['detail-type']"}, `"ECS Task State Change"`},
		{"input path missing", transform.Input{InputPath: "$.detail.nope"}, `null`},
		{"input path root", transform.Input{InputPath: "$"}, event},
		{"json template", tmpl(map[string]string{"status": "$.detail.lastStatus", "code": "$.detail.containers[0].exitCode"},
			`{"status": <status>, "code": <code>}`), `{"status": "STOPPED", "code": 3}`},
		{"string template", tmpl(map[string]string{"status": "$.detail.lastStatus", "code": "$.detail.containers[0].exitCode"},
			`"task is <status> with exit code <code>"`), `"task is STOPPED with exit code 3"`},
		{"quoted placeholder", tmpl(map[string]string{"status": "$.detail.lastStatus"}, `{"s": "<status>"}`), `{"s": "STOPPED"}`},
		{"escaped string", tmpl(map[string]string{"r": "$.detail.containers[0].reason"}, `{"r": "<r>"}`), `{"r": "say \"hi\""}`},
		{"escaped string outside quotes", tmpl(map[string]string{"r": "$.detail.containers[0].reason"}, `{"r": <r>}`), `{"r": "say \"hi\""}`},
		{"object in template", tmpl(map[string]string{"t": "$.detail.tags"}, `{"tags": <t>}`), `{"tags": {"a":"b"}}`},
		{"object in string", tmpl(map[string]string{"t": "$.detail.tags"}, `"tags: <t>"`), `"tags: {\"a\":\"b\"}"`},
		{"bool and float", tmpl(map[string]string{"ok": "$.detail.ok", "n": "$.detail.count"}, `[<ok>, <n>]`), `[false, 2.5]`},
		{"missing outside", tmpl(map[string]string{"x": "$.detail.nope"}, `{"x": <x>}`), `{"x": null}`},
		{"missing inside", tmpl(map[string]string{"x": "$.detail.nope"}, `"x=<x>"`), `"x="`},
		{"unknown placeholder kept", tmpl(map[string]string{}, `"a <b> c"`), `"a <b> c"`},
		{"rule name", tmpl(nil, `"<aws.events.rule-name> <aws.events.rule-arn>"`), `"r arn:aws:events:us-east-1:000000000000:rule/r"`},
		{"ingestion time", tmpl(nil, `{"t": "<aws.events.event.ingestion-time>"}`), `{"t": "2026-12-07T10:00:01Z"}`},
		{"whole event placeholder", tmpl(nil, `{"e": <aws.events.event>}`), `{"e": ` + event + `}`},
		{"array", tmpl(map[string]string{"r": "$.resources"}, `{"r": <r>}`), `{"r": ["arn:aws:ecs:us-east-1:000000000000:task/default/abc"]}`},
		{"escaped quote in template", tmpl(map[string]string{"s": "$.detail.lastStatus"}, `"a \"<s>\" b"`), `"a \"STOPPED\" b"`},
		{"repeated", tmpl(map[string]string{"s": "$.detail.lastStatus"}, `"<s>/<s>"`), `"STOPPED/STOPPED"`},
		{"source", tmpl(map[string]string{"src": "$.source", "dt": "$.detail-type"}, `"<src>: <dt>"`), `"aws.ecs: ECS Task State Change"`},
		{"index out of range", tmpl(map[string]string{"c": "$.detail.containers[5].name"}, `<c>`), `null`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.in.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			got, err := c.in.Apply([]byte(event), ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	for name, in := range map[string]transform.Input{
		"bad input json":        {Input: `{"a":`},
		"bad path":              {InputPath: "detail"},
		"bad path step":         {InputPath: "$..detail"},
		"bad index":             {InputPath: "$.a[x]"},
		"unclosed bracket":      {InputPath: "$.a[1"},
		"two at once":           {Input: `{}`, InputPath: "$.detail"},
		"template and input":    {Input: `{}`, Template: `"x"`, HasTemplate: true},
		"empty template":        {HasTemplate: true},
		"bad key":               {Paths: map[string]string{"a b": "$.x"}, Template: `"x"`, HasTemplate: true},
		"reserved key":          {Paths: map[string]string{"aws.events.x": "$.x"}, Template: `"x"`, HasTemplate: true},
		"bad path in paths map": {Paths: map[string]string{"a": "x"}, Template: `"x"`, HasTemplate: true},
	} {
		if err := in.Check(); err == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}
