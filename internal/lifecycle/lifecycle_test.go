package lifecycle

import (
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

func def(name string, essential bool, deps ...string) ecstypes.ContainerDefinition {
	d := ecstypes.ContainerDefinition{Name: name, Essential: &essential}
	for i := 0; i+1 < len(deps); i += 2 {
		d.DependsOn = append(d.DependsOn, ecstypes.ContainerDependency{ContainerName: deps[i], Condition: ecstypes.ContainerCondition(deps[i+1])})
	}
	return d
}

func code(c int32) *int32 { return &c }

func TestNextStarts(t *testing.T) {
	order := []string{"web", "sidecar", "migrate"}
	cs := map[string]Container{
		"web":     {Def: def("web", true, "sidecar", "START", "migrate", "SUCCESS")},
		"sidecar": {Def: def("sidecar", false)},
		"migrate": {Def: def("migrate", false)},
	}
	p := NextStarts(order, cs)
	if !slices.Equal(p.Start, []string{"sidecar", "migrate"}) || !slices.Equal(p.Waiting, []string{"web"}) {
		t.Fatalf("first plan %+v", p)
	}
	cs["sidecar"] = Container{Def: cs["sidecar"].Def, Started: true, Running: true}
	cs["migrate"] = Container{Def: cs["migrate"].Def, Started: true, Running: true}
	if p := NextStarts(order, cs); len(p.Start) != 0 || !slices.Equal(p.Waiting, []string{"web"}) {
		t.Fatalf("web must wait for migrate to succeed: %+v", p)
	}
	cs["migrate"] = Container{Def: cs["migrate"].Def, Started: true, Exited: true, ExitCode: code(0)}
	if p := NextStarts(order, cs); !slices.Equal(p.Start, []string{"web"}) {
		t.Fatalf("web should start after migrate succeeded: %+v", p)
	}
	cs["migrate"] = Container{Def: cs["migrate"].Def, Started: true, Exited: true, ExitCode: code(2)}
	if p := NextStarts(order, cs); p.Failed != "web" {
		t.Fatalf("a failed SUCCESS dependency must fail the task: %+v", p)
	}
}

func TestHealthyDependency(t *testing.T) {
	hc := &ecstypes.HealthCheck{Command: []string{"CMD", "true"}}
	db := def("db", true)
	db.HealthCheck = hc
	cs := map[string]Container{"app": {Def: def("app", true, "db", "HEALTHY")}, "db": {Def: db, Started: true, Running: true, Health: ecstypes.HealthStatusUnknown}}
	order := []string{"db", "app"}
	if p := NextStarts(order, cs); len(p.Start) != 0 {
		t.Fatalf("app started before db was healthy: %+v", p)
	}
	cs["db"] = Container{Def: db, Started: true, Running: true, Health: ecstypes.HealthStatusHealthy}
	if p := NextStarts(order, cs); !slices.Equal(p.Start, []string{"app"}) {
		t.Fatalf("app should start: %+v", p)
	}
	cs["app"] = Container{Def: def("app", true, "db", "HEALTHY")}
	cs["db"] = Container{Def: db, Started: true, Running: true, Health: ecstypes.HealthStatusUnhealthy}
	if p := NextStarts(order, cs); p.Failed != "app" {
		t.Fatalf("unhealthy dependency should fail: %+v", p)
	}
}

func TestStopOrder(t *testing.T) {
	order := []string{"web", "sidecar", "db"}
	cs := map[string]Container{
		"web":     {Def: def("web", true, "sidecar", "START", "db", "START")},
		"sidecar": {Def: def("sidecar", false, "db", "START")},
		"db":      {Def: def("db", true)},
	}
	waves := StopOrder(order, cs)
	want := [][]string{{"web"}, {"sidecar"}, {"db"}}
	if len(waves) != 3 || !slices.Equal(waves[0], want[0]) || !slices.Equal(waves[1], want[1]) || !slices.Equal(waves[2], want[2]) {
		t.Fatalf("stop waves %v, want %v", waves, want)
	}
}

func TestRunningAndEssentialExit(t *testing.T) {
	order := []string{"app", "log"}
	cs := map[string]Container{
		"app": {Def: def("app", true), Started: true, Running: true},
		"log": {Def: def("log", false)},
	}
	if Running(cs) {
		t.Fatal("running before every container started")
	}
	cs["log"] = Container{Def: def("log", false), Started: true, Exited: true, ExitCode: code(1)}
	if !Running(cs) {
		t.Fatal("a non-essential exit should not keep the task from RUNNING")
	}
	if n := EssentialExit(order, cs); n != "" {
		t.Fatalf("non-essential exit reported as essential: %s", n)
	}
	cs["app"] = Container{Def: def("app", true), Started: true, Exited: true, ExitCode: code(3)}
	if n := EssentialExit(order, cs); n != "app" {
		t.Fatalf("EssentialExit = %q", n)
	}
}

func TestTaskHealth(t *testing.T) {
	hc := &ecstypes.HealthCheck{Command: []string{"CMD", "true"}}
	withHC := func(name string, ess bool, h ecstypes.HealthStatus) Container {
		d := def(name, ess)
		d.HealthCheck = hc
		return Container{Def: d, Started: true, Running: true, Health: h}
	}
	tests := []struct {
		name string
		cs   map[string]Container
		want ecstypes.HealthStatus
	}{
		{"no checks", map[string]Container{"a": {Def: def("a", true)}}, "UNKNOWN"},
		{"all healthy", map[string]Container{"a": withHC("a", true, "HEALTHY"), "b": withHC("b", true, "HEALTHY")}, "HEALTHY"},
		{"one starting", map[string]Container{"a": withHC("a", true, "HEALTHY"), "b": withHC("b", true, "UNKNOWN")}, "UNKNOWN"},
		{"one unhealthy", map[string]Container{"a": withHC("a", true, "HEALTHY"), "b": withHC("b", true, "UNHEALTHY")}, "UNHEALTHY"},
		{"non-essential unhealthy ignored", map[string]Container{"a": withHC("a", true, "HEALTHY"), "b": withHC("b", false, "UNHEALTHY")}, "HEALTHY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TaskHealth(tt.cs); got != tt.want {
				t.Fatalf("TaskHealth = %s, want %s", got, tt.want)
			}
		})
	}
}

// A volumesFrom source is created before the container that mounts from
// it, whichever the definition lists first; the rest keep their order.
func TestCreateOrder(t *testing.T) {
	from := func(name string, sources ...string) ecstypes.ContainerDefinition {
		d := ecstypes.ContainerDefinition{Name: name}
		for _, s := range sources {
			d.VolumesFrom = append(d.VolumesFrom, ecstypes.VolumeFrom{SourceContainer: s})
		}
		return d
	}
	tests := []struct {
		name string
		defs []ecstypes.ContainerDefinition
		want []string
	}{
		{"no volumesFrom: the definition's order", []ecstypes.ContainerDefinition{from("a"), from("b"), from("c")}, []string{"a", "b", "c"}},
		{"source listed first", []ecstypes.ContainerDefinition{from("data"), from("app", "data")}, []string{"data", "app"}},
		{"source listed after", []ecstypes.ContainerDefinition{from("app", "data"), from("data")}, []string{"data", "app"}},
		{"a chain backwards", []ecstypes.ContainerDefinition{from("c", "b"), from("b", "a"), from("a"), from("x")}, []string{"a", "b", "c", "x"}},
		{"two sources", []ecstypes.ContainerDefinition{from("app", "logs", "data"), from("side"), from("data"), from("logs")},
			[]string{"side", "data", "logs", "app"}},
		{"an unknown source is ignored", []ecstypes.ContainerDefinition{from("app", "ghost"), from("b")}, []string{"app", "b"}},
		{"a cycle keeps the definition's order", []ecstypes.ContainerDefinition{from("a", "b"), from("b", "a"), from("c", "a")}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CreateOrder(tt.defs); !slices.Equal(got, tt.want) {
				t.Fatalf("CreateOrder = %v, want %v", got, tt.want)
			}
		})
	}
}
