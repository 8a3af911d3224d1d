package reconcile

import (
	"fmt"
	"strings"
)

// The texts Amazon ECS writes, kept in one place. Each one is copied from
// ECS's developer guide or from service events and describe-services output
// that ECS itself produced (see README.md for the sources).

// Stop reasons (a task's stoppedReason).
const (
	// ReasonUnhealthy is the stoppedReason of a task whose essential
	// container failed its health check.
	ReasonUnhealthy = "Task failed container health checks"
	// ReasonDraining is the stoppedReason of a service task stopped because
	// its container instance is DRAINING.
	ReasonDraining = "container instance is in DRAINING state"
)

// reasonELBPrefix starts the stoppedReason of a task whose load balancer
// target failed its health checks.
const reasonELBPrefix = "Task failed ELB health checks in "

// ReasonELBUnhealthy is the stoppedReason of a task whose target in
// targetGroup failed the load balancer's health checks.
func ReasonELBUnhealthy(targetGroup string) string {
	return reasonELBPrefix + "(target-group " + targetGroup + ")"
}

// FailedELBChecks says whether a stoppedReason is ReasonELBUnhealthy's.
func FailedELBChecks(stoppedReason string) bool {
	return strings.HasPrefix(stoppedReason, reasonELBPrefix)
}

// ReasonScaling is the stoppedReason of a task the service scheduler stops
// to scale in or to replace it during a deployment.
func ReasonScaling(deploymentID string) string {
	return "Scaling activity initiated by (deployment " + deploymentID + ")"
}

// Rollout state reasons (a deployment's rolloutStateReason).
const (
	// RolloutReasonFailed is the reason of a deployment the circuit breaker
	// failed.
	RolloutReasonFailed = "ECS deployment circuit breaker: tasks failed to start."
	// rolloutReasonAlarmsPrefix begins the reason of a deployment that
	// failed because of its alarms (minato's wording: no ECS output of it
	// was at hand).
	rolloutReasonAlarmsPrefix = "ECS deployment failed: alarm(s) in ALARM state: "
)

// RolloutReasonAlarms is the reason of a deployment that failed because
// the named deployment alarms went into ALARM.
func RolloutReasonAlarms(names []string) string {
	return rolloutReasonAlarmsPrefix + strings.Join(names, ", ") + "."
}

// AlarmsOfReason returns the alarm names a RolloutReasonAlarms reason
// names, and false for any other reason.
func AlarmsOfReason(reason string) ([]string, bool) {
	rest, ok := strings.CutPrefix(reason, rolloutReasonAlarmsPrefix)
	if !ok {
		return nil, false
	}
	return strings.Split(strings.TrimSuffix(rest, "."), ", "), true
}

// RolloutReasonInProgress is the reason of a deployment that has started;
// the caller sets it when it creates one.
func RolloutReasonInProgress(deploymentID string) string {
	return "ECS deployment " + deploymentID + " in progress."
}

// RolloutReasonCompleted is the reason of a deployment that completed.
func RolloutReasonCompleted(deploymentID string) string {
	return "ECS deployment " + deploymentID + " completed."
}

// RolloutReasonRollback is the reason of the deployment the circuit breaker
// creates to roll back; it names that new deployment.
func RolloutReasonRollback(deploymentID string) string {
	return rolloutReasonRollbackPrefix + deploymentID + "."
}

const rolloutReasonRollbackPrefix = "ECS deployment circuit breaker: rolling back to deploymentId "

// IsRollbackReason says a rollout state reason is that of a rollback
// deployment still in progress: a stored deployment is known to be a
// rollback by it.
func IsRollbackReason(reason string) bool {
	return strings.HasPrefix(reason, rolloutReasonRollbackPrefix)
}

// Service event messages.

func eventSteady(service string) string {
	return fmt.Sprintf("(service %s) has reached a steady state.", service)
}

func eventDeploymentCompleted(service, deploymentID string) string {
	return fmt.Sprintf("(service %s) (deployment %s) deployment completed.", service, deploymentID)
}

func eventDeploymentFailed(service, deploymentID string) string {
	return fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", service, deploymentID)
}

func eventDeploymentAlarms(service, deploymentID string, alarms []string) string {
	return fmt.Sprintf("(service %s) (deployment %s) deployment failed: alarm(s) %s in ALARM state.", service, deploymentID,
		strings.Join(alarms, ", "))
}

func eventRollingBack(service, deploymentID string) string {
	return fmt.Sprintf("(service %s) rolling back to deployment %s.", service, deploymentID)
}

func eventThrottled(service string) string {
	return fmt.Sprintf("(service %s) is unable to consistently start tasks successfully.", service)
}

func eventUnhealthy(service, taskID string) string {
	return fmt.Sprintf("(service %s) (task %s) failed container health checks.", service, taskID)
}

func eventELBUnhealthy(service, taskID, targetGroup string) string {
	return fmt.Sprintf("(service %s) (task %s) is unhealthy in (target-group %s) due to (reason Health checks failed).", service, taskID, targetGroup)
}

func eventStuck(service string) string {
	return fmt.Sprintf("(service %s) was unable to stop or start tasks during a deployment because of the service deployment configuration. "+
		"Update the minimumHealthyPercent or maximumPercent value and try again.", service)
}

func eventStopped(service string, taskIDs []string) string {
	return fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", service, len(taskIDs), taskList(taskIDs))
}

// StartedMessage is ECS's event for tasks the service scheduler started,
// which the controller writes once it has placed a plan's launches and
// knows their IDs. replacedUnhealthy is Plan.ReplacedUnhealthy.
func StartedMessage(service string, taskIDs []string, replacedUnhealthy int) string {
	msg := fmt.Sprintf("(service %s) has started %d tasks: %s.", service, len(taskIDs), taskList(taskIDs))
	if replacedUnhealthy > 0 {
		msg += fmt.Sprintf(" Amazon ECS replaced %d tasks due to an unhealthy status.", replacedUnhealthy)
	}
	return msg
}

func taskList(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("(task " + id + ")")
	}
	return b.String()
}
