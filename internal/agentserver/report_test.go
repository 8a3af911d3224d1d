package agentserver

import (
	"reflect"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Every field of the protocol's task and container reports reaches the
// domain's, under the same name: a field added to the protocol and not
// converted fails here.
func TestReportsOfConvertsEveryField(t *testing.T) {
	at := time.Unix(1700000000, 0)
	in := agentproto.TaskReport{TaskID: "t1", Cluster: "my-cluster", LastStatus: core.TaskStopped, HealthStatus: ecstypes.HealthStatusUnhealthy,
		PullStartedAt: at, PullStoppedAt: at.Add(1), StartedAt: at.Add(2), ExecutionStoppedAt: at.Add(3),
		StopCode: ecstypes.TaskStopCodeEssentialContainerExited, StoppedReason: "exited",
		PrivateIPv4: "172.30.0.5", MACAddress: "02:42:ac:1e:00:05", SubnetCIDR: "172.30.0.0/16",
		Containers: []agentproto.ContainerReport{{Name: "app", RuntimeID: "r1", ImageDigest: "sha256:x", LastStatus: core.TaskStopped,
			ExitCode: new(int32(3)), Reason: "OOM", HealthStatus: ecstypes.HealthStatusHealthy,
			NetworkBindings: []ecstypes.NetworkBinding{{BindIP: "0.0.0.0", HostPort: new(int32(32768))}}}}}
	out := reportsOf([]agentproto.TaskReport{in})
	if len(out) != 1 {
		t.Fatalf("%d reports", len(out))
	}
	same := func(what string, from, to reflect.Value) {
		t.Helper()
		for i := range from.NumField() {
			name := from.Type().Field(i).Name
			if name == "Containers" {
				continue
			}
			f := to.FieldByName(name)
			if !f.IsValid() {
				t.Errorf("%s field %s has no counterpart in the domain", what, name)
				continue
			}
			if !reflect.DeepEqual(from.Field(i).Interface(), f.Interface()) {
				t.Errorf("%s field %s: %v became %v", what, name, from.Field(i), f)
			}
			if from.Field(i).IsZero() {
				t.Errorf("test data leaves %s field %s empty", what, name)
			}
		}
	}
	same("task report", reflect.ValueOf(in), reflect.ValueOf(out[0]))
	if len(out[0].Containers) != 1 {
		t.Fatalf("containers: %+v", out[0].Containers)
	}
	same("container report", reflect.ValueOf(in.Containers[0]), reflect.ValueOf(out[0].Containers[0]))
}
