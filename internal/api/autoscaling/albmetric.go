package autoscaling

import (
	"regexp"
	"strings"

	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
)

// albResourceLabel is ALBRequestCountPerTarget's ResourceLabel:
// app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>,
// names as ELBv2 allows them (up to 32 letters, digits and hyphens, not
// starting or ending with a hyphen).
var albResourceLabel = regexp.MustCompile(`^app/([A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?)/([A-Za-z0-9]+)/(targetgroup/([A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?)/[A-Za-z0-9]+)$`)

// albRequestCountMetric is the metric an ALBRequestCountPerTarget policy
// follows: the target group's AWS/ApplicationELB RequestCountPerTarget
// (Sum), which the load balancer publishes every minute
// (internal/lbmetrics).
func albRequestCountMetric(label string) (cloudwatchtypes.PutMetricAlarmInput, error) {
	if label == "" {
		return cloudwatchtypes.PutMetricAlarmInput{}, validation("Resource label should be specified for predefined metric type ALBRequestCountPerTarget.")
	}
	m := albResourceLabel.FindStringSubmatch(label)
	if m == nil || strings.HasPrefix(m[1], "internal-") {
		return cloudwatchtypes.PutMetricAlarmInput{}, validation("Invalid resource label %s for predefined metric type ALBRequestCountPerTarget: "+
			"it must be app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>.", label)
	}
	return cloudwatchtypes.PutMetricAlarmInput{Namespace: "AWS/ApplicationELB", MetricName: "RequestCountPerTarget",
		Dimensions: []cloudwatchtypes.Dimension{{Name: "TargetGroup", Value: m[3]}}, Statistic: "Sum"}, nil
}
