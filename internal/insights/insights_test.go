package insights

import (
	"context"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		value string
		want  bool
	}{{"enabled", true}, {"enhanced", true}, {"disabled", false}, {"", false}} {
		s := []ecstypes.ClusterSetting{{Name: "containerInsights", Value: c.value}}
		if got := Enabled(s); got != c.want {
			t.Errorf("Enabled(%q) = %v", c.value, got)
		}
	}
	if Enabled(nil) {
		t.Error("Enabled without the setting")
	}
}

func value(t *testing.T, ss []metricstore.Sample, name string, dims ...string) (float64, string) {
	t.Helper()
	var want []metricstore.Dimension
	for i := 0; i < len(dims); i += 2 {
		want = append(want, metricstore.Dimension{Name: dims[i], Value: dims[i+1]})
	}
	key := metricstore.Metric{Namespace: Namespace, Name: name, Dimensions: want}.Key()
	for _, s := range ss {
		if s.Metric.Key() == key {
			if s.Stats.Count != 1 {
				t.Errorf("%s %v: %+v is not one sample", name, dims, s.Stats)
			}
			return s.Stats.Sum, s.Unit
		}
	}
	t.Errorf("no %s %v", name, dims)
	return 0, ""
}

func TestSamples(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 5, 0, 0, time.UTC)
	c := Cluster{
		Name: "prod", Instances: 2,
		Services: []Service{{Name: "web", Desired: 3, Deployments: 2}, {Name: "idle", Desired: 0, Deployments: 1}},
		Tasks: []Task{
			{Service: "web", Family: "web", LastStatus: "RUNNING", CPU: 256, MemoryMiB: 512, Usage: &Usage{CPUUnits: 100, MemoryMiB: 200}},
			{Service: "web", Family: "web", LastStatus: "RUNNING", CPU: 256, MemoryMiB: 512, Usage: &Usage{CPUUnits: 50, MemoryMiB: 100}},
			{Service: "web", Family: "web", LastStatus: "PENDING", CPU: 256, MemoryMiB: 512},
			{Service: "web", Family: "web", LastStatus: "STOPPED", CPU: 256, MemoryMiB: 512, Usage: &Usage{CPUUnits: 999, MemoryMiB: 999}},
			{Family: "batch", LastStatus: "RUNNING", CPU: 1024, MemoryMiB: 2048}, // no use reported yet
		},
	}
	ss := Samples(c, at)
	for _, s := range ss {
		if !s.Time.Equal(at) || s.Metric.Namespace != "ECS/ContainerInsights" {
			t.Fatalf("sample %+v", s)
		}
	}
	check := func(want float64, wantUnit, name string, dims ...string) {
		t.Helper()
		if v, unit := value(t, ss, name, dims...); v != want || unit != wantUnit {
			t.Errorf("%s %v = %v %s, want %v %s", name, dims, v, unit, want, wantUnit)
		}
	}
	cl := []string{"ClusterName", "prod"}
	web := []string{"ClusterName", "prod", "ServiceName", "web"}
	idle := []string{"ClusterName", "prod", "ServiceName", "idle"}
	check(150, "None", CpuUtilized, cl...)
	check(1536, "None", CpuReserved, cl...)
	check(300, "Megabytes", MemoryUtilized, cl...)
	check(3072, "Megabytes", MemoryReserved, cl...)
	check(3, "Count", TaskCount, cl...)
	check(2, "Count", ServiceCount, cl...)
	check(2, "Count", ContainerInstanceCount, cl...)
	check(150, "None", CpuUtilized, web...)
	check(512, "None", CpuReserved, web...)
	check(300, "Megabytes", MemoryUtilized, web...)
	check(1024, "Megabytes", MemoryReserved, web...)
	check(2, "Count", RunningTaskCount, web...)
	check(1, "Count", PendingTaskCount, web...)
	check(3, "Count", DesiredTaskCount, web...)
	check(2, "Count", DeploymentCount, web...)
	check(0, "Count", RunningTaskCount, idle...)
	check(0, "None", CpuUtilized, idle...)
	check(1024, "None", CpuReserved, "ClusterName", "prod", "TaskDefinitionFamily", "batch")
	check(1, "Count", TaskCount, "ClusterName", "prod", "TaskDefinitionFamily", "batch")
	check(2, "Count", TaskCount, "ClusterName", "prod", "TaskDefinitionFamily", "web")
}

func TestUsagesKeepTheLatest(t *testing.T) {
	var u Usages
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rep := func(at time.Time, cpu float64, ids ...string) agentproto.MetricsReport {
		r := agentproto.MetricsReport{Cluster: "prod", InstanceID: "i-1"}
		for _, id := range ids {
			r.Tasks = append(r.Tasks, agentproto.TaskUsage{TaskID: id, Time: at.UnixMilli(), CPUUnits: cpu, MemoryMiB: 10})
		}
		return r
	}
	ctx := context.Background()
	u.RecordUsage(ctx, rep(t0, 100, "a", "b"))
	u.RecordUsage(ctx, rep(t0.Add(15*time.Second), 200, "a"))
	u.RecordUsage(ctx, rep(t0.Add(5*time.Second), 999, "a")) // late, older: ignored
	got := u.Recent(t0.Add(10 * time.Second))
	if len(got) != 1 || got["a"].CPUUnits != 200 {
		t.Errorf("recent: %+v", got)
	}
	if got := u.Recent(t0); len(got) != 1 {
		t.Errorf("b was not forgotten: %+v", got)
	}
}
