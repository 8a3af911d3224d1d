package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/testutil/minicluster"
)

var call = minicluster.Call

func completed(c *minicluster.Cluster, name, td string) func() (bool, string) {
	return func() (bool, string) {
		s := c.Service(name)
		ok := len(s.Deployments) == 1 && s.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted &&
			s.RunningCount == s.DesiredCount && strings.HasSuffix(s.TaskDefinition, td)
		return ok, fmt.Sprintf("%s deployments=%d running=%d/%d", s.TaskDefinition, len(s.Deployments), s.RunningCount, s.DesiredCount)
	}
}

// A service on fake runtimes: created, rolled to a new revision within its
// bounds, scaled, rolled back by the circuit breaker from a revision whose
// image cannot be pulled, and deleted.
func TestServiceOnFakeRuntime(t *testing.T) {
	c := minicluster.New(t, minicluster.Options{Controller: true})
	c.AddAgent("zone-a", "app:1", "app:2")
	c.AddAgent("zone-b", "app:1", "app:2")
	c.Register("web", "app:1", nil)
	c.Register("web", "app:2", nil)
	c.Register("web", "missing:1", nil)
	ctx := context.Background()
	three := int32(3)
	_, err := c.ECS.CreateService(ctx, call, &ecstypes.CreateServiceRequest{ServiceName: "web", TaskDefinition: "web:1", DesiredCount: &three,
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	if err != nil {
		t.Fatal(err)
	}
	c.Eventually(20*time.Second, "web:1 to complete", completed(c, "web", "web:1"))
	s := c.Service("web")
	zones := map[string]int{}
	list, err := c.ECS.ListTasks(ctx, call, &ecstypes.ListTasksRequest{ServiceName: "web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range list.TaskArns {
		zones[c.Task(arn).AvailabilityZone]++
	}
	if zones["zone-a"] == 0 || zones["zone-b"] == 0 {
		t.Fatalf("the default strategy should spread the service over zones: %v", zones)
	}
	if !hasEvent(s, "has reached a steady state.") {
		t.Fatalf("events: %v", s.Events)
	}

	// Roll to web:2, never above 6 tasks nor below 3 running.
	if _, err := c.ECS.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "web", TaskDefinition: "web:2"}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(20*time.Second, "web:2 to complete", func() (bool, string) {
		list, err := c.ECS.ListTasks(ctx, call, &ecstypes.ListTasksRequest{ServiceName: "web"})
		if err != nil {
			return false, err.Error()
		}
		if len(list.TaskArns) > 6 {
			t.Fatalf("%d tasks during the rollout, above maximumPercent 200%%", len(list.TaskArns))
		}
		running := 0
		for _, arn := range list.TaskArns {
			if c.Task(arn).LastStatus == "RUNNING" {
				running++
			}
		}
		if running < 3 {
			t.Fatalf("%d running during the rollout, below minimumHealthyPercent 100%%", running)
		}
		return completed(c, "web", "web:2")()
	})

	// Scale to 5, then roll to a revision whose image cannot be pulled: the
	// circuit breaker fails it and rolls back to web:2.
	five := int32(5)
	if _, err := c.ECS.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "web", DesiredCount: &five}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(20*time.Second, "5 tasks", completed(c, "web", "web:2"))
	if _, err := c.ECS.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "web", TaskDefinition: "web:3"}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(30*time.Second, "the rollback to complete", func() (bool, string) {
		ok, st := completed(c, "web", "web:2")()
		return ok && c.Service("web").RunningCount == 5, st
	})
	s = c.Service("web")
	if !hasEvent(s, "deployment failed: tasks failed to start.") || !hasEvent(s, "rolling back to deployment") {
		t.Fatalf("rollback events: %v", s.Events[:min(6, len(s.Events))])
	}

	// Delete.
	if _, err := c.ECS.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "web", Force: new(true)}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(20*time.Second, "the service to be INACTIVE", func() (bool, string) {
		s := c.Service("web")
		return s.Status == "INACTIVE", s.Status
	})
	list, err = c.ECS.ListTasks(ctx, call, &ecstypes.ListTasksRequest{ServiceName: "web"})
	if err != nil || len(list.TaskArns) != 0 {
		t.Fatalf("tasks left: %v %v", list, err)
	}
}

func hasEvent(s ecstypes.Service, sub string) bool {
	for _, e := range s.Events {
		if strings.Contains(e.Message, sub) {
			return true
		}
	}
	return false
}
