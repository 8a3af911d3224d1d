package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// scalingPolicy is put-scaling-policy's answer.
type scalingPolicy struct {
	PolicyARN string
	Alarms    []struct{ AlarmName string }
}

// waitActivity waits until describe-scaling-activities shows a successful
// activity setting the desired count to want, caused by the alarm.
func waitActivity(t *testing.T, n *node, resourceID string, want int, alarm, policy string, timeout time.Duration) {
	t.Helper()
	var acts struct {
		ScalingActivities []struct{ Description, Cause, StatusCode string }
	}
	desc := fmt.Sprintf("Setting desired count to %d.", want)
	cause := "monitor alarm " + alarm + " in state ALARM triggered policy " + policy
	waitFor(t, timeout, "the activity "+desc, func() (bool, string) {
		n.cliJSON(t, &acts, "application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs",
			"--resource-id", resourceID)
		for _, a := range acts.ScalingActivities {
			if a.Description == desc && a.StatusCode == "Successful" && a.Cause == cause {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", acts)
	})
}

// desiredCount is describe-services' desiredCount of a service.
func desiredCount(t *testing.T, n *node, service string) int {
	t.Helper()
	var svcs struct{ Services []struct{ DesiredCount int } }
	n.cliJSON(t, &svcs, "ecs", "describe-services", "--cluster", "default", "--services", service)
	if len(svcs.Services) != 1 {
		t.Fatalf("describe-services %s: %+v", service, svcs)
	}
	return svcs.Services[0].DesiredCount
}

// burner keeps asking a task's /burn for ms milliseconds of CPU, with a gap
// of as much between requests (half a core), until stopped.
type burner struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func startBurn(url string, ms int) *burner {
	b := &burner{stop: make(chan struct{})}
	b.wg.Go(func() {
		c := &http.Client{Timeout: 30 * time.Second}
		for {
			select {
			case <-b.stop:
				return
			case <-time.After(time.Duration(ms) * time.Millisecond):
			}
			if resp, err := c.Get(url + "/burn?ms=" + strconv.Itoa(ms)); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
	return b
}

func (b *burner) finish() {
	close(b.stop)
	b.wg.Wait()
}

// TestTargetTrackingScalesOutAndInCLI: seed 000's target tracking policy
// (TargetValue 70 on ECSServiceAverageCPUUtilization), set up with the aws
// CLI with short cooldowns and one-minute alarms (--target-tracking-periods
// 1,1; AWS's are 3 and 15 minutes), scales a service out while its task
// burns half a core (far above 70 % of its 256 CPU units), and back in
// once the load ends. The activities show in describe-scaling-activities
// with AWS's cause texts, the desired count in describe-services, and the
// CPU the autoscaler acted on in get-metric-statistics.
func TestTargetTrackingScalesOutAndInCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--target-tracking-periods", "1,1")
	n.cliJSON(t, nil, "ecs", "update-cluster-settings", "--cluster", "default", "--settings", "name=containerInsights,value=enabled")
	registerApp(t, n, "busy", func(c *types.ContainerDefinition) { c.Cpu = 256 })
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", "busy",
		"--task-definition", "busy:1", "--desired-count", "1")
	var hostPort int32
	waitFor(t, 90*time.Second, "the task to run", func() (bool, string) {
		for _, tk := range serviceTasks(t, n, "busy") {
			if aws.ToString(tk.LastStatus) == "RUNNING" && len(tk.Containers) == 1 && len(tk.Containers[0].NetworkBindings) == 1 {
				hostPort = aws.ToInt32(tk.Containers[0].NetworkBindings[0].HostPort)
				return true, ""
			}
		}
		return false, "no running task"
	})
	n.cliJSON(t, nil, "application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
		"--resource-id", "service/default/busy", "--scalable-dimension", "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "2")
	var policy scalingPolicy
	n.cliJSON(t, &policy, "application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
		"--resource-id", "service/default/busy", "--scalable-dimension", "ecs:service:DesiredCount",
		"--policy-name", "TargetTrackingScaling", "--policy-type", "TargetTrackingScaling",
		"--target-tracking-scaling-policy-configuration",
		`{"TargetValue":70.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"ECSServiceAverageCPUUtilization"},"ScaleInCooldown":20,"ScaleOutCooldown":20}`)
	if len(policy.Alarms) != 2 || !strings.Contains(policy.Alarms[0].AlarmName, "AlarmHigh") || !strings.Contains(policy.Alarms[1].AlarmName, "AlarmLow") {
		t.Fatalf("put-scaling-policy: %+v", policy)
	}

	load := startBurn(fmt.Sprintf("http://127.0.0.1:%d", hostPort), 100)
	waitActivity(t, n, "service/default/busy", 2, policy.Alarms[0].AlarmName, "TargetTrackingScaling", 5*time.Minute)
	load.finish()
	if got := desiredCount(t, n, "busy"); got != 2 {
		t.Errorf("describe-services after the scale-out: desiredCount %d", got)
	}
	var stats struct {
		Datapoints []struct{ Maximum float64 }
	}
	now := time.Now().UTC()
	n.cliJSON(t, &stats, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/ECS", "--metric-name", "CPUUtilization",
		"--dimensions", "Name=ClusterName,Value=default", "Name=ServiceName,Value=busy",
		"--start-time", now.Add(-10*time.Minute).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
		"--period", "60", "--statistics", "Maximum")
	if !slices.ContainsFunc(stats.Datapoints, func(d struct{ Maximum float64 }) bool { return d.Maximum > 70 }) {
		t.Errorf("get-metric-statistics shows no CPU above the target: %+v", stats)
	}

	// Container Insights is on for the cluster: the service's CPU in CPU
	// units and its task counts.
	var ci struct {
		Datapoints []struct{ Maximum float64 }
	}
	n.cliJSON(t, &ci, "cloudwatch", "get-metric-statistics", "--namespace", "ECS/ContainerInsights", "--metric-name", "CpuUtilized",
		"--dimensions", "Name=ClusterName,Value=default", "Name=ServiceName,Value=busy",
		"--start-time", now.Add(-10*time.Minute).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
		"--period", "60", "--statistics", "Maximum")
	if !slices.ContainsFunc(ci.Datapoints, func(d struct{ Maximum float64 }) bool { return d.Maximum > 0.7*256 }) {
		t.Errorf("ECS/ContainerInsights CpuUtilized shows no load: %+v", ci)
	}
	var listed struct{ Metrics []struct{ MetricName string } }
	n.cliJSON(t, &listed, "cloudwatch", "list-metrics", "--namespace", "ECS/ContainerInsights", "--dimensions", "Name=ServiceName,Value=busy")
	names := map[string]bool{}
	for _, m := range listed.Metrics {
		names[m.MetricName] = true
	}
	for _, want := range []string{"CpuReserved", "MemoryUtilized", "MemoryReserved", "RunningTaskCount", "DesiredTaskCount", "PendingTaskCount"} {
		if !names[want] {
			t.Errorf("list-metrics ECS/ContainerInsights lacks %s: %+v", want, listed)
		}
	}

	// The load ends: the low alarm sees a minute under 63 % and the
	// service goes back to its minimum.
	waitActivity(t, n, "service/default/busy", 1, policy.Alarms[1].AlarmName, "TargetTrackingScaling", 5*time.Minute)
	if got := desiredCount(t, n, "busy"); got != 1 {
		t.Errorf("describe-services after the scale-in: desiredCount %d", got)
	}
}

// TestALBRequestCountScalingCLI: a service behind a load balancer with an
// ALBRequestCountPerTarget target tracking policy (ResourceLabel
// app/<lb>/<id>/targetgroup/<tg>/<id>, target 60 requests per target a
// minute) scales out under request load through the listener, and back in
// when the load ends; the load balancer's AWS/ApplicationELB metrics the
// policy acted on are readable with aws cloudwatch.
func TestALBRequestCountScalingCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--target-tracking-periods", "1,1")
	registerApp(t, n, "reqs", nil)
	alb := createALB(t, n, "reqs", 5)
	createLBService(t, n, "reqs", "reqs:1", alb.tgARN, 1)
	waitHealthy(t, n, alb.tgARN, 1)

	lbDim := alb.lbARN[strings.Index(alb.lbARN, ":loadbalancer/")+len(":loadbalancer/"):]
	tgDim := alb.tgARN[strings.LastIndex(alb.tgARN, ":")+1:]
	n.cliJSON(t, nil, "application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
		"--resource-id", "service/default/reqs", "--scalable-dimension", "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "2")
	// A malformed label is refused as AWS refuses it.
	bad := n.cli(t, "application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
		"--resource-id", "service/default/reqs", "--scalable-dimension", "ecs:service:DesiredCount",
		"--policy-name", "requests", "--policy-type", "TargetTrackingScaling",
		"--target-tracking-scaling-policy-configuration",
		`{"TargetValue":60.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"ALBRequestCountPerTarget","ResourceLabel":"`+tgDim+`"}}`)
	if bad.exit == 0 || !strings.Contains(bad.stderr, "ValidationException") {
		t.Fatalf("a bad ResourceLabel: exit %d\n%s", bad.exit, bad.stderr)
	}
	var policy scalingPolicy
	n.cliJSON(t, &policy, "application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
		"--resource-id", "service/default/reqs", "--scalable-dimension", "ecs:service:DesiredCount",
		"--policy-name", "requests", "--policy-type", "TargetTrackingScaling",
		"--target-tracking-scaling-policy-configuration",
		`{"TargetValue":60.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"ALBRequestCountPerTarget","ResourceLabel":"`+
			lbDim+"/"+tgDim+`"},"ScaleInCooldown":20,"ScaleOutCooldown":20}`)
	if len(policy.Alarms) != 2 {
		t.Fatalf("put-scaling-policy: %+v", policy)
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", alb.port)
	load := startLoad(url, 2)
	waitActivity(t, n, "service/default/reqs", 2, policy.Alarms[0].AlarmName, "requests", 5*time.Minute)
	ok, badN, errs := load.finish()
	if ok == 0 || badN != 0 {
		t.Errorf("the load: %d ok, %d not: %v", ok, badN, errs)
	}

	// What the policy acted on, and the rest of the load balancer's
	// metrics, by AWS's dimensions.
	now := time.Now().UTC()
	sum := func(metric string, dims ...string) float64 {
		t.Helper()
		var stats struct {
			Datapoints []struct {
				Sum  float64
				Unit string
			}
		}
		args := []string{"cloudwatch", "get-metric-statistics", "--namespace", "AWS/ApplicationELB", "--metric-name", metric,
			"--start-time", now.Add(-10 * time.Minute).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
			"--period", "600", "--statistics", "Sum", "--dimensions"}
		n.cliJSON(t, &stats, append(args, dims...)...)
		total := 0.0
		for _, dp := range stats.Datapoints {
			total += dp.Sum
		}
		return total
	}
	lbD, tgD := "Name=LoadBalancer,Value="+lbDim, "Name=TargetGroup,Value="+tgDim
	if v := sum("RequestCountPerTarget", tgD); v < 60 {
		t.Errorf("RequestCountPerTarget by TargetGroup: %v", v)
	}
	reqs := sum("RequestCount", lbD)
	if reqs < float64(ok)/2 || reqs > float64(ok)+1000 {
		t.Errorf("RequestCount by LoadBalancer %v; the load got %d answers", reqs, ok)
	}
	if v := sum("RequestCount", lbD, tgD); v != reqs {
		t.Errorf("RequestCount by LoadBalancer and TargetGroup %v, by LoadBalancer %v", v, reqs)
	}
	if v := sum("HTTPCode_Target_2XX_Count", lbD, tgD); v < reqs/2 {
		t.Errorf("HTTPCode_Target_2XX_Count %v", v)
	}
	var listed struct{ Metrics []struct{ MetricName string } }
	n.cliJSON(t, &listed, "cloudwatch", "list-metrics", "--namespace", "AWS/ApplicationELB", "--dimensions", "Name=TargetGroup,Value="+tgDim)
	names := map[string]bool{}
	for _, m := range listed.Metrics {
		names[m.MetricName] = true
	}
	for _, want := range []string{"RequestCount", "RequestCountPerTarget", "TargetResponseTime", "HTTPCode_Target_2XX_Count", "HealthyHostCount", "UnHealthyHostCount"} {
		if !names[want] {
			t.Errorf("list-metrics by TargetGroup lacks %s: %+v", want, listed)
		}
	}

	// No more requests: RequestCountPerTarget is 0, under 90 % of the
	// target, and the service goes back to one task.
	waitActivity(t, n, "service/default/reqs", 1, policy.Alarms[1].AlarmName, "requests", 5*time.Minute)
	if got := desiredCount(t, n, "reqs"); got != 1 {
		t.Errorf("describe-services after the scale-in: desiredCount %d", got)
	}
}
