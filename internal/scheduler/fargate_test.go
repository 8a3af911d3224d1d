package scheduler

import (
	"reflect"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// fargateReq is seed 000's Fargate task (256 CPU units, 512 MiB) of a
// service, as tasks.Launch asks for it with the default overcommit.
func fargateReq(overcommit float64) Request {
	return Request{CPU: FargateCPU(256, overcommit), Memory: 512, Group: PoolGroup("my-cluster", "service:web"), Family: "my-task",
		LaunchType: ecstypes.LaunchTypeFargate}
}

// Only ACTIVE instances that offer Fargate capacity take FARGATE tasks,
// whatever else they are.
func TestFargatePool(t *testing.T) {
	big := 1 << 20
	a, b := inst("a", big, big, pool), inst("b", big, big)
	c, d := inst("c", big, big, pool, status(StatusDraining)), inst("d", big, big, pool, disconnected)
	got := FargatePool([]*Instance{&a, &b, &c, &d})
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
	}
	// A disconnected pool host stays in the pool: placement's AGENT check
	// refuses it, and says so.
	if want := []string{"a", "d"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("FargatePool = %v, want %v", ids, want)
	}
}

func TestFargateCPU(t *testing.T) {
	for _, tc := range []struct {
		cpu        int
		overcommit float64
		want       int
	}{
		{256, 4, 64},
		{256, 1, 256},
		{256, 0.5, 256}, // below 1: no promise beyond the task's own
		{256, 0, 256},
		{256, 3, 86}, // rounded up: 85.33
		{1024, 2.5, 410},
		{4096, 4, 1024},
	} {
		if got := FargateCPU(tc.cpu, tc.overcommit); got != tc.want {
			t.Errorf("FargateCPU(%d, %v) = %d, want %d", tc.cpu, tc.overcommit, got, tc.want)
		}
	}
}

// Seed 000's canary (nine tasks and one, 256 CPU units each) fits on a
// two-core host with the default overcommit, and does not without it;
// memory is accounted in full.
func TestFargateOvercommitAccounting(t *testing.T) {
	host := func() []Instance { return []Instance{inst("laptop", 2048, 8192, pool, az("local-1a"))} }
	r := mustPlace(t, host(), fargateReq(DefaultFargateCPUOvercommit), 10, nil, nil, seeded(1))
	if len(r.Placements) != 10 {
		t.Fatalf("ten 256-unit tasks on 2048 units with overcommit %v: %d placed, failures %s",
			DefaultFargateCPUOvercommit, len(r.Placements), failuresString(r.Failures))
	}
	for _, p := range r.Placements {
		if p.CPU != 64 || p.Memory != 512 {
			t.Fatalf("a task holds %d CPU units and %d MiB, want 64 and 512", p.CPU, p.Memory)
		}
	}
	r = mustPlace(t, host(), fargateReq(1), 10, nil, nil, seeded(1))
	if len(r.Placements) != 8 || r.Unplaced != 2 {
		t.Fatalf("without overcommit: %d placed, %d unplaced; want 8 and 2", len(r.Placements), r.Unplaced)
	}
	// 8192 MiB take 16 tasks of 512 MiB, however much CPU is left.
	r = mustPlace(t, []Instance{inst("laptop", 1<<20, 8192, pool)}, fargateReq(DefaultFargateCPUOvercommit), 20, nil, nil, nil)
	if len(r.Placements) != 16 || r.Unplaced != 4 {
		t.Fatalf("memory: %d placed, %d unplaced; want 16 and 4", len(r.Placements), r.Unplaced)
	}
}

// A full pool answers ECS's capacity shortage: one failure without an
// instance ARN, minato's reason in its detail, and ECS's service event.
// An empty pool does the same, never "No Container Instances".
func TestFargateCapacityShortage(t *testing.T) {
	tests := []struct {
		name      string
		instances []Instance
		detail    string
	}{
		{"no pool host", []Instance{inst("ec2", 1<<20, 1<<20)}, "no host offers Fargate capacity"},
		{"no CPU left", []Instance{inst("a", 63, 1<<20, pool), inst("b", 10, 1<<20, pool)}, "64 CPU units"},
		{"no memory left", []Instance{inst("a", 1<<20, 511, pool)}, "512 MiB"},
		{"agents gone", []Instance{inst("a", 1<<20, 1<<20, pool, disconnected)}, "disconnected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, tt.instances, fargateReq(DefaultFargateCPUOvercommit), 3, nil, nil, nil)
			if r.NoInstances || r.Unplaced != 3 || !r.Fargate || len(r.Failures) != 1 {
				t.Fatalf("result %+v", r)
			}
			f := r.Failures[0]
			if f.Arn != "" || f.Reason != ReasonCapacity || !strings.Contains(f.Detail, tt.detail) {
				t.Fatalf("failure %+v, want reason %q and a detail naming %q", f, ReasonCapacity, tt.detail)
			}
			want := "(service web) was unable to place a task. Reason: Capacity is unavailable at this time. " +
				"Please try again later or in a different availability zone."
			if got := r.EventMessage("web"); got != want {
				t.Fatalf("event %q\nwant  %q", got, want)
			}
		})
	}
}

// Fargate tasks spread across zones first, then across the pool hosts of
// a zone, counting only their own cluster's group: another cluster's
// service of the same name on a host does not push them away.
func TestFargateSpreadAcrossPoolHosts(t *testing.T) {
	big := 1 << 20
	other := PoolGroup("other-cluster", "service:web")
	instances := []Instance{
		inst("a1", big, big, pool, az("zone-a"), running(other, other, other)),
		inst("a2", big, big, pool, az("zone-a")),
		inst("b1", big, big, pool, az("zone-b")),
		inst("ec2", big, big, az("zone-c")),
	}
	r := mustPlace(t, instances, fargateReq(DefaultFargateCPUOvercommit), 8, nil, nil, seeded(3))
	if got, want := perInstance(r), map[string]int{"a1": 2, "a2": 2, "b1": 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("8 tasks over zone-a (2 hosts) and zone-b (1): %v, want %v", got, want)
	}
	// Two hosts in one zone share ten tasks evenly.
	two := []Instance{inst("h1", 2048, 8192, pool, az("local-1a")), inst("h2", 2048, 8192, pool, az("local-1a"))}
	r = mustPlace(t, two, fargateReq(DefaultFargateCPUOvercommit), 10, nil, nil, seeded(9))
	if got := perInstance(r); got["h1"] != 5 || got["h2"] != 5 {
		t.Fatalf("ten tasks over two hosts: %v", got)
	}
}

func TestCapacityProviders(t *testing.T) {
	item := func(name string, base, weight int32) ecstypes.CapacityProviderStrategyItem {
		return ecstypes.CapacityProviderStrategyItem{CapacityProvider: name, Base: base, Weight: weight}
	}
	count := func(names []string) map[string]int {
		m := map[string]int{}
		for _, n := range names {
			m[n]++
		}
		return m
	}
	tests := []struct {
		name     string
		strategy []ecstypes.CapacityProviderStrategyItem
		have     map[string]int
		n        int
		want     map[string]int
	}{
		{"one provider", []ecstypes.CapacityProviderStrategyItem{item("FARGATE_SPOT", 0, 1)}, nil, 3, map[string]int{"FARGATE_SPOT": 3}},
		{"weights 1:3", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1), item("FARGATE_SPOT", 0, 3)}, nil, 8,
			map[string]int{"FARGATE": 2, "FARGATE_SPOT": 6}},
		{"base first, then weights", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 2, 1), item("FARGATE_SPOT", 0, 1)}, nil, 6,
			map[string]int{"FARGATE": 4, "FARGATE_SPOT": 2}},
		{"a weight of 0 takes only its base", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 1, 0), item("FARGATE_SPOT", 0, 1)}, nil, 4,
			map[string]int{"FARGATE": 1, "FARGATE_SPOT": 3}},
		{"the tasks held count", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1), item("FARGATE_SPOT", 0, 1)},
			map[string]int{"FARGATE": 3}, 3, map[string]int{"FARGATE_SPOT": 3}},
		{"held tasks fill the base", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 2, 0), item("FARGATE_SPOT", 0, 1)},
			map[string]int{"FARGATE": 2}, 2, map[string]int{"FARGATE_SPOT": 2}},
		{"no strategy", nil, nil, 3, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CapacityProviders(tt.strategy, tt.have, tt.n)
			if len(tt.strategy) > 0 && len(got) != tt.n {
				t.Fatalf("%d providers for %d tasks", len(got), tt.n)
			}
			if c := count(got); !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("CapacityProviders = %v (%v), want %v", got, c, tt.want)
			}
		})
	}
	// One task under 1:3 goes where the weight is.
	if got := CapacityProviders([]ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1), item("FARGATE_SPOT", 0, 3)}, nil, 1); got[0] != "FARGATE_SPOT" {
		t.Fatalf("one task under FARGATE:1 FARGATE_SPOT:3 went to %s", got[0])
	}
}
