package scheduler

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

var web = Request{CPU: 256, Memory: 512, Group: "family:web", Family: "web"}

func TestNoInstances(t *testing.T) {
	tests := []struct {
		name      string
		instances []Instance
	}{
		{"empty cluster", nil},
		{"only draining", []Instance{inst("a", 4096, 8192, status(StatusDraining))}},
		{"draining and registering", []Instance{inst("a", 4096, 8192, status(StatusDraining)), inst("b", 4096, 8192, status("REGISTERING"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, web, 2, nil, nil, seeded(1))
			if !r.NoInstances || r.Unplaced != 2 || len(r.Placements) != 0 || len(r.Failures) != 0 {
				t.Fatalf("got %+v", r)
			}
			want := "service web was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
			if got := r.EventMessage("web"); got != want {
				t.Errorf("event:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestDrainingNeverGetsTasks(t *testing.T) {
	instances := []Instance{
		inst("drain", 1<<20, 1<<20, status(StatusDraining)),
		inst("a", 1024, 2048),
	}
	r := mustPlace(t, instances, web, 10, strategies(binpack("memory")), nil, seeded(1))
	if got := perInstance(r); got["drain"] != 0 || got["a"] != 4 {
		t.Errorf("placements %v", got)
	}
	if r.Unplaced != 6 || failuresString(r.Failures) != "["+instances[1].ARN+" RESOURCE:CPU ]" {
		t.Errorf("unplaced %d, failures %s", r.Unplaced, failuresString(r.Failures))
	}
}

func TestFailureReasons(t *testing.T) {
	udp := Request{CPU: 10, Memory: 10, Ports: []PortMapping{{ContainerPort: 53, HostPort: 53, Protocol: ecstypes.TransportProtocolUdp}}}
	static80 := Request{CPU: 10, Memory: 10, Ports: []PortMapping{{ContainerPort: 80, HostPort: 80}}}
	dynamic2 := Request{CPU: 10, Memory: 10, Ports: []PortMapping{{ContainerPort: 80}, {ContainerPort: 81}}}
	needsENI := Request{CPU: 10, Memory: 10, RequiredAttributes: []ecstypes.Attribute{{Name: "ecs.capability.task-eni"}}}
	needsARM := Request{CPU: 10, Memory: 10, RequiredAttributes: []ecstypes.Attribute{{Name: AttrCPUArchitecture, Value: "arm64"}}}
	tests := []struct {
		name        string
		instances   []Instance
		req         Request
		constraints []ecstypes.PlacementConstraint
		want        []string // reason per instance, detail after "|"
	}{
		{"agent disconnected", []Instance{inst("a", 1024, 1024, disconnected)}, web, nil, []string{"AGENT"}},
		{"agent is checked before resources", []Instance{inst("a", 0, 0, disconnected)}, web, nil, []string{"AGENT"}},
		{"missing attribute", []Instance{inst("a", 1024, 1024)}, needsENI, nil, []string{"ATTRIBUTE|missing attributes: ecs.capability.task-eni"}},
		{"attribute with another value", []Instance{inst("a", 1024, 1024, attr(AttrCPUArchitecture, "x86_64"))}, needsARM, nil, []string{"ATTRIBUTE|missing attributes: ecs.cpu-architecture=arm64"}},
		{"attribute before resources", []Instance{inst("a", 0, 0)}, needsENI, nil, []string{"ATTRIBUTE|missing attributes: ecs.capability.task-eni"}},
		{"cpu", []Instance{inst("a", 255, 1024)}, web, nil, []string{"RESOURCE:CPU"}},
		{"cpu before memory", []Instance{inst("a", 0, 0)}, web, nil, []string{"RESOURCE:CPU"}},
		{"memory", []Instance{inst("a", 256, 511)}, web, nil, []string{"RESOURCE:MEMORY"}},
		{"static tcp port taken", []Instance{inst("a", 1024, 1024, usedTCP(22, 80))}, static80, nil, []string{"RESOURCE:PORTS"}},
		{"same port number in udp is fine", []Instance{inst("a", 1024, 1024, usedUDP(80))}, static80, nil, nil},
		{"dynamic tcp ports exhausted", []Instance{inst("a", 1024, 1024, dynRange(50000, 50002), usedTCP(50001, 50002))}, dynamic2, nil, []string{"RESOURCE:PORTS"}},
		{"udp port taken", []Instance{inst("a", 1024, 1024, usedUDP(53))}, udp, nil, []string{"RESOURCE:PORTS_UDP"}},
		{"distinctInstance", []Instance{inst("a", 1024, 1024, running("family:web"))}, web, constraints(distinct), []string{"DistinctInstance placement constraint unsatisfied."}},
		{"distinctInstance ignores other groups", []Instance{inst("a", 1024, 1024, running("family:db"))}, web, constraints(distinct), nil},
		{"memberOf", []Instance{inst("a", 1024, 1024, attr("stack", "dev"))}, web, constraints(memberOf("attribute:stack == prod")), []string{"MemberOf placement constraint unsatisfied."}},
		{"resources before constraints", []Instance{inst("a", 0, 1024)}, web, constraints(memberOf("attribute:stack == prod")), []string{"RESOURCE:CPU"}},
		{"constraints in the order given", []Instance{inst("a", 1024, 1024, running("family:web"))}, web,
			constraints(memberOf("attribute:stack == prod"), distinct), []string{"MemberOf placement constraint unsatisfied."}},
		{"one failure per instance, in instance order", []Instance{
			inst("a", 1024, 1024, disconnected), inst("b", 0, 1024), inst("c", 1024, 0), inst("d", 1024, 1024, status(StatusDraining)),
		}, web, nil, []string{"AGENT", "RESOURCE:CPU", "RESOURCE:MEMORY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, tt.req, 1, nil, tt.constraints, seeded(1))
			var got []string
			for _, f := range r.Failures {
				s := f.Reason
				if f.Detail != "" {
					s += "|" + f.Detail
				}
				got = append(got, s)
				if !strings.HasPrefix(f.Arn, "arn:aws:ecs:") {
					t.Errorf("failure arn %q is not the instance ARN", f.Arn)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures %q, want %q", got, tt.want)
			}
			if (len(tt.want) == 0) != (len(r.Placements) == 1) {
				t.Errorf("placements %v", ids(r))
			}
		})
	}
}

func TestFailureARNFallsBackToID(t *testing.T) {
	in := inst("a", 0, 0)
	in.ARN = ""
	r := mustPlace(t, []Instance{in}, web, 1, nil, nil, nil)
	if len(r.Failures) != 1 || r.Failures[0].Arn != "a" {
		t.Errorf("failures %s", failuresString(r.Failures))
	}
}

func TestPartialPlacement(t *testing.T) {
	// Room for two tasks: the third fails once, per instance, not per task.
	instances := []Instance{inst("a", 512, 4096), inst("b", 1024, 512)}
	r := mustPlace(t, instances, web, 5, nil, nil, seeded(3))
	if len(r.Placements) != 3 || r.Unplaced != 2 {
		t.Fatalf("placed %v, unplaced %d", ids(r), r.Unplaced)
	}
	want := "[" + instances[0].ARN + " RESOURCE:CPU ][" + instances[1].ARN + " RESOURCE:MEMORY ]"
	if got := failuresString(r.Failures); got != want {
		t.Errorf("failures %s\nwant %s", got, want)
	}
}

func TestEventMessage(t *testing.T) {
	const head = "service web was unable to place a task because no container instance met all of its requirements. The closest matching container-instance "
	const tail = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	tests := []struct {
		name      string
		instances []Instance
		req       Request
		c         []ecstypes.PlacementConstraint
		want      string
	}{
		{"cpu", []Instance{inst("a", 0, 0)}, web, nil, "a has insufficient CPU units available."},
		{"memory beats cpu", []Instance{inst("a", 0, 0), inst("b", 1024, 0)}, web, nil, "b has insufficient memory available."},
		{"ports", []Instance{inst("a", 1024, 1024, usedTCP(80))}, Request{Ports: []PortMapping{{ContainerPort: 80, HostPort: 80}}}, nil, "a is already using a port required by your task."},
		{"attribute", []Instance{inst("a", 1024, 1024)}, Request{RequiredAttributes: []ecstypes.Attribute{{Name: "x"}}}, nil, "a is missing an attribute required by your task."},
		{"agent", []Instance{inst("a", 1024, 1024, disconnected)}, web, nil, `a encountered error "AGENT".`},
		{"constraint is closest", []Instance{inst("a", 0, 0), inst("b", 1024, 1024)}, web, constraints(memberOf("attribute:x exists")),
			`b encountered error "MemberOf placement constraint unsatisfied.".`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, tt.req, 1, nil, tt.c, nil)
			if got, want := r.EventMessage("web"), head+tt.want+tail; got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
	if got := mustPlace(t, []Instance{inst("a", 1024, 1024)}, web, 1, nil, nil, nil).EventMessage("web"); got != "" {
		t.Errorf("message when all placed: %q", got)
	}
	if _, _, ok := (Result{}).Closest(); ok {
		t.Error("zero Result has a closest failure")
	}
}

func TestBinpack(t *testing.T) {
	tests := []struct {
		name      string
		instances []Instance
		strategy  ecstypes.PlacementStrategy
		count     int
		want      []string
	}{
		{"least memory that still fits", []Instance{inst("a", 4096, 1000), inst("b", 4096, 600), inst("c", 4096, 511), inst("d", 4096, 800)},
			binpack("memory"), 1, []string{"b"}},
		{"least cpu that still fits", []Instance{inst("a", 300, 4096), inst("b", 2048, 4096), inst("c", 255, 4096)},
			binpack("cpu"), 1, []string{"a"}},
		{"fills one instance before the next", []Instance{inst("a", 4096, 4096), inst("b", 4096, 1024)},
			binpack("memory"), 3, []string{"b", "b", "a"}},
		{"field is case-insensitive", []Instance{inst("a", 4096, 4096), inst("b", 4096, 1024)},
			binpack("MEMORY"), 1, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, web, tt.count, strategies(tt.strategy), nil, seeded(1))
			if got := ids(r); !slices.Equal(got, tt.want) {
				t.Errorf("placed on %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	big := 1 << 20
	tests := []struct {
		name      string
		instances []Instance
		s         []ecstypes.PlacementStrategy
		count     int
		want      map[string]int
	}{
		{"instanceId evens out", []Instance{inst("a", big, big), inst("b", big, big), inst("c", big, big)},
			strategies(spreadOn("instanceId")), 6, map[string]int{"a": 2, "b": 2, "c": 2}},
		{"host is instanceId", []Instance{inst("a", big, big), inst("b", big, big)},
			strategies(spreadOn("host")), 4, map[string]int{"a": 2, "b": 2}},
		{"counts only the task group", []Instance{inst("a", big, big, running("family:web", "family:web")), inst("b", big, big, running("family:db", "family:db")), inst("c", big, big)},
			strategies(spreadOn("instanceId")), 4, map[string]int{"b": 2, "c": 2}},
		{"availability zones, not instances", []Instance{inst("a1", big, big, az("a")), inst("a2", big, big, az("a")), inst("a3", big, big, az("a")), inst("b1", big, big, az("b"))},
			strategies(spreadOn("attribute:ecs.availability-zone")), 4, map[string]int{"b1": 2}}, // zone a gets the other 2
		{"zone counts include full and draining instances", []Instance{
			inst("a1", 0, 0, az("a"), running("family:web", "family:web")), inst("a2", big, big, az("a")),
			inst("b1", big, big, az("b"), status(StatusDraining), running("family:web")), inst("b2", big, big, az("b")),
			inst("c1", big, big, az("c")),
		}, strategies(spreadOn("attribute:ecs.availability-zone")), 3, map[string]int{"c1": 2, "b2": 1}},
		{"instances without the attribute are one more value", []Instance{inst("a", big, big, az("a")), inst("x", big, big), inst("y", big, big)},
			strategies(spreadOn("attribute:ecs.availability-zone")), 2, map[string]int{"a": 1}}, // plus one on x or y
		{"zone then instance", []Instance{inst("a1", big, big, az("a")), inst("a2", big, big, az("a")), inst("b1", big, big, az("b"))},
			strategies(spreadOn("attribute:ecs.availability-zone"), spreadOn("instanceId")), 4, map[string]int{"a1": 1, "a2": 1, "b1": 2}},
		{"zone then binpack", []Instance{inst("a1", big, 4096, az("a")), inst("a2", big, 2048, az("a")), inst("b1", big, 8192, az("b")), inst("b2", big, 1024, az("b"))},
			strategies(spreadOn("attribute:ecs.availability-zone"), binpack("memory")), 4, map[string]int{"a2": 2, "b2": 2}},
		{"service default: zones, then fewest tasks", []Instance{inst("a1", big, big, az("a"), running("family:web")), inst("a2", big, big, az("a")), inst("b1", big, big, az("b"), running("family:web"))},
			ServiceDefaultStrategies(), 2, map[string]int{"a2": 1, "b1": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, web, tt.count, tt.s, nil, seeded(7))
			got := perInstance(r)
			for id, n := range tt.want {
				if got[id] != n {
					t.Errorf("placements %v, want %v on %s", got, n, id)
				}
			}
			if r.Unplaced != 0 {
				t.Errorf("%d unplaced", r.Unplaced)
			}
		})
	}
}

func TestRandom(t *testing.T) {
	big := 1 << 20
	instances := []Instance{inst("a", big, big), inst("b", big, big), inst("c", big, big)}
	for _, s := range [][]ecstypes.PlacementStrategy{strategies(random()), nil} {
		r := mustPlace(t, instances, web, 300, s, nil, seeded(42))
		for _, id := range []string{"a", "b", "c"} {
			if n := perInstance(r)[id]; n < 60 {
				t.Errorf("strategies %v: %s got %d of 300", s, id, n)
			}
		}
	}
	// A random strategy ends the chain: what follows it sees one candidate.
	r := mustPlace(t, instances, web, 30, strategies(random(), binpack("memory")), nil, seeded(42))
	if len(perInstance(r)) < 2 {
		t.Errorf("random then binpack packed everything: %v", perInstance(r))
	}
	// Without rnd, ties go to the first instance.
	if got := ids(mustPlace(t, instances, web, 2, strategies(random()), nil, nil)); !slices.Equal(got, []string{"a", "a"}) {
		t.Errorf("nil rnd: %v", got)
	}
}

func TestDeterministicForSeed(t *testing.T) {
	big := 1 << 20
	var instances []Instance
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		instances = append(instances, inst(id, big, big, az(string(id[0]%3+'a'))))
	}
	s := strategies(spreadOn("attribute:ecs.availability-zone"), random())
	first := mustPlace(t, instances, web, 20, s, nil, seeded(99))
	for range 5 {
		if again := mustPlace(t, instances, web, 20, s, nil, seeded(99)); !reflect.DeepEqual(first, again) {
			t.Fatalf("different results for one seed:\n%v\n%v", ids(first), ids(again))
		}
	}
}

func TestConstraints(t *testing.T) {
	big := 1 << 20
	tests := []struct {
		name      string
		instances []Instance
		c         []ecstypes.PlacementConstraint
		count     int
		want      map[string]int
		unplaced  int
	}{
		{"distinctInstance spreads one per instance", []Instance{inst("a", big, big), inst("b", big, big), inst("c", big, big)},
			constraints(distinct), 4, map[string]int{"a": 1, "b": 1, "c": 1}, 1},
		{"distinctInstance counts tasks already there", []Instance{inst("a", big, big, running("family:web")), inst("b", big, big)},
			constraints(distinct), 2, map[string]int{"b": 1}, 1},
		{"memberOf an attribute", []Instance{inst("a", big, big, attr(AttrInstanceType, "t2.small")), inst("b", big, big, attr(AttrInstanceType, "m5.large"))},
			constraints(memberOf("attribute:ecs.instance-type =~ t2.*")), 3, map[string]int{"a": 3}, 0},
		{"affinity to a task group", []Instance{inst("a", big, big), inst("b", big, big, running("database"))},
			constraints(memberOf("task:group == database")), 2, map[string]int{"b": 2}, 0},
		{"anti-affinity to its own group sees earlier tasks of the call", []Instance{inst("a", big, big), inst("b", big, big)},
			constraints(memberOf("not(task:group == family:web)")), 3, map[string]int{"a": 1, "b": 1}, 1},
		{"memberOf and distinctInstance together", []Instance{inst("a", big, big, az("a")), inst("b", big, big, az("b")), inst("c", big, big, az("a"))},
			constraints(memberOf("attribute:ecs.availability-zone == a"), distinct), 3, map[string]int{"a": 1, "c": 1}, 1},
		{"runningTasksCount", []Instance{inst("a", big, big, running("x")), inst("b", big, big)},
			constraints(memberOf("runningTasksCount == 0")), 2, map[string]int{"b": 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, web, tt.count, nil, tt.c, seeded(5))
			if got := perInstance(r); !reflect.DeepEqual(got, tt.want) || r.Unplaced != tt.unplaced {
				t.Errorf("placements %v unplaced %d, want %v and %d", got, r.Unplaced, tt.want, tt.unplaced)
			}
		})
	}
}

func TestFargateIgnoresPlacement(t *testing.T) {
	big := 1 << 20
	instances := []Instance{inst("a1", big, big, az("a"), pool), inst("a2", big, big, az("a"), pool), inst("b1", big, big, az("b"), pool),
		inst("ec2", big, big, az("c"))}
	req := web
	req.LaunchType = ecstypes.LaunchTypeFargate
	r := mustPlace(t, instances, req, 4, strategies(binpack("memory")), constraints(memberOf("attribute:nope exists")), seeded(1))
	if got := perInstance(r); got["b1"] != 2 || got["a1"] != 1 || got["a2"] != 1 || got["ec2"] != 0 {
		t.Errorf("placements %v", got)
	}
}

func TestPorts(t *testing.T) {
	big := 1 << 20
	t.Run("dynamic ports are the lowest free of the range, distinct across tasks", func(t *testing.T) {
		req := Request{Ports: []PortMapping{{Container: "app", ContainerPort: 8080}, {Container: "app", ContainerPort: 9090}}}
		in := inst("a", big, big, dynRange(50000, 50010), usedTCP(50001, 22))
		r := mustPlace(t, []Instance{in}, req, 3, nil, nil, nil)
		want := [][]int{{50000, 50002}, {50003, 50004}, {50005, 50006}}
		for i, p := range r.Placements {
			if got := []int{p.Ports[0].HostPort, p.Ports[1].HostPort}; !slices.Equal(got, want[i]) {
				t.Errorf("task %d: host ports %v, want %v", i, got, want[i])
			}
			if !slices.Equal(p.TCPPorts, want[i]) || p.UDPPorts != nil {
				t.Errorf("task %d holds %v/%v", i, p.TCPPorts, p.UDPPorts)
			}
			if p.Ports[0].Container != "app" || p.Ports[0].ContainerPort != 8080 {
				t.Errorf("mapping lost its container: %+v", p.Ports[0])
			}
		}
	})
	t.Run("dynamic ports avoid the task's own static ports", func(t *testing.T) {
		req := Request{Ports: []PortMapping{{ContainerPort: 1}, {ContainerPort: 2, HostPort: 50000}}}
		r := mustPlace(t, []Instance{inst("a", big, big, dynRange(50000, 50001))}, req, 1, nil, nil, nil)
		if got := r.Placements[0].Ports[0].HostPort; got != 50001 {
			t.Errorf("dynamic port %d", got)
		}
		// The range has one port left after the static one: a second task cannot fit.
		if r := mustPlace(t, []Instance{inst("a", big, big, dynRange(50000, 50000))}, req, 1, nil, nil, nil); r.Unplaced != 1 {
			t.Errorf("placed with no free dynamic port: %+v", r.Placements)
		}
	})
	t.Run("default range", func(t *testing.T) {
		first := DefaultDynamicPorts.From
		r := mustPlace(t, []Instance{inst("a", big, big, usedTCP(first))}, Request{Ports: []PortMapping{{ContainerPort: 80}}}, 1, nil, nil, nil)
		if got := r.Placements[0].Ports[0].HostPort; got != first+1 {
			t.Errorf("dynamic port %d", got)
		}
	})
	t.Run("tcp and udp are separate", func(t *testing.T) {
		req := Request{Ports: []PortMapping{{ContainerPort: 53}, {ContainerPort: 53, Protocol: ecstypes.TransportProtocolUdp}}}
		r := mustPlace(t, []Instance{inst("a", big, big, dynRange(50000, 50001), usedUDP(50000))}, req, 1, nil, nil, nil)
		p := r.Placements[0]
		if !slices.Equal(p.TCPPorts, []int{50000}) || !slices.Equal(p.UDPPorts, []int{50001}) {
			t.Errorf("tcp %v udp %v", p.TCPPorts, p.UDPPorts)
		}
	})
	t.Run("a static port goes to one task per instance", func(t *testing.T) {
		req := Request{Ports: []PortMapping{{ContainerPort: 80, HostPort: 80}}}
		r := mustPlace(t, []Instance{inst("a", big, big), inst("b", big, big)}, req, 3, nil, nil, seeded(1))
		if got := perInstance(r); got["a"] != 1 || got["b"] != 1 || r.Unplaced != 1 {
			t.Errorf("placements %v", got)
		}
		for _, f := range r.Failures {
			if f.Reason != ReasonPorts {
				t.Errorf("failure %+v", f)
			}
		}
	})
	t.Run("a request naming a static port twice never fits", func(t *testing.T) {
		req := Request{Ports: []PortMapping{{ContainerPort: 80, HostPort: 80}, {ContainerPort: 81, HostPort: 80}}}
		if r := mustPlace(t, []Instance{inst("a", big, big)}, req, 1, nil, nil, nil); r.Unplaced != 1 || r.Failures[0].Reason != ReasonPorts {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("duplicated used ports count once", func(t *testing.T) {
		in := inst("a", big, big, dynRange(50000, 50001), usedTCP(50000, 50000))
		r := mustPlace(t, []Instance{in}, Request{Ports: []PortMapping{{ContainerPort: 1}}}, 1, nil, nil, nil)
		if r.Unplaced != 0 || r.Placements[0].TCPPorts[0] != 50001 {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("unsorted used ports", func(t *testing.T) {
		in := inst("a", big, big, dynRange(100, 105), usedTCP(104, 100, 102, 101))
		r := mustPlace(t, []Instance{in}, Request{Ports: []PortMapping{{ContainerPort: 1}, {ContainerPort: 2}}}, 1, nil, nil, nil)
		if got := r.Placements[0].TCPPorts; !slices.Equal(got, []int{103, 105}) {
			t.Errorf("ports %v", got)
		}
		if !slices.Equal(in.UsedTCP, []int{104, 100, 102, 101}) {
			t.Errorf("Place modified the snapshot: %v", in.UsedTCP)
		}
	})
}

func TestPlaceDoesNotModifyInstances(t *testing.T) {
	instances := []Instance{
		inst("a", 2048, 4096, az("a"), usedTCP(22), running("family:web")),
		inst("b", 2048, 4096, az("b"), usedUDP(53)),
	}
	before := cloneInstances(instances)
	req := Request{CPU: 256, Memory: 256, Group: "family:web", Ports: []PortMapping{{ContainerPort: 80}, {ContainerPort: 53, Protocol: "udp"}}}
	mustPlace(t, instances, req, 6, ServiceDefaultStrategies(), constraints(memberOf("task:group exists or attribute:ecs.availability-zone == b")), seeded(2))
	if !reflect.DeepEqual(before, instances) {
		t.Errorf("instances changed:\n%+v\n%+v", before, instances)
	}
}

func cloneInstances(in []Instance) []Instance {
	out := make([]Instance, len(in))
	for i, x := range in {
		x.Attributes = clonedMap(x.Attributes)
		x.UsedTCP, x.UsedUDP, x.Tasks = slices.Clone(x.UsedTCP), slices.Clone(x.UsedUDP), slices.Clone(x.Tasks)
		out[i] = x
	}
	return out
}

func clonedMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestValidatePlacement(t *testing.T) {
	tests := []struct {
		name string
		s    []ecstypes.PlacementStrategy
		c    []ecstypes.PlacementConstraint
		msg  string // "" for valid
	}{
		{"none", nil, nil, ""},
		{"all kinds", strategies(spreadOn("attribute:ecs.availability-zone"), spreadOn("instanceId"), spreadOn("host"), binpack("cpu"), random()),
			constraints(distinct, memberOf("attribute:stack == prod")), ""},
		{"random ignores its field", strategies(ecstypes.PlacementStrategy{Type: "random", Field: "whatever"}), nil, ""},
		{"six strategies", strategies(random(), random(), random(), random(), random(), random()), nil, "maximum of 5 placement strategies"},
		{"eleven constraints", nil, slices.Repeat(constraints(distinct), 11), "maximum of 10 placement constraints"},
		{"unknown strategy", strategies(ecstypes.PlacementStrategy{Type: "pack"}), nil, `Invalid placement strategy type "pack"`},
		{"strategy without type", strategies(ecstypes.PlacementStrategy{Field: "cpu"}), nil, "needs a type"},
		{"spread without field", strategies(spreadOn("")), nil, "needs a field"},
		{"spread on nonsense", strategies(spreadOn("zone")), nil, `Invalid field "zone" for the spread`},
		{"spread on attribute: alone", strategies(spreadOn("attribute:")), nil, `Invalid field "attribute:"`},
		{"binpack on disk", strategies(binpack("disk")), nil, `Invalid field "disk" for the binpack`},
		{"distinctInstance with expression", nil, constraints(ecstypes.PlacementConstraint{Type: "distinctInstance", Expression: "x"}), "does not take an expression"},
		{"memberOf without expression", nil, constraints(memberOf(" ")), "needs an expression"},
		{"memberOf with a bad expression", nil, constraints(memberOf("attribute:x =~ (")), "Invalid memberOf placement constraint"},
		{"constraint without type", nil, constraints(ecstypes.PlacementConstraint{Expression: "x"}), "needs a type"},
		{"unknown constraint", nil, constraints(ecstypes.PlacementConstraint{Type: "spreadOut"}), `Invalid placement constraint type "spreadOut"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePlacement(tt.s, tt.c)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want %q", err, tt.msg)
			}
			e, ok := core.AsError(err)
			if !ok || e.Kind != core.KindInvalid || e.Code != ecstypes.ErrCodeInvalidParameterException {
				t.Errorf("error %#v is not an InvalidParameterException", err)
			}
			if r := Place([]Instance{inst("a", 1024, 1024)}, web, 2, tt.s, tt.c, nil); r.Err == nil || r.Unplaced != 2 || len(r.Placements) != 0 {
				t.Errorf("Place with invalid input: %+v", r)
			}
		})
	}
}

func TestNegativeCount(t *testing.T) {
	if r := Place([]Instance{inst("a", 1, 1)}, web, -1, nil, nil, nil); len(r.Placements) != 0 || r.Unplaced != 0 {
		t.Errorf("got %+v", r)
	}
}
