package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// The actions call the ECS API's operations, so that they are validated,
// refused and recorded (service events, ECS events) as the same call
// from the aws CLI would be.

func invalid(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, "InvalidParameterException", format, args...)
}

func (c *Console) setDesiredCount(r *http.Request) (string, error) {
	cluster, name := r.PathValue("cluster"), r.PathValue("service")
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("desired_count")), 10, 32)
	if err != nil {
		return "", invalid("desired count %q is not a whole number", r.PostFormValue("desired_count"))
	}
	count := int32(n)
	if _, err := c.cfg.ECS.UpdateService(r.Context(), c.callFor("UpdateService"), &ecstypes.UpdateServiceRequest{
		Cluster: cluster, Service: name, DesiredCount: &count}); err != nil {
		return "", err
	}
	return fmt.Sprintf("Desired count of %s set to %d.", name, count), nil
}

func (c *Console) forceDeployment(r *http.Request) (string, error) {
	cluster, name := r.PathValue("cluster"), r.PathValue("service")
	if _, err := c.cfg.ECS.UpdateService(r.Context(), c.callFor("UpdateService"), &ecstypes.UpdateServiceRequest{
		Cluster: cluster, Service: name, ForceNewDeployment: true}); err != nil {
		return "", err
	}
	return "A new deployment of " + name + " was started.", nil
}

func (c *Console) rollback(r *http.Request) (string, error) {
	ctx, cluster, name := r.Context(), r.PathValue("cluster"), r.PathValue("service")
	rec, hist, err := c.serviceRecords(ctx, cluster, name)
	if err != nil {
		return "", err
	}
	plan := PlanRollback(rec, hist)
	switch plan.Mode {
	case RollbackStop:
		out, err := c.cfg.ECS.ListServiceDeployments(ctx, c.callFor("ListServiceDeployments"), &ecstypes.ListServiceDeploymentsRequest{
			Cluster: cluster, Service: name, Status: []ecstypes.ServiceDeploymentStatus{ecstypes.ServiceDeploymentStatusInProgress}})
		if err != nil {
			return "", err
		}
		if len(out.ServiceDeployments) == 0 {
			return "", core.Errorf(core.KindConflict, "InvalidParameterException", "service %s has no deployment in progress to roll back", name)
		}
		arn := out.ServiceDeployments[0].ServiceDeploymentArn
		if _, err := c.cfg.ECS.StopServiceDeployment(ctx, c.callFor("StopServiceDeployment"), &ecstypes.StopServiceDeploymentRequest{
			ServiceDeploymentArn: arn, StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); err != nil {
			return "", err
		}
		return "Deployment " + lastSegment(arn) + " of " + name + " is rolling back.", nil
	case RollbackUpdate:
		if _, err := c.cfg.ECS.UpdateService(ctx, c.callFor("UpdateService"), &ecstypes.UpdateServiceRequest{
			Cluster: cluster, Service: name, TaskDefinition: plan.Target}); err != nil {
			return "", err
		}
		return name + " is rolling back to " + plan.Target + ".", nil
	}
	return "", core.Errorf(core.KindConflict, "InvalidParameterException", "service %s has no previous task definition to roll back to", name)
}

func (c *Console) stopTask(r *http.Request) (string, error) {
	cluster, id := r.PathValue("cluster"), r.PathValue("task")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = "Stopped from the minato console"
	}
	if _, err := c.cfg.ECS.StopTask(r.Context(), c.callFor("StopTask"), &ecstypes.StopTaskRequest{Cluster: cluster, Task: id, Reason: reason}); err != nil {
		return "", err
	}
	return "Task " + id + " is stopping.", nil
}
