package scheduler

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

func i32(v int32) *int32 { return &v }

func container(name string, cpu int32, mem, res *int32, ports ...ecstypes.PortMapping) ecstypes.ContainerDefinition {
	return ecstypes.ContainerDefinition{Name: name, Image: "app", Cpu: cpu, Memory: mem, MemoryReservation: res, PortMappings: ports}
}

func pm(cp int32, hp *int32, proto ecstypes.TransportProtocol) ecstypes.PortMapping {
	return ecstypes.PortMapping{ContainerPort: i32(cp), HostPort: hp, Protocol: proto}
}

func TestRequestForResources(t *testing.T) {
	twoContainers := ecstypes.TaskDefinition{Family: "web", ContainerDefinitions: []ecstypes.ContainerDefinition{
		container("app", 256, i32(512), i32(128)), // reservation wins
		container("log", 128, i32(256), nil),      // hard limit only
		container("sidecar", 0, nil, nil),         // nothing
	}}
	withTask := twoContainers
	withTask.Cpu, withTask.Memory = "1024", "2048"
	tests := []struct {
		name     string
		td       ecstypes.TaskDefinition
		ov       *ecstypes.TaskOverride
		cpu, mem int
	}{
		{"sum of containers, reservation before limit", twoContainers, nil, 384, 384},
		{"task level wins", withTask, nil, 1024, 2048},
		{"task overrides", withTask, &ecstypes.TaskOverride{Cpu: "0.5 vCPU", Memory: "1 GB"}, 512, 1024},
		{"container overrides", twoContainers, &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{
			{Name: "app", Cpu: i32(100), MemoryReservation: i32(64)},
			{Name: "log", Memory: i32(100)},
		}}, 228, 164},
		{"overriding memory keeps the reservation", twoContainers, &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{
			{Name: "app", Memory: i32(4096)},
		}}, 384, 384},
		{"task override on top of container overrides", twoContainers, &ecstypes.TaskOverride{Cpu: "2048",
			ContainerOverrides: []ecstypes.ContainerOverride{{Name: "app", Cpu: i32(1)}}}, 2048, 384},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := RequestFor(&tt.td, tt.ov, "", ecstypes.LaunchTypeEc2)
			if err != nil {
				t.Fatal(err)
			}
			if req.CPU != tt.cpu || req.Memory != tt.mem {
				t.Errorf("cpu %d memory %d, want %d and %d", req.CPU, req.Memory, tt.cpu, tt.mem)
			}
			if req.Group != "family:web" || req.Family != "web" || req.LaunchType != ecstypes.LaunchTypeEc2 {
				t.Errorf("group %q family %q launch type %q", req.Group, req.Family, req.LaunchType)
			}
		})
	}
}

func TestRequestForPorts(t *testing.T) {
	udp := ecstypes.TransportProtocolUdp
	tcp := ecstypes.TransportProtocolTcp
	defs := []ecstypes.ContainerDefinition{
		container("app", 0, i32(64), nil, pm(80, i32(8080), ""), pm(443, nil, tcp), pm(53, i32(0), udp)),
		{Name: "range", Image: "x", Memory: i32(64), PortMappings: []ecstypes.PortMapping{{ContainerPortRange: "7000-7002", Protocol: tcp}}},
	}
	tests := []struct {
		mode ecstypes.NetworkMode
		want []PortMapping
	}{
		{"", []PortMapping{ // bridge by default
			{"app", 80, 8080, tcp}, {"app", 443, 0, tcp}, {"app", 53, 0, udp},
			{"range", 7000, 0, tcp}, {"range", 7001, 0, tcp}, {"range", 7002, 0, tcp},
		}},
		{ecstypes.NetworkModeHost, []PortMapping{
			{"app", 80, 80, tcp}, {"app", 443, 443, tcp}, {"app", 53, 53, udp},
			{"range", 7000, 7000, tcp}, {"range", 7001, 7001, tcp}, {"range", 7002, 7002, tcp},
		}},
		{ecstypes.NetworkModeAwsvpc, nil},
		{ecstypes.NetworkModeNone, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			td := ecstypes.TaskDefinition{Family: "f", NetworkMode: tt.mode, ContainerDefinitions: defs}
			req, err := RequestFor(&td, nil, "service:web", "")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Ports, tt.want) {
				t.Errorf("ports\n got %v\nwant %v", req.Ports, tt.want)
			}
			if req.Group != "service:web" {
				t.Errorf("group %q", req.Group)
			}
			if want := tt.mode; want == "" && req.NetworkMode != ecstypes.NetworkModeBridge || want != "" && req.NetworkMode != want {
				t.Errorf("network mode %q", req.NetworkMode)
			}
		})
	}
}

func TestRequestForAttributes(t *testing.T) {
	td := ecstypes.TaskDefinition{
		Family:               "f",
		ContainerDefinitions: []ecstypes.ContainerDefinition{container("a", 0, i32(64), nil)},
		RequiresAttributes:   []ecstypes.Attribute{{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"}},
		RuntimePlatform:      &ecstypes.RuntimePlatform{CpuArchitecture: ecstypes.CPUArchitectureArm64, OperatingSystemFamily: ecstypes.OSFamilyLinux},
	}
	req, err := RequestFor(&td, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []ecstypes.Attribute{
		{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
		{Name: AttrCPUArchitecture, Value: "arm64"},
		{Name: AttrOSType, Value: "linux"},
	}
	if !reflect.DeepEqual(req.RequiredAttributes, want) {
		t.Errorf("attributes %v", req.RequiredAttributes)
	}
	if len(td.RequiresAttributes) != 1 {
		t.Error("RequestFor changed the task definition")
	}

	td.RuntimePlatform = &ecstypes.RuntimePlatform{CpuArchitecture: ecstypes.CPUArchitectureX8664, OperatingSystemFamily: ecstypes.OSFamilyWindowsServer2019Full}
	req, _ = RequestFor(&td, nil, "", "")
	if got := req.RequiredAttributes[1:]; !slices.Equal(got, []ecstypes.Attribute{{Name: AttrCPUArchitecture, Value: "x86_64"}, {Name: AttrOSType, Value: "windows"}}) {
		t.Errorf("attributes %v", got)
	}

	// The attributes do what they say in Place.
	in := inst("a", 1024, 1024, attr("com.amazonaws.ecs.capability.docker-remote-api.1.18", ""), attr(AttrCPUArchitecture, "x86_64"), attr(AttrOSType, "windows"))
	if r := Place([]Instance{in}, req, 1, nil, nil, nil); len(r.Placements) != 1 {
		t.Errorf("not placed: %s", failuresString(r.Failures))
	}
}

func TestRequestForErrors(t *testing.T) {
	td := ecstypes.TaskDefinition{Family: "f", ContainerDefinitions: []ecstypes.ContainerDefinition{container("a", 0, i32(64), nil)}}
	bad := td
	bad.ContainerDefinitions = []ecstypes.ContainerDefinition{{Name: "a", PortMappings: []ecstypes.PortMapping{{ContainerPortRange: "9-1"}}}}
	tests := []struct {
		name string
		td   ecstypes.TaskDefinition
		ov   *ecstypes.TaskOverride
		msg  string
	}{
		{"unknown container", td, &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: "b"}}}, "Override for container named b is not a container in the TaskDefinition."},
		{"bad cpu", td, &ecstypes.TaskOverride{Cpu: "lots"}, "Invalid 'cpu' setting"},
		{"bad memory", td, &ecstypes.TaskOverride{Memory: "-1"}, "Invalid 'memory' setting"},
		{"bad port range", bad, nil, "Invalid containerPortRange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RequestFor(&tt.td, tt.ov, "", "")
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want %q", err, tt.msg)
			}
			if !core.IsKind(err, core.KindInvalid) {
				t.Errorf("error kind of %v", err)
			}
		})
	}
}

func TestConstraintsMerge(t *testing.T) {
	td := &ecstypes.TaskDefinition{PlacementConstraints: []ecstypes.TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: "attribute:a exists"}}}
	got := Constraints(td, constraints(distinct))
	want := constraints(memberOf("attribute:a exists"), distinct)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if got := Constraints(nil, nil); got != nil {
		t.Errorf("got %v", got)
	}
}

func TestAttributesMap(t *testing.T) {
	got := AttributesMap([]ecstypes.Attribute{{Name: "a", Value: "1"}, {Name: "b"}})
	if !reflect.DeepEqual(got, map[string]string{"a": "1", "b": ""}) {
		t.Errorf("got %v", got)
	}
}

func TestReserveRelease(t *testing.T) {
	in := inst("a", 2048, 4096, usedTCP(22, 80), usedUDP(53), running("family:db"))
	before := cloneInstances([]Instance{in})[0]
	req := Request{CPU: 512, Memory: 1024, Group: "family:web", Family: "web",
		Ports: []PortMapping{{ContainerPort: 8080}, {ContainerPort: 443, HostPort: 443}, {ContainerPort: 5353, Protocol: "udp"}}}
	r := mustPlace(t, []Instance{in}, req, 2, nil, nil, nil)
	after := in
	for _, p := range r.Placements {
		after = Reserve(after, p)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("Reserve modified its input: %+v", in)
	}
	if after.CPU != 1536 || after.Memory != 3072 {
		t.Errorf("after reserve: cpu %d memory %d", after.CPU, after.Memory)
	}
	if len(r.Placements) != 1 || r.Unplaced != 1 || r.Failures[0].Reason != ReasonPorts {
		t.Fatalf("the static port 443 fits one task: %v, %s", ids(r), failuresString(r.Failures))
	}
	dyn := DefaultDynamicPorts.From
	if got := after.UsedTCP; !slices.Equal(got, []int{22, 80, 443, dyn}) {
		t.Errorf("used tcp %v", got)
	}
	if got := after.UsedUDP; !slices.Equal(got, []int{53, dyn}) {
		t.Errorf("used udp %v", got)
	}
	if got := after.Tasks; !slices.Equal(got, []Task{{Group: "family:db"}, {Group: "family:web", Family: "web"}}) {
		t.Errorf("tasks %v", got)
	}
	// Placing against the reserved snapshot sees the reservation.
	if r2 := mustPlace(t, []Instance{after}, req, 1, nil, nil, nil); r2.Unplaced != 1 {
		t.Errorf("placed twice on 443")
	}
	back := Release(after, r.Placements[0])
	if back.CPU != before.CPU || back.Memory != before.Memory || !slices.Equal(back.UsedTCP, before.UsedTCP) ||
		!slices.Equal(back.UsedUDP, before.UsedUDP) || !slices.Equal(back.Tasks, before.Tasks) {
		t.Errorf("release did not undo reserve:\n%+v\n%+v", back, before)
	}
	if len(after.Tasks) != 2 {
		t.Error("Release modified its input")
	}
}
