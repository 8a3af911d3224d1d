package agentproto

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// The messages encode byte for byte as they did when the protocol carried
// the store's records and status strings (testdata/wire.jsonl was written
// by the protocol of commit f44d861), and decode back to the same values:
// the protocol's own types changed nothing on the wire.
func TestWireFormatUnchanged(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	msgs := []any{
		RegisterRequest{Cluster: "default", InstanceID: "i1", Hostname: "h", Address: "10.0.0.1", AgentVersion: "1", DockerVersion: "20.10",
			Resources:    Resources{CPU: 4096, MemoryMiB: 8192, Ports: []int{22, 2375}, PortsUDP: []int{}},
			DynamicPorts: [2]int{32768, 60999}, Attributes: []ecstypes.Attribute{{Name: "ecs.os-type", Value: "linux"}}},
		PollResponse{Revision: 7, InstanceStatus: "ACTIVE", Resend: true, Tasks: []Assignment{{TaskID: "t1", TaskARN: "arn:t1", Cluster: "default",
			DesiredStatus: core.TaskRunning, LastStatus: core.TaskDeactivating, HostPorts: map[string][]int{"app": {32768}}, ContainerIDs: map[string]string{"app": "c1"},
			StopCode: ecstypes.TaskStopCodeUserInitiated, StoppedReason: "bye", Definition: ecstypes.TaskDefinition{Family: "web", Revision: 1}}}},
		Report{InstanceID: "i1", Cluster: "default", Tasks: []TaskReport{{TaskID: "t1", LastStatus: core.TaskStopped, HealthStatus: ecstypes.HealthStatusHealthy,
			PullStartedAt: at, StartedAt: at, ExecutionStoppedAt: at, StopCode: ecstypes.TaskStopCodeEssentialContainerExited, StoppedReason: "exit",
			PrivateIPv4: "172.30.0.5", MACAddress: "02:42", SubnetCIDR: "172.30.0.0/16",
			Containers: []ContainerReport{{Name: "app", RuntimeID: "r1", ImageDigest: "sha256:x", LastStatus: core.TaskStopped, ExitCode: new(int32(3)), Reason: "OOM",
				NetworkBindings: []ecstypes.NetworkBinding{{BindIP: "0.0.0.0", HostPort: new(int32(32768)), ContainerPort: new(int32(80)), Protocol: "tcp"}}}}}}},
	}
	golden, err := os.ReadFile("testdata/wire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(golden)), "\n")
	if len(want) != len(msgs) {
		t.Fatalf("%d golden lines for %d messages", len(want), len(msgs))
	}
	for i, m := range msgs {
		got, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want[i] {
			t.Errorf("message %d (%T) encodes\n%s\nwant\n%s", i, m, got, want[i])
		}
		// Decoding the old bytes gives the same message back.
		back := newOf(m)
		if err := json.Unmarshal([]byte(want[i]), back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(again, got) {
			t.Errorf("message %d does not survive a round trip: %s", i, again)
		}
	}
}

func newOf(m any) any {
	switch m.(type) {
	case RegisterRequest:
		return new(RegisterRequest)
	case PollResponse:
		return new(PollResponse)
	case Report:
		return new(Report)
	}
	panic("unknown message")
}
