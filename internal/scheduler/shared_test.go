package scheduler

import (
	"fmt"
	"reflect"
	"testing"
)

// withGroupCounts returns a copy of in whose GroupCounts count its Tasks.
func withGroupCounts(in Instance) Instance {
	in.GroupCounts = map[string]int{}
	for _, t := range in.Tasks {
		in.GroupCounts[t.Group]++
	}
	return in
}

// TestPropertyPlaceSharedMatchesPlace checks that PlaceShared on pointers,
// with GroupCounts set and connectivity from the callback (AgentConnected
// inverted, so that reading it would show) and equal attribute maps
// shared (memberOf answers are kept per map), proposes what Place does.
func TestPropertyPlaceSharedMatchesPlace(t *testing.T) {
	for seed := range uint64(propertyCases) {
		s := genScenario(seeded(seed))
		want := Place(s.instances, s.req, s.count, s.strategies, s.constraints, seeded(seed+1))
		conn := map[string]bool{}
		shared := map[string]map[string]string{} // equal attribute maps made one, as the cluster view does
		ptrs := make([]*Instance, len(s.instances))
		for i, in := range s.instances {
			conn[in.ID] = in.AgentConnected
			c := withGroupCounts(in)
			k := fmt.Sprint(c.Attributes)
			if m, ok := shared[k]; ok {
				c.Attributes = m
			} else {
				shared[k] = c.Attributes
			}
			c.AgentConnected = !in.AgentConnected
			ptrs[i] = &c
		}
		got := PlaceShared(ptrs, func(id string) bool { return conn[id] }, s.req, s.count, s.strategies, s.constraints, seeded(seed+1))
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("seed %d: Place %+v\nPlaceShared %+v\n%v", seed, want, got, s)
		}
	}
}

// TestGroupCountsAreRead checks that placement counts groups from
// GroupCounts when it is set: a distinctInstance with GroupCounts saying
// the group runs there refuses the instance although Tasks say nothing.
func TestGroupCountsAreRead(t *testing.T) {
	in := inst("a", 1024, 1024)
	in.Tasks = []Task{{Group: "service:other"}}
	in.GroupCounts = map[string]int{"service:web": 1}
	r := Place([]Instance{in}, Request{CPU: 1, Memory: 1, Group: "service:web"}, 1, nil, constraints(distinct), nil)
	if len(r.Placements) != 0 || len(r.Failures) != 1 || r.Failures[0].Reason != ReasonDistinctInstance {
		t.Fatalf("placed despite GroupCounts: %+v", r)
	}
	in.GroupCounts = map[string]int{"service:other": 1}
	if r := Place([]Instance{in}, Request{CPU: 1, Memory: 1, Group: "service:web"}, 1, nil, constraints(distinct), nil); len(r.Placements) != 1 {
		t.Fatalf("not placed: %+v", r)
	}
}

func TestReserveReleaseKeepGroupCounts(t *testing.T) {
	in := withGroupCounts(inst("a", 1024, 1024, running("service:web", "family:batch")))
	orig := in.GroupCounts
	p := Placement{InstanceID: "a", CPU: 1, Memory: 1, Group: "service:web"}
	r := Reserve(in, p)
	if want := map[string]int{"service:web": 2, "family:batch": 1}; !reflect.DeepEqual(r.GroupCounts, want) {
		t.Fatalf("after Reserve: %v, want %v", r.GroupCounts, want)
	}
	if orig["service:web"] != 1 {
		t.Fatalf("Reserve modified its input's GroupCounts: %v", orig)
	}
	back := Release(Release(r, p), p)
	if want := map[string]int{"family:batch": 1}; !reflect.DeepEqual(back.GroupCounts, want) {
		t.Fatalf("after two Releases: %v, want %v", back.GroupCounts, want)
	}
	if plain := Reserve(inst("b", 1, 1), p); plain.GroupCounts != nil {
		t.Fatalf("Reserve created GroupCounts: %v", plain.GroupCounts)
	}
}
