package cql

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The instances the tests evaluate against.
var (
	t2small = Target{
		AgentConnected: true, AgentVersion: "1.14.4", EC2InstanceID: "i-abcd1234",
		Attributes: map[string]string{
			"ecs.instance-type": "t2.small", "ecs.availability-zone": "us-east-1a",
			"stack": "prod", "ecs.capability.task-eni": "", "weight": "10",
		},
		RegisteredAt:      day("2018-02-12T10:00:00Z"),
		RunningTasksCount: 1,
		TaskGroups:        []string{"service:production"},
	}
	g2 = Target{
		AgentConnected: false, AgentVersion: "1.20.0", EC2InstanceID: "i-wxyx7890",
		Attributes: map[string]string{
			"ecs.instance-type": "g2.2xlarge", "ecs.availability-zone": "us-east-1b",
			"stack": "test", "weight": "9",
		},
		RegisteredAt:      day("2018-02-13T00:00:00Z"),
		RunningTasksCount: 3,
		TaskGroups:        []string{"database", "family:web", "database"},
	}
	g2d = Target{
		AgentConnected: true, AgentVersion: "1.9.0", EC2InstanceID: "i-00000001",
		Attributes:   map[string]string{"ecs.instance-type": "g2.8xlarge", "ecs.availability-zone": "us-east-1d"},
		RegisteredAt: day("2019-01-01T00:00:00Z"),
	}
)

func TestEvalDocExamples(t *testing.T) {
	// Every example expression of the ECS developer guide ("Cluster query
	// language" and "Task placement constraints"), against three instances.
	tests := []struct {
		expr            string
		t2, g2, g2dWant bool
	}{
		{"attribute:ecs.instance-type == t2.small", true, false, false},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true, true, false},
		{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", false, true, false},
		{"task:group == service:production", true, false, false},
		{"not(task:group == database)", true, false, true},
		{"runningTasksCount == 1", true, false, false},
		{"agentVersion < 1.14.5", true, false, true},
		{"registeredAt < 2018-02-13", true, false, false},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true, true, false},
		{"attribute:ecs.instance-type == g2.2xlarge", false, true, false},
		{"attribute:stack == prod", true, false, false},
		{"attribute:stack != prod", false, true, false}, // g2d has no stack attribute
		{"attribute:ecs.instance-type in [t2.small, t2.medium]", true, false, false},
		{"attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a", true, false, false},
		{"attribute:ecs.instance-type =~ t2.*", true, false, false},
		{"task:group == databases", false, false, false},
		{"(attribute:ecs.availability-zone == us-east-1a or attribute:ecs.availability-zone == us-east-1b) and agentConnected == true", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name   string
				target *Target
				want   bool
			}{{"t2.small", &t2small, tt.t2}, {"g2.2xlarge", &g2, tt.g2}, {"g2 in 1d", &g2d, tt.g2dWant}} {
				if got := q.Eval(c.target); got != c.want {
					t.Errorf("on %s: got %v, want %v", c.name, got, c.want)
				}
			}
		})
	}
}

func TestEvalOperators(t *testing.T) {
	tests := []struct {
		expr string
		want bool // on t2small
	}{
		// word forms of the operators
		{"attribute:stack equals prod", true},
		{"attribute:stack not_equals prod", false},
		{"runningTasksCount greater_than 0", true},
		{"runningTasksCount greater_than_equal 1", true},
		{"runningTasksCount less_than 1", false},
		{"runningTasksCount less_than_equal 1", true},
		{"attribute:stack not_in [dev, test]", true},
		{"attribute:stack !in [prod]", false},
		{"attribute:stack matches pr.*", true},
		{"attribute:stack not_matches pr.*", false},
		{"attribute:stack !~ p", true}, // whole-value match: "p" is not "prod"
		{"attribute:stack =~ 'p.o.'", true},
		{"attribute:stack =~ (prod|dev)", true},
		{"attribute:ecs.instance-type =~ (m5|c5).*", false},
		// exists
		{"attribute:ecs.capability.task-eni exists", true},
		{"attribute:ecs.capability.task-eni == ''", true},
		{"attribute:missing exists", false},
		{"attribute:missing !exists", true},
		{"attribute:missing not_exists", true},
		{"attribute:missing != x", false},
		{"attribute:missing !in [x]", false},
		{"not(attribute:missing == x)", true},
		// numbers order numerically, other values as strings
		{"attribute:weight > 9", true},
		{"attribute:weight < 9.5", false},
		{"attribute:stack > pro", true},
		// instanceType is short for attribute:ecs.instance-type
		{"instanceType == t2.small", true},
		{"instanceType =~ t2.*", true},
		// agentConnected
		{"agentConnected == true", true},
		{"agentConnected == TRUE", true},
		{"agentConnected != true", false},
		{"agentConnected in [false]", false},
		// versions order by parts
		{"agentVersion >= 1.14.4", true},
		{"agentVersion > 1.9.99", true},
		{"agentVersion == 1.14.4", true},
		{"agentVersion <= 1.14", false},
		// dates
		{"registeredAt == 2018-02-12", true},
		{"registeredAt != 2018-02-12", false},
		{"registeredAt > 2018-02-11", true},
		{"registeredAt > 2018-02-12", false},
		{"registeredAt <= 2018-02-12", true},
		{"registeredAt >= 2018-02-12", true},
		{"registeredAt == 2018-02-12T10:00:00Z", true},
		{"registeredAt == 2018-02-12T10:00:00+00:00", true},
		{"registeredAt == 2018-02-12T10:00:00", true},
		{"registeredAt == 2018-02-12T19:00:00+09:00", true},
		{"registeredAt < 2018-02-12T10:00:01Z", true},
		// task groups are a set
		{"task:group exists", true},
		{"task:group !exists", false},
		{"task:group != database", true},
		{"task:group in [a, service:production]", true},
		{"task:group !in [a, service:production]", false},
		{"task:group =~ service:.*", true},
		{"task:group !~ service:.*", false},
		// boolean structure and precedence: not > and > or
		{"attribute:stack == dev or attribute:stack == prod and runningTasksCount == 1", true},
		{"(attribute:stack == dev or attribute:stack == prod) and runningTasksCount == 2", false},
		{"attribute:stack == dev || attribute:stack == prod && runningTasksCount == 1", true},
		{"!(attribute:stack == dev)", true},
		{"! attribute:stack == dev", true},
		{"not attribute:stack == prod", false},
		{"not not attribute:stack == prod", true},
		{"NOT(attribute:stack == prod) OR runningTasksCount == 1", true},
		{"attribute:stack==prod&&runningTasksCount==1", true},
		{"((attribute:stack == prod))", true},
		{"  attribute:stack   ==   prod  ", true},
		{"attribute:stack in[prod]", true},
		{"attribute:stack in [ 'prod' , \"dev\" ]", true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Eval(&t2small); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEmptyTaskGroups(t *testing.T) {
	empty := Target{}
	for expr, want := range map[string]bool{
		"task:group != database":    true,
		"task:group == database":    false,
		"task:group !exists":        true,
		"task:group !in [a, b]":     true,
		"not(task:group == x)":      true,
		"runningTasksCount == 0":    true,
		"agentConnected == false":   true,
		"registeredAt < 1970-01-02": true, // the zero time is 0001-01-01
	} {
		if got := MustParse(expr).Eval(&empty); got != want {
			t.Errorf("%s: got %v, want %v", expr, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr string
		msg  string // part of the message
	}{
		{"", "empty expression"},
		{"   ", "empty expression"},
		{"instanceId == x", "unknown subject"},
		{"attribute: == x", "needs an attribute name"},
		{"attribute:stack", "expected an operator"},
		{"attribute:stack ==", "expected a value"},
		{"attribute:stack lol prod", "expected an operator"},
		{"attribute:stack in prod", "expected \"[\""},
		{"attribute:stack in [a b]", "expected \",\" or \"]\""},
		{"attribute:stack in [a,", "expected a value"},
		{"attribute:stack == 'prod", "unterminated"},
		{"attribute:stack =~ (", "bad pattern"},
		{"attribute:stack =~ a[", "bad pattern"},
		{"(attribute:stack == prod", "expected \")\""},
		{"attribute:stack == prod)", "unexpected"},
		{"attribute:stack == prod and", "expected an expression"},
		{"attribute:stack == prod or or", "unknown subject \"or\""},
		{"attribute:stack == prod extra", "unexpected"},
		{"agentConnected > true", "not valid for agentConnected"},
		{"agentConnected == yes", "true or false"},
		{"ec2InstanceId < i-1", "not valid for ec2InstanceId"},
		{"runningTasksCount =~ 1", "not valid for runningTasksCount"},
		{"runningTasksCount == one", "whole number"},
		{"runningTasksCount exists", "not valid"},
		{"registeredAt == yesterday", "registeredAt needs a date"},
		{"registeredAt in [2018-01-01]", "not valid for registeredAt"},
		{"agentVersion =~ 1.*", "not valid for agentVersion"},
		{"not", "expected an expression"},
		{"!", "expected an expression"},
		{strings.Repeat("a", MaxLength+1), "longer than 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Parse(tt.expr)
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *cql.Error", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if e.Pos < 0 || e.Pos > len(tt.expr) {
				t.Errorf("position %d out of range", e.Pos)
			}
		})
	}
}

func TestErrorPosition(t *testing.T) {
	_, err := Parse("attribute:a == b and bogus == c")
	var e *Error
	if !errors.As(err, &e) || e.Pos != 21 {
		t.Fatalf("got %v, want position 21", err)
	}
	if !strings.Contains(err.Error(), "at character 22") {
		t.Errorf("message %q lacks the position", err)
	}
}

func TestString(t *testing.T) {
	const s = "attribute:ecs.instance-type =~ t2.*"
	if got := MustParse(s).String(); got != s {
		t.Errorf("String() = %q", got)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MustParse("nonsense")
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.14.5", "1.14.5", 0},
		{"1.9.0", "1.14.5", -1},
		{"1.14", "1.14.0", 0},
		{"v1.2", "1.2", 0},
		{"1.2.10", "1.2.9", 1},
		{"1.2.x", "1.2.y", -1},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestUsesTaskGroups(t *testing.T) {
	for expr, want := range map[string]bool{
		"attribute:ecs.instance-type =~ m5.*":                                    false,
		"task:group == service:web":                                              true,
		"attribute:stack == prod and not(task:group == family:db)":               true,
		"runningTasksCount < 3 or attribute:stack exists":                        false,
		"agentConnected == true or (ec2InstanceId == i-1 and task:group exists)": true,
	} {
		q, err := Parse(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := q.UsesTaskGroups(); got != want {
			t.Errorf("%s: UsesTaskGroups %v, want %v", expr, got, want)
		}
	}
}
