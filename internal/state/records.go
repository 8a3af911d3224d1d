package state

import (
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Record keys of the task machinery.

// ContainerInstanceKey is where container instance id of cluster is kept.
func ContainerInstanceKey(cluster, id string) string { return ContainerInstancesPrefix(cluster) + id }

// TaskKey is where task id of cluster is kept.
func TaskKey(cluster, id string) string { return TasksPrefix(cluster) + id }

// InstanceTasksPrefix is the index of the tasks assigned to a container
// instance that the agent still has to act on. The agent watches it.
func InstanceTasksPrefix(instanceID string) string { return "ecs/instance-tasks/" + instanceID + "/" }

// InstanceTaskKey is the index entry of task on instance.
func InstanceTaskKey(instanceID, taskID string) string {
	return InstanceTasksPrefix(instanceID) + taskID
}

// Resources is an amount of what a container instance offers.
type Resources struct {
	CPU       int   `json:"cpu"`       // CPU units (1024 per core)
	MemoryMiB int   `json:"memoryMiB"` // MiB
	Ports     []int `json:"ports,omitzero"`
	PortsUDP  []int `json:"portsUDP,omitzero"`
}

// Statuses of a ContainerInstance: ECS's, and INACTIVE for one
// deregistered (REGISTERING, DEREGISTERING and REGISTRATION_FAILED belong
// to ECS's awsvpc trunking, which minato has not).
const (
	InstanceActive   = "ACTIVE"
	InstanceDraining = "DRAINING"
	InstanceInactive = "INACTIVE"
)

// Statuses of a Service: DRAINING once deleted, INACTIVE once its tasks
// are gone.
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"
)

// ContainerInstance is a host whose agent registered with a cluster.
// ARNs are not stored; they depend on the caller's region.
type ContainerInstance struct {
	ID            string `json:"id"`
	Cluster       string `json:"cluster"`
	EC2InstanceID string `json:"ec2InstanceId"`
	Status        string `json:"status"` // ACTIVE, DRAINING, INACTIVE
	StatusReason  string `json:"statusReason,omitzero"`
	Hostname      string `json:"hostname,omitzero"`
	// Address is where targets on this host are reached (bridge and host
	// network modes).
	Address      string               `json:"address,omitzero"`
	AgentVersion string               `json:"agentVersion,omitzero"`
	DockerVer    string               `json:"dockerVersion,omitzero"`
	Registered   Resources            `json:"registered"`
	Used         Resources            `json:"used"` // held by tasks that are not STOPPED
	DynamicPorts [2]int               `json:"dynamicPorts"`
	Attributes   []ecstypes.Attribute `json:"attributes,omitzero"`
	Tags         []ecstypes.Tag       `json:"tags,omitzero"`
	RegisteredAt time.Time            `json:"registeredAt"`
	Version      int64                `json:"version"`
	// Fargate says the host offers Fargate capacity: it joins the pool
	// that runs the FARGATE tasks of every cluster (its agent was started
	// with Fargate capacity on), besides its own cluster's EC2 tasks.
	Fargate bool `json:"fargate,omitzero"`
}

// Task is one task. Its ECS view is kept in Task with the ARN fields empty;
// they are filled in when it is rendered for a request.
type Task struct {
	ID         string `json:"id"`
	Cluster    string `json:"cluster"`
	InstanceID string `json:"instanceId"`
	// HostCluster is the cluster of the container instance that runs a
	// FARGATE task: a host of the Fargate pool, which may belong to
	// another cluster than the task's. Empty for every other task, whose
	// instance is in Cluster.
	HostCluster string        `json:"hostCluster,omitzero"`
	Family      string        `json:"family"`
	Revision    int32         `json:"revision"`
	Task        ecstypes.Task `json:"task"`
	// ContainerIDs are the container UUIDs (the last part of containerArn),
	// in task definition order.
	ContainerIDs []string `json:"containerIds"`
	// Holds is what the task holds on its instance until it is STOPPED.
	Holds Resources `json:"holds"`
	// HostPorts are the host ports chosen at placement for each container's
	// dynamic port mappings, by container name.
	HostPorts map[string][]int `json:"hostPorts,omitzero"`
	// Released is set once Holds was given back to the instance.
	Released bool `json:"released,omitzero"`
	// ServiceName is set for tasks a service started; DeploymentID names
	// the deployment (also the task's startedBy, as ECS sets it).
	ServiceName  string `json:"serviceName,omitzero"`
	DeploymentID string `json:"deploymentId,omitzero"`
	// FailureCounted is set once the service's circuit breaker counted
	// this task as failed.
	FailureCounted bool `json:"failureCounted,omitzero"`
	// HealthSeen is set once the circuit breaker saw the task healthy
	// (it reset the failure count then: resetOnHealthyTask).
	HealthSeen bool `json:"healthSeen,omitzero"`
	// HealthChecked says whether the task's health decides whether it is
	// healthy: an essential container has a health check.
	HealthChecked bool `json:"healthChecked,omitzero"`
	// Targets are the load balancer targets the service registered for
	// this task; TargetsReleased is set once they were deregistered.
	Targets         []TargetRef `json:"targets,omitzero"`
	TargetsReleased bool        `json:"targetsReleased,omitzero"`
	// DeactivatingAt is when the service scheduler deregistered the task's
	// targets to stop it (lastStatus DEACTIVATING): the agent keeps it
	// running until the load balancer has drained it.
	DeactivatingAt time.Time `json:"deactivatingAt,omitzero"`
}

// InstanceCluster is the cluster of the container instance the task runs
// on: HostCluster for a task of the Fargate pool, else its own cluster.
func (t *Task) InstanceCluster() string {
	if t.HostCluster != "" {
		return t.HostCluster
	}
	return t.Cluster
}

// OnPool reports whether the task runs on a host of the Fargate pool.
func (t *Task) OnPool() bool { return t.HostCluster != "" }

// LastStatus is the task's lastStatus in the lifecycle's order
// (core.TaskStatusUnknown for a string that names no status).
func (t *Task) LastStatus() core.TaskStatus { return core.ParseTaskStatus(t.Task.LastStatus) }

// DesiredStatus is the task's desiredStatus in the lifecycle's order.
func (t *Task) DesiredStatus() core.TaskStatus { return core.ParseTaskStatus(t.Task.DesiredStatus) }

// TargetRef is one load balancer target of a task: a target group and the
// (id, port) pair registered in it.
type TargetRef struct {
	TargetGroupARN string `json:"targetGroupArn"`
	ID             string `json:"id"`
	Port           int    `json:"port"`
	// ContainerName and ContainerPort are the service's loadBalancers
	// entry the target serves.
	ContainerName string `json:"containerName,omitzero"`
	ContainerPort int    `json:"containerPort,omitzero"`
}

// TaskDef is a stored task definition revision. The ARN is not stored: it
// depends on the caller's region.
type TaskDef struct {
	TaskDefinition ecstypes.TaskDefinition `json:"taskDefinition"`
	Tags           []ecstypes.Tag          `json:"tags,omitzero"`
}

// IndexEntry is the value of an instance-task index entry. Writing it (for
// example when a task is told to stop) wakes the agent's poll.
type IndexEntry struct {
	Cluster       string `json:"cluster"`
	DesiredStatus string `json:"desiredStatus"`
}

// ServiceKey is where service name of cluster is kept.
func ServiceKey(cluster, name string) string { return ServicesPrefix(cluster) + name }

// ServiceDeploymentKey is where one deployment of a service is kept for
// ListServiceDeployments and DescribeServiceDeployments.
func ServiceDeploymentKey(cluster, service, id string) string {
	return ServiceDeploymentsPrefix(cluster, service) + id
}

// ServiceDeploymentsPrefix is the prefix of a service's deployment history.
func ServiceDeploymentsPrefix(cluster, service string) string {
	return "ecs/servicedeployments/" + cluster + "/" + service + "/"
}

// Service is an ECS service. Its ECS view is kept in Service with the ARN
// fields empty (they are filled in when it is rendered for a request);
// TaskDefinition and Deployments[].TaskDefinition hold "family:revision".
// Events are newest first, at most 100.
type Service struct {
	Name    string           `json:"name"`
	Cluster string           `json:"cluster"`
	Service ecstypes.Service `json:"service"`
	// Backoff of task launches that keep failing.
	ConsecutiveFailures int       `json:"consecutiveFailures,omitzero"`
	LastFailureAt       time.Time `json:"lastFailureAt,omitzero"`
	NextLaunchAt        time.Time `json:"nextLaunchAt,omitzero"`
	// Steady is set while the service is in a steady state; the steady
	// state event is recorded when it becomes set.
	Steady bool `json:"steady,omitzero"`
	// LastCompleted is the task definition ("family:revision") of the last
	// deployment that COMPLETED: where a rollback goes.
	LastCompleted string `json:"lastCompleted,omitzero"`
	// DeploymentCount numbers deployments for their IDs.
	DeploymentCount int `json:"deploymentCount,omitzero"`
	// Rollout is the BLUE_GREEN, LINEAR or CANARY deployment in progress
	// (nil: none): the service controller moves it, the API asks it to
	// stop or continue.
	Rollout *Rollout `json:"rollout,omitzero"`
	// ProdAlternate says production traffic is on the loadBalancers'
	// alternateTargetGroupArn: each progressive deployment that succeeds
	// swaps the two target groups' roles, as ECS does.
	ProdAlternate bool `json:"prodAlternate,omitzero"`
}

// Rollout is a progressive deployment of a service: the deployment
// ("ecs-svc/...") that is green, the one it replaces (blue), the record
// of it in the deployment history, and the state machine's progress.
type Rollout struct {
	Green     string `json:"green"`
	Blue      string `json:"blue,omitzero"`
	HistoryID string `json:"historyId,omitzero"`
	Strategy  string `json:"strategy"`
	deploy.Progress
}

// ServiceDeployment is one deployment in a service's history.
type ServiceDeployment struct {
	ID         string                     `json:"id"`
	Cluster    string                     `json:"cluster"`
	Service    string                     `json:"service"`
	Deployment ecstypes.ServiceDeployment `json:"deployment"` // ARNs empty
	// TaskDefinition is the target "family:revision"; Source the previous.
	TaskDefinition string   `json:"taskDefinition"`
	Source         []string `json:"source,omitzero"`
	// DeploymentID is the service deployment ("ecs-svc/...") this record
	// follows; RollbackID the deployment a circuit breaker rolled it back
	// with, if any.
	DeploymentID string `json:"deploymentId,omitzero"`
	RollbackID   string `json:"rollbackId,omitzero"`
	// SourceDeploymentIDs are the deployments ("ecs-svc/...") this one
	// replaces, in the order of Source: the source service revisions.
	SourceDeploymentIDs []string `json:"sourceDeploymentIds,omitzero"`
	// Sequence is the service's DeploymentCount when the record was made;
	// it orders deployments created within the same millisecond.
	Sequence int `json:"sequence,omitzero"`
}
