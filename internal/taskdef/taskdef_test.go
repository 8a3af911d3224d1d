package taskdef

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/testutil"
)

func decode(t *testing.T, js string) *ecstypes.RegisterTaskDefinitionRequest {
	t.Helper()
	var in ecstypes.RegisterTaskDefinitionRequest
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return &in
}

// Every task definition of the seed documents registers, and everything it
// says comes back unchanged.
func TestSeedTaskDefinitions(t *testing.T) {
	files, err := filepath.Glob("../../test/testdata/seeds/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("seed task definitions: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in := decode(t, string(raw))
			td, err := Build(in)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			var want map[string]any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "tags") // returned beside the task definition, not in it
			if err := testutil.JSONSubset(want, td); err != nil {
				t.Fatalf("stored task definition differs from the input: %v", err)
			}
			if !slices.Contains(td.Compatibilities, ecstypes.CompatibilityFargate) {
				t.Errorf("compatibilities %v lack FARGATE", td.Compatibilities)
			}
			for _, c := range td.ContainerDefinitions {
				if c.Essential == nil {
					t.Errorf("container %s: essential not defaulted", c.Name)
				}
				for _, pm := range c.PortMappings {
					if pm.HostPort == nil || *pm.HostPort != *pm.ContainerPort || pm.Protocol != "tcp" {
						t.Errorf("container %s: awsvpc port mapping not normalised: %+v", c.Name, pm)
					}
				}
			}
		})
	}
}

func TestBuildDefaults(t *testing.T) {
	td, err := Build(decode(t, `{"family":"web","containerDefinitions":[
		{"name":"app","image":"app:1","memory":128,"portMappings":[{"containerPort":8080}],
		 "healthCheck":{"command":["CMD","/app","-health"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := td.ContainerDefinitions[0]
	if !*c.Essential {
		t.Error("essential should default to true")
	}
	if pm := c.PortMappings[0]; pm.HostPort != nil || pm.Protocol != ecstypes.TransportProtocolTcp {
		t.Errorf("bridge port mapping: %+v (hostPort stays unset for a dynamic port)", pm)
	}
	hc := c.HealthCheck
	if *hc.Interval != 30 || *hc.Timeout != 5 || *hc.Retries != 3 || *hc.StartPeriod != 0 {
		t.Errorf("health check defaults: %+v", hc)
	}
	if c.Environment == nil || c.MountPoints == nil || c.VolumesFrom == nil {
		t.Error("list fields ECS always returns should be empty, not absent")
	}
	if want := []ecstypes.Compatibility{"EXTERNAL", "EC2"}; !slices.Equal(td.Compatibilities, want) {
		t.Errorf("compatibilities %v, want %v", td.Compatibilities, want)
	}
	if !slices.ContainsFunc(td.RequiresAttributes, func(a ecstypes.Attribute) bool {
		return a.Name == "ecs.capability.container-health-check"
	}) {
		t.Errorf("requiresAttributes lack the health-check capability: %v", td.RequiresAttributes)
	}
}

func TestBuildUnits(t *testing.T) {
	td, err := Build(decode(t, `{"family":"f","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],
		"cpu":"1 vCPU","memory":"2 GB","containerDefinitions":[{"name":"a","image":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if td.Cpu != "1024" || td.Memory != "2048" {
		t.Fatalf("cpu/memory = %q/%q, want 1024/2048", td.Cpu, td.Memory)
	}
}

func TestBuildRejects(t *testing.T) {
	const c = `{"name":"a","image":"a","memory":128}`
	tests := []struct {
		name, js, wantMsg string
	}{
		{"missing family", `{"containerDefinitions":[` + c + `]}`, "family"},
		{"bad family", `{"family":"my app","containerDefinitions":[` + c + `]}`, "Family name"},
		{"no containers", `{"family":"f","containerDefinitions":[]}`, "container"},
		{"missing container name", `{"family":"f","containerDefinitions":[{"image":"a","memory":128}]}`, "name"},
		{"missing image", `{"family":"f","containerDefinitions":[{"name":"a","memory":128}]}`, "image"},
		{"duplicate names", `{"family":"f","containerDefinitions":[` + c + `,` + c + `]}`, "unique"},
		{"bad network mode", `{"family":"f","networkMode":"overlay","containerDefinitions":[` + c + `]}`, "networkMode"},
		{"no essential", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"essential":false}]}`, "essential"},
		{"no memory anywhere", `{"family":"f","containerDefinitions":[{"name":"a","image":"a"}]}`, "At least one of 'memory' or 'memoryReservation'"},
		{"reservation over limit", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"memoryReservation":256}]}`, "memoryReservation"},
		{"tiny memory", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":4}]}`, "minimum"},
		{"container memory over task", `{"family":"f","memory":"256","containerDefinitions":[{"name":"a","image":"a","memory":512}]}`, "greater than for the task"},
		{"container memory sum over task", `{"family":"f","memory":"256","containerDefinitions":[{"name":"a","image":"a","memory":200},{"name":"b","image":"b","memory":200}]}`, "sum"},
		{"container cpu over task", `{"family":"f","cpu":"256","memory":"512","containerDefinitions":[{"name":"a","image":"a","cpu":512}]}`, "greater than for the task"},
		{"fargate without awsvpc", `{"family":"f","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512","networkMode":"bridge","containerDefinitions":[` + c + `]}`, "awsvpc"},
		{"fargate default network", `{"family":"f","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512","containerDefinitions":[` + c + `]}`, "awsvpc"},
		{"fargate without cpu", `{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","memory":"512","containerDefinitions":[` + c + `]}`, "task level"},
		{"fargate bad combo", `{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"4096","containerDefinitions":[` + c + `]}`, "No Fargate configuration exists for given values: 256 CPU, 4096 memory"},
		{"fargate bad cpu", `{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"300","memory":"1024","containerDefinitions":[` + c + `]}`, "cpu"},
		{"fargate privileged", `{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"512","containerDefinitions":[{"name":"a","image":"a","privileged":true}]}`, "privileged"},
		{"fargate host volume", `{"family":"f","requiresCompatibilities":["FARGATE"],"networkMode":"awsvpc","cpu":"256","memory":"512","volumes":[{"name":"v","host":{"sourcePath":"/data"}}],"containerDefinitions":[` + c + `]}`, "sourcePath"},
		{"awsvpc host port differs", `{"family":"f","networkMode":"awsvpc","containerDefinitions":[{"name":"a","image":"a","memory":128,"portMappings":[{"containerPort":80,"hostPort":8080}]}]}`, "must match"},
		{"none with ports", `{"family":"f","networkMode":"none","containerDefinitions":[{"name":"a","image":"a","memory":128,"portMappings":[{"containerPort":80}]}]}`, "none"},
		{"port out of range", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"portMappings":[{"containerPort":70000}]}]}`, "containerPort"},
		{"duplicate port", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"portMappings":[{"containerPort":80},{"containerPort":80,"protocol":"tcp"}]}]}`, "more than once"},
		{"links in awsvpc", `{"family":"f","networkMode":"awsvpc","containerDefinitions":[{"name":"a","image":"a","memory":128,"links":["b"]},{"name":"b","image":"b","memory":128}]}`, "Links"},
		{"link to nobody", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"links":["db:database"]}]}`, "links"},
		{"dependsOn unknown", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"dependsOn":[{"containerName":"x","condition":"START"}]}]}`, "depends on"},
		{"dependsOn bad condition", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"dependsOn":[{"containerName":"b","condition":"READY"}]},{"name":"b","image":"b","memory":128}]}`, "condition"},
		{"dependsOn healthy without check", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"dependsOn":[{"containerName":"b","condition":"HEALTHY"}]},{"name":"b","image":"b","memory":128}]}`, "healthCheck"},
		{"dependsOn success on essential", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"dependsOn":[{"containerName":"b","condition":"SUCCESS"}]},{"name":"b","image":"b","memory":128}]}`, "essential"},
		{"dependsOn cycle", `{"family":"f","containerDefinitions":[
			{"name":"a","image":"a","memory":128,"dependsOn":[{"containerName":"b","condition":"START"}]},
			{"name":"b","image":"b","memory":128,"dependsOn":[{"containerName":"c","condition":"START"}]},
			{"name":"c","image":"c","memory":128,"dependsOn":[{"containerName":"a","condition":"START"}]}]}`, "cycle"},
		{"mount of unknown volume", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"mountPoints":[{"sourceVolume":"data","containerPath":"/data"}]}]}`, "unknown volume"},
		{"volumesFrom self", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"volumesFrom":[{"sourceContainer":"a"}]}]}`, "volumesFrom"},
		{"health check bad command", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"healthCheck":{"command":["curl","localhost"]}}]}`, "CMD"},
		{"health check bad interval", `{"family":"f","containerDefinitions":[{"name":"a","image":"a","memory":128,"healthCheck":{"command":["CMD","true"],"interval":1}}]}`, "interval"},
		{"bad task cpu string", `{"family":"f","cpu":"lots","containerDefinitions":[` + c + `]}`, "cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(decode(t, tt.js))
			if err == nil {
				t.Fatal("Build accepted an invalid task definition")
			}
			e, ok := core.AsError(err)
			if !ok || e.Code != "ClientException" || e.Kind != core.KindInvalid {
				t.Fatalf("error %v is not a ClientException", err)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Fatalf("message %q does not mention %q", e.Message, tt.wantMsg)
			}
		})
	}
}

func TestParseUnits(t *testing.T) {
	cpu := map[string]int{"256": 256, "0.25 vCPU": 256, "1 vcpu": 1024, "2vCPU": 2048, " 512 ": 512}
	for in, want := range cpu {
		if got, err := ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	mem := map[string]int{"512": 512, "1 GB": 1024, "0.5GB": 512, "2gb": 2048}
	for in, want := range mem {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1.5", "abc", "NaN", "0.1 vCPU"} {
		if _, err := ParseCPU(bad); err == nil {
			t.Errorf("ParseCPU(%q) accepted", bad)
		}
	}
}

func TestFargateCombinations(t *testing.T) {
	// The seed guide's table: 256 → 512 MB, 1 GB, 2 GB; 512 → 1–4 GB; 1024 → 2–8 GB.
	ok := [][2]int{{256, 512}, {256, 1024}, {256, 2048}, {512, 1024}, {512, 4096}, {1024, 2048}, {1024, 8192}, {4096, 30720}, {16384, 122880}}
	bad := [][2]int{{256, 3072}, {512, 512}, {512, 5120}, {1024, 1024}, {1024, 9216}, {300, 1024}, {8192, 18432}}
	for _, p := range ok {
		if !FargateSupports(p[0], p[1]) {
			t.Errorf("FargateSupports(%d, %d) = false", p[0], p[1])
		}
	}
	for _, p := range bad {
		if FargateSupports(p[0], p[1]) {
			t.Errorf("FargateSupports(%d, %d) = true", p[0], p[1])
		}
	}
}

func TestStartOrderCycle(t *testing.T) {
	dep := func(name string, on ...string) ecstypes.ContainerDefinition {
		c := ecstypes.ContainerDefinition{Name: name}
		for _, o := range on {
			c.DependsOn = append(c.DependsOn, ecstypes.ContainerDependency{ContainerName: o, Condition: "START"})
		}
		return c
	}
	if cyc := StartOrderCycle([]ecstypes.ContainerDefinition{dep("a", "b"), dep("b", "c"), dep("c")}); cyc != nil {
		t.Fatalf("chain reported as cycle %v", cyc)
	}
	if cyc := StartOrderCycle([]ecstypes.ContainerDefinition{dep("a", "b", "c"), dep("b", "c"), dep("c", "a")}); len(cyc) < 3 || cyc[0] != cyc[len(cyc)-1] {
		t.Fatalf("cycle = %v", cyc)
	}
}
