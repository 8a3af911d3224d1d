package minicluster

import (
	"context"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// The mini-cluster runs the node `minato server` runs, load balancer
// included: a service's target group is looked up in it (a node without
// one refuses every target group as "runs no load balancer").
func TestClusterHasLoadBalancer(t *testing.T) {
	c := New(t, Options{})
	c.Register("web", "app:1", func(cd *ecstypes.ContainerDefinition) {
		cd.PortMappings = []ecstypes.PortMapping{{ContainerPort: new(int32(80))}}
	})
	tg := "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0123456789abcdef"
	_, err := c.ECS.CreateService(context.Background(), Call, &ecstypes.CreateServiceRequest{ServiceName: "web", TaskDefinition: "web",
		DesiredCount: new(int32(1)), LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: tg, ContainerName: "app", ContainerPort: new(int32(80))}}})
	if err == nil || !strings.Contains(err.Error(), "does not exist.") || strings.Contains(err.Error(), "no load balancer") {
		t.Fatalf("CreateService with a missing target group: %v", err)
	}
	if c.Node.ELB == nil || c.Node.LB == nil {
		t.Fatal("the node has no load balancer")
	}
}
