package controller

import (
	"reflect"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

// A lost or deregistered pool host has its pool tasks that are not
// STOPPED stopped; its own cluster's EC2 tasks stay, and a host that is
// not lost keeps everything.
func TestLostHostStops(t *testing.T) {
	host := state.ContainerInstance{ID: "h1", Cluster: "default", Status: state.InstanceActive, Fargate: true}
	task := func(cluster, id, last string, pool bool) state.Task {
		t := state.Task{ID: id, Cluster: cluster, InstanceID: "h1", Task: ecstypes.Task{LastStatus: last, DesiredStatus: "RUNNING"}}
		if pool {
			t.HostCluster = "default"
		}
		return t
	}
	onHost := []state.Task{
		task("my-cluster", "f1", "RUNNING", true),
		task("my-cluster", "f2", "PROVISIONING", true),
		task("other", "f3", "STOPPED", true),
		task("default", "e1", "RUNNING", false),
		task("default", "f4", "DEACTIVATING", true),
	}
	ids := func(stops []poolStop) []string {
		var out []string
		for _, s := range stops {
			out = append(out, s.cluster+"/"+s.id)
		}
		return out
	}
	if got := lostHostStops(host, false, onHost); len(got) != 0 {
		t.Fatalf("a host that is not lost: %v", ids(got))
	}
	got := lostHostStops(host, true, onHost)
	if want := []string{"my-cluster/f1", "my-cluster/f2", "default/f4"}; !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("lost host stops %v, want %v", ids(got), want)
	}
	if got[0].reason == "" {
		t.Fatal("no reason")
	}
	host.Status = state.InstanceInactive
	if got := lostHostStops(host, true, onHost); len(got) != 3 || got[0].reason == lostHostStops(state.ContainerInstance{ID: "h1", Cluster: "default"}, true, onHost)[0].reason {
		t.Fatalf("a deregistered host: %v", got)
	}
}
