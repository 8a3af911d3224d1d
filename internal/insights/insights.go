// Package insights publishes ECS Container Insights' metrics
// (ECS/ContainerInsights) for the clusters whose containerInsights setting
// is enabled or enhanced: every minute, per cluster, per service and per
// task definition family, the CPU and memory the running tasks use and
// reserve, and the counts of tasks, services and instances. Nothing is
// published for a cluster with the setting disabled (the default).
//
// Samples is the pure aggregation, tested with plain values; Usages keeps
// the latest resource use the agents reported of each task; Collector
// reads the clusters, services and tasks and puts the samples into the
// metric store.
package insights

import (
	"time"

	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Namespace of Container Insights' ECS metrics.
const Namespace = "ECS/ContainerInsights"

// Enabled says whether a cluster's settings turn Container Insights on
// (containerInsights enabled or enhanced).
func Enabled(settings []ecstypes.ClusterSetting) bool {
	for _, s := range settings {
		if s.Name == ecstypes.ClusterSettingNameContainerInsights {
			return s.Value == "enabled" || s.Value == "enhanced"
		}
	}
	return false
}

// Usage is what a task used: CPU units (1,024 per core) and MiB of memory.
type Usage struct {
	CPUUnits  float64
	MemoryMiB float64
}

// Task is one task of a cluster as the metrics see it.
type Task struct {
	Service    string // "" for a task no service started
	Family     string
	LastStatus string
	// CPU and MemoryMiB are what the task reserved.
	CPU, MemoryMiB int
	// Usage is its latest reported use; nil when none is recent.
	Usage *Usage
}

// Service is one ACTIVE service.
type Service struct {
	Name        string
	Desired     int
	Deployments int
}

// Cluster is what the metrics of one cluster are computed from.
type Cluster struct {
	Name      string
	Instances int // container instances not INACTIVE
	Services  []Service
	Tasks     []Task
}

// Metric names.
const (
	CpuUtilized            = "CpuUtilized"
	CpuReserved            = "CpuReserved"
	MemoryUtilized         = "MemoryUtilized"
	MemoryReserved         = "MemoryReserved"
	TaskCount              = "TaskCount"
	ServiceCount           = "ServiceCount"
	ContainerInstanceCount = "ContainerInstanceCount"
	RunningTaskCount       = "RunningTaskCount"
	PendingTaskCount       = "PendingTaskCount"
	DesiredTaskCount       = "DesiredTaskCount"
	DeploymentCount        = "DeploymentCount"
)

// pending are the lastStatus values of a task on its way to RUNNING.
var pending = map[string]bool{"PROVISIONING": true, "PENDING": true, "ACTIVATING": true}

// resources sums running tasks' reservations and use.
type resources struct {
	cpuUsed, cpuReserved, memUsed, memReserved float64
	running, pending                           int
}

func (r *resources) add(t Task) {
	switch {
	case t.LastStatus == "RUNNING":
		r.running++
	case pending[t.LastStatus]:
		r.pending++
		return
	default:
		return
	}
	r.cpuReserved += float64(t.CPU)
	r.memReserved += float64(t.MemoryMiB)
	if t.Usage != nil {
		r.cpuUsed += t.Usage.CPUUnits
		r.memUsed += t.Usage.MemoryMiB
	}
}

// Samples returns the cluster's Container Insights metrics at at: by
// ClusterName, by ClusterName and ServiceName, and by ClusterName and
// TaskDefinitionFamily. Each is one sample of the minute's value. CPU is in
// CPU units and memory in MiB over the RUNNING tasks (a task with no recent
// use reported counts in the reserved figures only).
func Samples(c Cluster, at time.Time) []metricstore.Sample {
	var out []metricstore.Sample
	add := func(name, unit string, v float64, dims ...metricstore.Dimension) {
		out = append(out, metricstore.Sample{Metric: metricstore.Metric{Namespace: Namespace, Name: name, Dimensions: dims},
			Time: at, Stats: metricstore.Value(v), Unit: unit})
	}
	addResources := func(r *resources, dims ...metricstore.Dimension) {
		add(CpuUtilized, "None", r.cpuUsed, dims...)
		add(CpuReserved, "None", r.cpuReserved, dims...)
		add(MemoryUtilized, "Megabytes", r.memUsed, dims...)
		add(MemoryReserved, "Megabytes", r.memReserved, dims...)
	}
	cluster := metricstore.Dimension{Name: "ClusterName", Value: c.Name}
	var all resources
	byService := map[string]*resources{}
	byFamily := map[string]*resources{}
	var families []string
	for _, t := range c.Tasks {
		all.add(t)
		if t.Service != "" {
			r := byService[t.Service]
			if r == nil {
				r = &resources{}
				byService[t.Service] = r
			}
			r.add(t)
		}
		if t.Family != "" {
			r := byFamily[t.Family]
			if r == nil {
				r = &resources{}
				byFamily[t.Family] = r
				families = append(families, t.Family)
			}
			r.add(t)
		}
	}
	addResources(&all, cluster)
	add(TaskCount, "Count", float64(all.running), cluster)
	add(ServiceCount, "Count", float64(len(c.Services)), cluster)
	add(ContainerInstanceCount, "Count", float64(c.Instances), cluster)
	for _, s := range c.Services {
		r := byService[s.Name]
		if r == nil {
			r = &resources{}
		}
		dims := []metricstore.Dimension{cluster, {Name: "ServiceName", Value: s.Name}}
		addResources(r, dims...)
		add(RunningTaskCount, "Count", float64(r.running), dims...)
		add(PendingTaskCount, "Count", float64(r.pending), dims...)
		add(DesiredTaskCount, "Count", float64(s.Desired), dims...)
		add(DeploymentCount, "Count", float64(s.Deployments), dims...)
	}
	for _, f := range families {
		r := byFamily[f]
		if r.running == 0 {
			continue
		}
		dims := []metricstore.Dimension{cluster, {Name: "TaskDefinitionFamily", Value: f}}
		addResources(r, dims...)
		add(TaskCount, "Count", float64(r.running), dims...)
	}
	return out
}
