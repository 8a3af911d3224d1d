package scheduler

import (
	"fmt"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// benchCluster is n instances over three zones, half of them m5 and half
// t3, each already running a few tasks and holding a few ports.
func benchCluster(n int) []Instance {
	out := make([]Instance, n)
	for i := range out {
		typ := "t3.large"
		if i%2 == 0 {
			typ = "m5.xlarge"
		}
		out[i] = inst(fmt.Sprintf("%032x", i), 4096, 16384,
			az(zones[i%len(zones)]), attr(AttrInstanceType, typ), attr("ecs.capability.task-eni", ""),
			usedTCP(22, 2375, 2376, 51678, 51679), running("service:other", "family:batch"))
	}
	return out
}

var benchReq = Request{CPU: 128, Memory: 256, Group: "service:web", Family: "web",
	Ports:              []PortMapping{{Container: "app", ContainerPort: 8080}},
	RequiredAttributes: []ecstypes.Attribute{{Name: "ecs.capability.task-eni"}}}

// BenchmarkPlace5000 places one task among 5,000 instances with the
// service defaults (spread by zone, then by instance).
func BenchmarkPlace5000(b *testing.B) {
	cluster := benchCluster(5000)
	rnd := seeded(1)
	b.ReportAllocs()
	for b.Loop() {
		if r := Place(cluster, benchReq, 1, ServiceDefaultStrategies(), nil, rnd); len(r.Placements) != 1 {
			b.Fatal(r.Failures)
		}
	}
}

// BenchmarkPlace5000Binpack is one task, binpacked on memory within zones,
// restricted by a memberOf to half of the instances.
func BenchmarkPlace5000Binpack(b *testing.B) {
	cluster := benchCluster(5000)
	rnd := seeded(1)
	s := strategies(spreadOn("attribute:ecs.availability-zone"), binpack("memory"))
	c := constraints(memberOf("attribute:ecs.instance-type =~ m5.*"))
	b.ReportAllocs()
	for b.Loop() {
		if r := Place(cluster, benchReq, 1, s, c, rnd); len(r.Placements) != 1 {
			b.Fatal(r.Failures)
		}
	}
}

// BenchmarkPlace1000Tasks5000Instances places 1,000 tasks in one call on
// 5,000 instances, half of which the memberOf constraint excludes.
func BenchmarkPlace1000Tasks5000Instances(b *testing.B) {
	cluster := benchCluster(5000)
	rnd := seeded(1)
	c := constraints(memberOf("attribute:ecs.instance-type =~ m5.* and not(task:group == family:batch2)"))
	b.ReportAllocs()
	for b.Loop() {
		if r := Place(cluster, benchReq, 1000, ServiceDefaultStrategies(), c, rnd); len(r.Placements) != 1000 {
			b.Fatal(r.Unplaced, r.Failures[:1])
		}
	}
}

// BenchmarkPlaceShared5000Sim is one RunTask of the simulator's placement
// figure as the API makes it: count 10, random, memberOf on the instance
// type, on a shared snapshot of 5,000 instances running ten tasks each
// (GroupCounts set, as the cluster view sets it), connectivity from a
// callback.
func BenchmarkPlaceShared5000Sim(b *testing.B) {
	cluster := benchCluster(5000)
	ptrs := make([]*Instance, len(cluster))
	for i := range cluster {
		if i >= 6 {
			cluster[i].Attributes = cluster[i%6].Attributes // six attribute sets, shared as the view shares them
		}
		for range 8 {
			cluster[i].Tasks = append(cluster[i].Tasks, Task{Group: "family:sim", Family: "sim"})
		}
		cluster[i] = withGroupCounts(cluster[i])
		ptrs[i] = &cluster[i]
	}
	connected := func(string) bool { return true }
	req := Request{CPU: 16, Memory: 64, Group: "family:sim", Family: "sim"}
	c := constraints(memberOf("attribute:ecs.instance-type =~ m5.*"))
	rnd := seeded(1)
	b.ReportAllocs()
	for b.Loop() {
		if r := PlaceShared(ptrs, connected, req, 10, nil, c, rnd); len(r.Placements) != 10 {
			b.Fatal(r.Failures)
		}
	}
}
