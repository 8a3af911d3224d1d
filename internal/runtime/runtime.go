// Package runtime is the host agent's view of a container engine: create,
// start, stop and inspect the containers of ECS tasks. runtime/docker talks
// to Docker Engine; runtime/fake is an in-memory engine for tests and the
// scale simulator. Both pass the conformance suite in runtime/runtimetest.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Labels minato puts on every container it creates. A restarted agent finds
// its containers by them, so nothing is started twice or orphaned.
const (
	LabelManaged   = "minato.managed"            // "true"
	LabelCluster   = "minato.cluster"            // cluster name
	LabelInstance  = "minato.container-instance" // container instance ID
	LabelTask      = "minato.task"               // task ID
	LabelContainer = "minato.container"          // container name in the task definition
	LabelPause     = "minato.pause"              // "true" on an awsvpc task's network container
)

// Errors every Runtime returns, tested with errors.Is.
var (
	ErrNotFound      = errors.New("runtime: no such container")
	ErrImageNotFound = errors.New("runtime: image not found") // neither local nor pullable
	// ErrPortInUse: a container did not start because a host port it
	// binds is taken on the host (by another program, or by a container
	// the engine started). StartContainer returns a *PortInUseError.
	ErrPortInUse = errors.New("runtime: host port already in use")
)

// PortInUseError is StartContainer's error when a host port is taken. It
// matches ErrPortInUse.
type PortInUseError struct {
	HostPort int    // the port taken; 0 when the engine did not say
	Protocol string // "tcp" or "udp"; "" when the engine did not say
	Err      error  // the engine's error
}

func (e *PortInUseError) Error() string { return e.Err.Error() }
func (e *PortInUseError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPortInUse) hold.
func (e *PortInUseError) Is(target error) bool { return target == ErrPortInUse }

// Runtime runs containers. Methods are safe for concurrent use.
type Runtime interface {
	// Info describes the host.
	Info(ctx context.Context) (HostInfo, error)
	// EnsureImage makes image available locally: a local image is used as
	// is, anything else is pulled. The error wraps ErrImageNotFound when the
	// image cannot be had; its text is what ECS shows after
	// "CannotPullContainerError: ".
	EnsureImage(ctx context.Context, image string, auth *RegistryAuth) error
	// CreateTaskNetwork makes the network namespace an awsvpc task's
	// containers share (a pause container on minato's task network) and
	// returns its address.
	CreateTaskNetwork(ctx context.Context, spec TaskNetworkSpec) (TaskNetwork, error)
	// CreateContainer creates (does not start) a container and returns its ID.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	// StartContainer starts a created container. A host port it binds
	// that is taken fails it with a *PortInUseError; the container is
	// left created, not started.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM (or the image's stop signal) and SIGKILL
	// after timeout. Stopping a stopped container is not an error.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer removes a container and its anonymous volumes, forcing
	// it to stop. Removing a missing container is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// Inspect returns a container's state, or ErrNotFound.
	Inspect(ctx context.Context, id string) (ContainerState, error)
	// List returns the containers that carry every given label.
	List(ctx context.Context, labels map[string]string) ([]ContainerState, error)
	// Events streams container events for minato-managed containers until
	// ctx ends. After an error the caller re-lists and subscribes again.
	Events(ctx context.Context) (<-chan Event, <-chan error)
	// RemoveImage removes an image that no container uses.
	RemoveImage(ctx context.Context, image string) error
	// ListImages returns the images this runtime pulled (since it started):
	// the only ones the agent's image cleanup may remove.
	ListImages(ctx context.Context) ([]Image, error)
}

// HostInfo describes the machine the runtime runs on.
type HostInfo struct {
	CPUs      int    // logical CPUs
	MemoryMiB int64  // total memory
	OS        string // "linux"
	Arch      string // "x86_64", "arm64"
	Version   string // engine version
}

// RegistryAuth is a username/password for a private registry.
type RegistryAuth struct {
	Username, Password string
	// Refresh asks EnsureImage to pull even an image that is local, and to
	// use the local one only when the pull fails (ECS's default pull
	// behaviour). The agent sets it for images of minato's own registry,
	// whose tags move with every push.
	Refresh bool
}

// TaskNetworkSpec describes the network namespace of an awsvpc task.
type TaskNetworkSpec struct {
	Name     string            // container name for the pause container
	Labels   map[string]string // minato labels, LabelPause among them
	Hostname string
}

// TaskNetwork is an awsvpc task's network namespace.
type TaskNetwork struct {
	ContainerID string // the pause container that owns the namespace
	IPv4        string // the task's address
	MAC         string
	SubnetCIDR  string // e.g. "172.30.0.0/16"
	Gateway     string
}

// PortBinding maps a container port to a host port.
type PortBinding struct {
	ContainerPort int
	HostPort      int    // 0 in a spec: let the engine pick
	Protocol      string // "tcp" or "udp"
	HostIP        string // in states: the address bound, e.g. "0.0.0.0"
}

// ContainerSpec is everything needed to create one container of a task.
type ContainerSpec struct {
	Name   string            // engine container name, unique on the host
	Labels map[string]string // minato labels; dockerLabels of Def are added
	// Def is the container definition with ECS's defaults applied. The
	// runtime maps its fields (command, entryPoint, environment, ulimits,
	// linuxParameters, healthCheck, mountPoints, ...) to the engine.
	Def ecstypes.ContainerDefinition
	// NetworkMode is the task's network mode ("" means bridge).
	NetworkMode ecstypes.NetworkMode
	// NetworkContainerID is, for awsvpc, the pause container to join.
	NetworkContainerID string
	// PortBindings are the host ports chosen for Def.PortMappings in bridge
	// mode. Ignored in host and awsvpc modes, where ports are not mapped.
	PortBindings []PortBinding
	// Volumes are the task definition's volumes, for Def.MountPoints.
	Volumes []ecstypes.Volume
	// VolumesFrom maps a source container name of Def.VolumesFrom to its
	// engine container ID.
	VolumesFrom map[string]string
	// ExtraEnv is added to Def.Environment (secrets, metadata variables).
	ExtraEnv []ecstypes.KeyValuePair
	// LogDriver overrides Def.LogConfiguration when set: the agent collects
	// awslogs itself and asks the engine for a driver it can read.
	LogDriver *ecstypes.LogConfiguration
	// TaskCPU and TaskMemoryMiB bound the whole task when the task
	// definition sets them (0: no task-level limit).
	TaskCPU, TaskMemoryMiB int
}

// Health is a container's health as ECS reports it.
type Health string

const (
	HealthUnknown   Health = "UNKNOWN"
	HealthHealthy   Health = "HEALTHY"
	HealthUnhealthy Health = "UNHEALTHY"
)

// ContainerState is what the engine says about a container.
type ContainerState struct {
	ID         string
	Name       string
	Image      string
	ImageID    string // content digest of the image
	Labels     map[string]string
	Created    bool // exists but has never started
	Running    bool
	ExitCode   *int // set once it has exited
	OOMKilled  bool
	Error      string // engine error, e.g. a failed start
	StartedAt  time.Time
	FinishedAt time.Time
	Health     Health
	Ports      []PortBinding // bound host ports (bridge mode)
	IPv4       string        // address on its network, if any
}

// EventType says what happened to a container.
type EventType string

const (
	EventStart  EventType = "start"
	EventDie    EventType = "die"
	EventHealth EventType = "health"
	EventOOM    EventType = "oom"
	EventRemove EventType = "destroy"
)

// Event is one change to a minato-managed container.
type Event struct {
	Type        EventType
	ContainerID string
	Labels      map[string]string
	Time        time.Time
}

// Image is a local image.
type Image struct {
	ID       string
	Tags     []string
	Created  time.Time
	InUse    bool // some container uses it
	SizeByte int64
}

// Execer runs a command in a running container with a TTY (ECS Exec). A
// Runtime that can is also an Execer.
type Execer interface {
	Exec(ctx context.Context, id string, spec ExecSpec) (Exec, error)
}

// ExecSpec is a command to run in a container.
type ExecSpec struct {
	Cmd        []string
	Cols, Rows uint // the terminal's first size; 0: the engine's default
}

// Exec is a running command: reading gives its terminal's output, writing
// types into it. Read returns io.EOF once the command exited.
type Exec interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Resize(ctx context.Context, cols, rows uint) error
	// Wait returns the command's exit code once it has exited.
	Wait(ctx context.Context) (int, error)
	Close() error
}

// EndpointAddress is where containers reach the task endpoints (the task
// metadata endpoint, the credentials endpoint), as on ECS.
const EndpointAddress = "169.254.170.2"

// Endpoints is a Runtime that can carry the task endpoints to containers
// and report containers' stats.
type Endpoints interface {
	// EnsureEndpointNetwork makes EndpointAddress an address of this host
	// that every container created from then on reaches; it returns it.
	EnsureEndpointNetwork(ctx context.Context) (string, error)
	// Stats returns a container's stats in Docker's stats JSON.
	Stats(ctx context.Context, id string) (json.RawMessage, error)
}
