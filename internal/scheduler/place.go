package scheduler

import (
	"math/rand/v2"
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
	count = max(count, 0)
	if req.LaunchType == ecstypes.LaunchTypeFargate {
		// ECS does not take placement strategies or constraints for Fargate
		// and spreads its tasks across Availability Zones.
		strategies, constraints = ServiceDefaultStrategies(), nil
	} else if len(strategies) == 0 {
		strategies = RunTaskDefaultStrategies()
	}
	pol, err := compile(strategies, constraints)
	if err != nil {
		return Result{Err: err, Unplaced: count}
	}
	s := newState(instances, &req, pol)
	var res Result
	if len(s.nodes) == 0 {
		res.NoInstances, res.Unplaced = true, count
		return res
	}
	cands := make([]int, 0, len(s.nodes))
	for i := range count {
		cands = s.feasible(cands[:0])
		if len(cands) == 0 {
			res.Unplaced = count - i
			s.failures(&res)
			break
		}
		res.Placements = append(res.Placements, s.reserve(s.choose(cands, rnd), rnd))
	}
	return res
}

// Stages of the checks, for "closest matching container-instance": an
// instance that failed a later stage came closer.
const (
	stageAgent = iota
	stageAttribute
	stageCPU
	stageMemory
	stagePorts
	stagePortsUDP
	stageConstraint
)

// node is an ACTIVE instance as this call sees it: the snapshot plus what
// the call has reserved on it so far.
type node struct {
	in       *Instance
	fixed    string // AGENT or ATTRIBUTE: does not change during the call
	fixedAt  int
	detail   string
	cpu, mem int
	tcp, udp []int // sorted used host ports
	dyn      PortRange
	group    int         // tasks of the request's group on the instance
	target   *cql.Target // for memberOf
	reason   string      // why it cannot take the next task, "" if it can
	stage    int
	checked  bool // reason and stage are current; reserve clears it
}

// spread holds, for one attribute spread strategy, each node's value of
// the attribute and the group's task count per value over the whole
// cluster (DRAINING instances included: their tasks still run there).
type spread struct {
	keys   []string
	counts map[string]int
}

type state struct {
	req      *Request
	pol      *policy
	tcp, udp portNeeds
	nodes    []node
	spreads  []spread // by strategy index; empty unless an attribute spread
}

// missingAttr is the spread key of instances that lack the attribute:
// they form one more value of their own.
const missingAttr = "\x00"

func attrKey(attrs map[string]string, name string) string {
	if v, ok := attrs[name]; ok {
		return v
	}
	return missingAttr
}

func groupCount(in *Instance, group string) int {
	n := 0
	for _, t := range in.Tasks {
		if t.Group == group {
			n++
		}
	}
	return n
}

func newState(instances []Instance, req *Request, pol *policy) *state {
	s := &state{req: req, pol: pol, tcp: needsOf(req.Ports, false), udp: needsOf(req.Ports, true)}
	s.nodes = make([]node, 0, len(instances))
	s.spreads = make([]spread, len(pol.strategies))
	for i, st := range pol.strategies {
		if st.kind == stSpreadAttribute {
			s.spreads[i].counts = map[string]int{}
			s.spreads[i].keys = make([]string, 0, len(instances))
		}
	}
	var (
		targets []cql.Target
		groups  []string
		ntasks  int
	)
	for i := range instances {
		in := &instances[i]
		g := groupCount(in, req.Group)
		for j, st := range pol.strategies {
			if st.kind == stSpreadAttribute {
				s.spreads[j].counts[attrKey(in.Attributes, st.attr)] += g
			}
		}
		if in.Status != StatusActive {
			continue
		}
		n := node{in: in, cpu: in.CPU, mem: in.Memory, group: g,
			tcp: sortedSet(in.UsedTCP), udp: sortedSet(in.UsedUDP), dyn: in.DynamicPorts.orDefault()}
		switch missing := missingAttributes(in.Attributes, req.RequiredAttributes); {
		case !in.AgentConnected:
			n.fixed, n.fixedAt = ReasonAgent, stageAgent
		case missing != "":
			n.fixed, n.fixedAt, n.detail = ReasonAttribute, stageAttribute, missing
		}
		if pol.memberOf {
			// One allocation for all targets and one for all their groups;
			// a target's groups are capped, so reserve's append copies.
			if targets == nil {
				targets = make([]cql.Target, 0, len(instances))
				for k := range instances {
					ntasks += len(instances[k].Tasks)
				}
				groups = make([]string, 0, ntasks)
			}
			from := len(groups)
			for _, t := range in.Tasks {
				groups = append(groups, t.Group)
			}
			targets = append(targets, cql.Target{
				AgentConnected: in.AgentConnected, AgentVersion: in.AgentVersion, EC2InstanceID: in.EC2InstanceID,
				Attributes: in.Attributes, RegisteredAt: in.RegisteredAt, RunningTasksCount: in.RunningTasksCount,
				TaskGroups: groups[from:len(groups):len(groups)],
			})
			n.target = &targets[len(targets)-1]
		}
		for j, st := range pol.strategies {
			if st.kind == stSpreadAttribute {
				s.spreads[j].keys = append(s.spreads[j].keys, attrKey(in.Attributes, st.attr))
			}
		}
		s.nodes = append(s.nodes, n)
	}
	return s
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
			n.reason, n.stage = s.check(n)
			n.checked = true
		}
		if n.reason == "" {
			cands = append(cands, i)
		}
	}
	return cands
}

func (s *state) check(n *node) (string, int) {
	if n.fixed != "" {
		return n.fixed, n.fixedAt
	}
	switch {
	case s.req.CPU > n.cpu:
		return ReasonCPU, stageCPU
	case s.req.Memory > n.mem:
		return ReasonMemory, stageMemory
	case !s.tcp.fits(n.tcp, n.dyn):
		return ReasonPorts, stagePorts
	case !s.udp.fits(n.udp, n.dyn):
		return ReasonPortsUDP, stagePortsUDP
	}
	for _, c := range s.pol.constraints {
		switch c.kind {
		case ctDistinctInstance:
			if n.group > 0 {
				return ReasonDistinctInstance, stageConstraint
			}
		case ctMemberOf:
			if !c.q.Eval(n.target) {
				return ReasonMemberOf, stageConstraint
			}
		}
	}
	return "", 0
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
		f := ecstypes.Failure{Arn: arn, Reason: n.reason}
		if n.reason == ReasonAttribute {
			f.Detail = "missing attributes: " + n.detail
		}
		res.Failures = append(res.Failures, f)
		if best < 0 || n.stage > s.nodes[best].stage {
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

	start := n.dyn.From
	if rnd != nil && n.dyn.To > n.dyn.From {
		start += rnd.IntN(n.dyn.To - n.dyn.From + 1)
	}
	tcpDyn := freeFrom(union(n.tcp, s.tcp.static), n.dyn, s.tcp.dynamic, start)
	udpDyn := freeFrom(union(n.udp, s.udp.static), n.dyn, s.udp.dynamic, start)
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
