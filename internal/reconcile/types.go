// Package reconcile decides what a service needs next: which tasks to
// launch and which to stop, how its deployments move (rolling updates,
// the deployment circuit breaker and rollback), which events to record, and
// when it is steady. It is pure: it takes a snapshot of one service and
// returns a plan; the service controller reads the snapshot and carries the
// plan out. Decide is level triggered: given the same snapshot it returns
// the same plan, so a controller can stop at any point and start again.
package reconcile

import (
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Deployment statuses and rollout states, as ECS names them.
const (
	StatusPrimary  = "PRIMARY"
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"

	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
	RolloutFailed     = "FAILED"
)

// Config is a service's configuration as the decider needs it.
type Config struct {
	Name         string // service name, for event messages
	DesiredCount int
	// MaximumPercent and MinimumHealthyPercent bound a deployment
	// (defaults are the caller's: 200/100 for REPLICA, 100/0 for DAEMON).
	MaximumPercent        int
	MinimumHealthyPercent int
	CircuitBreaker        bool // deploymentCircuitBreaker.enable
	Rollback              bool // deploymentCircuitBreaker.rollback
	AlarmRollback         bool // deploymentConfiguration.alarms.rollback
	// ThresholdType and ThresholdValue are the circuit breaker's
	// thresholdConfiguration ("": ECS's default, see ThresholdOf).
	ThresholdType  string
	ThresholdValue int
	// KeepFailureCount is resetOnHealthyTask false: a task that becomes
	// healthy does not reset the circuit breaker's failure count (ECS's
	// default, resetOnHealthyTask true, resets it to 0).
	KeepFailureCount bool
	// HealthCheckGracePeriod: container health is ignored this long after
	// a task started.
	HealthCheckGracePeriod time.Duration
	Daemon                 bool // schedulingStrategy DAEMON
	// StablePeriod: a deployment completes only once each of its tasks has
	// run this long, so that tasks which start and crash at once fail the
	// deployment (and trip the circuit breaker) rather than complete it.
	StablePeriod time.Duration
	// HoldCompletion keeps the PRIMARY deployment IN_PROGRESS once it is
	// settled: a progressive deployment (internal/deploy) decides when it
	// completes, the decider only keeps its tasks running.
	HoldCompletion bool
}

// Deployment is one deployment of the service; the snapshot lists the
// PRIMARY one first, then the ACTIVE ones, newest first.
type Deployment struct {
	ID             string
	TaskDefinition string // "family:revision"
	Status         string // PRIMARY, ACTIVE (or INACTIVE in a plan)
	RolloutState   string
	RolloutReason  string
	FailedTasks    int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// RollbackFrom is set on a deployment the circuit breaker created to
	// roll back: the ID of the deployment that failed.
	RollbackFrom string
	// Rollback marks a stored deployment that a rollback created (its
	// RollbackFrom is not stored; see IsRollbackReason).
	Rollback bool
}

// Task is one task of the service.
type Task struct {
	ID           string
	DeploymentID string
	InstanceID   string
	LastStatus   core.TaskStatus // PROVISIONING ... STOPPED
	// DesiredStatus is STOPPED once someone asked the task to stop.
	DesiredStatus core.TaskStatus
	// Health is the task's health (HEALTHY, UNHEALTHY, UNKNOWN).
	Health string
	// HealthChecked says whether health decides the task's health here
	// (some essential container has a health check, or, later, a load
	// balancer target). Without checks a RUNNING task is healthy.
	HealthChecked bool
	StartedAt     time.Time // when it reached RUNNING
	StoppedAt     time.Time
	StopCode      string
	// ReachedRunning is set if the task was ever RUNNING.
	ReachedRunning bool
	// FailureCounted is set once the circuit breaker counted this task.
	FailureCounted bool
	// HealthSeen is set once the circuit breaker saw the task healthy
	// (Plan.SeenHealthy), so that it resets the failure count once.
	HealthSeen bool
	// OnDrainingInstance: its container instance is DRAINING.
	OnDrainingInstance bool
	// LB says the service registers the task as a load balancer target:
	// then the targets' health decides the task's health too.
	LB bool
	// TargetHealth is the targets' health: TargetHealthy when every
	// target of the task is healthy, TargetUnhealthy when one is
	// unhealthy, "" otherwise (not registered yet, or still initial).
	TargetHealth string
	// UnhealthyTargetGroup names the target group of an unhealthy target.
	UnhealthyTargetGroup string
}

// Target health values of Task.TargetHealth.
const (
	TargetHealthy   = "healthy"
	TargetUnhealthy = "unhealthy"
)

// Instance is a container instance, for DAEMON services.
type Instance struct {
	ID       string
	Active   bool // ACTIVE and connected: a daemon task belongs here
	Draining bool
}

// Input is the snapshot of one service.
type Input struct {
	Now         time.Time
	Config      Config
	Deployments []Deployment
	// LastCompleted is the task definition of the newest deployment that
	// COMPLETED, where a rollback goes ("" if none ever did).
	LastCompleted string
	// Tasks are the service's tasks that are not STOPPED, and the STOPPED
	// ones the circuit breaker has not counted yet.
	Tasks     []Task
	Instances []Instance // DAEMON only
	// Launch backoff: tasks that keep failing to start are launched less
	// and less often.
	ConsecutiveFailures int
	NextLaunchAt        time.Time
	// Steady says the service was steady at the last decision.
	Steady bool
	// NewDeploymentID is the ID to give a deployment the plan creates (a
	// rollback); the caller makes it unique.
	NewDeploymentID string
	// AlarmsFiring names the deployment's alarms
	// (deploymentConfiguration.alarms, when enabled) now in ALARM.
	AlarmsFiring []string
}

// Launch asks for Count new tasks of a deployment (DAEMON: one on Instance).
type Launch struct {
	DeploymentID string
	Count        int
	InstanceID   string
}

// Stop asks for a task to stop, with ECS's reason.
type Stop struct {
	TaskID string
	Reason string
}

// Plan is what the controller does next.
type Plan struct {
	Launch []Launch
	Stop   []Stop
	// CountFailed lists stopped tasks the circuit breaker counted now; the
	// controller marks them so they are not counted twice. (It lists every
	// stopped task counted as a failure, also for the launch backoff alone;
	// stopped tasks that did not fail are never counted, and the controller
	// may leave them out of Input.Tasks.)
	CountFailed []string
	// SeenHealthy lists tasks of the PRIMARY deployment in progress that
	// became healthy now (the circuit breaker on): each reset the failure
	// count (resetOnHealthyTask); the controller marks them so that they
	// reset it once.
	SeenHealthy []string
	// Deployments is the new deployment list: PRIMARY first, then ACTIVE;
	// deployments that finished draining are left out (INACTIVE).
	Deployments []Deployment
	// Completed is the task definition of a deployment that COMPLETED in
	// this plan ("" if none): the new LastCompleted.
	Completed string
	// Events are new service event messages, oldest first.
	Events []string
	Steady bool
	// Backoff state to keep.
	ConsecutiveFailures int
	NextLaunchAt        time.Time
	// Recheck is when the controller should decide again even if nothing
	// changes (backoff expiry, grace period end); zero for no need.
	Recheck time.Time

	// ReplacedUnhealthy is how many of this plan's launches replace tasks
	// it stopped for failing health checks: the controller's "has started"
	// event then ends as ECS's does (see StartedMessage).
	ReplacedUnhealthy int
}
