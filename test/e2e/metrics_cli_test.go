package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestServiceCPUMetricCLI: a service whose container keeps a core busy
// shows its CPUUtilization (relative to the 256 CPU units it reserved) in
// `aws cloudwatch get-metric-statistics`, from Docker's stats of the real
// container, and the metric is listed by `aws cloudwatch list-metrics`.
func TestServiceCPUMetricCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "hot", func(c *types.ContainerDefinition) {
		c.Cpu = 256
		c.Environment = []types.KeyValuePair{{Name: aws.String("BURN_CPU"), Value: aws.String("true")}}
	})
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", "hot",
		"--task-definition", "hot:1", "--desired-count", "1")
	var stats struct {
		Label      string
		Datapoints []struct {
			Average, Maximum float64
			Unit             string
		}
	}
	waitFor(t, 3*time.Minute, "the service's CPUUtilization to show", func() (bool, string) {
		now := time.Now().UTC()
		n.cliJSON(t, &stats, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/ECS", "--metric-name", "CPUUtilization",
			"--dimensions", "Name=ClusterName,Value=default", "Name=ServiceName,Value=hot",
			"--start-time", now.Add(-10*time.Minute).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
			"--period", "60", "--statistics", "Average", "Maximum")
		for _, dp := range stats.Datapoints {
			// One busy core is 1024 units: 400 % of 256 on an idle host;
			// a busy test machine gives it less, but far more than idle.
			if dp.Maximum > 50 && dp.Unit == "Percent" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", stats)
	})
	var listed struct{ Metrics []struct{ MetricName string } }
	n.cliJSON(t, &listed, "cloudwatch", "list-metrics", "--namespace", "AWS/ECS", "--dimensions", "Name=ServiceName,Value=hot")
	names := map[string]bool{}
	for _, m := range listed.Metrics {
		names[m.MetricName] = true
	}
	if !names["CPUUtilization"] || !names["MemoryUtilization"] {
		t.Errorf("list-metrics: %+v", listed)
	}
}
