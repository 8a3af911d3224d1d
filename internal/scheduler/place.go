package scheduler

import (
	"math/rand/v2"
	"reflect"
	"strings"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler/cql"
)

// Place proposes instances for count copies of the task req describes.
//
// instances is a snapshot of the cluster; Place only reads it. Task i is
// placed as if tasks 0..i-1 had already been reserved: their CPU, memory
// and host ports are taken, and they count for spread, distinctInstance
// and task:group. strategies are applied in order, each narrowing the
// candidates the previous one left (at most MaxStrategies); none means
// RunTaskDefaultStrategies. constraints are all that apply, the task
// definition's memberOf included (see Constraints). rnd drives the random
// strategy and breaks ties; with a fixed seed the result is fixed, and a
// nil rnd always takes the first candidate in instance order.
//
// The work per task is O(instances × (strategies + constraints)).
func Place(instances []Instance, req Request, count int, strategies []ecstypes.PlacementStrategy,
	constraints []ecstypes.PlacementConstraint, rnd *rand.Rand) Result {
	ptrs := make([]*Instance, len(instances))
	for i := range instances {
		ptrs[i] = &instances[i]
	}
	return PlaceShared(ptrs, nil, req, count, strategies, constraints, rnd)
}

// PlaceShared is Place on instances shared with others: it reads them,
// their maps and their slices, and writes none of them (what it reserves
// is its own state). When connected is not nil it says whether an
// instance's agent is connected, by instance ID, and AgentConnected is not
// read: a caller can then hand every call the same snapshot, as it is.
func PlaceShared(instances []*Instance, connected func(id string) bool, req Request, count int,
	strategies []ecstypes.PlacementStrategy, constraints []ecstypes.PlacementConstraint, rnd *rand.Rand) Result {
	count = max(count, 0)
	fargate := req.LaunchType == ecstypes.LaunchTypeFargate
	if fargate {
		// ECS does not take placement strategies or constraints for Fargate
		// and spreads its tasks across Availability Zones; minato's pool
		// spreads them across its hosts too.
		instances = FargatePool(instances)
		strategies, constraints = ServiceDefaultStrategies(), nil
	} else if len(strategies) == 0 {
		strategies = RunTaskDefaultStrategies()
	}
	pol, err := compile(strategies, constraints)
	if err != nil {
		return Result{Err: err, Unplaced: count}
	}
	s := newState(instances, connected, &req, pol)
	var res Result
	if len(s.nodes) == 0 && !fargate {
		res.NoInstances, res.Unplaced = true, count
		return res
	}
	cands := make([]int, 0, len(s.nodes))
	for i := range count {
		cands = s.feasible(cands[:0])
		if len(cands) == 0 {
			res.Unplaced = count - i
			if fargate {
				s.fargateFailure(&res)
			} else {
				s.failures(&res)
			}
			break
		}
		res.Placements = append(res.Placements, s.reserve(s.choose(cands, rnd), rnd))
	}
	return res
}

// Why an instance cannot take the next task: the first check it failed,
// in the order they are made.
const (
	failAgent int8 = iota
	failAttribute
	failCPU
	failMemory
	failPorts
	failPortsUDP
	failDistinctInstance
	failMemberOf
	failNone // it can
)

var failReasons = [...]string{ReasonAgent, ReasonAttribute, ReasonCPU, ReasonMemory, ReasonPorts, ReasonPortsUDP,
	ReasonDistinctInstance, ReasonMemberOf, ""}

// stage is how close an instance that failed with f came, for "closest
// matching container-instance": an instance that failed a later check came
// closer; both constraints are one stage.
func stage(f int8) int8 { return min(f, failDistinctInstance) }

// node is an ACTIVE instance as this call sees it: the snapshot plus what
// the call has reserved on it so far.
type node struct {
	in       *Instance
	cpu, mem int
	tcp, udp []int       // sorted used host ports; shared with in until reserve
	group    int         // tasks of the request's group on the instance
	target   *cql.Target // for memberOf; built when first evaluated
	fixed    int8        // failAgent or failAttribute (they do not change during the call), or failNone
	fail     int8        // why it cannot take the next task; failNone if it can
	checked  bool        // fail is current; reserve clears it
	conn     bool        // agent connected
}

// spread holds, for one attribute spread strategy, each node's value of
// the attribute (as an index into counts) and the group's task count per
// value over the whole cluster (DRAINING instances included: their tasks
// still run there).
type spread struct {
	keys   []int32
	counts []int
}

type state struct {
	req      *Request
	pol      *policy
	tcp, udp portNeeds
	nodes    []node
	spreads  []spread // by strategy index; empty unless an attribute spread
	slab     []cql.Target
	memo     []map[uintptr]bool // by constraint: memberOf answers by attribute map
	// attrTarget is the target an attribute-only query is evaluated on.
	attrTarget cql.Target
}

// missingAttr is the spread key of instances that lack the attribute:
// they form one more value of their own.
const missingAttr = "\x00"

func groupCount(in *Instance, group string) int {
	if len(in.Tasks) == 0 {
		return 0
	}
	if in.GroupCounts != nil {
		return in.GroupCounts[group]
	}
	n := 0
	for _, t := range in.Tasks {
		if t.Group == group {
			n++
		}
	}
	return n
}

// hasAttributes reports whether attrs has every required attribute (with
// the given value where one is given).
func hasAttributes(attrs map[string]string, req []ecstypes.Attribute) bool {
	for _, a := range req {
		v, ok := attrs[a.Name]
		if !ok || (a.Value != "" && v != a.Value) {
			return false
		}
	}
	return true
}

func newState(instances []*Instance, connected func(string) bool, req *Request, pol *policy) *state {
	s := &state{req: req, pol: pol, tcp: needsOf(req.Ports, false), udp: needsOf(req.Ports, true)}
	s.nodes = make([]node, 0, len(instances))
	s.spreads = make([]spread, len(pol.strategies))
	// Attribute values as small integers, per spread strategy.
	var ids []map[string]int32
	for i, st := range pol.strategies {
		if st.kind == stSpreadAttribute {
			if ids == nil {
				ids = make([]map[string]int32, len(pol.strategies))
			}
			ids[i] = map[string]int32{}
			s.spreads[i].keys = make([]int32, 0, len(instances))
		}
	}
	keyOf := func(j int, in *Instance) int32 {
		v, ok := in.Attributes[pol.strategies[j].attr]
		if !ok {
			v = missingAttr
		}
		k, ok := ids[j][v]
		if !ok {
			k = int32(len(ids[j]))
			ids[j][v] = k
			s.spreads[j].counts = append(s.spreads[j].counts, 0)
		}
		return k
	}
	for _, in := range instances {
		g := 0
		if pol.groups { // else nothing reads it: save a lookup per instance
			g = groupCount(in, req.Group)
		}
		active := in.Status == StatusActive
		for j := range ids {
			if ids[j] != nil {
				k := keyOf(j, in)
				s.spreads[j].counts[k] += g
				if active {
					s.spreads[j].keys = append(s.spreads[j].keys, k)
				}
			}
		}
		if !active {
			continue
		}
		conn := in.AgentConnected
		if connected != nil {
			conn = connected(in.ID)
		}
		n := node{in: in, cpu: in.CPU, mem: in.Memory, group: g, conn: conn, fixed: failNone,
			tcp: sortedSet(in.UsedTCP), udp: sortedSet(in.UsedUDP)}
		switch {
		case !conn:
			n.fixed = failAgent
		case !hasAttributes(in.Attributes, req.RequiredAttributes):
			n.fixed = failAttribute
		}
		s.nodes = append(s.nodes, n)
	}
	return s
}

// target returns n's memberOf target, building it on first use. The
// task groups are copied only when a query reads them, into a slice of
// their own length, so that reserve's append copies.
func (s *state) target(n *node) *cql.Target {
	if n.target != nil {
		return n.target
	}
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]cql.Target, 0, 256)
	}
	s.slab = s.slab[:len(s.slab)+1]
	t := &s.slab[len(s.slab)-1]
	in := n.in
	*t = cql.Target{
		AgentConnected: n.conn, AgentVersion: in.AgentVersion, EC2InstanceID: in.EC2InstanceID,
		Attributes: in.Attributes, RegisteredAt: in.RegisteredAt, RunningTasksCount: in.RunningTasksCount,
	}
	if s.pol.taskGroups && len(in.Tasks) > 0 {
		t.TaskGroups = make([]string, len(in.Tasks))
		for i, tk := range in.Tasks {
			t.TaskGroups[i] = tk.Group
		}
	}
	n.target = t
	return t
}

// missingAttributes names the required attributes the instance lacks (or
// has with another value), comma-separated, or "" when it has them all.
func missingAttributes(attrs map[string]string, req []ecstypes.Attribute) string {
	var missing []string
	for _, a := range req {
		v, ok := attrs[a.Name]
		if !ok || (a.Value != "" && v != a.Value) {
			if a.Value != "" {
				missing = append(missing, a.Name+"="+a.Value)
			} else {
				missing = append(missing, a.Name)
			}
		}
	}
	return strings.Join(missing, ", ")
}

// feasible appends to cands the nodes that can take the next task, and
// records on the others why not. A node's answer depends only on the node,
// so it is computed again only after the node took a task.
func (s *state) feasible(cands []int) []int {
	for i := range s.nodes {
		n := &s.nodes[i]
		if !n.checked {
			n.fail = s.check(n)
			n.checked = true
		}
		if n.fail == failNone {
			cands = append(cands, i)
		}
	}
	return cands
}

func (s *state) check(n *node) int8 {
	if n.fixed != failNone {
		return n.fixed
	}
	dyn := n.in.DynamicPorts.orDefault()
	switch {
	case s.req.CPU > n.cpu:
		return failCPU
	case s.req.Memory > n.mem:
		return failMemory
	case !s.tcp.fits(n.tcp, dyn):
		return failPorts
	case !s.udp.fits(n.udp, dyn):
		return failPortsUDP
	}
	for ci, c := range s.pol.constraints {
		switch c.kind {
		case ctDistinctInstance:
			if n.group > 0 {
				return failDistinctInstance
			}
		case ctMemberOf:
			if !s.memberOf(ci, c, n) {
				return failMemberOf
			}
		}
	}
	return failNone
}

// maxMemo bounds the memberOf answers kept per constraint: instances that
// share no attribute maps would only fill it.
const maxMemo = 256

// memberOf evaluates constraint ci, c, for n. A query that reads only
// attributes is evaluated once per attribute map: instances that share
// the map (not merely equal ones) share the answer.
func (s *state) memberOf(ci int, c constraint, n *node) bool {
	if !c.attrs {
		return c.q.Eval(s.target(n))
	}
	if s.memo == nil {
		s.memo = make([]map[uintptr]bool, len(s.pol.constraints))
	}
	if s.memo[ci] == nil {
		s.memo[ci] = map[uintptr]bool{}
	}
	key := reflect.ValueOf(n.in.Attributes).Pointer()
	ok, found := s.memo[ci][key]
	if !found {
		s.attrTarget.Attributes = n.in.Attributes
		ok = c.q.Eval(&s.attrTarget)
		if len(s.memo[ci]) < maxMemo {
			s.memo[ci][key] = ok
		}
	}
	return ok
}

// failures reports, for every ACTIVE instance, why it refused the task.
func (s *state) failures(res *Result) {
	best := -1
	for i := range s.nodes {
		n := &s.nodes[i]
		arn := n.in.ARN
		if arn == "" {
			arn = n.in.ID
		}
		f := ecstypes.Failure{Arn: arn, Reason: failReasons[n.fail]}
		if n.fail == failAttribute {
			f.Detail = "missing attributes: " + missingAttributes(n.in.Attributes, s.req.RequiredAttributes)
		}
		res.Failures = append(res.Failures, f)
		if best < 0 || stage(n.fail) > stage(s.nodes[best].fail) {
			best = i
		}
	}
	res.closest, res.closestID = best+1, s.nodes[best].in.ID
}

// choose runs the strategies over the candidates, each keeping the best
// ones for the next, and picks one of those left.
func (s *state) choose(cands []int, rnd *rand.Rand) int {
	for i, st := range s.pol.strategies {
		if len(cands) == 1 {
			break
		}
		switch st.kind {
		case stRandom:
			cands[0] = cands[pick(rnd, len(cands))]
			cands = cands[:1]
		case stSpreadInstance:
			cands = keepMin(cands, func(c int) int { return s.nodes[c].group })
		case stSpreadAttribute:
			sp := &s.spreads[i]
			cands = keepMin(cands, func(c int) int { return sp.counts[sp.keys[c]] })
		case stBinpackCPU:
			cands = keepMin(cands, func(c int) int { return s.nodes[c].cpu })
		case stBinpackMemory:
			cands = keepMin(cands, func(c int) int { return s.nodes[c].mem })
		}
	}
	return cands[pick(rnd, len(cands))]
}

func pick(rnd *rand.Rand, n int) int {
	if rnd == nil || n <= 1 {
		return 0
	}
	return rnd.IntN(n)
}

// keepMin filters cands, in place, to those with the least score.
func keepMin(cands []int, score func(int) int) []int {
	best := score(cands[0])
	for _, c := range cands[1:] {
		best = min(best, score(c))
	}
	out := cands[:0]
	for _, c := range cands {
		if score(c) == best {
			out = append(out, c)
		}
	}
	return out
}

// reserve takes the task's resources on node i and returns the placement.
// Dynamic host ports are taken from a random point of the range on (the
// lowest ones with a nil rnd), so that a port some other program holds on
// the host does not fail every retry of the same task.
func (s *state) reserve(i int, rnd *rand.Rand) Placement {
	n := &s.nodes[i]
	n.checked = false
	r := s.req
	p := Placement{InstanceID: n.in.ID, InstanceARN: n.in.ARN, CPU: r.CPU, Memory: r.Memory, Group: r.Group, Family: r.Family}
	n.cpu -= r.CPU
	n.mem -= r.Memory

	dyn := n.in.DynamicPorts.orDefault()
	start := dyn.From
	if rnd != nil && dyn.To > dyn.From {
		start += rnd.IntN(dyn.To - dyn.From + 1)
	}
	tcpDyn := freeFrom(union(n.tcp, s.tcp.static), dyn, s.tcp.dynamic, start)
	udpDyn := freeFrom(union(n.udp, s.udp.static), dyn, s.udp.dynamic, start)
	if len(r.Ports) > 0 {
		p.Ports = make([]PortMapping, len(r.Ports))
	}
	for k, m := range r.Ports {
		if m.HostPort == 0 {
			if m.udp() {
				m.HostPort, udpDyn = udpDyn[0], udpDyn[1:]
			} else {
				m.HostPort, tcpDyn = tcpDyn[0], tcpDyn[1:]
			}
		}
		if m.udp() {
			p.UDPPorts = append(p.UDPPorts, m.HostPort)
		} else {
			p.TCPPorts = append(p.TCPPorts, m.HostPort)
		}
		p.Ports[k] = m
	}
	p.TCPPorts, p.UDPPorts = union(nil, p.TCPPorts), union(nil, p.UDPPorts)
	if len(p.TCPPorts) > 0 {
		n.tcp = union(n.tcp, p.TCPPorts)
	}
	if len(p.UDPPorts) > 0 {
		n.udp = union(n.udp, p.UDPPorts)
	}

	n.group++
	for j, st := range s.pol.strategies {
		if st.kind == stSpreadAttribute {
			s.spreads[j].counts[s.spreads[j].keys[i]]++
		}
	}
	if n.target != nil {
		n.target.TaskGroups = append(n.target.TaskGroups, r.Group)
	}
	return p
}
