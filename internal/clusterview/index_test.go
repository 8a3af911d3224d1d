package clusterview

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

func TestSortedSet(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var s sortedSet
	ref := map[string]bool{}
	for i := range 20000 {
		k := fmt.Sprintf("%05d", rnd.IntN(5000))
		if rnd.IntN(3) == 0 {
			if got, want := s.remove(k), ref[k]; got != want {
				t.Fatalf("op %d: remove(%s) = %v, want %v", i, k, got, want)
			}
			delete(ref, k)
		} else {
			if got, want := s.insert(k), !ref[k]; got != want {
				t.Fatalf("op %d: insert(%s) = %v, want %v", i, k, got, want)
			}
			ref[k] = true
		}
	}
	want := slices.Sorted(maps.Keys(ref))
	if s.len() != len(want) {
		t.Fatalf("len %d, want %d", s.len(), len(want))
	}
	for _, after := range []string{"", "00000", "01234", "02500x", "04999", "05000", "~"} {
		var got []string
		s.ascend(after, func(k string) bool { got = append(got, k); return true })
		var exp []string
		for _, k := range want {
			if k > after {
				exp = append(exp, k)
			}
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("ascend(%q): %d keys, want %d", after, len(got), len(exp))
		}
	}
	n := 0
	s.ascend("", func(string) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("ascend did not stop: %d calls", n)
	}
	for k := range ref {
		s.remove(k)
	}
	if s.len() != 0 || len(s.chunks) != 0 {
		t.Fatalf("emptied set holds %d keys in %d chunks", s.len(), len(s.chunks))
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key         string
		kind        recordKind
		cluster, id string
	}{
		{state.TaskKey("c1", "t1"), kindTask, "c1", "t1"},
		{state.ContainerInstanceKey("c1", "i1"), kindInstance, "c1", "i1"},
		{state.InstanceTaskKey("i1", "t1"), kindNone, "", ""},
		{state.ServiceKey("c1", "s"), kindNone, "", ""},
		{"ecs/tasks/c1/", kindNone, "", ""},
		{"ecs/tasks/c1/a/b", kindNone, "", ""},
		{"ecs/tasks//t", kindNone, "", ""},
	} {
		kind, cl, id := parseKey(tc.key)
		if kind != tc.kind || cl != tc.cluster || id != tc.id {
			t.Errorf("parseKey(%q) = %v %q %q", tc.key, kind, cl, id)
		}
	}
}

func task(id, inst, svc, dep, last, desired, group string) *state.Task {
	return &state.Task{ID: id, Cluster: "c", InstanceID: inst, Family: "web", ServiceName: svc, DeploymentID: dep,
		Task: ecstypes.Task{LastStatus: last, DesiredStatus: desired, Group: group}}
}

func instance(id, status string, cpu int) *state.ContainerInstance {
	return &state.ContainerInstance{ID: id, Cluster: "c", Status: status,
		Registered: state.Resources{CPU: cpu, MemoryMiB: 1000, Ports: []int{22}},
		Attributes: []ecstypes.Attribute{{Name: "ecs.availability-zone", Value: "az1"}}}
}

func putTask(rev int64, t *state.Task) *change {
	return &change{rev: rev, kind: kindTask, cluster: "c", id: t.ID, key: state.TaskKey("c", t.ID), task: t}
}

func putInst(rev int64, ci *state.ContainerInstance) *change {
	return &change{rev: rev, kind: kindInstance, cluster: "c", id: ci.ID, key: state.ContainerInstanceKey("c", ci.ID), inst: ci}
}

func del(rev int64, kind recordKind, id string) *change {
	key := state.TaskKey("c", id)
	if kind == kindInstance {
		key = state.ContainerInstanceKey("c", id)
	}
	return &change{rev: rev, kind: kind, cluster: "c", id: id, key: key, del: true}
}

// Changes to one key apply by revision, whatever order they come in: an
// older one than the view holds is ignored, one at the same revision is
// applied again.
func TestChangesInAnyOrder(t *testing.T) {
	x := newIndex()
	apply := func(chs ...*change) {
		for _, ch := range chs {
			x.apply(ch)
		}
		x.finish()
	}
	last := func(id string) string {
		if n := x.clusters["c"].tasks[id]; n != nil {
			return n.t.Task.LastStatus
		}
		return "(none)"
	}
	apply(putInst(1, instance("i1", "ACTIVE", 100)), putTask(5, task("t1", "i1", "", "", "RUNNING", "RUNNING", "g")))
	apply(putTask(3, task("t1", "i1", "", "", "PENDING", "RUNNING", "g")))
	if got := last("t1"); got != "RUNNING" {
		t.Fatalf("older put won: %s", got)
	}
	apply(del(4, kindTask, "t1"))
	if got := last("t1"); got != "RUNNING" {
		t.Fatalf("older delete won: %s", got)
	}
	apply(putTask(5, task("t1", "i1", "", "", "STOPPED", "STOPPED", "g")))
	if got := last("t1"); got != "STOPPED" {
		t.Fatalf("same-revision put not applied again: %s", got)
	}
	apply(del(6, kindTask, "t1"))
	if got := last("t1"); got != "(none)" {
		t.Fatalf("delete not applied: %s", got)
	}
	apply(putTask(5, task("t1", "i1", "", "", "RUNNING", "RUNNING", "g")))
	// Without tombstones a replayed put after a delete comes back; the view
	// never sees that order from one watch (revisions only grow), and a
	// listing replaces the index.
	apply(del(7, kindTask, "t1"))

	apply(putInst(9, instance("i1", "DRAINING", 100)), putInst(8, instance("i1", "ACTIVE", 50)))
	if n := x.clusters["c"].instances["i1"]; n.rec.Status != "DRAINING" || n.rev != 9 || n.snap.sched.CPU != 100 {
		t.Fatalf("instance: %+v rev %d", n.rec, n.rev)
	}
	apply(del(8, kindInstance, "i1"))
	if n := x.clusters["c"].instances["i1"]; n == nil || n.rec == nil {
		t.Fatal("older instance delete applied")
	}
	apply(del(10, kindInstance, "i1"))
	if n := x.clusters["c"].instances["i1"]; n != nil {
		t.Fatalf("deleted instance without tasks still indexed: %+v", n)
	}
	if c := x.clusters["c"]; c.counts != (ClusterCounts{}) || len(c.sorted) != 0 || c.taskOrder.len() != 0 {
		t.Fatalf("cluster after deletes: %+v", c)
	}
}

// The incremental sums always equal the sums recomputed from the records
// the index holds, through a random sequence of puts and deletes.
func TestSumsMatchRecords(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	statuses := []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPED"}
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	x := newIndex()
	rev := int64(0)
	for step := range 5000 {
		rev++
		var ch *change
		switch r := rnd.IntN(20); {
		case r == 0:
			ch = del(rev, kindTask, fmt.Sprintf("t%d", rnd.IntN(200)))
		case r == 1:
			ch = del(rev, kindInstance, fmt.Sprintf("i%d", rnd.IntN(10)))
		case r < 4:
			ch = putInst(rev, instance(fmt.Sprintf("i%d", rnd.IntN(10)), pick("ACTIVE", "DRAINING", "INACTIVE"), rnd.IntN(1000)))
		default:
			tk := task(fmt.Sprintf("t%d", rnd.IntN(200)), pick("", "i1", "i2", "i3", "i11"), pick("", "s1", "s2"),
				pick("d1", "d2"), pick(statuses...), pick("RUNNING", "STOPPED"), pick("", "g1", "g2"))
			tk.Released = rnd.IntN(4) == 0
			ch = putTask(rev, tk)
		}
		x.apply(ch)
		if rnd.IntN(5) == 0 || step == 4999 {
			x.finish()
			checkSums(t, x)
		}
	}
}

func checkSums(t *testing.T, x *index) {
	t.Helper()
	c := x.clusters["c"]
	var want ClusterCounts
	wantInst := map[string]*instAgg{}
	wantSvc := map[string]*svcNode{}
	for _, n := range c.tasks {
		tk := n.t
		want.addTask(tk, 1)
		if tk.InstanceID != "" {
			a := wantInst[tk.InstanceID]
			if a == nil {
				a = &instAgg{}
				wantInst[tk.InstanceID] = a
			}
			a.add(tk, 1)
		}
		if tk.ServiceName != "" {
			s := wantSvc[tk.ServiceName]
			if s == nil {
				s = &svcNode{}
				wantSvc[tk.ServiceName] = s
			}
			s.add(tk, 1)
		}
	}
	var sorted []string
	for id, n := range c.instances {
		if n.rec != nil {
			want.Instances += activeInstance(n.rec)
			sorted = append(sorted, id)
		}
		if n.rec == nil && len(n.tasks) == 0 {
			t.Fatalf("node %s holds nothing", id)
		}
		a := wantInst[id]
		if a == nil {
			a = &instAgg{}
		}
		if !reflect.DeepEqual(n.agg.counts, a.counts) || n.agg.placedRunning != a.placedRunning ||
			!maps.Equal(n.agg.groups, a.groups) || !maps.Equal(n.agg.placed, a.placed) {
			t.Fatalf("instance %s sums %+v, want %+v", id, n.agg, *a)
		}
		snap := n.snap
		if snap == nil || snap.rev != n.rev || snap.counts.Running != a.counts.Running || len(snap.counts.Groups) != sumValues(a.groups) {
			t.Fatalf("instance %s snapshot is stale: %+v", id, snap)
		}
		if n.rec != nil {
			if snap.sched.CPU != n.rec.Registered.CPU || len(snap.sched.Tasks) != sumValues(a.placed) || snap.sched.RunningTasksCount != a.placedRunning {
				t.Fatalf("instance %s placement view %+v", id, snap.sched)
			}
		}
	}
	slices.Sort(sorted)
	var got []string
	for _, n := range c.sorted {
		got = append(got, n.id)
	}
	if !slices.Equal(got, sorted) {
		t.Fatalf("sorted instances %v, want %v", got, sorted)
	}
	if c.counts != want {
		t.Fatalf("cluster counts %+v, want %+v", c.counts, want)
	}
	for name, s := range c.services {
		w := wantSvc[name]
		if w == nil {
			t.Fatalf("service %s has no tasks but is indexed", name)
		}
		if s.counts.Counts != w.counts.Counts || !maps.Equal(s.counts.ByDeployment, w.counts.ByDeployment) {
			t.Fatalf("service %s counts %+v, want %+v", name, s.counts, w.counts)
		}
	}
	if len(c.services) != len(wantSvc) {
		t.Fatalf("%d services indexed, want %d", len(c.services), len(wantSvc))
	}
	if c.taskOrder.len() != len(c.tasks) {
		t.Fatalf("task order holds %d, map %d", c.taskOrder.len(), len(c.tasks))
	}
}

func sumValues[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// An instance's placement summary is what the API built from the records
// before the view: remaining resources, ports, attributes and the tasks
// that hold resources there.
func TestPlacementSummary(t *testing.T) {
	x := newIndex()
	ci := instance("i1", "ACTIVE", 2048)
	ci.Used = state.Resources{CPU: 512, MemoryMiB: 256, Ports: []int{8080}, PortsUDP: []int{53}}
	x.apply(putInst(1, ci))
	x.apply(putTask(2, task("t1", "i1", "", "", "RUNNING", "RUNNING", "family:web")))
	x.apply(putTask(3, task("t2", "i1", "", "", "PENDING", "RUNNING", "service:api")))
	released := task("t3", "i1", "", "", "STOPPED", "STOPPED", "family:web")
	released.Released = true
	x.apply(putTask(4, released))
	x.finish()
	got := x.clusters["c"].instances["i1"].snap.sched
	want := scheduler.Instance{ID: "i1", Status: "ACTIVE", Attributes: map[string]string{"ecs.availability-zone": "az1"},
		CPU: 1536, Memory: 744, UsedTCP: []int{22, 8080}, UsedUDP: []int{53},
		Tasks:             []scheduler.Task{{Group: "family:web", Family: "web"}, {Group: "service:api", Family: "web"}},
		GroupCounts:       map[string]int{"family:web": 1, "service:api": 1},
		RunningTasksCount: 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("placement summary\n got %+v\nwant %+v", got, want)
	}
	// Ports come sorted and without duplicates, whatever the record's order.
	ci.Registered.Ports, ci.Used.Ports = []int{9000, 22}, []int{8080, 22}
	x.apply(putInst(5, ci))
	x.finish()
	if got := x.clusters["c"].instances["i1"].snap.sched.UsedTCP; !reflect.DeepEqual(got, []int{22, 8080, 9000}) {
		t.Fatalf("UsedTCP %v, want [22 8080 9000]", got)
	}
	// Shared hands out the view's own snapshot, not a copy.
	if h := (Hosts{hosts: []*instSnap{x.clusters["c"].instances["i1"].snap}}); h.Shared()[0] != &x.clusters["c"].instances["i1"].snap.sched {
		t.Fatal("Shared copied the instance")
	}
}
