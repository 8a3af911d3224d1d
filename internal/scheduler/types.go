package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Failure reasons, as Amazon ECS writes them in RunTask's failures and in
// service events.
const (
	ReasonAgent            = "AGENT"
	ReasonAttribute        = "ATTRIBUTE"
	ReasonCPU              = "RESOURCE:CPU"
	ReasonMemory           = "RESOURCE:MEMORY"
	ReasonPorts            = "RESOURCE:PORTS"
	ReasonPortsUDP         = "RESOURCE:PORTS_UDP"
	ReasonDistinctInstance = "DistinctInstance placement constraint unsatisfied."
	ReasonMemberOf         = "MemberOf placement constraint unsatisfied."

	// NoInstancesMessage is the InvalidParameterException message of
	// RunTask on a cluster without ACTIVE container instances.
	NoInstancesMessage = "No Container Instances were found in your cluster."
)

// Container instance statuses (ContainerInstance.status).
const (
	StatusActive   = "ACTIVE"
	StatusDraining = "DRAINING"
)

// Attribute names placement reads.
const (
	AttrAvailabilityZone = "ecs.availability-zone"
	AttrInstanceType     = "ecs.instance-type"
	AttrOSType           = "ecs.os-type"
	AttrCPUArchitecture  = "ecs.cpu-architecture"
)

// Instance is a snapshot of one container instance.
type Instance struct {
	ID             string // container instance ID (the last part of its ARN)
	ARN            string // reported in failures; ID when empty
	EC2InstanceID  string
	Status         string // ACTIVE, DRAINING, REGISTERING, ...; only ACTIVE receives tasks
	AgentConnected bool
	AgentVersion   string
	// Attributes by name (ecs.availability-zone, ecs.os-type,
	// ecs.cpu-architecture, capabilities, custom ones); attributes without
	// a value map to "".
	Attributes map[string]string
	CPU        int   // remaining CPU units
	Memory     int   // remaining memory, MiB
	UsedTCP    []int // host TCP ports reserved by the agent or held by tasks
	UsedUDP    []int // host UDP ports, likewise
	// DynamicPorts is where dynamic host ports come from; the zero value
	// means DefaultDynamicPorts.
	DynamicPorts PortRange
	// Tasks are the tasks holding resources on the instance (every task
	// not yet STOPPED). Their groups drive spread, distinctInstance and
	// task:group.
	Tasks []Task
	// GroupCounts, when not nil, counts Tasks by group: what placement
	// reads instead of scanning Tasks. Whoever sets it keeps it equal to
	// Tasks (Reserve and Release do); nil means "count Tasks".
	GroupCounts map[string]int
	// RunningTasksCount is ECS's runningTasksCount, for cluster queries.
	// Placement does not change it: a placed task is PENDING.
	RunningTasksCount int
	RegisteredAt      time.Time
	// Fargate says the instance offers Fargate capacity: it is a host of
	// the pool that runs every cluster's FARGATE tasks (FargatePool).
	Fargate bool
}

// Task is what placement needs to know of a task on an instance.
type Task struct {
	Group  string // "service:NAME", "family:NAME" or a RunTask group
	Family string
}

// PortRange is an inclusive range of host ports.
type PortRange struct{ From, To int }

func (r PortRange) orDefault() PortRange {
	if r.From <= 0 || r.To < r.From {
		return DefaultDynamicPorts
	}
	return r
}

// PortMapping is one host port a task needs. In a Request a HostPort of 0
// asks for a dynamic port; in a Placement every HostPort is set.
type PortMapping struct {
	Container     string // container name
	ContainerPort int
	HostPort      int
	Protocol      ecstypes.TransportProtocol // "" means tcp
}

func (m PortMapping) udp() bool { return m.Protocol == ecstypes.TransportProtocolUdp }

// Request is what one task needs of an instance. RequestFor computes it
// from a task definition and overrides.
type Request struct {
	CPU    int // CPU units to reserve
	Memory int // MiB to reserve
	// Ports are the host ports to reserve: bridge mappings (HostPort 0 for
	// a dynamic port) and host-mode mappings (HostPort = ContainerPort).
	// awsvpc tasks have their own network namespace and need none.
	Ports       []PortMapping
	NetworkMode ecstypes.NetworkMode
	// RequiredAttributes must all be present on the instance, with the
	// given value when Value is set (requiresAttributes).
	RequiredAttributes []ecstypes.Attribute
	Group              string // task group; spread and distinctInstance count it
	Family             string
	// LaunchType FARGATE places the task on the Fargate pool (FargatePool
	// of the instances given), ignoring strategies and constraints and
	// spreading by zone, then host; the others place as given. The caller
	// sets CPU to what the pool accounts (FargateCPU) and Group to the
	// pool's group (PoolGroup).
	LaunchType ecstypes.LaunchType
}

// Placement is one task placed: where, with which host ports, and what it
// holds there. Reserve applies it to an Instance, Release gives it back.
type Placement struct {
	InstanceID  string
	InstanceARN string
	// Ports are the request's port mappings with every host port chosen.
	Ports []PortMapping
	CPU   int
	// Memory is in MiB.
	Memory int
	// TCPPorts and UDPPorts are the host ports held, sorted.
	TCPPorts, UDPPorts []int
	Group, Family      string
}

// Result is what Place proposes.
type Result struct {
	// Placements are the tasks placed, in order.
	Placements []Placement
	// Unplaced is how many of the requested copies were not placed.
	Unplaced int
	// Failures explain the first copy that could not be placed: one per
	// ACTIVE instance, with its ARN and the first check it failed.
	Failures []ecstypes.Failure
	// NoInstances is set when the cluster has no ACTIVE container instance
	// (never for FARGATE: the pool has capacity or it has not).
	NoInstances bool
	// Fargate is set when a FARGATE request could not be placed: Failures
	// then hold one capacity shortage (ReasonCapacity), not one failure per
	// instance.
	Fargate bool
	// Err is set, and nothing placed, when a strategy or constraint is
	// invalid. ValidatePlacement reports the same error up front.
	Err error

	closest   int    // 1 + the index in Failures of the closest match; 0 for none
	closestID string // its instance ID
}

// Closest returns the failure of the instance that came closest to taking
// the task (it passed the most checks): the "closest matching
// container-instance" of ECS's service events.
func (r Result) Closest() (id string, f ecstypes.Failure, ok bool) {
	if r.closest < 1 || r.closest > len(r.Failures) {
		return "", ecstypes.Failure{}, false
	}
	return r.closestID, r.Failures[r.closest-1], true
}

// EventMessage is the service event ECS records when a service task cannot
// be placed, or "" when everything was placed. service is the service name.
func (r Result) EventMessage(service string) string {
	const head = "service %s was unable to place a task because no container instance met all of its requirements."
	const tail = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	if r.Unplaced == 0 || r.Err != nil {
		return ""
	}
	if r.Fargate {
		return fmt.Sprintf("(service %s) was unable to place a task. Reason: %s.", service, ReasonCapacity)
	}
	msg := fmt.Sprintf(head, service)
	id, f, ok := r.Closest()
	switch {
	case r.NoInstances || !ok:
		msg += " Reason: " + NoInstancesMessage
	default:
		msg += " The closest matching container-instance " + id
		if i := slices.IndexFunc(closestSentences, func(c closestSentence) bool { return slices.Contains(c.reasons, f.Reason) }); i >= 0 {
			msg += closestSentences[i].text
		} else {
			msg += fmt.Sprintf(" encountered error %q.", f.Reason)
		}
	}
	return msg + tail
}

// closestSentences say why the closest instance could not take a task, in
// ECS's words, for the failure reasons that have them.
var closestSentences = []closestSentence{
	{[]string{ReasonCPU}, " has insufficient CPU units available."},
	{[]string{ReasonMemory}, " has insufficient memory available."},
	{[]string{ReasonPorts, ReasonPortsUDP}, " is already using a port required by your task."},
	{[]string{ReasonAttribute}, " is missing an attribute required by your task."},
}

type closestSentence struct {
	reasons []string
	text    string
}

// EventReasons reads back the failure reason of an EventMessage, in
// RunTask's failure reason form, as ECS's SERVICE_TASK_PLACEMENT_FAILURE
// event lists it ("RESOURCE:FARGATE" when the Fargate pool is full); none
// for a message that names no instance.
func EventReasons(msg string) []string {
	if strings.Contains(msg, "Reason: "+ReasonCapacity) {
		return []string{"RESOURCE:FARGATE"}
	}
	for _, c := range closestSentences {
		if strings.Contains(msg, c.text) {
			return []string{c.reasons[0]}
		}
	}
	return []string{}
}
