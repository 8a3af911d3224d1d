package insights

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// TestCollectOnlyEnabledClusters: the collector reads clusters, services
// and tasks from the store and the view, and publishes for the clusters
// with containerInsights on, nothing for the others.
func TestCollectOnlyEnabledClusters(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	view := clusterview.New(st, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { view.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	put := func(key string, v any) {
		b, err := state.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := view.Store().Txn(ctx, nil, []store.Op{store.Put(key, b)}); err != nil {
			t.Fatal(err)
		}
	}
	setting := func(v string) []ecstypes.ClusterSetting {
		return []ecstypes.ClusterSetting{{Name: "containerInsights", Value: v}}
	}
	put(state.ClusterKey("on"), ecstypes.Cluster{ClusterName: "on", Status: "ACTIVE", Settings: setting("enabled")})
	put(state.ClusterKey("off"), ecstypes.Cluster{ClusterName: "off", Status: "ACTIVE", Settings: setting("disabled")})
	put(state.ClusterKey("plain"), ecstypes.Cluster{ClusterName: "plain", Status: "ACTIVE"})
	for _, c := range []string{"on", "off", "plain"} {
		put(state.ServiceKey(c, "web"), state.Service{Cluster: c, Service: ecstypes.Service{ServiceName: "web", Status: "ACTIVE", DesiredCount: 2,
			Deployments: []ecstypes.Deployment{{Id: "d1"}}}})
		put(state.TaskKey(c, c+"-t1"), state.Task{ID: c + "-t1", Cluster: c, InstanceID: "i1", Family: "web", Revision: 1, ServiceName: "web",
			Holds: state.Resources{CPU: 256, MemoryMiB: 128}, Task: ecstypes.Task{LastStatus: "RUNNING", DesiredStatus: "RUNNING"}})
	}
	if err := view.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u := &Usages{}
	u.RecordUsage(ctx, agentproto.MetricsReport{Cluster: "on", InstanceID: "i1", Tasks: []agentproto.TaskUsage{
		{TaskID: "on-t1", Time: now.UnixMilli(), CPUUnits: 64, MemoryMiB: 32}}})
	c := &Collector{Store: view.Store(), View: view, Usages: u}
	ss, err := c.Collect(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) == 0 {
		t.Fatal("nothing collected for the enabled cluster")
	}
	for _, s := range ss {
		if s.Metric.Dimensions[0].Value != "on" {
			t.Errorf("a sample of a cluster without Container Insights: %+v", s)
		}
	}
	check := func(want float64, name string, dims ...string) {
		t.Helper()
		if v, _ := value(t, ss, name, dims...); v != want {
			t.Errorf("%s %v = %v, want %v", name, dims, v, want)
		}
	}
	web := []string{"ClusterName", "on", "ServiceName", "web"}
	check(64, CpuUtilized, web...)
	check(256, CpuReserved, web...)
	check(1, RunningTaskCount, web...)
	check(2, DesiredTaskCount, web...)
	check(1, DeploymentCount, web...)
	check(1, ServiceCount, "ClusterName", "on")
}
