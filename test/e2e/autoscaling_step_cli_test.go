package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestStepScalingAlarmCLI: a step scaling policy set up with the aws CLI,
// and a CloudWatch alarm the user creates with the policy's ARN as its
// action, as on AWS; set-alarm-state to ALARM invokes the policy, which
// scales the service by its step, shown in describe-services and in
// describe-scaling-activities with AWS's cause text.
func TestStepScalingAlarmCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "queue", nil)
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", "worker",
		"--task-definition", "queue:1", "--desired-count", "1")
	n.cliJSON(t, nil, "application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
		"--resource-id", "service/default/worker", "--scalable-dimension", "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "4")
	var policy struct{ PolicyARN string }
	n.cliJSON(t, &policy, "application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
		"--resource-id", "service/default/worker", "--scalable-dimension", "ecs:service:DesiredCount",
		"--policy-name", "queue-out", "--policy-type", "StepScaling",
		"--step-scaling-policy-configuration",
		`{"AdjustmentType":"ChangeInCapacity","Cooldown":60,"MetricAggregationType":"Average",
		  "StepAdjustments":[{"MetricIntervalLowerBound":0,"MetricIntervalUpperBound":100,"ScalingAdjustment":2},
		                     {"MetricIntervalLowerBound":100,"ScalingAdjustment":3}]}`)
	if policy.PolicyARN == "" {
		t.Fatal("put-scaling-policy returned no PolicyARN")
	}
	var pols struct {
		ScalingPolicies []struct {
			PolicyType                     string
			StepScalingPolicyConfiguration struct {
				StepAdjustments []map[string]float64
			}
		}
	}
	n.cliJSON(t, &pols, "application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs", "--resource-id", "service/default/worker")
	if len(pols.ScalingPolicies) != 1 || pols.ScalingPolicies[0].PolicyType != "StepScaling" ||
		len(pols.ScalingPolicies[0].StepScalingPolicyConfiguration.StepAdjustments) != 2 {
		t.Fatalf("describe-scaling-policies: %+v", pols)
	}
	if _, open := pols.ScalingPolicies[0].StepScalingPolicyConfiguration.StepAdjustments[1]["MetricIntervalUpperBound"]; open {
		t.Errorf("the open-ended step shows an upper bound: %+v", pols)
	}
	n.cliJSON(t, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "queue-deep", "--namespace", "MyApp", "--metric-name", "QueueDepth",
		"--statistic", "Average", "--period", "60", "--evaluation-periods", "1", "--threshold", "10",
		"--comparison-operator", "GreaterThanThreshold", "--alarm-actions", policy.PolicyARN)
	n.cliJSON(t, nil, "cloudwatch", "set-alarm-state", "--alarm-name", "queue-deep", "--state-value", "ALARM", "--state-reason", "testing the policy")

	var acts struct {
		ScalingActivities []struct{ Description, Cause, StatusCode string }
	}
	waitFor(t, 2*time.Minute, "the step policy to scale the service", func() (bool, string) {
		n.cliJSON(t, &acts, "application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs",
			"--resource-id", "service/default/worker")
		for _, a := range acts.ScalingActivities {
			if a.Description == "Setting desired count to 3." && a.StatusCode == "Successful" &&
				a.Cause == "monitor alarm queue-deep in state ALARM triggered policy queue-out" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", acts)
	})
	var svcs struct{ Services []struct{ DesiredCount int } }
	n.cliJSON(t, &svcs, "ecs", "describe-services", "--cluster", "default", "--services", "worker")
	if len(svcs.Services) != 1 || svcs.Services[0].DesiredCount != 3 {
		t.Errorf("describe-services: %+v", svcs)
	}
}
