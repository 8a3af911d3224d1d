package controlplane

import (
	"context"
	"fmt"
	"github.com/minato-project/minato/internal/testutil"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/runtime/fake"
)

// A scrape of /metrics after some API calls, parsed with the Prometheus
// text parser, holds the named series with the values those calls make.
func TestMetricsScrape(t *testing.T) {
	n, err := New(context.Background(), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	info := runNode(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")
	ecsc := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(info.APIURL), Credentials: creds})
	logs := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", BaseEndpoint: aws.String(info.APIURL), Credentials: creds})
	elbc := elb.New(elb.Options{Region: "us-east-1", BaseEndpoint: aws.String(info.APIURL), Credentials: creds})

	for range 3 {
		if _, err := ecsc.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{"x"}}); err == nil {
		t.Fatal("DescribeServices on a missing cluster succeeded")
	}
	if _, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("web:1"), Memory: aws.Int32(64)}}}); err != nil {
		t.Fatal(err)
	}
	// An agent on a fake runtime: one task runs; two that need more
	// memory than it has cannot be placed.
	startFakeAgent(t, info)
	if _, err := ecsc.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("web"), Count: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("huge"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("huge"), Image: aws.String("huge:1"), Memory: aws.Int32(1 << 30)}}}); err != nil {
		t.Fatal(err)
	}
	// A service makes the service controller pass over it.
	if _, err := ecsc.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("idle"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if out, err := ecsc.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("huge"), Count: aws.Int32(2)}); err == nil && len(out.Tasks) > 0 {
		t.Fatalf("a task that fits nowhere was placed: %v", out.Tasks)
	}

	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/web")}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/ecs/web"), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/ecs/web"), LogStreamName: aws.String("s"),
		LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(now), Message: aws.String("hello")}, {Timestamp: aws.Int64(now), Message: aws.String("world!")}}}); err != nil {
		t.Fatal(err)
	}

	// A listener whose target group has no target answers 503 itself.
	lbOut, err := elbc.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := elbc.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("web"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-1")})
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	li, err := elbc.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: lbOut.LoadBalancers[0].LoadBalancerArn,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(int32(port)),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tg.TargetGroups[0].TargetGroupArn}}})
	if err != nil {
		t.Fatal(err)
	}
	listenerARN := aws.ToString(li.Listeners[0].ListenerArn)
	testutil.Eventually(t, 30*time.Second, "the listener to answer 503", func() (bool, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable, resp.Status
	})

	var fams map[string]*dto.MetricFamily
	testutil.Eventually(t, 30*time.Second, "a RUNNING task in minato_tasks and a pass of the service controller", func() (bool, string) {
		fams = scrape(t, info.APIURL)
		passes := fams["minato_controller_pass_duration_seconds"]
		return running(fams) == 1 && passes != nil && passes.Metric[0].GetHistogram().GetSampleCount() > 0,
			fmt.Sprintf("%v %v", fams["minato_tasks"], passes)
	})
	get := func(name string, labels map[string]string) *dto.Metric {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no series %s", name)
		}
	next:
		for _, m := range f.Metric {
			for k, v := range labels {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m
		}
		t.Fatalf("no series %s%v among %v", name, labels, f.Metric)
		return nil
	}
	if v := get("minato_api_requests_total", map[string]string{"service": "ecs", "operation": "ListClusters", "code": ""}).GetCounter().GetValue(); v != 3 {
		t.Errorf("ListClusters requests = %v, want 3", v)
	}
	if v := get("minato_api_requests_total", map[string]string{"service": "ecs", "operation": "DescribeServices", "code": "ClusterNotFoundException"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("failed DescribeServices = %v, want 1", v)
	}
	if h := get("minato_api_request_duration_seconds", map[string]string{"service": "ecs", "operation": "ListClusters"}).GetHistogram(); h.GetSampleCount() != 3 || h.GetSampleSum() <= 0 {
		t.Errorf("ListClusters latency histogram: %v", h)
	}
	if h := get("minato_store_commit_duration_seconds", map[string]string{"result": "ok"}).GetHistogram(); h.GetSampleCount() < 3 {
		t.Errorf("store commits: %v, want at least the task definition, log group and LB writes", h)
	}
	if v := get("minato_scheduler_tasks_total", map[string]string{"result": "unplaced"}).GetCounter().GetValue(); v != 2 {
		t.Errorf("unplaced tasks = %v, want 2", v)
	}
	if v := get("minato_log_ingested_events_total", nil).GetCounter().GetValue(); v != 2 {
		t.Errorf("ingested events = %v, want 2", v)
	}
	if v := get("minato_log_ingested_bytes_total", nil).GetCounter().GetValue(); v != float64(len("hello")+len("world!")) {
		t.Errorf("ingested bytes = %v", v)
	}
	if v := get("minato_scheduler_tasks_total", map[string]string{"result": "placed"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("placed tasks = %v, want 1", v)
	}
	if v := get("minato_container_instances", map[string]string{"cluster": "default"}).GetGauge().GetValue(); v != 1 {
		t.Errorf("container instances = %v, want 1", v)
	}
	if v := get("minato_agents_connected", map[string]string{"cluster": "default"}).GetGauge().GetValue(); v != 1 {
		t.Errorf("connected agents = %v, want 1", v)
	}
	if v := get("minato_agents_connected_here", nil).GetGauge().GetValue(); v != 1 {
		t.Errorf("agents here = %v, want 1", v)
	}
	if h := get("minato_controller_pass_duration_seconds", map[string]string{"controller": "services"}).GetHistogram(); h.GetSampleCount() < 1 {
		t.Errorf("service controller passes: %v", h)
	}
	if m := get("minato_lb_listener_requests_total", map[string]string{"listener": listenerARN}); m.GetCounter().GetValue() < 1 {
		t.Errorf("listener requests: %v", m)
	}
	if m := get("minato_lb_listener_errors_total", map[string]string{"listener": listenerARN}); m.GetCounter().GetValue() < 1 {
		t.Errorf("listener errors: %v", m)
	}
	get("minato_lb_listener_request_duration_seconds", map[string]string{"listener": listenerARN})
	get("minato_lb_target_group_requests_total", map[string]string{"target_group": aws.ToString(tg.TargetGroups[0].TargetGroupArn)})
	get("go_goroutines", nil)
}

// running returns the tasks RUNNING in the default cluster, as scraped.
func running(fams map[string]*dto.MetricFamily) float64 {
	f := fams["minato_tasks"]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		l := map[string]string{}
		for _, lp := range m.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["cluster"] == "default" && l["last_status"] == "RUNNING" {
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// startFakeAgent runs an agent on a fake runtime against the node until
// the test ends, and returns once it has registered.
func startFakeAgent(t *testing.T, info Info) {
	t.Helper()
	r := fake.New()
	r.AddImage("web:1")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Config{Server: info.APIURL, Token: info.AgentToken, DataDir: t.TempDir(), Runtime: r,
			StopTimeout: time.Second, CleanupWait: time.Minute, Logger: slog.New(slog.DiscardHandler),
			Ready: func(id string) { ready <- id }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the agent did not register in a minute")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func scrape(t *testing.T, apiURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(apiURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}
