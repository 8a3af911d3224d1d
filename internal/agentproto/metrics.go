package agentproto

// PathMetrics is where an agent reports the resource use of its running
// tasks, every metrics interval. The control plane turns the reports into
// the AWS/ECS CPUUtilization and MemoryUtilization metrics. Answers 204-like
// 200 with no body; a report the control plane cannot use is dropped, not
// retried: the next one follows in an interval.
const PathMetrics = "/minato/agent/v1/metrics"

// MetricsReport is one sampling of an instance's running tasks.
type MetricsReport struct {
	Cluster    string      `json:"cluster"`
	InstanceID string      `json:"instanceId"`
	Tasks      []TaskUsage `json:"tasks"`
}

// TaskUsage is a task's resource use over the last interval.
type TaskUsage struct {
	TaskID string `json:"taskId"`
	// Time is the end of the interval, Unix milliseconds.
	Time int64 `json:"time"`
	// CPUUnits is the task's average CPU use over the interval, in CPU
	// units (1024 per core), summed over its containers.
	CPUUnits float64 `json:"cpuUnits"`
	// MemoryMiB is the memory its containers use at Time.
	MemoryMiB float64 `json:"memoryMiB"`
}
