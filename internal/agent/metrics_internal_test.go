package agent

import (
	"testing"
	"time"

	rt "github.com/minato-project/minato/internal/runtime"
)

func TestTaskUsage(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(10 * time.Second)
	read := func(task, ctr string, cpu uint64, memMiB uint64, at time.Time) containerReading {
		return containerReading{TaskID: task, ContainerID: ctr, Stats: rt.ContainerStats{CPUNanos: cpu, MemoryBytes: memMiB << 20, Read: at}}
	}
	// First round: nothing known yet.
	usage, prev := taskUsage(nil, []containerReading{read("a", "a1", 1e9, 10, t0), read("a", "a2", 0, 5, t0)})
	if len(usage) != 0 || len(prev) != 2 {
		t.Fatalf("first round: %+v, %d kept", usage, len(prev))
	}
	// Ten seconds later a1 used 5 s of CPU (half a core), a2 10 s (one
	// core); task b is new, and a3 restarted with a lower counter.
	usage, _ = taskUsage(prev, []containerReading{
		read("a", "a1", 6e9, 20, t1), read("a", "a2", 10e9, 30, t1), read("b", "b1", 3e9, 7, t1),
	})
	if len(usage) != 1 {
		t.Fatalf("second round: %+v", usage)
	}
	u := usage[0]
	if u.TaskID != "a" || u.CPUUnits != 1.5*1024 || u.MemoryMiB != 50 || u.Time != t1.UnixMilli() {
		t.Errorf("task a: %+v", u)
	}
	usage, _ = taskUsage(map[string]rt.ContainerStats{"a1": {CPUNanos: 9e9, Read: t0}}, []containerReading{read("a", "a1", 1e9, 1, t1)})
	if len(usage) != 0 {
		t.Errorf("a restarted container's counter gave %+v", usage)
	}
}
