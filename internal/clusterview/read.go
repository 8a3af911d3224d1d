package clusterview

import (
	"iter"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

// InstanceTasks sums up the tasks whose InstanceID names one container
// instance.
type InstanceTasks struct {
	Running    int32 // lastStatus and desiredStatus RUNNING
	Pending    int32 // lastStatus before RUNNING (PROVISIONING, PENDING, ACTIVATING)
	NotStopped int32 // lastStatus other than STOPPED
	// Groups are the groups of the tasks not STOPPED, once per task, sorted.
	Groups []string
}

// Counts are tasks desired RUNNING: those RUNNING, and those on their way.
type Counts struct{ Running, Pending int32 }

// ServiceCounts are the counts of one service's tasks, in all and by
// deployment ID (deployments without such tasks are absent).
type ServiceCounts struct {
	Counts
	ByDeployment map[string]Counts
}

// ClusterCounts are what a cluster holds.
type ClusterCounts struct {
	Instances       int32 // container instances not INACTIVE
	RunningTasks    int32 // tasks whose lastStatus is RUNNING
	PendingTasks    int32 // tasks whose lastStatus is before RUNNING
	NotStoppedTasks int32 // tasks whose lastStatus is not STOPPED
}

// Instance is a container instance record with the sums of its tasks.
type Instance struct {
	Key         string
	ModRevision int64
	Record      state.ContainerInstance
	Tasks       InstanceTasks
}

func (s *instSnap) instance() Instance {
	tasks := s.counts
	tasks.Groups = slices.Clone(tasks.Groups)
	return Instance{Key: s.key, ModRevision: s.rev, Record: *s.rec, Tasks: tasks}
}

// Hosts are a cluster's container instances that are not INACTIVE, as one
// placement sees them: all read at once, in ID order. A Hosts is
// immutable.
type Hosts struct{ hosts []*instSnap }

// Hosts returns the cluster's container instances that are not INACTIVE.
// It costs one pointer per instance; the tasks stored do not matter.
func (v *View) Hosts(cluster string) Hosts {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := v.idx.clusters[cluster]
	if c == nil {
		return Hosts{}
	}
	out := make([]*instSnap, 0, len(c.sorted))
	for _, n := range c.sorted {
		if s := n.snap; s.rec != nil && s.rec.Status != state.InstanceInactive {
			out = append(out, s)
		}
	}
	return Hosts{hosts: out}
}

// FargateHosts returns the hosts of the Fargate pool: the container
// instances of every cluster whose agent offers Fargate capacity and that
// are not INACTIVE, in ID order (IDs are unique across clusters). It costs
// one pointer per pool host. Which of them take a task is the scheduler's
// rule (scheduler.FargatePool); this is the index it reads.
func (v *View) FargateHosts() Hosts {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*instSnap, 0, len(v.idx.pool))
	for _, n := range v.idx.pool {
		if s := n.snap; s != nil && s.rec != nil && s.rec.Status != state.InstanceInactive {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *instSnap) int { return strings.Compare(a.id, b.id) })
	return Hosts{hosts: out}
}

// PoolHosts returns the records of the hosts of the Fargate pool, whatever
// their status (INACTIVE ones too), in no particular order.
func (v *View) PoolHosts() []state.ContainerInstance {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]state.ContainerInstance, 0, len(v.idx.pool))
	for _, n := range v.idx.pool {
		if n.rec != nil {
			out = append(out, *n.rec)
		}
	}
	return out
}

// TasksOn returns copies of the tasks, of any cluster, whose instance is
// container instance id of cluster: its own cluster's tasks and, on a host
// of the Fargate pool, the pool tasks it runs. They come in no particular
// order.
func (v *View) TasksOn(cluster, id string) []state.Task {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := v.idx.clusters[cluster]
	if c == nil {
		return nil
	}
	n := c.instances[id]
	if n == nil {
		return nil
	}
	out := make([]state.Task, 0, len(n.tasks))
	for _, tn := range n.tasks {
		out = append(out, *tn.t)
	}
	return out
}

// Len returns the number of instances.
func (h Hosts) Len() int { return len(h.hosts) }

// Only returns the Hosts among h whose IDs are in ids, in ID order: a
// placement restricted to a few instances (StartTask, a DAEMON task) costs
// what those few do.
func (h Hosts) Only(ids []string) Hosts {
	var out []*instSnap
	for _, id := range ids {
		if i, found := h.find(id); found && !slices.Contains(out, h.hosts[i]) {
			out = append(out, h.hosts[i])
		}
	}
	slices.SortFunc(out, func(a, b *instSnap) int { return strings.Compare(a.id, b.id) })
	return Hosts{hosts: out}
}

func (h Hosts) find(id string) (int, bool) {
	return sort.Find(len(h.hosts), func(i int) int { return strings.Compare(id, h.hosts[i].id) })
}

// Instances returns the instances as the scheduler takes them, in ID order:
// a new slice each call, whose elements' maps and slices are shared and
// read-only (scheduler.Place only reads them). ARN and AgentConnected are
// left for the caller to set.
func (h Hosts) Instances() []scheduler.Instance {
	out := make([]scheduler.Instance, len(h.hosts))
	for i, s := range h.hosts {
		out[i] = s.sched
	}
	return out
}

// Shared returns the instances as scheduler.PlaceShared takes them, in ID
// order: pointers to the view's own snapshots, which nobody writes (a new
// slice of pointers each call, nothing else copied). ARN and
// AgentConnected are not set: PlaceShared takes connectivity from its
// caller.
func (h Hosts) Shared() []*scheduler.Instance {
	out := make([]*scheduler.Instance, len(h.hosts))
	for i, s := range h.hosts {
		out[i] = &s.sched
	}
	return out
}

// Record returns the record of instance id as these Hosts saw it: what a
// placement computed on them must be committed against.
func (h Hosts) Record(id string) (state.Item[state.ContainerInstance], bool) {
	i, found := h.find(id)
	if !found {
		return state.Item[state.ContainerInstance]{}, false
	}
	s := h.hosts[i]
	return state.Item[state.ContainerInstance]{Key: s.key, Value: *s.rec, ModRevision: s.rev}, true
}

// Instance returns container instance id of cluster, if it has a record.
func (v *View) Instance(cluster, id string) (Instance, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := v.idx.clusters[cluster]
	if c == nil {
		return Instance{}, false
	}
	n := c.instances[id]
	if n == nil || n.snap.rec == nil {
		return Instance{}, false
	}
	return n.snap.instance(), true
}

// Instances yields the container instances of cluster (every status) whose
// ID is greater than after, in ID order, as they were when it was called.
// Each is copied as it is yielded, so stopping early costs nothing more.
func (v *View) Instances(cluster, after string) iter.Seq[Instance] {
	v.mu.RLock()
	var snaps []*instSnap
	if c := v.idx.clusters[cluster]; c != nil {
		i, found := c.search(after)
		if found {
			i++
		}
		snaps = make([]*instSnap, 0, len(c.sorted)-i)
		for _, n := range c.sorted[i:] {
			snaps = append(snaps, n.snap)
		}
	}
	v.mu.RUnlock()
	return func(yield func(Instance) bool) {
		for _, s := range snaps {
			if !yield(s.instance()) {
				return
			}
		}
	}
}

// InstanceTasks sums up the tasks of cluster whose InstanceID is id,
// whether or not the instance has a record.
func (v *View) InstanceTasks(cluster, id string) InstanceTasks {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c := v.idx.clusters[cluster]; c != nil {
		if n := c.instances[id]; n != nil {
			t := n.snap.counts
			t.Groups = slices.Clone(t.Groups)
			return t
		}
	}
	return InstanceTasks{}
}

// Task returns task id of cluster.
func (v *View) Task(cluster, id string) (state.Item[state.Task], bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c := v.idx.clusters[cluster]; c != nil {
		if n := c.tasks[id]; n != nil {
			return state.Item[state.Task]{Key: n.key, Value: *n.t, ModRevision: n.rev}, true
		}
	}
	return state.Item[state.Task]{}, false
}

// TaskFilter selects tasks for ListTasks; empty fields match every task.
type TaskFilter struct {
	DesiredStatus core.TaskStatus
	InstanceID    string
	Family        string
	StartedBy     string
	ServiceName   string
	LaunchType    ecstypes.LaunchType
}

func (f *TaskFilter) match(t *state.Task) bool {
	switch {
	case f.DesiredStatus != core.TaskStatusUnknown && t.DesiredStatus() != f.DesiredStatus:
	case f.InstanceID != "" && t.InstanceID != f.InstanceID:
	case f.Family != "" && t.Family != f.Family:
	case f.StartedBy != "" && t.Task.StartedBy != f.StartedBy:
	case f.ServiceName != "" && t.ServiceName != f.ServiceName:
	case f.LaunchType != "" && t.Task.LaunchType != f.LaunchType:
	default:
		return true
	}
	return false
}

// ListTasks returns, in ID order, the IDs greater than after of the tasks of
// cluster that f selects: at most limit of them (no limit when limit <= 0),
// and whether more follow. Paging through every task this way costs
// O(tasks) in all, not per page.
func (v *View) ListTasks(cluster string, f TaskFilter, after string, limit int) (ids []string, more bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := v.idx.clusters[cluster]
	if c == nil {
		return nil, false
	}
	add := func(id string, t *state.Task) bool {
		if !f.match(t) {
			return true
		}
		if limit > 0 && len(ids) == limit {
			more = true
			return false
		}
		ids = append(ids, id)
		return true
	}
	if f.InstanceID != "" {
		// The instance's own tasks: few, so sorting them is cheap.
		n := c.instances[f.InstanceID]
		if n == nil {
			return nil, false
		}
		keys := make([]string, 0, len(n.tasks))
		for id, tn := range n.tasks {
			// A host of the Fargate pool runs other clusters' tasks too:
			// they are listed in their own cluster only.
			if id > after && tn.t.Cluster == cluster {
				keys = append(keys, id)
			}
		}
		slices.Sort(keys)
		for _, id := range keys {
			if !add(id, n.tasks[id].t) {
				break
			}
		}
		return ids, more
	}
	c.taskOrder.ascend(after, func(id string) bool { return add(id, c.tasks[id].t) })
	return ids, more
}

// ServiceTasks returns copies of the tasks of a service that its scheduler
// still looks at: those not STOPPED, and the STOPPED ones the circuit
// breaker has not counted (FailureCounted unset) that stopped after
// stoppedSince. They come in no particular order.
func (v *View) ServiceTasks(cluster, service string, stoppedSince time.Time) []state.Task {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := v.idx.clusters[cluster]
	if c == nil {
		return nil
	}
	s := c.services[service]
	if s == nil {
		return nil
	}
	var out []state.Task
	for _, n := range s.tasks {
		t := n.t
		if last := t.LastStatus(); !last.Terminal() || (!t.FailureCounted && t.Task.StoppedAt.Time().After(stoppedSince)) {
			out = append(out, *t)
		}
	}
	return out
}

// ServiceCounts returns the counts of a service's tasks.
func (v *View) ServiceCounts(cluster, service string) ServiceCounts {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c := v.idx.clusters[cluster]; c != nil {
		if s := c.services[service]; s != nil {
			out := s.counts
			out.ByDeployment = maps.Clone(out.ByDeployment)
			return out
		}
	}
	return ServiceCounts{}
}

// ClusterCounts returns what cluster holds.
func (v *View) ClusterCounts(cluster string) ClusterCounts {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c := v.idx.clusters[cluster]; c != nil {
		return c.counts
	}
	return ClusterCounts{}
}
