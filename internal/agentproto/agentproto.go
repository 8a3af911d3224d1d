// Package agentproto is the protocol between a host agent and the control
// plane: the agent registers its host as a container instance, long-polls
// for the tasks assigned to it, and reports what its containers do. It is
// plain JSON over HTTP(S) on the API listener, authenticated with a join
// token. Every message carries whole state, not deltas, so a lost or repeated
// message is harmless: the receiver converges on the newest state.
//
// The long poll is the agent's heartbeat. An agent reports a task when
// what it would report changes, not periodically; it sends the state of
// all its tasks again after a reconnect, when a poll answer asks for it
// (Resend), and at a slow interval, so that a report lost in between heals.
//
// The messages are the protocol's own types, not the control plane's
// records: the agent server converts between the two, so the store's layout
// can change without changing what agents send and receive. They carry
// ECS's shapes where the protocol is about ECS's things (a task
// definition, a container's network bindings), and task and container
// statuses as core.TaskStatus, which travels as its ECS name.
package agentproto

import (
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Paths on the API listener.
const (
	PathRegister = "/minato/agent/v1/register"
	PathPoll     = "/minato/agent/v1/poll"
	PathReport   = "/minato/agent/v1/report"
)

// PollTimeout is how long the control plane holds a poll open when nothing
// changes. Agents count a poll that lasts much longer as lost.
const PollTimeout = 20 * time.Second

// RegisterRequest registers (or re-registers) a host with a cluster. The
// control plane answers 404 while the cluster does not exist (or is not
// ACTIVE): the agent waits for it to be created.
type RegisterRequest struct {
	Cluster string `json:"cluster"`
	// InstanceID is empty on first registration; afterwards the agent sends
	// the ID it was given, so a restarted agent stays the same instance.
	InstanceID    string    `json:"instanceId,omitzero"`
	Hostname      string    `json:"hostname"`
	Address       string    `json:"address"`
	AgentVersion  string    `json:"agentVersion"`
	DockerVersion string    `json:"dockerVersion"`
	Resources     Resources `json:"resources"` // Ports: reserved ports
	// DynamicPorts is the host port range placement chooses the host's
	// dynamic ports from (the agent keeps it outside the kernel's
	// ephemeral port range).
	DynamicPorts [2]int               `json:"dynamicPorts"`
	Attributes   []ecstypes.Attribute `json:"attributes"`
	// Fargate offers the host's capacity to the Fargate pool: it then
	// runs the FARGATE tasks of every cluster, besides its own cluster's
	// EC2 tasks. Its assignments name each task's cluster.
	Fargate bool `json:"fargate,omitzero"`
}

// Resources is an amount of what a host offers.
type Resources struct {
	CPU       int   `json:"cpu"`       // CPU units (1024 per core)
	MemoryMiB int   `json:"memoryMiB"` // MiB
	Ports     []int `json:"ports,omitzero"`
	PortsUDP  []int `json:"portsUDP,omitzero"`
}

// RegisterResponse names the container instance.
type RegisterResponse struct {
	InstanceID  string `json:"instanceId"`
	InstanceARN string `json:"instanceArn"`
	Cluster     string `json:"cluster"`
}

// PollResponse is the whole desired state of one container instance.
type PollResponse struct {
	// Revision resumes the next poll: it returns once something changed
	// after it.
	Revision int64 `json:"revision"`
	// InstanceStatus is ACTIVE, DRAINING or INACTIVE (deregistered).
	InstanceStatus string       `json:"instanceStatus"`
	Tasks          []Assignment `json:"tasks"`
	// Resend asks the agent to report the state of all its tasks again
	// (the control plane restarted, say, and may have missed reports).
	Resend bool `json:"resend,omitzero"`
}

// Assignment is a task the agent must run or stop.
type Assignment struct {
	TaskID        string                  `json:"taskId"`
	TaskARN       string                  `json:"taskArn"`
	Cluster       string                  `json:"cluster"`
	DesiredStatus core.TaskStatus         `json:"desiredStatus"` // RUNNING or STOPPED
	Definition    ecstypes.TaskDefinition `json:"definition"`
	Overrides     *ecstypes.TaskOverride  `json:"overrides,omitzero"`
	// HostPorts are the host ports placement chose for each container's
	// port mappings, static and dynamic, in the order of
	// scheduler.MappingsOf (a containerPortRange has one per port).
	HostPorts map[string][]int `json:"hostPorts,omitzero"`
	// ContainerIDs are the container UUIDs by container name.
	ContainerIDs map[string]string `json:"containerIds"`
	// StopCode and StoppedReason say why the control plane wants it stopped.
	StopCode      ecstypes.TaskStopCode `json:"stopCode,omitzero"`
	StoppedReason string                `json:"stoppedReason,omitzero"`
	LastStatus    core.TaskStatus       `json:"lastStatus"`
}

// Report is what an agent tells about its tasks. It may repeat itself.
type Report struct {
	InstanceID string `json:"instanceId"`
	// Cluster is the instance's cluster; empty from older agents.
	Cluster string       `json:"cluster,omitzero"`
	Tasks   []TaskReport `json:"tasks"`
}

// TaskReport is the whole observed state of one task.
type TaskReport struct {
	TaskID string `json:"taskId"`
	// Cluster is the task's cluster, as its assignment named it (a task
	// of the Fargate pool belongs to another cluster than the instance);
	// empty from older agents.
	Cluster            string                `json:"cluster,omitzero"`
	LastStatus         core.TaskStatus       `json:"lastStatus"`
	HealthStatus       ecstypes.HealthStatus `json:"healthStatus,omitzero"`
	Containers         []ContainerReport     `json:"containers"`
	PullStartedAt      time.Time             `json:"pullStartedAt,omitzero"`
	PullStoppedAt      time.Time             `json:"pullStoppedAt,omitzero"`
	StartedAt          time.Time             `json:"startedAt,omitzero"`
	ExecutionStoppedAt time.Time             `json:"executionStoppedAt,omitzero"`
	// StopCode and StoppedReason, when the agent stopped the task on its
	// own (an essential container exited, the task failed to start).
	StopCode      ecstypes.TaskStopCode `json:"stopCode,omitzero"`
	StoppedReason string                `json:"stoppedReason,omitzero"`
	// PrivateIPv4 is an awsvpc task's address.
	PrivateIPv4 string `json:"privateIPv4,omitzero"`
	MACAddress  string `json:"macAddress,omitzero"`
	SubnetCIDR  string `json:"subnetCidr,omitzero"`
}

// ContainerReport is the observed state of one container.
type ContainerReport struct {
	Name            string                    `json:"name"`
	RuntimeID       string                    `json:"runtimeId,omitzero"`
	ImageDigest     string                    `json:"imageDigest,omitzero"`
	LastStatus      core.TaskStatus           `json:"lastStatus"` // PENDING, RUNNING, STOPPED
	ExitCode        *int32                    `json:"exitCode,omitzero"`
	Reason          string                    `json:"reason,omitzero"`
	HealthStatus    ecstypes.HealthStatus     `json:"healthStatus,omitzero"`
	NetworkBindings []ecstypes.NetworkBinding `json:"networkBindings,omitzero"`
}
