package main

import (
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
)

// Result is the JSON the simulator writes.
type Result struct {
	Scenario string            `json:"scenario"`
	Command  string            `json:"command"`
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Machine  harness.Machine   `json:"machine"`
	Options  map[string]string `json:"options"`
	// Label is -label; Revision the git revision of the working directory
	// when there is one.
	Label    string `json:"label,omitempty"`
	Revision string `json:"revision,omitempty"`
	Error    string `json:"error,omitempty"`

	Placement *PlacementResult `json:"placement,omitempty"`
	Mixed     *MixedResult     `json:"mixed,omitempty"`
	Service   *ServiceResult   `json:"service,omitempty"`
	Memory    *MemoryResult    `json:"memory,omitempty"`
	Hosts     *HostsResult     `json:"hosts,omitempty"`
	Scale     *ScaleResult     `json:"scale,omitempty"`
}

// Startup is how a simulated cluster came up.
type Startup struct {
	Hosts int `json:"hosts"`
	// CPSeconds until the API answered; FleetSeconds until every agent had
	// registered.
	CPSeconds    float64 `json:"cpSeconds"`
	FleetSeconds float64 `json:"fleetSeconds"`
	// RSS right after the fleet registered.
	CPRSSMiB    float64 `json:"cpRssMiB"`
	FleetRSSMiB float64 `json:"fleetRssMiB"`
}

// Profiles are the files of one phase's profiles and their top entries.
type Profiles struct {
	CPU      string `json:"cpu,omitempty"`
	Heap     string `json:"heap,omitempty"`
	CPUTop   string `json:"cpuTop,omitempty"`
	CPUCum   string `json:"cpuTopCum,omitempty"`
	HeapTop  string `json:"heapTop,omitempty"`
	AllocTop string `json:"allocTop,omitempty"`
	Error    string `json:"error,omitempty"`
}

// PlacementResult is scenario placement.
type PlacementResult struct {
	Startup             Startup `json:"startup"`
	Hosts               int     `json:"hosts"`
	Tasks               int     `json:"tasks"`
	Calls               int     `json:"calls"`
	Concurrency         int     `json:"concurrency"`
	ConstrainedFraction float64 `json:"constrainedFraction"`
	// Truncated: the -duration cap ended the phase before every call.
	Truncated bool `json:"truncated,omitempty"`
	// Placed tasks, Unplaced (RunTask failures[]) and failed calls.
	Placed      int `json:"placed"`
	Unplaced    int `json:"unplaced"`
	ErrorsCalls int `json:"errorCalls"`
	// Seconds from the first call to the last answer.
	Seconds          float64 `json:"seconds"`
	PlacementsPerSec float64 `json:"placementsPerSec"`
	CallsPerSec      float64 `json:"callsPerSec"`
	// Latency of RunTask calls, all and split by constraint.
	Latency            harness.Summary `json:"latency"`
	LatencyConstrained harness.Summary `json:"latencyConstrained"`
	LatencyFree        harness.Summary `json:"latencyUnconstrained"`
	// LatencyByDecile is the p50 of RunTask calls in each tenth of the
	// run: flat when placement costs the same at any cluster fill.
	LatencyByDecile []float64 `json:"p50MsByDecile"`
	// ConvergeSeconds from the first call until every placed task ran on
	// its simulated host.
	ConvergeSeconds float64 `json:"convergeSeconds"`
	Converged       bool    `json:"converged"`
	// The control plane's CPU time during the RunTask phase, and per task.
	CPCPUSeconds   float64 `json:"cpCpuSeconds"`
	CPCPUPerTaskMs float64 `json:"cpCpuPerTaskMs"`
	// CPCores is the control plane's CPU time over the wall time: how many
	// of the machine's cores it got (the fleet and the driver share them).
	CPCores float64 `json:"cpCores"`
	// PerCPCoreSecond is placements per second of control-plane CPU: the
	// rate one dedicated core would give, scheduling alone.
	PerCPCoreSecond float64          `json:"placementsPerCpCoreSecond"`
	FleetCPUSeconds float64          `json:"fleetCpuSeconds"`
	DriverCPUSecs   float64          `json:"driverCpuSeconds"`
	WallPerTaskUs   float64          `json:"wallPerTaskUs"`
	CPRSSBeforeMiB  float64          `json:"cpRssBeforeMiB"`
	CPRSSAfterMiB   float64          `json:"cpRssAfterMiB"`
	CPAnonAfterMiB  float64          `json:"cpRssAnonAfterMiB"`
	CPFileAfterMiB  float64          `json:"cpRssFileAfterMiB"`
	CPHWMMiB        float64          `json:"cpHwmMiB"`
	CPRSSPerTaskKiB float64          `json:"cpRssPerTaskKiB"`
	FleetRSSMiB     float64          `json:"fleetRssMiB"`
	FleetWarnings   map[string]int64 `json:"fleetWarnings,omitempty"`
	Profiles        Profiles         `json:"profiles"`
	Pure            *PureResult      `json:"pure,omitempty"`
}

// PureResult is the scheduler alone (scheduler.Place on an in-memory
// snapshot kept up to date with scheduler.Reserve), no API, no store.
type PureResult struct {
	Hosts            int             `json:"hosts"`
	Tasks            int             `json:"tasks"`
	Seconds          float64         `json:"seconds"`
	PlacementsPerSec float64         `json:"placementsPerSec"`
	CallLatency      harness.Summary `json:"callLatency"`
}

// MixedResult is scenario mixed.
type MixedResult struct {
	Startup Startup `json:"startup"`
	Hosts   int     `json:"hosts"`
	// Stored tasks before the mixed load.
	Stored int `json:"stored"`
	// Seeding: a service with half of the tasks, RunTask the rest.
	ServiceTasks          int             `json:"serviceTasks"`
	ServiceSteadySeconds  float64         `json:"serviceSteadySeconds"`
	SeedRunTaskSeconds    float64         `json:"seedRunTaskSeconds"`
	SeedRunTaskLatency    harness.Summary `json:"seedRunTaskLatency"`
	CPRSSStoredMiB        float64         `json:"cpRssStoredMiB"`
	CPAnonStoredMiB       float64         `json:"cpRssAnonStoredMiB"`
	CPFileStoredMiB       float64         `json:"cpRssFileStoredMiB"`
	CPHWMStoredMiB        float64         `json:"cpHwmStoredMiB"`
	CPRSSEmptyMiB         float64         `json:"cpRssEmptyMiB"`
	CPRSSPerStoredTaskKiB float64         `json:"cpRssPerStoredTaskKiB"`
	// The mixed load: offered rate, length, latency per operation.
	Rate            float64                    `json:"rate"`
	Seconds         float64                    `json:"seconds"`
	Ops             map[string]harness.Summary `json:"ops"`
	Late            int                        `json:"late"`
	CPCPUSeconds    float64                    `json:"cpCpuSeconds"`
	CPCPUPerReqMs   float64                    `json:"cpCpuPerRequestMs"`
	CPUtilization   float64                    `json:"cpCpuUtilization"`
	MixedProfiles   Profiles                   `json:"mixedProfiles"`
	Ramp            []RampStep                 `json:"ramp,omitempty"`
	MaxSustainedRPS float64                    `json:"maxSustainedRunTaskPerSec"`
	RampCount       int                        `json:"rampTasksPerCall"`
	RampProfiles    Profiles                   `json:"rampProfiles"`
	FleetWarnings   map[string]int64           `json:"fleetWarnings,omitempty"`
}

// RampStep is one offered RunTask rate of the ramp.
type RampStep struct {
	Offered   float64         `json:"offeredPerSec"`
	Sent      int             `json:"sent"`
	Achieved  float64         `json:"achievedPerSec"`
	Latency   harness.Summary `json:"latency"`
	Dropped   int             `json:"dropped"`
	Throttled int             `json:"throttled"` // answered ThrottlingException (shed)
	Stored    int             `json:"storedBefore"`
	Sustained bool            `json:"sustained"`
	Why       string          `json:"why,omitempty"`
}

// ServiceResult is scenario service.
type ServiceResult struct {
	Startup        Startup          `json:"startup"`
	Services       int              `json:"services"`
	Tasks          int              `json:"tasks"`
	SteadySeconds  float64          `json:"steadySeconds"`
	TasksPerSec    float64          `json:"tasksPerSec"`
	RunningSeconds float64          `json:"runningSeconds"`
	CPCPUSeconds   float64          `json:"cpCpuSeconds"`
	CPRSSMiB       float64          `json:"cpRssMiB"`
	Profiles       Profiles         `json:"profiles"`
	FleetWarnings  map[string]int64 `json:"fleetWarnings,omitempty"`
}

// MemoryResult is scenario memory.
type MemoryResult struct {
	// One agent in a process of its own on a fake runtime.
	AgentIdleRSSMiB     float64 `json:"agentIdleRssMiB"`
	AgentTasks          int     `json:"agentTasks"`
	AgentWithTasksMiB   float64 `json:"agentWithTasksRssMiB"`
	AgentWithTasksHWM   float64 `json:"agentWithTasksHwmMiB"`
	AgentIdleGoroutines int     `json:"agentIdleGoroutines"`
	AgentTaskGoroutines int     `json:"agentTasksGoroutines"`
	// The control plane with Tasks stored, on Hosts hosts.
	Hosts         int     `json:"hosts"`
	Tasks         int     `json:"tasks"`
	CPEmptyRSSMiB float64 `json:"cpRssNoTasksMiB"`
	CPRSSMiB      float64 `json:"cpRssMiB"`
	CPHWMMiB      float64 `json:"cpHwmMiB"`
	CPAnonMiB     float64 `json:"cpRssAnonMiB"`
	CPFileMiB     float64 `json:"cpRssFileMiB"`
	AgentIdleAnon float64 `json:"agentIdleRssAnonMiB"`
	AgentTaskAnon float64 `json:"agentWithTasksRssAnonMiB"`
	CPPerTaskKiB  float64 `json:"cpRssPerTaskKiB"`
	// CPIdleCPUPercent is the control plane's CPU use with the tasks
	// running and no API calls: what agents' reports and polls cost.
	CPIdleCPUPercent    float64  `json:"cpIdleCpuPercent"`
	FleetIdleCPUPercent float64  `json:"fleetIdleCpuPercent"`
	Profiles            Profiles `json:"profiles"`
}

// HostsResult is scenario hosts.
type HostsResult struct {
	Startup       Startup          `json:"startup"`
	IdleSeconds   float64          `json:"idleSeconds"`
	CPCPUPercent  float64          `json:"cpCpuPercent"`
	FlCPUPercent  float64          `json:"fleetCpuPercent"`
	CPRSSMiB      float64          `json:"cpRssMiB"`
	FleetRSSMiB   float64          `json:"fleetRssMiB"`
	FleetPerHost  float64          `json:"fleetRssPerHostKiB"`
	Goroutines    int              `json:"fleetGoroutines"`
	Profiles      Profiles         `json:"profiles"`
	FleetWarnings map[string]int64 `json:"fleetWarnings,omitempty"`
}

// ScaleResult is scenario scale: the same runs at several sizes.
type ScaleResult struct {
	Placement []ScalePlacementRow `json:"placement"`
	Mixed     []ScaleMixedRow     `json:"mixed"`
}

// ScalePlacementRow is placement at one size.
type ScalePlacementRow struct {
	Size             float64 `json:"size"`
	Hosts            int     `json:"hosts"`
	Tasks            int     `json:"tasks"`
	PlacementsPerSec float64 `json:"placementsPerSec"`
	P50Ms            float64 `json:"p50Ms"`
	P99Ms            float64 `json:"p99Ms"`
	WallPerTaskUs    float64 `json:"wallPerTaskUs"`
	CPUPerTaskMs     float64 `json:"cpCpuPerTaskMs"`
	RSSPerTaskKiB    float64 `json:"cpRssPerTaskKiB"`
	PurePerSec       float64 `json:"purePlacementsPerSec"`
	Truncated        bool    `json:"truncated,omitempty"`
}

// ScaleMixedRow is mixed at one size.
type ScaleMixedRow struct {
	Size          float64            `json:"size"`
	Hosts         int                `json:"hosts"`
	Stored        int                `json:"stored"`
	P50Ms         map[string]float64 `json:"p50Ms"`
	P99Ms         map[string]float64 `json:"p99Ms"`
	CPUPerReqMs   float64            `json:"cpCpuPerRequestMs"`
	RSSPerTaskKiB float64            `json:"cpRssPerStoredTaskKiB"`
	ServiceSteady float64            `json:"serviceSteadySeconds"`
}
