package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestDeploymentAlarmRollbackCLI: a service whose deploymentConfiguration
// names a CloudWatch alarm (enable, rollback). While the alarm is in
// ALARM, a new deployment fails and rolls back to the revision that ran
// before; the service deployment shows the alarm TRIGGERED, and the
// service's events say which alarm.
func TestDeploymentAlarmRollbackCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "gated", nil)
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", "gated",
		"--task-definition", "gated:1", "--desired-count", "1",
		"--deployment-configuration", `{"alarms":{"alarmNames":["gate"],"enable":true,"rollback":true}}`)
	waitStable(t, n, "gated", 90*time.Second)
	waitCompleted(t, n, "gated")
	if d := currentDeployment(t, n, "gated"); d.Alarms == nil || d.Alarms.Status != types.ServiceDeploymentRollbackMonitorsStatusMonitoring {
		t.Fatalf("the first deployment's alarms: %+v", d.Alarms)
	}

	// An alarm on a metric that has no data, treated as breaching: the
	// evaluation puts it in ALARM and keeps it there.
	n.cliJSON(t, nil, "cloudwatch", "put-metric-alarm", "--alarm-name", "gate", "--namespace", "MyApp", "--metric-name", "Errors",
		"--statistic", "Sum", "--period", "60", "--evaluation-periods", "1", "--threshold", "1",
		"--comparison-operator", "GreaterThanOrEqualToThreshold", "--treat-missing-data", "breaching")
	waitFor(t, 90*time.Second, "the alarm in ALARM", func() (bool, string) {
		var out struct{ MetricAlarms []struct{ StateValue string } }
		n.cliJSON(t, &out, "cloudwatch", "describe-alarms", "--alarm-names", "gate")
		if len(out.MetricAlarms) != 1 {
			return false, "no alarm"
		}
		return out.MetricAlarms[0].StateValue == "ALARM", out.MetricAlarms[0].StateValue
	})

	registerApp(t, n, "gated", nil)
	n.cliJSON(t, nil, "ecs", "update-service", "--cluster", "default", "--service", "gated", "--task-definition", "gated:2")
	d := waitDeployment(t, n, "gated", types.ServiceDeploymentStatusRollbackSuccessful, 3*time.Minute)
	if d.Alarms == nil || d.Alarms.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered ||
		len(d.Alarms.TriggeredAlarmNames) != 1 || d.Alarms.TriggeredAlarmNames[0] != "gate" {
		t.Fatalf("the failed deployment's alarms: %+v", d.Alarms)
	}
	if !strings.Contains(aws.ToString(d.StatusReason), "gate") {
		t.Errorf("status reason %q does not name the alarm", aws.ToString(d.StatusReason))
	}
	svc := waitStable(t, n, "gated", 2*time.Minute)
	if !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "gated:1") {
		t.Fatalf("after the rollback the service runs %s, want gated:1", aws.ToString(svc.TaskDefinition))
	}
	found := false
	for _, e := range svc.Events {
		found = found || strings.Contains(aws.ToString(e.Message), "alarm(s) gate in ALARM state")
	}
	if !found {
		t.Errorf("no service event names the alarm: %+v", svc.Events)
	}
}
