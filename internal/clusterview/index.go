package clusterview

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

// recordKind says which kind of record a key holds.
type recordKind int

const (
	kindNone recordKind = iota
	kindTask
	kindInstance
)

// parseKey tells whether key is a task or container instance record and
// returns its cluster and ID (the key layout is package state's).
func parseKey(key string) (kind recordKind, cluster, id string) {
	if cluster, id, ok := state.ParseTaskKey(key); ok {
		return kindTask, cluster, id
	}
	if cluster, id, ok := state.ParseContainerInstanceKey(key); ok {
		return kindInstance, cluster, id
	}
	return kindNone, "", ""
}

// change is one decoded write to a record the view keeps.
type change struct {
	rev         int64
	kind        recordKind
	cluster, id string
	key         string
	del         bool
	task        *state.Task              // kindTask put
	inst        *state.ContainerInstance // kindInstance put
	attrs       *attrSet                 // inst's attributes, shared; nil: not interned
}

// cluster is the view of one cluster. Its nodes are mutated only under the
// view's write lock; what readers keep after unlocking (instSnap) is
// immutable.
type cluster struct {
	instances map[string]*instNode // by instance ID: records and the tasks naming them
	sorted    []*instNode          // nodes that have a record, by ID
	tasks     map[string]*taskNode
	taskOrder sortedSet // task IDs
	services  map[string]*svcNode
	counts    ClusterCounts
}

func newCluster() *cluster {
	return &cluster{instances: map[string]*instNode{}, tasks: map[string]*taskNode{}, services: map[string]*svcNode{}}
}

// taskNode is one task record. t is never modified: an update replaces it.
type taskNode struct {
	key string
	rev int64
	t   *state.Task
}

// instNode is one container instance: its record, if any, and the tasks
// whose InstanceID names it, with their sums.
type instNode struct {
	id    string
	key   string
	rev   int64
	rec   *state.ContainerInstance // nil: only tasks name the instance
	attrs *attrSet                 // rec's attributes, when interned
	tasks map[string]*taskNode
	agg   instAgg
	snap  *instSnap // what readers see; rebuilt after each batch that changed the node
	dirty bool
}

// instAgg sums up the tasks of one instance.
type instAgg struct {
	placed        map[scheduler.Task]int // tasks not Released, by group and family
	placedRunning int                    // of those, the RUNNING ones
	counts        InstanceTasks          // Groups unused; see groups
	groups        map[string]int         // groups of the tasks not STOPPED
}

// add adds (d = 1) or removes (d = -1) what t contributes.
func (a *instAgg) add(t *state.Task, d int) {
	last, desired := t.LastStatus(), t.DesiredStatus()
	group := taskGroup(t)
	if !t.Released {
		k := scheduler.Task{Group: group, Family: t.Family}
		bump(&a.placed, k, d)
		if last == core.TaskRunning {
			a.placedRunning += d
		}
	}
	if last == core.TaskRunning && desired == core.TaskRunning {
		a.counts.Running += int32(d)
	}
	if last.Starting() {
		a.counts.Pending += int32(d)
	}
	if !last.Terminal() {
		a.counts.NotStopped += int32(d)
		if group != "" {
			bump(&a.groups, group, d)
		}
	}
}

// taskGroup is the group a task counts in on its instance: its own, or,
// for a task of the Fargate pool, the pool's (scheduler.PoolGroup), as
// placement asks for it.
func taskGroup(t *state.Task) string {
	if t.OnPool() && t.Task.Group != "" {
		return scheduler.PoolGroup(t.Cluster, t.Task.Group)
	}
	return t.Task.Group
}

// bump adds d to m[k], creating m, and drops k at zero.
func bump[K comparable](m *map[K]int, k K, d int) {
	if *m == nil {
		*m = map[K]int{}
	}
	n := (*m)[k] + d
	if n == 0 {
		delete(*m, k)
		return
	}
	(*m)[k] = n
}

// instSnap is the immutable summary of an instance that readers get.
type instSnap struct {
	id, key string
	rev     int64
	rec     *state.ContainerInstance // nil: no record
	// sched is the instance as placement sees it, without ARN and
	// AgentConnected (the caller's); its maps and slices are shared.
	sched  scheduler.Instance
	counts InstanceTasks // Groups shared
}

// rebuild makes n's snapshot from its record and sums. It reuses the
// previous snapshot's attribute map when the attributes did not change.
func (n *instNode) rebuild() {
	prev := n.snap
	s := &instSnap{id: n.id, key: n.key, rev: n.rev, rec: n.rec, counts: n.agg.counts}
	s.counts.Groups = expand(n.agg.groups)
	if ci := n.rec; ci != nil {
		var attrs map[string]string
		switch {
		case n.attrs != nil:
			attrs = n.attrs.m
		case prev != nil && prev.rec != nil && slices.Equal(prev.rec.Attributes, ci.Attributes):
			attrs = prev.sched.Attributes
		default:
			attrs = make(map[string]string, len(ci.Attributes))
			for _, at := range ci.Attributes {
				attrs[at.Name] = at.Value
			}
		}
		usedTCP, usedUDP := BusyPorts(ci)
		s.sched = scheduler.Instance{
			ID:                n.id,
			EC2InstanceID:     ci.EC2InstanceID,
			Status:            ci.Status,
			AgentVersion:      ci.AgentVersion,
			Attributes:        attrs,
			CPU:               ci.Registered.CPU - ci.Used.CPU,
			Memory:            ci.Registered.MemoryMiB - ci.Used.MemoryMiB,
			UsedTCP:           usedTCP,
			UsedUDP:           usedUDP,
			DynamicPorts:      scheduler.PortRange{From: ci.DynamicPorts[0], To: ci.DynamicPorts[1]},
			RunningTasksCount: n.agg.placedRunning,
			RegisteredAt:      ci.RegisteredAt,
			Fargate:           ci.Fargate,
		}
		s.sched.Tasks = placedTasks(n.agg.placed)
		s.sched.GroupCounts = groupCounts(n.agg.placed)
	}
	n.snap, n.dirty = s, false
}

// expand lists every key of a multiset as often as it counts, sorted.
func expand(m map[string]int) []string {
	var out []string
	for k, c := range m {
		for range c {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// BusyPorts returns the host ports placement counts as taken on an
// instance, TCP and UDP: those reserved at registration and those its tasks
// hold, each a sorted set (placement reads them without sorting again).
func BusyPorts(ci *state.ContainerInstance) (tcp, udp []int) {
	return sortedPorts(ci.Registered.Ports, ci.Used.Ports), sortedPorts(ci.Registered.PortsUDP, ci.Used.PortsUDP)
}

// sortedPorts is the sorted set of the ports of a and b.
func sortedPorts(a, b []int) []int {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// groupCounts counts the placed tasks by group: placement's lookups.
func groupCounts(m map[scheduler.Task]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, c := range m {
		out[k.Group] += c
	}
	return out
}

func placedTasks(m map[scheduler.Task]int) []scheduler.Task {
	var out []scheduler.Task
	for k, c := range m {
		for range c {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b scheduler.Task) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Family, b.Family))
	})
	return out
}

// svcNode is one service's tasks and their counts.
type svcNode struct {
	tasks  map[string]*taskNode
	counts ServiceCounts
}

// add adds (d = 1) or removes (d = -1) what t contributes to the counts:
// tasks desired RUNNING that are RUNNING or on their way.
func (s *svcNode) add(t *state.Task, d int) {
	last, desired := t.LastStatus(), t.DesiredStatus()
	if desired != core.TaskRunning {
		return
	}
	var c Counts
	switch {
	case last == core.TaskRunning:
		c.Running = int32(d)
	case last.Starting():
		c.Pending = int32(d)
	default:
		return
	}
	s.counts.Running += c.Running
	s.counts.Pending += c.Pending
	if s.counts.ByDeployment == nil {
		s.counts.ByDeployment = map[string]Counts{}
	}
	dc := s.counts.ByDeployment[t.DeploymentID]
	dc.Running += c.Running
	dc.Pending += c.Pending
	if dc.Running == 0 && dc.Pending == 0 {
		delete(s.counts.ByDeployment, t.DeploymentID)
	} else {
		s.counts.ByDeployment[t.DeploymentID] = dc
	}
}

// addTask adds (d = 1) or removes (d = -1) what t contributes to the
// cluster's counts.
func (c *ClusterCounts) addTask(t *state.Task, d int) {
	last := t.LastStatus()
	switch {
	case last == core.TaskRunning:
		c.RunningTasks += int32(d)
	case last.Starting():
		c.PendingTasks += int32(d)
	}
	if !last.Terminal() {
		c.NotStoppedTasks += int32(d)
	}
}

func activeInstance(ci *state.ContainerInstance) int32 {
	if ci != nil && ci.Status != state.InstanceInactive {
		return 1
	}
	return 0
}

// index is the view's state: every cluster, the hosts of the Fargate pool,
// and the instance nodes changed by the batch being applied.
type index struct {
	clusters map[string]*cluster
	// pool holds the instance nodes whose record offers Fargate capacity,
	// by instance ID, whatever their cluster.
	pool  map[string]*instNode
	dirty []*instNode
}

func newIndex() *index { return &index{clusters: map[string]*cluster{}, pool: map[string]*instNode{}} }

// setPool keeps n in the pool exactly while its record offers Fargate
// capacity.
func (x *index) setPool(n *instNode) {
	if n.rec != nil && n.rec.Fargate {
		x.pool[n.id] = n
	} else if x.pool[n.id] == n {
		delete(x.pool, n.id)
	}
}

func (x *index) cluster(name string) *cluster {
	c := x.clusters[name]
	if c == nil {
		c = newCluster()
		x.clusters[name] = c
	}
	return c
}

// node returns the instance node id of c, creating it.
func (x *index) node(c *cluster, id string) *instNode {
	n := c.instances[id]
	if n == nil {
		n = &instNode{id: id, tasks: map[string]*taskNode{}}
		c.instances[id] = n
	}
	return n
}

func (x *index) touch(n *instNode) {
	if !n.dirty {
		n.dirty = true
		x.dirty = append(x.dirty, n)
	}
}

// dropNode forgets n when nothing refers to it any more.
func (x *index) dropNode(c *cluster, n *instNode) {
	if n.rec == nil && len(n.tasks) == 0 {
		delete(c.instances, n.id)
	}
}

// apply applies one change. A change older than what the view holds for
// its key is ignored, so replays (after a listing) are harmless; a change
// at the same revision is applied again, which is idempotent.
func (x *index) apply(ch *change) {
	c := x.cluster(ch.cluster)
	switch ch.kind {
	case kindTask:
		old := c.tasks[ch.id]
		if old != nil && old.rev > ch.rev {
			return
		}
		if old != nil {
			x.unlinkTask(c, ch.id, old)
		}
		if ch.del {
			if old != nil {
				delete(c.tasks, ch.id)
				c.taskOrder.remove(ch.id)
			}
			return
		}
		if old == nil {
			c.taskOrder.insert(ch.id)
		}
		n := &taskNode{key: ch.key, rev: ch.rev, t: ch.task}
		c.tasks[ch.id] = n
		x.linkTask(c, ch.id, n)
	case kindInstance:
		n := c.instances[ch.id]
		if n != nil && n.rec != nil && n.rev > ch.rev {
			return
		}
		if ch.del {
			if n == nil || n.rec == nil {
				return
			}
			c.counts.Instances -= activeInstance(n.rec)
			n.rec, n.attrs, n.key, n.rev = nil, nil, "", 0
			x.setPool(n)
			c.removeSorted(n)
			x.touch(n)
			x.dropNode(c, n)
			return
		}
		if n == nil {
			n = x.node(c, ch.id)
		}
		if n.rec == nil {
			c.insertSorted(n)
		}
		c.counts.Instances += activeInstance(ch.inst) - activeInstance(n.rec)
		n.rec, n.attrs, n.key, n.rev = ch.inst, ch.attrs, ch.key, ch.rev
		x.setPool(n)
		x.touch(n)
	}
}

// linkTask adds task n of cluster c to the sums. A task counts in its own
// cluster (counts, services) and on its instance, which for a task of the
// Fargate pool is in another cluster (state.Task.InstanceCluster).
func (x *index) linkTask(c *cluster, id string, n *taskNode) {
	t := n.t
	c.counts.addTask(t, 1)
	if t.InstanceID != "" {
		in := x.node(x.instanceCluster(c, t), t.InstanceID)
		in.tasks[id] = n
		in.agg.add(t, 1)
		x.touch(in)
	}
	if t.ServiceName != "" {
		s := c.services[t.ServiceName]
		if s == nil {
			s = &svcNode{tasks: map[string]*taskNode{}}
			c.services[t.ServiceName] = s
		}
		s.tasks[id] = n
		s.add(t, 1)
	}
}

// instanceCluster is the cluster of t's instance: c, or the pool host's.
func (x *index) instanceCluster(c *cluster, t *state.Task) *cluster {
	if t.OnPool() {
		return x.cluster(t.HostCluster)
	}
	return c
}

func (x *index) unlinkTask(c *cluster, id string, n *taskNode) {
	t := n.t
	c.counts.addTask(t, -1)
	ic := x.instanceCluster(c, t)
	if in := ic.instances[t.InstanceID]; t.InstanceID != "" && in != nil {
		delete(in.tasks, id)
		in.agg.add(t, -1)
		x.touch(in)
		x.dropNode(ic, in)
	}
	if s := c.services[t.ServiceName]; t.ServiceName != "" && s != nil {
		delete(s.tasks, id)
		s.add(t, -1)
		if len(s.tasks) == 0 {
			delete(c.services, t.ServiceName)
		}
	}
}

// finish rebuilds the snapshots of the nodes the batch changed.
func (x *index) finish() {
	for _, n := range x.dirty {
		n.rebuild()
	}
	x.dirty = x.dirty[:0]
}

func (c *cluster) search(id string) (int, bool) {
	return sort.Find(len(c.sorted), func(i int) int { return strings.Compare(id, c.sorted[i].id) })
}

func (c *cluster) insertSorted(n *instNode) {
	if i, found := c.search(n.id); !found {
		c.sorted = slices.Insert(c.sorted, i, n)
	}
}

func (c *cluster) removeSorted(n *instNode) {
	if i, found := c.search(n.id); found {
		c.sorted = slices.Delete(c.sorted, i, i+1)
	}
}
