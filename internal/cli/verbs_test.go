package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/peers"
)

// golden compares got with testdata/name, or rewrites it with -update
// (the flag of TestCLIDocIsCurrent).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// The fixed clock of the golden tests.
var goldenNow = time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)

func TestRenderStatusGolden(t *testing.T) {
	r := statusReport{
		Endpoint: "http://127.0.0.1:7400",
		Servers: &controlplane.Members{Self: "a", Leader: "a", Servers: []peers.Record{
			{Name: "a", APIURL: "http://10.0.0.1:7400", At: goldenNow.Add(-2 * time.Second), Version: "v0.9", Agents: []string{"i1"}},
			{Name: "b", APIURL: "http://10.0.0.2:7400", At: goldenNow.Add(-4 * time.Second), Version: "v0.9"},
		}},
		Clusters: []clusterRow{{Name: "default", Status: "ACTIVE", Instances: 2, Services: 2, Running: 4, Pending: 1}},
		Instances: []instanceRow{
			{Cluster: "default", ID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Status: "ACTIVE", AgentConnected: true, Running: 3, CPU: "1024/2048", Memory: "1536/3840 MiB", RegisteredAt: goldenNow.Add(-26 * time.Hour)},
			{Cluster: "default", ID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", Status: "DRAINING", AgentConnected: false, Running: 1, Pending: 1, CPU: "2048/2048", Memory: "3840/3840 MiB", RegisteredAt: goldenNow.Add(-3 * 24 * time.Hour)},
		},
		Services: []serviceRow{
			{Cluster: "default", Name: "api", Status: "ACTIVE", TaskDefinition: "api:7", Desired: 3, Running: 2, Pending: 1, Rollout: "IN_PROGRESS", Deployments: 2},
			{Cluster: "default", Name: "worker", Status: "ACTIVE", TaskDefinition: "worker:2", Desired: 1, Running: 1, Rollout: "FAILED",
				RolloutReason: "ECS deployment circuit breaker: tasks failed to start.", Deployments: 1},
		},
	}
	var b bytes.Buffer
	renderStatus(&b, r, goldenNow)
	golden(t, "status.txt", b.String())

	b.Reset()
	renderStatus(&b, statusReport{Endpoint: "http://127.0.0.1:7400", Clusters: []clusterRow{{Name: "default", Status: "ACTIVE"}}}, goldenNow)
	golden(t, "status-empty.txt", b.String())
}

func TestRenderTasksGolden(t *testing.T) {
	one, zero := int32(1), int32(0)
	rows := []taskRow{
		{ID: "5d8c0e1f2a3b4c5d6e7f8091a2b3c4d5", Group: "service:api", TaskDefinition: "api:7", LastStatus: "RUNNING", DesiredStatus: "RUNNING",
			Health: "HEALTHY", StartedAt: goldenNow.Add(-90 * time.Second), Containers: []containerRow{{Name: "api", Status: "RUNNING"}}},
		{ID: "9a8b7c6d5e4f30211203f4e5d6c7b8a9", Group: "service:api", TaskDefinition: "api:6", LastStatus: "RUNNING", DesiredStatus: "STOPPED",
			Health: "UNKNOWN", StartedAt: goldenNow.Add(-3 * time.Hour), Containers: []containerRow{{Name: "api", Status: "RUNNING"}}},
		{ID: "00112233445566778899aabbccddeeff", Group: "service:worker", TaskDefinition: "worker:2", LastStatus: "STOPPED", DesiredStatus: "STOPPED",
			StartedAt: goldenNow.Add(-5 * time.Minute), StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited",
			Containers: []containerRow{{Name: "worker", Status: "STOPPED", ExitCode: &one}, {Name: "sidecar", Status: "STOPPED", ExitCode: &zero}}},
		{ID: "ffeeddccbbaa99887766554433221100", Group: "family:batch", TaskDefinition: "batch:1", LastStatus: "PROVISIONING", DesiredStatus: "RUNNING"},
	}
	var b bytes.Buffer
	renderTasks(&b, rows, goldenNow)
	golden(t, "ps.txt", b.String())
	b.Reset()
	renderTasks(&b, nil, goldenNow)
	if b.String() != "No tasks.\n" {
		t.Fatalf("no tasks: %q", b.String())
	}
}

func deployFixture() []deployState {
	base := deployState{Service: "api", DeploymentID: "ecs-svc/1234567890", TaskDefinition: "api:8", Status: "PRIMARY", Desired: 3}
	s1 := base
	s1.Rollout, s1.Pending, s1.Elapsed = "IN_PROGRESS", 3, 2*time.Second
	s1.Others = []otherDeployment{{ID: "ecs-svc/0987654321", Status: "ACTIVE", TaskDefinition: "api:7", Running: 3, Desired: 3}}
	s1.Events = []deployEvent{{At: goldenNow.Add(time.Second), Message: "(service api) has started 3 tasks: (task 5d8c0e1f) (task 9a8b7c6d) (task 00112233)."}}
	s2 := s1
	s2.Running, s2.Pending, s2.Elapsed = 2, 1, 14*time.Second
	s2.Others = []otherDeployment{{ID: "ecs-svc/0987654321", Status: "ACTIVE", TaskDefinition: "api:7", Running: 1, Desired: 0}}
	s3 := s2
	s3.Running, s3.Pending, s3.Elapsed, s3.Rollout, s3.Others = 3, 0, 31*time.Second, "COMPLETED", nil
	s3.Events = append(s2.Events, deployEvent{At: goldenNow.Add(30 * time.Second), Message: "(service api) has reached a steady state."})
	return []deployState{s1, s2, s2, s3}
}

func TestRenderDeployGolden(t *testing.T) {
	var plain, tty bytes.Buffer
	pp, pt := newProgress(&plain, false, false), newProgress(&tty, false, true)
	pp.step("registered task definition api:8 with image api:2")
	for _, s := range deployFixture() {
		pp.show(s, goldenNow, s.outcome())
		pt.show(s, goldenNow, s.outcome())
	}
	golden(t, "deploy-plain.txt", plain.String())
	golden(t, "deploy-tty.txt", tty.String())
	if strings.Count(plain.String(), "running 2/3") != 1 {
		t.Errorf("an unchanged state was printed again:\n%s", plain.String())
	}
	if !strings.Contains(tty.String(), "\x1b[") {
		t.Error("the terminal view is not redrawn in place")
	}
}

func TestDeployOutcome(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        deployState
		done, ok bool
		say      string
	}{
		{"in progress", deployState{Status: "PRIMARY", Rollout: "IN_PROGRESS"}, false, false, ""},
		{"completed", deployState{Status: "PRIMARY", Rollout: "COMPLETED", DeploymentID: "d1"}, true, true, "COMPLETED"},
		{"rolled back", deployState{Status: "ACTIVE", Rollout: "FAILED", DeploymentID: "d1", Reason: "ECS deployment circuit breaker: tasks failed to start.",
			Others: []otherDeployment{{Status: "PRIMARY", TaskDefinition: "api:7"}}}, true, false, "rolled back to api:7"},
		{"failed", deployState{Status: "PRIMARY", Rollout: "FAILED", DeploymentID: "d1"}, true, false, "FAILED"},
		{"replaced", deployState{Status: "ACTIVE", Rollout: "IN_PROGRESS", DeploymentID: "d1"}, true, false, "replaced"},
		{"gone", deployState{DeploymentID: "d1"}, true, false, "gone"},
		{"gone in a rollback", deployState{DeploymentID: "d1", Others: []otherDeployment{{Status: "PRIMARY", TaskDefinition: "api:7",
			Reason: "ECS deployment circuit breaker: rolling back to deploymentId d0."}}}, true, false, "FAILED: ECS deployment circuit breaker: rolling back to deploymentId d0. (rolled back to api:7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.s.outcome()
			if o.done != tc.done || o.ok != tc.ok || !strings.Contains(o.message, tc.say) {
				t.Fatalf("outcome %+v, want done %v ok %v saying %q", o, tc.done, tc.ok, tc.say)
			}
		})
	}
}

func TestTailerPrintsEachEventOnce(t *testing.T) {
	at := func(ms int64, id string) logLine {
		return logLine{Time: time.UnixMilli(ms).UTC(), Group: "/ecs/api", Stream: "ecs/api/5d8c0e1f2a3b4c5d6e7f8091a2b3c4d5", Message: "m" + id, ID: id}
	}
	tl := &tailer{seen: map[string]bool{}}
	ids := func(ls []logLine) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(tl.accept([]logLine{at(2000, "b"), at(1000, "a"), at(2000, "c")})); got != "a,b,c" {
		t.Fatalf("first poll: %s", got)
	}
	// The next poll starts at 2000: b and c again, and a new one at 2000.
	if got := ids(tl.accept([]logLine{at(2000, "b"), at(2000, "c"), at(2000, "d"), at(3000, "e")})); got != "d,e" {
		t.Fatalf("second poll: %s", got)
	}
	if got := ids(tl.accept([]logLine{at(3000, "e")})); got != "" {
		t.Fatalf("third poll: %s", got)
	}
	if got := formatLogLine(at(3000, "e"), false); got != "1970-01-01T00:00:03.000Z api/5d8c0e1f me" {
		t.Fatalf("formatLogLine: %q", got)
	}
}

func TestConnectDefaultsToTheLocalMinato(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none")}
	getenv := func(k string) string { return env[k] }
	cf := connectFlags{dataDir: dir}
	if _, err := cf.resolve(getenv); err == nil || !strings.Contains(err.Error(), "credentials.json") {
		t.Fatalf("no key pair: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte(`{"access_key_id":"AKIALOCAL","secret_access_key":"s3cret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := cf.resolve(getenv)
	if err != nil || s.endpoint != defaultAPIURL || s.keyID != "AKIALOCAL" || s.secret != "s3cret" || s.region != "us-east-1" {
		t.Fatalf("local defaults: %+v %v", s, err)
	}
	if err := writeAPIURL(dir, "http://127.0.0.1:9999"); err != nil {
		t.Fatal(err)
	}
	if s, _ := cf.resolve(getenv); s.endpoint != "http://127.0.0.1:9999" {
		t.Fatalf("api-url: %+v", s)
	}
	env["AWS_ENDPOINT_URL"], env["AWS_REGION"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "http://other:1", "eu-west-1", "AKIAENV", "envsecret"
	if s, _ := cf.resolve(getenv); s.endpoint != "http://other:1" || s.region != "eu-west-1" || s.keyID != "AKIAENV" {
		t.Fatalf("environment: %+v", s)
	}
	cf.endpoint, cf.region = "http://flag:2", "ap-northeast-1"
	if s, _ := cf.resolve(getenv); s.endpoint != "http://flag:2" || s.region != "ap-northeast-1" {
		t.Fatalf("flags: %+v", s)
	}
}
