package agent

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
)

// TestChooseDynamicPorts: the range an agent registers, from what
// /proc/sys/net/ipv4/ip_local_port_range reads.
func TestChooseDynamicPorts(t *testing.T) {
	tests := []struct {
		name    string
		given   [2]int
		kernel  string
		readErr error
		want    [2]int
		level   slog.Level
		msg     string // a part of the message
	}{
		{"Linux default: the ports above it", [2]int{}, "32768\t60999\n", nil, [2]int{61000, 65535}, slog.LevelInfo, "outside the kernel's ephemeral port range 32768-60999"},
		{"a high kernel range: the ports below it", [2]int{}, "49152 65535\n", nil, [2]int{32769, 49151}, slog.LevelInfo, "outside"},
		{"no room outside: ECS's range, with a warning", [2]int{}, "1024 65535\n", nil, [2]int{49153, 65535}, slog.LevelWarn, "set --dynamic-ports"},
		{"unreadable: the scheduler's default", [2]int{}, "", errors.New("no such file"), [2]int{61000, 65535}, slog.LevelInfo, "unknown"},
		{"garbage: the scheduler's default", [2]int{}, "32768\n", nil, [2]int{61000, 65535}, slog.LevelInfo, "want two ports"},
		{"the flag wins", [2]int{62000, 62999}, "32768 60999\n", nil, [2]int{62000, 62999}, slog.LevelInfo, "62000-62999"},
		{"a flag overlapping the kernel's range is a warning", [2]int{49153, 65535}, "32768 60999\n", nil, [2]int{49153, 65535}, slog.LevelWarn, "overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chooseDynamicPorts(tt.given, tt.kernel, tt.readErr)
			if got.r != tt.want || got.level != tt.level || !strings.Contains(got.msg, tt.msg) {
				t.Fatalf("chooseDynamicPorts = %v %v %q, want %v %v %q", got.r, got.level, got.msg, tt.want, tt.level, tt.msg)
			}
		})
	}
}

// TestSpecHostPorts: a container's host ports are in the order of its
// port mappings, static ones included, and a containerPortRange has one
// per port.
func TestSpecHostPorts(t *testing.T) {
	p := func(v int32) *int32 { return &v }
	asg := agentproto.Assignment{TaskID: "t1", Cluster: "c",
		Definition: ecstypes.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: "app", Image: "app:1", PortMappings: []ecstypes.PortMapping{
				{ContainerPort: p(80), HostPort: p(8080)},
				{ContainerPort: p(81)},
				{ContainerPortRange: "9000-9001", Protocol: ecstypes.TransportProtocolUdp},
			}}}},
		HostPorts: map[string][]int{"app": {8080, 61001, 61002, 61003}},
	}
	r := newRunner(newTestAgent(), asg)
	got := r.spec("app").PortBindings
	want := []rt.PortBinding{
		{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"},
		{ContainerPort: 81, HostPort: 61001, Protocol: "tcp"},
		{ContainerPort: 9000, HostPort: 61002, Protocol: "udp"},
		{ContainerPort: 9001, HostPort: 61003, Protocol: "udp"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("port bindings %+v\nwant %+v", got, want)
	}

	// A start that finds 61001 taken moves that port only; one that
	// names no port moves every dynamic one; a taken static port moves
	// nothing.
	busy := func(err error) []int { return r.busyPorts("app", err) }
	if got := busy(&rt.PortInUseError{HostPort: 61001, Err: errors.New("taken")}); !slices.Equal(got, []int{61001}) {
		t.Errorf("busy ports %v, want [61001]", got)
	}
	if got := busy(&rt.PortInUseError{Err: errors.New("taken")}); !slices.Equal(got, []int{61001, 61002, 61003}) {
		t.Errorf("busy ports %v, want every dynamic one", got)
	}
	if got := busy(&rt.PortInUseError{HostPort: 8080, Err: errors.New("taken")}); got != nil {
		t.Errorf("busy ports %v for a static port, want none", got)
	}
}
