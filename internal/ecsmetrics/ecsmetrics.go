// Package ecsmetrics turns what agents report of their tasks' resource use
// into the AWS/ECS metrics: CPUUtilization and MemoryUtilization by
// ClusterName+ServiceName and by ClusterName.
//
// As ECS computes them, utilization is relative to what the task reserved:
// CPU units used over the task's reserved CPU units (its task-level cpu, or
// the sum of its containers' cpu), memory used over its reserved memory,
// times 100. Each task's utilization is one sample of its service's metric
// and of its cluster's, so Average is the tasks' average, Maximum the
// busiest task and SampleCount the number of task readings.
package ecsmetrics

import (
	"context"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/state"
)

// Namespace and metric names of ECS's service metrics.
const (
	Namespace         = "AWS/ECS"
	CPUUtilization    = "CPUUtilization"
	MemoryUtilization = "MemoryUtilization"
)

// UnreservedCPU is the CPU units a task that reserved none is measured
// against: one vCPU.
const UnreservedCPU = 1024

// Samples returns the metric samples of usage; tasks are the reporting
// instance's tasks by ID. Usage of a task that is not there (it was
// stopped and forgotten meanwhile) is dropped.
func Samples(tasks map[string]state.Task, usage []agentproto.TaskUsage) []metricstore.Sample {
	var out []metricstore.Sample
	for _, u := range usage {
		t, ok := tasks[u.TaskID]
		if !ok || u.Time <= 0 {
			continue
		}
		at := time.UnixMilli(u.Time).UTC()
		cpu := float64(t.Holds.CPU)
		if cpu <= 0 {
			cpu = UnreservedCPU
		}
		add := func(name string, v float64) {
			cluster := metricstore.Dimension{Name: "ClusterName", Value: t.Cluster}
			out = append(out, metricstore.Sample{Metric: metricstore.Metric{Namespace: Namespace, Name: name,
				Dimensions: []metricstore.Dimension{cluster}}, Time: at, Stats: metricstore.Value(v), Unit: "Percent"})
			if t.ServiceName != "" {
				out = append(out, metricstore.Sample{Metric: metricstore.Metric{Namespace: Namespace, Name: name,
					Dimensions: []metricstore.Dimension{cluster, {Name: "ServiceName", Value: t.ServiceName}}}, Time: at, Stats: metricstore.Value(v), Unit: "Percent"})
			}
		}
		add(CPUUtilization, 100*max(0, u.CPUUnits)/cpu)
		if t.Holds.MemoryMiB > 0 {
			add(MemoryUtilization, 100*max(0, u.MemoryMiB)/float64(t.Holds.MemoryMiB))
		}
	}
	return out
}

// Tasks looks up the tasks on an instance. *clusterview.View implements
// it.
type Tasks interface {
	TasksOn(cluster, instanceID string) []state.Task
}

// Putter stores samples. *metricstore.Store implements it.
type Putter interface {
	Put(samples []metricstore.Sample) error
}

// Recorder records agents' reports as metrics.
type Recorder struct {
	Tasks   Tasks
	Metrics Putter
}

// RecordUsage stores the metrics of one agent report, durably.
func (r *Recorder) RecordUsage(ctx context.Context, rep agentproto.MetricsReport) error {
	byID := map[string]state.Task{}
	for _, t := range r.Tasks.TasksOn(rep.Cluster, rep.InstanceID) {
		byID[t.ID] = t
	}
	samples := Samples(byID, rep.Tasks)
	if len(samples) == 0 {
		return nil
	}
	return r.Metrics.Put(samples)
}
