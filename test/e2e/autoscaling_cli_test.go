package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestTargetTrackingScalesOutCLI: seed 000's target tracking policy
// (TargetValue 70 on ECSServiceAverageCPUUtilization), set up with the aws
// CLI, scales a service whose container keeps a core busy (far above
// 70 % of its 256 CPU units) out within its bounds, once the policy's high
// alarm has seen three minutes above the target; the activity shows in
// describe-scaling-activities with AWS's cause text and the alarm in
// describe-alarms.
func TestTargetTrackingScalesOutCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "busy", func(c *types.ContainerDefinition) {
		c.Cpu = 256
		c.Environment = []types.KeyValuePair{{Name: aws.String("BURN_CPU"), Value: aws.String("true")}}
	})
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", "busy",
		"--task-definition", "busy:1", "--desired-count", "1")
	n.cliJSON(t, nil, "application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
		"--resource-id", "service/default/busy", "--scalable-dimension", "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "2")
	var policy struct {
		PolicyARN string
		Alarms    []struct{ AlarmName string }
	}
	n.cliJSON(t, &policy, "application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
		"--resource-id", "service/default/busy", "--scalable-dimension", "ecs:service:DesiredCount",
		"--policy-name", "TargetTrackingScaling", "--policy-type", "TargetTrackingScaling",
		"--target-tracking-scaling-policy-configuration",
		`{"TargetValue":70.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"ECSServiceAverageCPUUtilization"},"ScaleInCooldown":30,"ScaleOutCooldown":30}`)
	if len(policy.Alarms) != 2 || !strings.Contains(policy.Alarms[0].AlarmName, "AlarmHigh") {
		t.Fatalf("put-scaling-policy: %+v", policy)
	}
	var acts struct {
		ScalingActivities []struct{ Description, Cause, StatusCode string }
	}
	waitFor(t, 8*time.Minute, "the service to scale out", func() (bool, string) {
		n.cliJSON(t, &acts, "application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs",
			"--resource-id", "service/default/busy")
		for _, a := range acts.ScalingActivities {
			if a.Description == "Setting desired count to 2." && a.StatusCode == "Successful" &&
				a.Cause == "monitor alarm "+policy.Alarms[0].AlarmName+" in state ALARM triggered policy TargetTrackingScaling" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", acts)
	})
	var svcs struct{ Services []struct{ DesiredCount int } }
	n.cliJSON(t, &svcs, "ecs", "describe-services", "--cluster", "default", "--services", "busy")
	if len(svcs.Services) != 1 || svcs.Services[0].DesiredCount != 2 {
		t.Errorf("describe-services: %+v", svcs)
	}
	var alarms struct {
		MetricAlarms []struct{ AlarmName, StateValue string }
	}
	n.cliJSON(t, &alarms, "cloudwatch", "describe-alarms", "--alarm-names", policy.Alarms[0].AlarmName)
	if len(alarms.MetricAlarms) != 1 || alarms.MetricAlarms[0].StateValue != "ALARM" {
		t.Errorf("describe-alarms: %+v", alarms)
	}
}
