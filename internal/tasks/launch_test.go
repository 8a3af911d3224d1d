package tasks

import (
	"context"
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// A launch commits the tasks, their index entries and what they take on
// their instances together: every instance's used resources are the sum
// of its tasks' holds, and the records say PROVISIONING, desired RUNNING.
func TestLaunchCommitsTasksIndexAndResources(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	h.addInstance("c", "i2", 1024, 1024, "zone-b")
	td := h.addTaskDef("web", 1, 128, 100, ecstypes.PortMapping{ContainerPort: new(int32(80)), HostPort: new(int32(0))})
	created, res, err := h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 4, LaunchType: ecstypes.LaunchTypeEc2,
		Group: "family:web", StartedBy: "me", Tags: []ecstypes.Tag{{Key: "k", Value: "v"}},
		Strategies: []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeSpread, Field: "attribute:ecs.availability-zone"}}})
	if err != nil || len(created) != 4 || res.Unplaced != 0 || len(res.Placements) != 4 {
		t.Fatalf("Launch: %v, %d created, %+v", err, len(created), res)
	}
	held := map[string]state.Resources{}
	for _, c := range created {
		got := h.task("c", c.ID).Value
		tk := got.Task
		if tk.LastStatus != "PROVISIONING" || tk.DesiredStatus != "RUNNING" || tk.Group != "family:web" || tk.StartedBy != "me" ||
			!tk.CreatedAt.Time().Equal(t0) || tk.Version != 1 || len(tk.Containers) != 1 || tk.Containers[0].LastStatus != "PENDING" ||
			len(got.HostPorts["app"]) != 1 || got.Holds.CPU != 128 || got.Holds.MemoryMiB != 100 {
			t.Fatalf("task record: %+v", got)
		}
		if want := map[string]string{"i1": "zone-a", "i2": "zone-b"}[got.InstanceID]; tk.AvailabilityZone != want {
			t.Fatalf("task on %s in zone %q", got.InstanceID, tk.AvailabilityZone)
		}
		if e, ok := h.index(got.InstanceID, got.ID); !ok || e.Cluster != "c" || e.DesiredStatus != "RUNNING" {
			t.Fatalf("index entry of %s: %+v %v", got.ID, e, ok)
		}
		held[got.InstanceID] = Take(held[got.InstanceID], got.Holds)
	}
	for _, id := range []string{"i1", "i2"} {
		ci := h.instance("c", id)
		want := held[id]
		if ci.Used.CPU != want.CPU || ci.Used.MemoryMiB != want.MemoryMiB || !slices.Equal(ci.Used.Ports, want.Ports) || ci.Version != 2 {
			t.Fatalf("instance %s used %+v (version %d), its tasks hold %+v", id, ci.Used, ci.Version, want)
		}
	}
	// The strategy spreads them over the zones.
	if held["i1"].CPU != 256 || held["i2"].CPU != 256 {
		t.Fatalf("spread: %+v", held)
	}
}

// raceInstance writes the instance record behind the domain's back right
// before the first Txn, as another node's placement would.
type raceInstance struct {
	store.Store
	key  string
	done bool
	txns int
}

func (r *raceInstance) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	r.txns++
	if !r.done && len(conds) > 0 {
		r.done = true
		it, err := state.Get[state.ContainerInstance](ctx, r.Store, r.key)
		if err != nil {
			return 0, err
		}
		ci := it.Value
		ci.Used = Take(ci.Used, state.Resources{CPU: 900, MemoryMiB: 100})
		ci.Version++
		b, _ := state.Encode(ci)
		if _, err := r.Store.Txn(ctx, []store.Cond{{Key: r.key, ModRevision: it.ModRevision}}, []store.Op{store.Put(r.key, b)}); err != nil {
			return 0, err
		}
	}
	return r.Store.Txn(ctx, conds, ops)
}

// A placement proposed from a snapshot that changed before the commit is
// not committed: the commit's condition fails, and a new proposal from the
// newer snapshot sees the resources taken meanwhile.
func TestLaunchProposesAgainAfterAConflict(t *testing.T) {
	race := &raceInstance{key: state.ContainerInstanceKey("c", "i1")}
	h := newHarness(t, func(st store.Store) store.Store { race.Store = st; return race })
	h.addInstance("c", "i1", 1024, 1024, "zone-a")
	h.addInstance("c", "i2", 2048, 1024, "zone-a")
	td := h.addTaskDef("web", 1, 512, 100)
	race.txns = 0
	// binpack on CPU puts the task on i1, which has the least CPU left,
	// unless i1 is nearly full: after the race it has 124 CPU left.
	created, _, err := h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 1, LaunchType: ecstypes.LaunchTypeEc2,
		Group: "family:web", Strategies: []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeBinpack, Field: "cpu"}}})
	if err != nil || len(created) != 1 {
		t.Fatalf("Launch: %v %+v", err, created)
	}
	if race.txns != 2 {
		t.Fatalf("%d transactions, want 2 (a conflict, then the commit)", race.txns)
	}
	if created[0].InstanceID != "i2" {
		t.Fatalf("placed on %s after i1 filled up", created[0].InstanceID)
	}
	if u := h.instance("c", "i1").Used; u.CPU != 900 {
		t.Fatalf("the concurrent write to i1 was lost: %+v", u)
	}
	if u := h.instance("c", "i2").Used; u.CPU != 512 {
		t.Fatalf("i2 used %+v", u)
	}
}

// RunTask with no instance at all is an error; a service's launch is not
// (its event says why); copies that do not fit come back as failures that
// name the instance by ID.
func TestLaunchWithoutRoom(t *testing.T) {
	h := newHarness(t, nil)
	td := h.addTaskDef("web", 1, 128, 100)
	_, _, err := h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 1, LaunchType: ecstypes.LaunchTypeEc2, Group: "family:web"})
	if errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Fatalf("RunTask on an empty cluster: %v", err)
	}
	created, res, err := h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 1, LaunchType: ecstypes.LaunchTypeEc2,
		Group: "service:web", Service: "web", Deployment: "ecs-svc/1"})
	if err != nil || len(created) != 0 || !res.NoInstances || res.EventMessage("web") == "" {
		t.Fatalf("service launch on an empty cluster: %v %+v", err, res)
	}

	h.addInstance("c", "i1", 256, 1024, "zone-a")
	created, res, err = h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 3, LaunchType: ecstypes.LaunchTypeEc2, Group: "family:web"})
	if err != nil || len(created) != 2 || res.Unplaced != 1 {
		t.Fatalf("3 copies where 2 fit: %v, %d created, %+v", err, len(created), res)
	}
	if len(res.Failures) != 1 || res.Failures[0].Arn != "i1" || res.Failures[0].Reason != scheduler.ReasonCPU {
		t.Fatalf("failures: %+v", res.Failures)
	}
	if u := h.instance("c", "i1").Used; u.CPU != 256 {
		t.Fatalf("used %+v", u)
	}
	// An invalid placement is refused before anything is read.
	_, _, err = h.m.Launch(h.ctx, Launch{Cluster: "c", TaskDefinition: td, Count: 1, Group: "family:web",
		Strategies: []ecstypes.PlacementStrategy{{Type: "nonsense"}}})
	if errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Fatalf("invalid strategy: %v", err)
	}
}

// A service's launch takes the service's placement, tags and launch type,
// and a DAEMON launch goes only where it is sent.
func TestLaunchService(t *testing.T) {
	h := newHarness(t, nil)
	h.addInstance("c", "i1", 4096, 4096, "zone-a")
	h.addInstance("c", "i2", 4096, 4096, "zone-b")
	h.put(state.TaskDefKey("web", 2), state.TaskDef{TaskDefinition: h.addTaskDef("web", 2, 64, 64), Tags: []ecstypes.Tag{{Key: "from", Value: "td"}}})
	svc := state.Service{Name: "web", Cluster: "c", Service: ecstypes.Service{
		PropagateTags: ecstypes.PropagateTagsTaskDefinition, EnableExecuteCommand: true,
		LaunchType: ecstypes.LaunchTypeEc2, SchedulingStrategy: ecstypes.SchedulingStrategyDaemon,
	}}
	created, _, err := h.m.LaunchService(h.ctx, ServiceLaunch{Service: svc, DeploymentID: "ecs-svc/7", TaskDefinition: "web:2", Count: 1, InstanceID: "i2"})
	if err != nil || len(created) != 1 {
		t.Fatalf("LaunchService: %v %+v", err, created)
	}
	got := h.task("c", created[0].ID).Value
	tk := got.Task
	if got.InstanceID != "i2" || got.ServiceName != "web" || got.DeploymentID != "ecs-svc/7" || tk.StartedBy != "ecs-svc/7" ||
		tk.Group != "service:web" || tk.LaunchType != ecstypes.LaunchTypeEc2 || !tk.EnableExecuteCommand ||
		len(tk.Tags) != 1 || tk.Tags[0].Value != "td" || tk.PlatformVersion != "" || got.OnPool() {
		t.Fatalf("service task: %+v", got)
	}
	if _, _, err := h.m.LaunchService(h.ctx, ServiceLaunch{Service: svc, TaskDefinition: "web", Count: 1}); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Fatalf("a task definition without revision: %v", err)
	}
}

func TestLaunchTypeOf(t *testing.T) {
	for _, tc := range []struct {
		lt   ecstypes.LaunchType
		cps  []string
		want ecstypes.LaunchType
	}{
		{"", nil, ecstypes.LaunchTypeEc2},
		{ecstypes.LaunchTypeExternal, []string{"FARGATE"}, ecstypes.LaunchTypeExternal},
		{"", []string{"mine", "FARGATE"}, ecstypes.LaunchTypeFargate},
		{"", []string{"mine"}, ecstypes.LaunchTypeEc2},
	} {
		var items []ecstypes.CapacityProviderStrategyItem
		for _, cp := range tc.cps {
			items = append(items, ecstypes.CapacityProviderStrategyItem{CapacityProvider: cp})
		}
		if got := LaunchTypeOf(tc.lt, items); got != tc.want {
			t.Errorf("LaunchTypeOf(%q, %v) = %s, want %s", tc.lt, tc.cps, got, tc.want)
		}
	}
}

// NewRecord of an awsvpc task attaches its network interface in the
// subnet the launch names.
func TestNewRecordAwsvpc(t *testing.T) {
	td := ecstypes.TaskDefinition{Family: "web", Revision: 1, NetworkMode: ecstypes.NetworkModeAwsvpc,
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1"}}}
	l := Launch{Cluster: "c", TaskDefinition: td, Network: &ecstypes.NetworkConfiguration{
		AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}}
	rec := NewRecord(l, scheduler.Placement{InstanceID: "i1"}, state.ContainerInstance{}, t0, &seqIDs{})
	a := rec.Task.Attachments
	if len(a) != 1 || a[0].Type != "ElasticNetworkInterface" || a[0].Status != "PRECREATED" || a[0].Details[0].Value != "subnet-1" ||
		a[0].Id != "00000000-0000-0000-0000-000000000002" || core.ParseTaskStatus(rec.Task.LastStatus) != core.TaskProvisioning {
		t.Fatalf("attachments: %+v", a)
	}
}
