package scheduler

import (
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// TestDefaultDynamicPortsOutsideLinuxEphemeral: the ports placement hands
// out by default are never ones Linux picks as ephemeral source ports.
func TestDefaultDynamicPortsOutsideLinuxEphemeral(t *testing.T) {
	if DefaultDynamicPorts.Overlaps(LinuxEphemeralPorts) {
		t.Fatalf("default dynamic ports %s overlap Linux's ephemeral range %s", DefaultDynamicPorts, LinuxEphemeralPorts)
	}
	if got, ok := DynamicPortsOutside(LinuxEphemeralPorts); !ok || got != DefaultDynamicPorts {
		t.Fatalf("DynamicPortsOutside(Linux default) = %s %v, want the default %s", got, ok, DefaultDynamicPorts)
	}
}

func TestDynamicPortsOutside(t *testing.T) {
	tests := []struct {
		name string
		eph  PortRange
		want PortRange
		ok   bool
	}{
		{"Linux default: above", PortRange{32768, 60999}, PortRange{61000, 65535}, true},
		{"ECS's range as ephemeral: below, as many as ECS has", PortRange{49152, 65535}, PortRange{32769, 49151}, true},
		{"high and wide: below, from 1024", PortRange{10000, 65000}, PortRange{1024, 9999}, true},
		{"too little above, enough below", PortRange{32768, 65000}, PortRange{16385, 32767}, true},
		{"above has exactly the minimum", PortRange{32768, 65535 - MinDynamicPorts}, PortRange{65536 - MinDynamicPorts, 65535}, true},
		{"no room: ECS's range", PortRange{1024, 65535}, ECSDynamicPorts, false},
		{"too little on both sides", PortRange{1500, 65000}, ECSDynamicPorts, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DynamicPortsOutside(tt.eph)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("DynamicPortsOutside(%s) = %s %v, want %s %v", tt.eph, got, ok, tt.want, tt.ok)
			}
			if ok && got.Overlaps(tt.eph) {
				t.Fatalf("%s overlaps %s", got, tt.eph)
			}
		})
	}
}

func TestMappingsOf(t *testing.T) {
	p := func(v int32) *int32 { return &v }
	c := ecstypes.ContainerDefinition{Name: "web", PortMappings: []ecstypes.PortMapping{
		{ContainerPort: p(80), HostPort: p(8080)},
		{ContainerPort: p(81)},
		{ContainerPortRange: "9000-9001", Protocol: ecstypes.TransportProtocolUdp},
		{ContainerPort: p(82), HostPort: p(0)},
	}}
	got, err := MappingsOf(c, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []PortMapping{
		{Container: "web", ContainerPort: 80, HostPort: 8080, Protocol: "tcp"},
		{Container: "web", ContainerPort: 81, Protocol: "tcp"},
		{Container: "web", ContainerPort: 9000, Protocol: "udp"},
		{Container: "web", ContainerPort: 9001, Protocol: "udp"},
		{Container: "web", ContainerPort: 82, Protocol: "tcp"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("MappingsOf = %+v\nwant %+v", got, want)
	}
	if got, _ := MappingsOf(c, ecstypes.NetworkModeAwsvpc); got != nil {
		t.Fatalf("awsvpc mappings %+v, want none", got)
	}
}

func TestMovePorts(t *testing.T) {
	// A container with a static port 8080 and dynamic 80/tcp, 81/tcp,
	// 53/udp, placed on 50000, 50001 and 50000/udp of the range 50000-50009.
	ms := []PortMapping{
		{ContainerPort: 8080, HostPort: 8080, Protocol: "tcp"},
		{ContainerPort: 80, Protocol: "tcp"},
		{ContainerPort: 81, Protocol: "tcp"},
		{ContainerPort: 53, Protocol: "udp"},
	}
	placed := []int{8080, 50000, 50001, 50000}
	in := inst("a", 1024, 1024, dynRange(50000, 50009), usedTCP(22, 8080, 50000, 50001, 50002), usedUDP(50000))
	tests := []struct {
		name    string
		busy    []int
		want    PortMove
		wantErr string
	}{
		{"one tcp port", []int{50001}, PortMove{HostPorts: []int{8080, 50000, 50003, 50000},
			FreedTCP: []int{50001}, TakenTCP: []int{50003}}, ""},
		{"a port both protocols hold moves in both", []int{50000}, PortMove{HostPorts: []int{8080, 50003, 50001, 50001},
			FreedTCP: []int{50000}, TakenTCP: []int{50003}, FreedUDP: []int{50000}, TakenUDP: []int{50001}}, ""},
		{"two tcp ports; no busy port is taken", []int{50001, 50000}, PortMove{HostPorts: []int{8080, 50003, 50004, 50002},
			FreedTCP: []int{50000, 50001}, TakenTCP: []int{50003, 50004}, FreedUDP: []int{50000}, TakenUDP: []int{50002}}, ""},
		{"a static port cannot move", []int{8080}, PortMove{}, "not a dynamic host port"},
		{"a port not the container's", []int{50002}, PortMove{}, "not a dynamic host port"},
		{"nothing busy", nil, PortMove{}, "no busy host port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MovePorts(in, ms, placed, tt.busy, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MovePorts = %+v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.HostPorts, tt.want.HostPorts) || !slices.Equal(got.FreedTCP, tt.want.FreedTCP) ||
				!slices.Equal(got.TakenTCP, tt.want.TakenTCP) || !slices.Equal(got.FreedUDP, tt.want.FreedUDP) ||
				!slices.Equal(got.TakenUDP, tt.want.TakenUDP) {
				t.Fatalf("MovePorts = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("no free port left", func(t *testing.T) {
		full := inst("a", 1024, 1024, dynRange(50000, 50001), usedTCP(50000, 50001))
		_, err := MovePorts(full, ms[1:3], placed[1:3], []int{50000}, nil)
		if err == nil || !strings.Contains(err.Error(), "no free host port") {
			t.Fatalf("MovePorts on a full range: %v", err)
		}
	})
	t.Run("a busy port is never chosen again", func(t *testing.T) {
		// The busy port is not among the used ones (say the agent
		// reports it after the task released it): it is still avoided.
		in := inst("a", 1024, 1024, dynRange(50000, 50001))
		got, err := MovePorts(in, ms[1:2], []int{50000}, []int{50000}, seeded(1))
		if err != nil || !slices.Equal(got.HostPorts, []int{50001}) {
			t.Fatalf("MovePorts = %+v, %v", got, err)
		}
	})
}
