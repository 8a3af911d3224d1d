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
