package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
)

func TestAwslogsTarget(t *testing.T) {
	def := func(opts map[string]string) ecstypes.ContainerDefinition {
		return ecstypes.ContainerDefinition{Name: "web", LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: opts}}
	}
	tg, ok, err := awslogsTarget(def(map[string]string{"awslogs-group": "/ecs/app", "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}), "t1", "c1")
	if !ok || err != nil || tg.Group != "/ecs/app" || tg.Stream != "ecs/web/t1" || !tg.CreateGroup || tg.start != nil {
		t.Fatalf("%+v %v %v", tg, ok, err)
	}
	tg, _, _ = awslogsTarget(def(map[string]string{"awslogs-group": "g"}), "t1", "c1")
	if tg.Stream != "c1" || tg.CreateGroup {
		t.Fatalf("without a prefix: %+v", tg)
	}
	if _, _, err := awslogsTarget(def(map[string]string{}), "t1", "c1"); err == nil {
		t.Fatal("no awslogs-group: no error")
	}
	if _, ok, _ := awslogsTarget(ecstypes.ContainerDefinition{LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverJsonFile}}, "t", "c"); ok {
		t.Fatal("json-file taken as awslogs")
	}
}

func TestStrftimeRegexp(t *testing.T) {
	for _, tc := range []struct {
		format, line string
		match        bool
	}{
		{"%Y-%m-%d %H:%M:%S", "2024-03-09 14:05:59 started", true},
		{"%Y-%m-%d %H:%M:%S", "  at com.example.Main", false},
		{"%Y-%m-%dT%H:%M:%S%L%z", "2024-03-09T14:05:59.123+0900 x", true},
		{"[%b %d, %Y %H:%M:%S]", "[Mar 09, 2024 14:05:59] x", true},
		{"[%b %d, %Y %H:%M:%S]", "Mar 09, 2024 14:05:59 x", false},
		{"%a %I:%M %p", "Sat 02:05 PM", true},
	} {
		tg, _, err := awslogsTarget(ecstypes.ContainerDefinition{LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs,
			Options: map[string]string{"awslogs-group": "g", "awslogs-datetime-format": tc.format}}}, "t", "c")
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.start.MatchString(tc.line); got != tc.match {
			t.Errorf("%q against %q: %v, want %v", tc.format, tc.line, got, tc.match)
		}
	}
}

func TestAssembler(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	line := func(i int, text string, partial bool) (rt.LogLine, logPos) {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		return rt.LogLine{Time: ts, Text: text, Partial: partial}, logPos{TS: ts, N: 1}
	}
	// Every line is an event; empty lines are none; split lines join.
	a := &assembler{}
	var got []string
	for i, l := range []struct {
		text    string
		partial bool
	}{{"one", false}, {"", false}, {"tw", true}, {"o", false}} {
		ll, p := line(i, l.text, l.partial)
		for _, e := range a.line(ll, p) {
			got = append(got, e.Message)
		}
	}
	if fmt.Sprint(got) != "[one two]" {
		t.Fatalf("single lines: %q", got)
	}
	// Multiline: a line matching the pattern starts an event.
	tg, _, _ := awslogsTarget(ecstypes.ContainerDefinition{LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs,
		Options: map[string]string{"awslogs-group": "g", "awslogs-multiline-pattern": `^INFO|^ERROR`}}}, "t", "c")
	a = &assembler{t: tg}
	var evs []logEvent
	for i, text := range []string{"INFO start", "ERROR boom", "  at a()", "  at b()", "INFO next"} {
		ll, p := line(i, text, false)
		evs = append(evs, a.line(ll, p)...)
	}
	evs = append(evs, a.flush()...)
	if len(evs) != 3 || evs[1].Message != "ERROR boom\n  at a()\n  at b()" || evs[1].Timestamp != t0.Add(time.Millisecond).UnixMilli() ||
		!evs[1].end.TS.Equal(t0.Add(3*time.Millisecond)) || evs[2].Message != "INFO next" {
		t.Fatalf("multiline events: %+v", evs)
	}
	// An event over CloudWatch's limit is cut.
	long := strings.Repeat("x", maxEventBytes*2+5)
	ev := logEvent{}
	ev.Message = long
	if p := splitEvent(ev); len(p) != 3 || len(p[0].Message) != maxEventBytes || len(p[2].Message) != 5 {
		t.Fatalf("split: %d parts", len(p))
	}
}
