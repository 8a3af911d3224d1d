package scheduler

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler/cql"
)

// Property tests: random clusters and requests from seeded generators, so
// a failure names the seed that reproduces it.

const propertyCases = 2000

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

type scenario struct {
	instances   []Instance
	req         Request
	count       int
	strategies  []ecstypes.PlacementStrategy
	constraints []ecstypes.PlacementConstraint
}

func (s scenario) String() string {
	return fmt.Sprintf("%d instances, req %+v x%d, strategies %v, constraints %v", len(s.instances), s.req, s.count, s.strategies, s.constraints)
}

func genScenario(g *rand.Rand) scenario {
	var s scenario
	groups := []string{"family:web", "family:db", "service:api"}
	for i := range 1 + g.IntN(12) {
		in := inst(fmt.Sprint("i", i), g.IntN(4)*512, g.IntN(5)*512)
		in.Attributes[AttrAvailabilityZone] = zones[g.IntN(len(zones))]
		if g.IntN(4) == 0 {
			in.Attributes["stack"] = "prod"
		}
		switch g.IntN(8) {
		case 0:
			in.Status = StatusDraining
		case 1:
			in.AgentConnected = false
		}
		in.DynamicPorts = PortRange{50000, 50000 + g.IntN(4)}
		for _, p := range []int{22, 80, 443, 50000, 50001, 50002} {
			if g.IntN(4) == 0 {
				in.UsedTCP = append(in.UsedTCP, p)
			}
			if g.IntN(6) == 0 {
				in.UsedUDP = append(in.UsedUDP, p)
			}
		}
		for range g.IntN(4) {
			in.Tasks = append(in.Tasks, Task{Group: groups[g.IntN(len(groups))]})
		}
		s.instances = append(s.instances, in)
	}
	s.req = Request{CPU: g.IntN(3) * 256, Memory: g.IntN(3) * 256, Group: groups[g.IntN(len(groups))]}
	for range g.IntN(3) {
		m := PortMapping{ContainerPort: 1 + g.IntN(1000)}
		if g.IntN(2) == 0 {
			m.HostPort = []int{80, 443, 8080, 50001}[g.IntN(4)]
		}
		if g.IntN(3) == 0 {
			m.Protocol = ecstypes.TransportProtocolUdp
		}
		s.req.Ports = append(s.req.Ports, m)
	}
	if g.IntN(5) == 0 {
		s.req.RequiredAttributes = []ecstypes.Attribute{{Name: "stack", Value: "prod"}}
	}
	s.count = g.IntN(8)
	pool := []ecstypes.PlacementStrategy{random(), spreadOn("instanceId"), spreadOn("attribute:ecs.availability-zone"),
		spreadOn("attribute:stack"), binpack("cpu"), binpack("memory")}
	for range g.IntN(4) {
		s.strategies = append(s.strategies, pool[g.IntN(len(pool))])
	}
	if g.IntN(3) == 0 {
		s.constraints = append(s.constraints, distinct)
	}
	if g.IntN(3) == 0 {
		s.constraints = append(s.constraints, memberOf([]string{
			"attribute:ecs.availability-zone != us-east-1c",
			"not(task:group == family:db)",
			"runningTasksCount < 3 or attribute:stack exists",
		}[g.IntN(3)]))
	}
	return s
}

// TestPropertyPlacementIsSound checks, for random clusters, that every
// placement fits: no instance is over-committed (cpu, memory, ports), only
// ACTIVE connected instances with the required attributes get tasks,
// distinctInstance and memberOf hold when each task is placed, dynamic
// ports come from the instance's range, and the result is a function of
// the seed.
func TestPropertyPlacementIsSound(t *testing.T) {
	for seed := range uint64(propertyCases) {
		g := seeded(seed)
		s := genScenario(g)
		before := cloneInstances(s.instances)
		r := Place(s.instances, s.req, s.count, s.strategies, s.constraints, seeded(seed+1))
		if r.Err != nil {
			t.Fatalf("seed %d: %v", seed, r.Err)
		}
		if !reflect.DeepEqual(before, s.instances) {
			t.Fatalf("seed %d: Place modified its input", seed)
		}
		if again := Place(s.instances, s.req, s.count, s.strategies, s.constraints, seeded(seed+1)); !reflect.DeepEqual(r, again) {
			t.Fatalf("seed %d: not deterministic", seed)
		}
		if err := checkSound(s, r); err != nil {
			t.Fatalf("seed %d: %v\n%v", seed, err, s)
		}
	}
}

func checkSound(s scenario, r Result) error {
	if len(r.Placements)+r.Unplaced != s.count {
		return fmt.Errorf("%d placed + %d unplaced != %d", len(r.Placements), r.Unplaced, s.count)
	}
	if r.Unplaced > 0 && len(r.Failures) == 0 && !r.NoInstances {
		return fmt.Errorf("%d unplaced without failures", r.Unplaced)
	}
	byID := map[string]int{}
	for i, in := range s.instances {
		byID[in.ID] = i
	}
	cur := cloneInstances(s.instances)
	var memberOf *cql.Query
	hasDistinct := false
	for _, c := range s.constraints {
		switch c.Type {
		case ecstypes.PlacementConstraintTypeMemberOf:
			memberOf = cql.MustParse(c.Expression)
		case ecstypes.PlacementConstraintTypeDistinctInstance:
			hasDistinct = true
		}
	}
	for k, p := range r.Placements {
		i, ok := byID[p.InstanceID]
		if !ok {
			return fmt.Errorf("placement %d on unknown instance %q", k, p.InstanceID)
		}
		in := cur[i]
		switch {
		case in.Status != StatusActive:
			return fmt.Errorf("placement %d on %s instance %s", k, in.Status, in.ID)
		case !in.AgentConnected:
			return fmt.Errorf("placement %d on disconnected %s", k, in.ID)
		case missingAttributes(in.Attributes, s.req.RequiredAttributes) != "":
			return fmt.Errorf("placement %d on %s, which lacks attributes", k, in.ID)
		case hasDistinct && slices.ContainsFunc(in.Tasks, func(t Task) bool { return t.Group == s.req.Group }):
			return fmt.Errorf("placement %d breaks distinctInstance on %s", k, in.ID)
		}
		if memberOf != nil && !memberOf.Eval(target(in)) {
			return fmt.Errorf("placement %d breaks memberOf(%s) on %s", k, memberOf, in.ID)
		}
		if len(p.Ports) != len(s.req.Ports) {
			return fmt.Errorf("placement %d has %d port mappings, want %d", k, len(p.Ports), len(s.req.Ports))
		}
		seen := map[string]bool{}
		dyn := in.DynamicPorts.orDefault()
		for j, m := range p.Ports {
			want := s.req.Ports[j]
			if want.HostPort != 0 && m.HostPort != want.HostPort {
				return fmt.Errorf("placement %d moved static port %d to %d", k, want.HostPort, m.HostPort)
			}
			if want.HostPort == 0 && (m.HostPort < dyn.From || m.HostPort > dyn.To) {
				return fmt.Errorf("placement %d: dynamic port %d outside %v", k, m.HostPort, dyn)
			}
			used := in.UsedTCP
			if m.udp() {
				used = in.UsedUDP
			}
			key := fmt.Sprint(m.Protocol, m.HostPort)
			if slices.Contains(used, m.HostPort) || seen[key] {
				return fmt.Errorf("placement %d: host port %s already taken on %s", k, key, in.ID)
			}
			seen[key] = true
		}
		cur[i] = Reserve(in, p)
		if cur[i].CPU < 0 || cur[i].Memory < 0 {
			return fmt.Errorf("placement %d over-commits %s: cpu %d memory %d", k, in.ID, cur[i].CPU, cur[i].Memory)
		}
	}
	return nil
}

func target(in Instance) *cql.Target {
	t := &cql.Target{AgentConnected: in.AgentConnected, AgentVersion: in.AgentVersion, EC2InstanceID: in.EC2InstanceID,
		Attributes: in.Attributes, RegisteredAt: in.RegisteredAt, RunningTasksCount: in.RunningTasksCount}
	for _, task := range in.Tasks {
		t.TaskGroups = append(t.TaskGroups, task.Group)
	}
	return t
}

// TestPropertySpreadIsEven: with room everywhere, spreading a new group
// over a field leaves the per-value task counts within one of each other,
// over the values of the instances that can take tasks.
func TestPropertySpreadIsEven(t *testing.T) {
	for seed := range uint64(propertyCases / 4) {
		g := seeded(seed)
		var instances []Instance
		for i := range 1 + g.IntN(15) {
			in := inst(fmt.Sprint("i", i), 1<<20, 1<<20, az(zones[g.IntN(len(zones))]))
			if g.IntN(5) == 0 {
				in.Status = StatusDraining // invisible, and holds no task of the group
			}
			instances = append(instances, in)
		}
		field := []string{"instanceId", "attribute:ecs.availability-zone"}[g.IntN(2)]
		count := g.IntN(40)
		r := Place(instances, web, count, strategies(spreadOn(field)), nil, seeded(seed))
		counts := map[string]int{}
		for _, in := range instances {
			if in.Status == StatusActive {
				counts[spreadValue(in, field)] = 0
			}
		}
		byID := map[string]Instance{}
		for _, in := range instances {
			byID[in.ID] = in
		}
		for _, p := range r.Placements {
			counts[spreadValue(byID[p.InstanceID], field)]++
		}
		if len(counts) == 0 {
			continue
		}
		lo, hi := count, 0
		for _, n := range counts {
			lo, hi = min(lo, n), max(hi, n)
		}
		if r.Unplaced != 0 || hi-lo > 1 {
			t.Fatalf("seed %d: spread on %s gave %v (unplaced %d)", seed, field, counts, r.Unplaced)
		}
	}
}

func spreadValue(in Instance, field string) string {
	if field == "instanceId" {
		return in.ID
	}
	return in.Attributes[AttrAvailabilityZone]
}

// TestPropertyBinpackPicksLeastRemaining replays each placement: the
// chosen instance had the least remaining memory (or cpu) among those that
// could take the task.
func TestPropertyBinpackPicksLeastRemaining(t *testing.T) {
	for seed := range uint64(propertyCases / 4) {
		g := seeded(seed)
		var instances []Instance
		for i := range 1 + g.IntN(10) {
			instances = append(instances, inst(fmt.Sprint("i", i), 256*g.IntN(12), 256*g.IntN(12)))
		}
		req := Request{CPU: 256 * (1 + g.IntN(2)), Memory: 256 * (1 + g.IntN(2)), Group: "family:web"}
		field := []string{"cpu", "memory"}[g.IntN(2)]
		r := Place(instances, req, g.IntN(12), strategies(binpack(field)), nil, seeded(seed))
		cur := cloneInstances(instances)
		for k, p := range r.Placements {
			best := -1
			for _, in := range cur {
				if in.CPU >= req.CPU && in.Memory >= req.Memory {
					if v := remaining(in, field); best < 0 || v < best {
						best = v
					}
				}
			}
			i := slices.IndexFunc(cur, func(in Instance) bool { return in.ID == p.InstanceID })
			if got := remaining(cur[i], field); got != best {
				t.Fatalf("seed %d: placement %d on %s with %d %s left; the least was %d", seed, k, p.InstanceID, got, field, best)
			}
			cur[i] = Reserve(cur[i], p)
		}
		// Whatever was left unplaced really does not fit anywhere.
		if r.Unplaced > 0 && slices.ContainsFunc(cur, func(in Instance) bool { return in.CPU >= req.CPU && in.Memory >= req.Memory }) {
			t.Fatalf("seed %d: %d unplaced though an instance has room", seed, r.Unplaced)
		}
	}
}

func remaining(in Instance, field string) int {
	if field == "cpu" {
		return in.CPU
	}
	return in.Memory
}
