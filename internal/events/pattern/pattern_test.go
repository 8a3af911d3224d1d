package pattern_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/events/pattern"
)

// ec2Event is the EventBridge documentation's example event.
const ec2Event = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
  "detail": {
    "instance-id": "i-1234567890abcdef0",
    "state": "terminated",
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.123",
    "location": "New York",
    "FileName": "cat.PNG",
    "empty": "",
    "nothing": null,
    "flag": true,
    "tags": ["prod", "web"],
    "numbers": [1, 5, 12],
    "nested": {"inner": {"leaf": "deep"}},
    "items": [{"name": "a", "size": 1}, {"name": "b", "size": 10}]
  }
}`

// ecsStopped is an ECS Task State Change for a task whose container
// exited 3 (seed 003's monitor).
const ecsStopped = `{
  "version": "0", "id": "x", "detail-type": "ECS Task State Change", "source": "aws.ecs",
  "account": "000000000000", "time": "2026-12-07T00:00:00Z", "region": "us-east-1",
  "resources": ["arn:aws:ecs:us-east-1:000000000000:task/default/abc"],
  "detail": {"lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": "EssentialContainerExited",
    "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
    "containers": [{"name": "app", "exitCode": 3, "lastStatus": "STOPPED"}, {"name": "side", "exitCode": 0, "lastStatus": "STOPPED"}]}
}`

const ecsOK = `{
  "version": "0", "id": "y", "detail-type": "ECS Task State Change", "source": "aws.ecs",
  "account": "000000000000", "time": "2026-12-07T00:00:00Z", "region": "us-east-1", "resources": [],
  "detail": {"lastStatus": "STOPPED", "containers": [{"name": "app", "exitCode": 0}]}
}`

const ecsRunning = `{
  "version": "0", "id": "z", "detail-type": "ECS Task State Change", "source": "aws.ecs",
  "account": "000000000000", "time": "2026-12-07T00:00:00Z", "region": "us-east-1", "resources": [],
  "detail": {"lastStatus": "RUNNING", "containers": [{"name": "app"}]}
}`

type matchCase struct {
	pattern string
	event   string
	want    bool
}

var matchCases = []matchCase{
	// exact values
	{`{"source": ["aws.ec2"]}`, ec2Event, true},
	{`{"source": ["aws.ecs"]}`, ec2Event, false},
	{`{"source": ["aws.ecs", "aws.ec2"]}`, ec2Event, true},
	{`{"source": ["AWS.EC2"]}`, ec2Event, false},
	{`{"detail-type": ["EC2 Instance State-change Notification"]}`, ec2Event, true},
	{`{"source": ["aws.ec2"], "detail-type": ["nope"]}`, ec2Event, false},
	{`{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}`, ec2Event, true},
	{`{"detail": {"state": ["running"]}}`, ec2Event, false},
	{`{"detail": {"state": ["running", "terminated"]}}`, ec2Event, true},
	{`{"detail": {"c-count": [5]}}`, ec2Event, true},
	{`{"detail": {"c-count": [5.0]}}`, ec2Event, true},
	{`{"detail": {"c-count": [5e0]}}`, ec2Event, true},
	{`{"detail": {"c-count": ["5"]}}`, ec2Event, false},
	{`{"detail": {"c-count": [4]}}`, ec2Event, false},
	{`{"detail": {"x-limit": [301.8]}}`, ec2Event, true},
	{`{"detail": {"flag": [true]}}`, ec2Event, true},
	{`{"detail": {"flag": [false]}}`, ec2Event, false},
	{`{"detail": {"flag": ["true"]}}`, ec2Event, false},
	{`{"detail": {"nothing": [null]}}`, ec2Event, true},
	{`{"detail": {"state": [null]}}`, ec2Event, false},
	{`{"detail": {"missing": [null]}}`, ec2Event, false},
	{`{"detail": {"empty": [""]}}`, ec2Event, true},
	{`{"detail": {"state": [""]}}`, ec2Event, false},
	{`{"detail": {"nothing": [""]}}`, ec2Event, false},
	{`{"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}`, ec2Event, true},
	{`{"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/other"]}`, ec2Event, false},
	// arrays in the event: one element suffices
	{`{"detail": {"tags": ["web"]}}`, ec2Event, true},
	{`{"detail": {"tags": ["prod"]}}`, ec2Event, true},
	{`{"detail": {"tags": ["dev"]}}`, ec2Event, false},
	{`{"detail": {"tags": ["dev", "prod"]}}`, ec2Event, true},
	{`{"detail": {"numbers": [12]}}`, ec2Event, true},
	{`{"detail": {"numbers": [{"numeric": [">", 10]}]}}`, ec2Event, true},
	{`{"detail": {"numbers": [{"numeric": [">", 100]}]}}`, ec2Event, false},
	// nested fields and arrays of objects
	{`{"detail": {"nested": {"inner": {"leaf": ["deep"]}}}}`, ec2Event, true},
	{`{"detail": {"nested": {"inner": {"leaf": ["shallow"]}}}}`, ec2Event, false},
	{`{"detail": {"nested": {"inner": ["deep"]}}}`, ec2Event, false},
	{`{"detail": {"items": {"name": ["b"]}}}`, ec2Event, true},
	{`{"detail": {"items": {"name": ["c"]}}}`, ec2Event, false},
	{`{"detail": {"items": {"name": ["b"], "size": [10]}}}`, ec2Event, true},
	{`{"detail": {"items": {"name": ["a"], "size": [10]}}}`, ec2Event, false},
	{`{"detail": {"items": {"size": [{"numeric": [">=", 10]}]}}}`, ec2Event, true},
	{`{"detail": {"nested": {"missing": [{"exists": false}]}}}`, ec2Event, true},
	{`{"detail": {"absent": {"missing": [{"exists": false}]}}}`, ec2Event, true},
	{`{"detail": {"absent": {"missing": [{"exists": true}]}}}`, ec2Event, false},
	{`{"detail": {"state": {"x": ["terminated"]}}}`, ec2Event, false},
	// prefix
	{`{"time": [{"prefix": "2017-12-22"}]}`, ec2Event, true},
	{`{"time": [{"prefix": "2017-10-02"}]}`, ec2Event, false},
	{`{"region": [{"prefix": "us-"}]}`, ec2Event, true},
	{`{"region": [{"prefix": "eu-"}]}`, ec2Event, false},
	{`{"region": [{"prefix": ""}]}`, ec2Event, true},
	{`{"detail": {"c-count": [{"prefix": "5"}]}}`, ec2Event, false},
	{`{"region": [{"prefix": {"equals-ignore-case": "US-WEST"}}]}`, ec2Event, true},
	{`{"region": [{"prefix": {"equals-ignore-case": "EU-"}}]}`, ec2Event, false},
	{`{"region": [{"prefix": "US-"}]}`, ec2Event, false},
	// suffix
	{`{"detail": {"FileName": [{"suffix": ".PNG"}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"suffix": ".png"}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".jpg"}}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"suffix": "cat.PNG.bak"}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"suffix": {"equals-ignore-case": "a-much-longer-name.png"}}]}}`, ec2Event, false},
	// equals-ignore-case
	{`{"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"equals-ignore-case": "Terminated"}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"equals-ignore-case": "running"}]}}`, ec2Event, false},
	{`{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}`, ec2Event, true},
	// anything-but
	{`{"detail": {"state": [{"anything-but": "initializing"}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"anything-but": "terminated"}]}}`, ec2Event, false},
	{`{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}`, ec2Event, false},
	{`{"detail": {"c-count": [{"anything-but": 123}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"anything-but": 5}]}}`, ec2Event, false},
	{`{"detail": {"c-count": [{"anything-but": [100, 200, 300]}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"anything-but": [5, 6]}]}}`, ec2Event, false},
	{`{"detail": {"missing": [{"anything-but": "x"}]}}`, ec2Event, false},
	{`{"region": [{"anything-but": {"prefix": "us-"}}]}`, ec2Event, false},
	{`{"region": [{"anything-but": {"prefix": "eu-"}}]}`, ec2Event, true},
	{`{"detail": {"FileName": [{"anything-but": {"suffix": ".PNG"}}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"anything-but": {"suffix": ".png"}}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}}`, ec2Event, false},
	{`{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Running", "Pending"]}}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Running", "TERMINATED"]}}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"anything-but": {"wildcard": "*.PNG"}}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`, ec2Event, true},
	{`{"detail": {"tags": [{"anything-but": "prod"}]}}`, ec2Event, true},
	{`{"detail": {"tags": [{"anything-but": ["prod", "web"]}]}}`, ec2Event, false},
	// numeric
	{`{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}`, ec2Event, false},
	{`{"detail": {"c-count": [{"numeric": [">=", 5]}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"numeric": [">", 5]}]}}`, ec2Event, false},
	{`{"detail": {"c-count": [{"numeric": ["<", 5]}]}}`, ec2Event, false},
	{`{"detail": {"c-count": [{"numeric": ["<=", 5]}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"numeric": ["=", 5]}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"numeric": ["=", 5.0]}]}}`, ec2Event, true},
	{`{"detail": {"c-count": [{"numeric": ["=", 6]}]}}`, ec2Event, false},
	{`{"detail": {"d-count": [{"numeric": ["<", 10]}]}}`, ec2Event, true},
	{`{"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}`, ec2Event, true},
	{`{"detail": {"x-limit": [{"numeric": [">", 301.7, "<", 301.9]}]}}`, ec2Event, true},
	{`{"detail": {"x-limit": [{"numeric": [">", -1e9]}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"numeric": [">", 0]}]}}`, ec2Event, false},
	{`{"detail": {"missing": [{"numeric": [">", 0]}]}}`, ec2Event, false},
	{`{"detail": {"c-count": [{"numeric": [">", 10]}, 5]}}`, ec2Event, true},
	// exists
	{`{"detail": {"state": [{"exists": true}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"exists": false}]}}`, ec2Event, false},
	{`{"detail": {"missing": [{"exists": false}]}}`, ec2Event, true},
	{`{"detail": {"missing": [{"exists": true}]}}`, ec2Event, false},
	{`{"detail": {"nested": [{"exists": true}]}}`, ec2Event, false},
	{`{"detail": {"nested": [{"exists": false}]}}`, ec2Event, true},
	{`{"detail": {"nothing": [{"exists": true}]}}`, ec2Event, true},
	{`{"detail": {"empty": [{"exists": true}]}}`, ec2Event, true},
	{`{"detail": {"tags": [{"exists": true}]}}`, ec2Event, true},
	{`{"detail": {"missing": [{"exists": false}, "x"]}}`, ec2Event, true},
	{`{"detail": {"state": [{"exists": false}, "terminated"]}}`, ec2Event, true},
	{`{"missing-top": [{"exists": false}]}`, ec2Event, true},
	// wildcard
	{`{"detail": {"FileName": [{"wildcard": "*.PNG"}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"wildcard": "*.png"}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"wildcard": "cat*"}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"wildcard": "c*t.P*G"}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"wildcard": "c*x*G"}]}}`, ec2Event, false},
	{`{"detail": {"FileName": [{"wildcard": "*"}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"wildcard": "cat.PNG"}]}}`, ec2Event, true},
	{`{"detail": {"FileName": [{"wildcard": "cat.PN"}]}}`, ec2Event, false},
	{`{"detail": {"instance-id": [{"wildcard": "i-*"}]}}`, ec2Event, true},
	{`{"resources": [{"wildcard": "arn:aws:ec2:*:*:instance/*"}]}`, ec2Event, true},
	{`{"resources": [{"wildcard": "arn:aws:ecs:*"}]}`, ec2Event, false},
	{`{"detail": {"c-count": [{"wildcard": "*"}]}}`, ec2Event, false},
	{`{"detail": {"star": [{"wildcard": "a\\*b"}]}}`, `{"detail": {"star": "a*b"}}`, true},
	{`{"detail": {"star": [{"wildcard": "a\\*b"}]}}`, `{"detail": {"star": "axxb"}}`, false},
	{`{"detail": {"star": [{"wildcard": "a*b*c"}]}}`, `{"detail": {"star": "abc"}}`, true},
	{`{"detail": {"star": [{"wildcard": "a*b*c"}]}}`, `{"detail": {"star": "acb"}}`, false},
	{`{"detail": {"star": [{"wildcard": "*ab*ab"}]}}`, `{"detail": {"star": "xabab"}}`, true},
	{`{"detail": {"star": [{"wildcard": "ab*ba"}]}}`, `{"detail": {"star": "aba"}}`, false},
	// cidr
	{`{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}`, ec2Event, true},
	{`{"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}`, ec2Event, false},
	{`{"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}}`, ec2Event, true},
	{`{"detail": {"state": [{"cidr": "10.0.0.0/8"}]}}`, ec2Event, false},
	{`{"ip": [{"cidr": "2001:db8::/32"}]}`, `{"ip": "2001:db8::1"}`, true},
	// $or
	{`{"$or": [{"source": ["aws.ecs"]}, {"source": ["aws.ec2"]}]}`, ec2Event, true},
	{`{"$or": [{"source": ["aws.ecs"]}, {"region": ["eu-west-1"]}]}`, ec2Event, false},
	{`{"source": ["aws.ec2"], "$or": [{"detail": {"c-count": [{"numeric": [">", 10]}]}}, {"detail": {"d-count": [{"numeric": ["<", 10]}]}}]}`, ec2Event, true},
	{`{"source": ["aws.ec2"], "$or": [{"detail": {"c-count": [{"numeric": [">", 10]}]}}, {"detail": {"d-count": [{"numeric": ["<", 1]}]}}]}`, ec2Event, false},
	{`{"source": ["aws.ecs"], "$or": [{"region": ["us-west-1"]}, {"account": ["111122223333"]}]}`, ec2Event, false},
	{`{"detail": {"$or": [{"state": ["running"]}, {"location": ["New York"]}]}}`, ec2Event, true},
	{`{"detail": {"$or": [{"state": ["running"]}, {"location": ["Paris"]}]}}`, ec2Event, false},
	{`{"$or": [{"detail": {"$or": [{"state": ["x"]}, {"state": ["terminated"]}]}}, {"source": ["y"]}]}`, ec2Event, true},
	{`{"$or": [{"missing": [{"exists": false}]}, {"source": ["no"]}]}`, ec2Event, true},
	// ECS: seed 003's abnormal-exit monitor
	{`{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"], "containers": {"exitCode": [{"anything-but": 0}]}}}`, ecsStopped, true},
	{`{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"], "containers": {"exitCode": [{"anything-but": 0}]}}}`, ecsOK, false},
	{`{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"], "containers": {"exitCode": [{"anything-but": 0}]}}}`, ecsRunning, false},
	{`{"source": ["aws.ecs"], "detail": {"lastStatus": ["STOPPED"], "containers": {"exitCode": [{"numeric": [">", 0]}]}}}`, ecsStopped, true},
	{`{"source": ["aws.ecs"], "detail": {"lastStatus": ["STOPPED"], "containers": {"exitCode": [{"numeric": [">", 0]}]}}}`, ecsOK, false},
	{`{"source": ["aws.ecs"], "detail": {"containers": {"name": ["side"], "exitCode": [3]}}}`, ecsStopped, false},
	{`{"source": ["aws.ecs"], "detail": {"containers": {"name": ["app"], "exitCode": [3]}}}`, ecsStopped, true},
	{`{"source": ["aws.ecs"], "detail": {"stopCode": ["EssentialContainerExited"]}}`, ecsStopped, true},
	{`{"detail": {"clusterArn": [{"suffix": ":cluster/default"}]}}`, ecsStopped, true},
	{`{"resources": [{"prefix": "arn:aws:ecs:us-east-1:000000000000:task/default/"}]}`, ecsStopped, true},
	{`{"resources": [{"exists": false}]}`, ecsOK, true},
	{`{"resources": [{"exists": true}]}`, ecsOK, false},
	{`{"detail-type": ["ECS Task State Change", "ECS Container Instance State Change"]}`, ecsRunning, true},
	{`{"detail": {"containers": {"exitCode": [{"exists": false}]}}}`, ecsRunning, true},
	{`{"detail": {"containers": {"exitCode": [{"exists": true}]}}}`, ecsRunning, false},
	// unicode and case
	{`{"name": ["東京"]}`, `{"name": "東京"}`, true},
	{`{"name": [{"prefix": "東"}]}`, `{"name": "東京"}`, true},
	{`{"name": [{"equals-ignore-case": "ÄBC"}]}`, `{"name": "äbc"}`, true},
}

func TestMatch(t *testing.T) {
	for i, c := range matchCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p, err := pattern.Compile(c.pattern)
			if err != nil {
				t.Fatalf("Compile(%s): %v", c.pattern, err)
			}
			got, err := p.MatchJSON([]byte(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("pattern %s: match = %v, want %v", c.pattern, got, c.want)
			}
		})
	}
}

// invalidCases are patterns EventBridge rejects, with a piece of the reason.
var invalidCases = []struct{ pattern, reason string }{
	{``, "Empty"},
	{`   `, "Empty"},
	{`{}`, "Empty objects"},
	{`[]`, "Filter is not an object"},
	{`"aws.ecs"`, "Filter is not an object"},
	{`{"source": "aws.ecs"}`, "Match value must be"},
	{`{"source": 5}`, "Match value must be"},
	{`{"source": []}`, "Empty arrays"},
	{`{"source": ["a"`, ""},
	{`{"source": ["a"]} x`, ""},
	{`{"detail": {}}`, "Empty objects"},
	{`{"source": [["a"]]}`, "Match value must be"},
	{`{"source": [{}]}`, "Empty objects"},
	{`{"source": [{"prefix": "a", "suffix": "b"}]}`, "Only one key"},
	{`{"source": [{"bogus": "a"}]}`, "Unrecognized match type bogus"},
	{`{"source": [{"contains": "a"}]}`, "Unrecognized match type contains"},
	{`{"source": [{"prefix": 5}]}`, "prefix match pattern must be a string"},
	{`{"source": [{"suffix": true}]}`, "suffix match pattern must be a string"},
	{`{"source": [{"prefix": {"bogus": "x"}}]}`, "Unsupported prefix pattern"},
	{`{"source": [{"equals-ignore-case": 1}]}`, "equals-ignore-case match pattern must be a string"},
	{`{"source": [{"wildcard": 1}]}`, "wildcard match pattern must be a string"},
	{`{"source": [{"wildcard": "a**b"}]}`, "Consecutive wildcard"},
	{`{"source": [{"wildcard": "a\\b"}]}`, "Invalid escape"},
	{`{"source": [{"exists": "yes"}]}`, "exists match pattern must be either true or false"},
	{`{"source": [{"exists": 1}]}`, "exists match pattern must be either true or false"},
	{`{"n": [{"numeric": 5}]}`, "numeric must be an array"},
	{`{"n": [{"numeric": []}]}`, "numeric must be an array"},
	{`{"n": [{"numeric": [">"]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": [">", 1, "<"]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": [">", "a"]}]}`, "must be numeric"},
	{`{"n": [{"numeric": ["!=", 1]}]}`, "Unrecognized numeric range operator"},
	{`{"n": [{"numeric": [">", 1, ">", 2]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": ["<", 1, "<=", 2]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": ["<", 5, ">", 1]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": [">", 5, "<", 1]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": ["=", 5, "<", 10]}]}`, "Bad numeric range"},
	{`{"n": [{"numeric": [">", 6e9]}]}`, "between -5.0E9 and 5.0E9"},
	{`{"n": [{"numeric": [1, 2]}]}`, "Bad numeric range"},
	{`{"ip": [{"cidr": "10.0.0.0"}]}`, "Malformed CIDR"},
	{`{"ip": [{"cidr": 10}]}`, "cidr match pattern must be a string"},
	{`{"s": [{"anything-but": []}]}`, "Empty arrays"},
	{`{"s": [{"anything-but": ["a", 1]}]}`, "mixed types"},
	{`{"s": [{"anything-but": [true]}]}`, "not supported"},
	{`{"s": [{"anything-but": null}]}`, "Value of anything-but"},
	{`{"s": [{"anything-but": {"prefix": 1}}]}`, "prefix match pattern must be a string"},
	{`{"s": [{"anything-but": {"prefix": ""}}]}`, "Null prefix"},
	{`{"s": [{"anything-but": {"numeric": [">", 1]}}]}`, "Unsupported anything-but pattern"},
	{`{"s": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}`, "Only one key"},
	{`{"s": [{"anything-but": {"equals-ignore-case": [1]}}]}`, "not supported"},
	{`{"s": [{"anything-but": {"equals-ignore-case": 5}}]}`, "equals-ignore-case match pattern"},
	{`{"s": [{"anything-but": {"wildcard": "a**"}}]}`, "Consecutive wildcard"},
	{`{"$or": {"a": ["b"]}}`, "Or relationship must be an array"},
	{`{"$or": [{"a": ["b"]}]}`, "at least two"},
	{`{"$or": [{"a": ["b"]}, "x"]}`, "non-empty objects"},
	{`{"$or": [{"a": ["b"]}, {}]}`, "non-empty objects"},
	{`{"$or": [{"a": ["b"]}, {"c": "d"}]}`, "Match value must be"},
}

func TestCompileInvalid(t *testing.T) {
	for i, c := range invalidCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_, err := pattern.Compile(c.pattern)
			var pe *pattern.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Compile(%s) = %v, want a *pattern.Error", c.pattern, err)
			}
			if !strings.HasPrefix(err.Error(), "Event pattern is not valid. Reason: ") || !strings.Contains(pe.Reason, c.reason) {
				t.Errorf("Compile(%s) = %q, want a reason holding %q", c.pattern, err, c.reason)
			}
		})
	}
}

func TestLiterals(t *testing.T) {
	p := pattern.MustCompile(`{"source": ["aws.ecs", "my.app"], "detail": {"a": ["b"]}}`)
	if got := p.Literals("source"); len(got) != 2 || got[0] != "aws.ecs" {
		t.Errorf("Literals(source) = %v", got)
	}
	if got := p.Literals("detail"); got != nil {
		t.Errorf("Literals(detail) = %v, want nil", got)
	}
	if got := pattern.MustCompile(`{"source": [{"prefix": "aws."}]}`).Literals("source"); got != nil {
		t.Errorf("Literals of a prefix = %v, want nil", got)
	}
	if got := p.Keys(); len(got) != 2 || got[0] != "detail" || got[1] != "source" {
		t.Errorf("Keys = %v", got)
	}
}

func TestEventNotObject(t *testing.T) {
	p := pattern.MustCompile(`{"a": ["b"]}`)
	if _, err := p.MatchJSON([]byte(`[1]`)); err == nil {
		t.Error("an array event: no error")
	}
}

func TestLiteralPathsAndValues(t *testing.T) {
	p := pattern.MustCompile(`{"source":["aws.ecs"],"detail":{"group":["a","b"],"n":[1],"containers":{"name":["app"]},"x":[{"prefix":"p"}]},"$or":[{"a":["1"]},{"b":["2"]}]}`)
	got := p.LiteralPaths()
	if len(got) != 3 || got["source"][0] != "aws.ecs" || len(got[pattern.PathKey([]string{"detail", "group"})]) != 2 ||
		got[pattern.PathKey([]string{"detail", "containers", "name"})][0] != "app" {
		t.Errorf("LiteralPaths = %q", got)
	}
	ev, _ := pattern.DecodeEvent([]byte(ecsStopped))
	if v := pattern.Values(ev, []string{"detail", "containers", "name"}, nil); len(v) != 2 || v[0] != "app" || v[1] != "side" {
		t.Errorf("Values(containers.name) = %q", v)
	}
	if v := pattern.Values(ev, []string{"resources"}, nil); len(v) != 1 {
		t.Errorf("Values(resources) = %q", v)
	}
	if v := pattern.Values(ev, []string{"detail", "nope"}, nil); len(v) != 0 {
		t.Errorf("Values(nope) = %q", v)
	}
}
