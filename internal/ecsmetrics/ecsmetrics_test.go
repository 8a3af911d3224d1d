package ecsmetrics

import (
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/state"
)

func TestSamples(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tasks := map[string]state.Task{
		"web1": {ID: "web1", Cluster: "c", ServiceName: "web", Holds: state.Resources{CPU: 256, MemoryMiB: 512}},
		"solo": {ID: "solo", Cluster: "c"}, // run-task, nothing reserved
	}
	got := Samples(tasks, []agentproto.TaskUsage{
		{TaskID: "web1", Time: at.UnixMilli(), CPUUnits: 128, MemoryMiB: 128},
		{TaskID: "solo", Time: at.UnixMilli(), CPUUnits: 2048, MemoryMiB: 1},
		{TaskID: "gone", Time: at.UnixMilli(), CPUUnits: 1},
	})
	type key struct{ metric, dims string }
	want := map[key]float64{
		{CPUUtilization, "c/web"}:    50,
		{CPUUtilization, "c"}:        50,
		{MemoryUtilization, "c/web"}: 25,
		{MemoryUtilization, "c"}:     25,
	}
	seen := map[key][]float64{}
	for _, s := range got {
		d := ""
		for _, dim := range s.Metric.Dimensions {
			if d != "" {
				d += "/"
			}
			d += dim.Value
		}
		if s.Metric.Namespace != Namespace || s.Unit != "Percent" || !s.Time.Equal(at) {
			t.Errorf("sample %+v", s)
		}
		seen[key{s.Metric.Name, d}] = append(seen[key{s.Metric.Name, d}], s.Stats.Sum)
	}
	for k, v := range want {
		if len(seen[k]) == 0 || seen[k][0] != v {
			t.Errorf("%v = %v, want %v first", k, seen[k], v)
		}
	}
	// The task that reserved nothing: CPU against one vCPU, no memory metric.
	if c := seen[key{CPUUtilization, "c"}]; len(c) != 2 || c[1] != 200 {
		t.Errorf("cluster CPU samples %v", c)
	}
	if m := seen[key{MemoryUtilization, "c"}]; len(m) != 1 {
		t.Errorf("cluster memory samples %v", m)
	}
}
