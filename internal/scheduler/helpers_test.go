package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

type opt func(*Instance)

// inst is an ACTIVE, connected instance with the given remaining cpu and
// memory.
func inst(id string, cpu, mem int, opts ...opt) Instance {
	in := Instance{
		ID: id, ARN: "arn:aws:ecs:us-east-1:000000000000:container-instance/c/" + id,
		EC2InstanceID: "i-" + id, Status: StatusActive, AgentConnected: true, AgentVersion: "1.80.0",
		Attributes: map[string]string{}, CPU: cpu, Memory: mem,
	}
	for _, o := range opts {
		o(&in)
	}
	return in
}

func az(z string) opt { return attr(AttrAvailabilityZone, z) }

func attr(k, v string) opt { return func(in *Instance) { in.Attributes[k] = v } }

func status(s string) opt { return func(in *Instance) { in.Status = s } }

func disconnected(in *Instance) { in.AgentConnected = false }

// pool makes the instance a host of the Fargate pool.
func pool(in *Instance) { in.Fargate = true }

func running(groups ...string) opt {
	return func(in *Instance) {
		for _, g := range groups {
			in.Tasks = append(in.Tasks, Task{Group: g})
		}
		in.RunningTasksCount += len(groups)
	}
}

func usedTCP(ports ...int) opt {
	return func(in *Instance) { in.UsedTCP = append(in.UsedTCP, ports...) }
}

func usedUDP(ports ...int) opt {
	return func(in *Instance) { in.UsedUDP = append(in.UsedUDP, ports...) }
}

func dynRange(from, to int) opt { return func(in *Instance) { in.DynamicPorts = PortRange{from, to} } }

func spreadOn(field string) ecstypes.PlacementStrategy {
	return ecstypes.PlacementStrategy{Type: ecstypes.PlacementStrategyTypeSpread, Field: field}
}

func binpack(field string) ecstypes.PlacementStrategy {
	return ecstypes.PlacementStrategy{Type: ecstypes.PlacementStrategyTypeBinpack, Field: field}
}

func random() ecstypes.PlacementStrategy {
	return ecstypes.PlacementStrategy{Type: ecstypes.PlacementStrategyTypeRandom}
}

func strategies(s ...ecstypes.PlacementStrategy) []ecstypes.PlacementStrategy { return s }

var distinct = ecstypes.PlacementConstraint{Type: ecstypes.PlacementConstraintTypeDistinctInstance}

func memberOf(expr string) ecstypes.PlacementConstraint {
	return ecstypes.PlacementConstraint{Type: ecstypes.PlacementConstraintTypeMemberOf, Expression: expr}
}

func constraints(c ...ecstypes.PlacementConstraint) []ecstypes.PlacementConstraint { return c }

// ids lists the instance of each placement.
func ids(r Result) []string {
	out := make([]string, len(r.Placements))
	for i, p := range r.Placements {
		out[i] = p.InstanceID
	}
	return out
}

// perInstance counts placements by instance.
func perInstance(r Result) map[string]int {
	m := map[string]int{}
	for _, p := range r.Placements {
		m[p.InstanceID]++
	}
	return m
}

func mustPlace(t *testing.T, instances []Instance, req Request, count int, s []ecstypes.PlacementStrategy, c []ecstypes.PlacementConstraint, rnd *rand.Rand) Result {
	t.Helper()
	r := Place(instances, req, count, s, c, rnd)
	if r.Err != nil {
		t.Fatalf("Place: %v", r.Err)
	}
	if got := len(r.Placements) + r.Unplaced; got != count {
		t.Fatalf("%d placed + %d unplaced != %d", len(r.Placements), r.Unplaced, count)
	}
	return r
}

func failuresString(fs []ecstypes.Failure) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("[%s %s %s]", f.Arn, f.Reason, f.Detail)
	}
	return s
}
