package ecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

var t0 = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// newServiceAPI is newAPI with a clock that moves one second per reading,
// so that deployments have distinct times, and with the task definitions
// the service tests use: web:1 and web:2 (container "app", port 8080),
// vpc:1 (awsvpc), fg:1 (Fargate) and old:1 (deregistered).
func newServiceAPI(t *testing.T) (*API, store.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var tick atomic.Int64
	clock := core.ClockFunc(func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Second) })
	a := New(Config{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler), TargetGroups: targetGroups{
		"arn:tg":       {TargetType: "instance", LoadBalancerARNs: []string{"arn:lb"}},
		"arn:tg-ip":    {TargetType: "ip", LoadBalancerARNs: []string{"arn:lb"}},
		"arn:tg-alone": {TargetType: "instance"},
	}})
	ctx := context.Background()
	if err := a.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	port, mem := int32(8080), int32(64)
	web := func() *ecstypes.RegisterTaskDefinitionRequest {
		td := simpleTD("web")
		td.ContainerDefinitions[0].PortMappings = []ecstypes.PortMapping{{ContainerPort: &port}}
		return td
	}
	vpc := simpleTD("vpc")
	vpc.NetworkMode = ecstypes.NetworkModeAwsvpc
	fg := &ecstypes.RegisterTaskDefinitionRequest{Family: "fg", NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: "256", Memory: "512",
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ContainerDefinitions:    []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1", Memory: &mem}}}
	for _, td := range []*ecstypes.RegisterTaskDefinitionRequest{web(), web(), vpc, fg, simpleTD("old")} {
		if _, err := a.RegisterTaskDefinition(ctx, call, td); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.DeregisterTaskDefinition(ctx, call, &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: "old:1"}); err != nil {
		t.Fatal(err)
	}
	return a, st
}

func replica(name, td string, n int32) *ecstypes.CreateServiceRequest {
	return &ecstypes.CreateServiceRequest{ServiceName: name, TaskDefinition: td, DesiredCount: &n}
}

var subnets = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}

func mustCreate(t *testing.T, a *API, in *ecstypes.CreateServiceRequest) ecstypes.Service {
	t.Helper()
	out, err := a.CreateService(context.Background(), call, in)
	if err != nil {
		t.Fatalf("CreateService(%s): %v", in.ServiceName, err)
	}
	return *out.Service
}

func getService(t *testing.T, st store.Store, cluster, name string) state.Item[state.Service] {
	t.Helper()
	it, err := state.Get[state.Service](context.Background(), st, state.ServiceKey(cluster, name))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// editService changes a stored service as the service controller would.
func editService(t *testing.T, st store.Store, cluster, name string, edit func(*state.Service)) {
	t.Helper()
	it := getService(t, st, cluster, name)
	edit(&it.Value)
	b, _ := state.Encode(it.Value)
	if _, err := st.Txn(context.Background(), []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}, []store.Op{store.Put(it.Key, b)}); err != nil {
		t.Fatal(err)
	}
}

func history(t *testing.T, st store.Store, cluster, name string) []state.ServiceDeployment {
	t.Helper()
	its, err := state.List[state.ServiceDeployment](context.Background(), st, state.ServiceDeploymentsPrefix(cluster, name), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []state.ServiceDeployment
	for _, it := range its {
		out = append(out, it.Value)
	}
	slices.SortFunc(out, func(x, y state.ServiceDeployment) int { return x.Sequence - y.Sequence })
	return out
}

var deploymentIDRE = regexp.MustCompile(`^ecs-svc/[1-9][0-9]{18}$`)

func TestCreateServiceDefaults(t *testing.T) {
	a, st := newServiceAPI(t)
	s := mustCreate(t, a, replica("api", "web", 2))
	const arnPrefix = "arn:aws:ecs:us-east-1:000000000000:"
	checks := []struct {
		what      string
		got, want any
	}{
		{"serviceArn", s.ServiceArn, arnPrefix + "service/default/api"},
		{"clusterArn", s.ClusterArn, arnPrefix + "cluster/default"},
		{"taskDefinition", s.TaskDefinition, arnPrefix + "task-definition/web:2"},
		{"status", s.Status, "ACTIVE"},
		{"desiredCount", s.DesiredCount, int32(2)},
		{"launchType", s.LaunchType, ecstypes.LaunchTypeEc2},
		{"schedulingStrategy", s.SchedulingStrategy, ecstypes.SchedulingStrategyReplica},
		{"propagateTags", s.PropagateTags, ecstypes.PropagateTagsNone},
		{"deploymentController", s.DeploymentController.Type, ecstypes.DeploymentControllerTypeEcs},
		{"maximumPercent", *s.DeploymentConfiguration.MaximumPercent, int32(200)},
		{"minimumHealthyPercent", *s.DeploymentConfiguration.MinimumHealthyPercent, int32(100)},
		{"circuitBreaker", *s.DeploymentConfiguration.DeploymentCircuitBreaker, ecstypes.DeploymentCircuitBreaker{}},
		{"strategy", s.DeploymentConfiguration.Strategy, ecstypes.DeploymentStrategyRolling},
		{"healthCheckGracePeriodSeconds", *s.HealthCheckGracePeriodSeconds, int32(0)},
		{"createdBy", s.CreatedBy, call.Principal.ARN},
		{"events", len(s.Events), 0},
		{"deployments", len(s.Deployments), 1},
		{"platformVersion", s.PlatformVersion, ""},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	d := s.Deployments[0]
	if !deploymentIDRE.MatchString(d.Id) || d.Status != "PRIMARY" || d.RolloutState != ecstypes.DeploymentRolloutStateInProgress ||
		d.RolloutStateReason != "ECS deployment "+d.Id+" in progress." || d.DesiredCount != 2 || d.TaskDefinition != s.TaskDefinition ||
		d.CreatedAt.IsZero() || d.LaunchType != ecstypes.LaunchTypeEc2 {
		t.Errorf("first deployment: %+v", d)
	}
	rec := getService(t, st, "default", "api").Value
	if rec.Service.ServiceArn != "" || rec.Service.TaskDefinition != "web:2" || rec.Service.Deployments[0].TaskDefinition != "web:2" ||
		rec.DeploymentCount != 1 || rec.Steady {
		t.Errorf("stored record: %+v", rec)
	}
	h := history(t, st, "default", "api")
	if len(h) != 1 || len(h[0].ID) != 26 || h[0].DeploymentID != d.Id || h[0].TaskDefinition != "web:2" || h[0].Sequence != 1 ||
		h[0].Deployment.Status != ecstypes.ServiceDeploymentStatusInProgress || *h[0].Deployment.DeploymentConfiguration.MaximumPercent != 200 {
		t.Fatalf("history: %+v", h)
	}
	if want := arnPrefix + "service-deployment/default/api/" + h[0].ID; s.CurrentServiceDeployment != want {
		t.Errorf("currentServiceDeployment = %q, want %q", s.CurrentServiceDeployment, want)
	}

	daemon := mustCreate(t, a, &ecstypes.CreateServiceRequest{ServiceName: "agent", TaskDefinition: "web:1", SchedulingStrategy: ecstypes.SchedulingStrategyDaemon})
	if dc := daemon.DeploymentConfiguration; *dc.MaximumPercent != 100 || *dc.MinimumHealthyPercent != 0 || daemon.DesiredCount != 0 {
		t.Errorf("DAEMON defaults: %+v, desired %d", dc, daemon.DesiredCount)
	}
	fg := mustCreate(t, a, &ecstypes.CreateServiceRequest{ServiceName: "fg", TaskDefinition: "fg", DesiredCount: new(int32(1)),
		LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: subnets})
	if fg.PlatformVersion != "LATEST" || fg.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp != ecstypes.AssignPublicIpDisabled {
		t.Errorf("Fargate service: platform %q, network %+v", fg.PlatformVersion, fg.NetworkConfiguration.AwsvpcConfiguration)
	}
}

func TestCreateServiceValidation(t *testing.T) {
	a, _ := newServiceAPI(t)
	ctx := context.Background()
	if _, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "fargate", CapacityProviders: []string{"FARGATE"}}); err != nil {
		t.Fatal(err)
	}
	port, other := int32(8080), int32(9090)
	daemon := func(f func(*ecstypes.CreateServiceRequest)) *ecstypes.CreateServiceRequest {
		in := &ecstypes.CreateServiceRequest{ServiceName: "s", TaskDefinition: "web", SchedulingStrategy: ecstypes.SchedulingStrategyDaemon}
		f(in)
		return in
	}
	rep := func(f func(*ecstypes.CreateServiceRequest)) *ecstypes.CreateServiceRequest {
		in := replica("s", "web", 1)
		f(in)
		return in
	}
	const ipe, ce = ecstypes.ErrCodeInvalidParameterException, ecstypes.ErrCodeClientException
	cases := []struct {
		name, code, msg string
		in              *ecstypes.CreateServiceRequest
	}{
		{"bad name", ipe, "is invalid", rep(func(in *ecstypes.CreateServiceRequest) { in.ServiceName = "a b" })},
		{"no desiredCount", ipe, "desiredCount is required", rep(func(in *ecstypes.CreateServiceRequest) { in.DesiredCount = nil })},
		{"negative desiredCount", ipe, "at least 0", replica("s", "web", -1)},
		{"daemon desiredCount", ipe, "does not support a desired count", daemon(func(in *ecstypes.CreateServiceRequest) { in.DesiredCount = new(int32(1)) })},
		{"daemon strategy", ipe, "does not support placement strategies", daemon(func(in *ecstypes.CreateServiceRequest) {
			in.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeRandom}}
		})},
		{"daemon fargate", ipe, "FARGATE launch type", daemon(func(in *ecstypes.CreateServiceRequest) {
			in.TaskDefinition, in.LaunchType, in.NetworkConfiguration = "fg", ecstypes.LaunchTypeFargate, subnets
		})},
		{"daemon maximumPercent", ipe, "does not support values above 100 for maximumPercent", daemon(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{MaximumPercent: new(int32(200))}
		})},
		{"maximumPercent", ipe, "maximumPercent", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{MaximumPercent: new(int32(50))}
		})},
		{"minimumHealthyPercent", ipe, "minimumHealthyPercent", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: new(int32(150))}
		})},
		{"blue/green", ipe, "BLUE_GREEN", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen}
		})},
		{"blue/green without bake", ipe, "bakeTimeInMinutes is required", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen}
		})},
		{"bake range", ipe, "bakeTimeInMinutes must be between 0 and 1440", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: new(int32(1441))}
		})},
		{"linear step", ipe, "stepPercent must be a multiple of 0.1 between 3.0 and 100.0", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear,
				LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: new(2.5)}}
		})},
		{"linear step tenths", ipe, "multiple of 0.1", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear,
				LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: new(12.55)}}
		})},
		{"canary config on linear", ipe, "canaryConfiguration is only valid when the deployment strategy is CANARY", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear,
				CanaryConfiguration: &ecstypes.CanaryConfiguration{CanaryPercent: new(10.0)}}
		})},
		{"canary bake", ipe, "canaryBakeTimeInMinutes must be between 0 and 1440", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary,
				CanaryConfiguration: &ecstypes.CanaryConfiguration{CanaryBakeTimeInMinutes: new(int32(-1))}}
		})},
		{"hooks on rolling", ipe, "only valid with the BLUE_GREEN, LINEAR and CANARY", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{
				TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause, LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{"POST_SCALE_UP"}}}}
		})},
		{"lambda hook", ipe, "minato has no AWS Lambda", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary,
				LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: "arn:aws:lambda:us-east-1:1:function:f",
					LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{"POST_SCALE_UP"}}}}
		})},
		{"pause at a shift", ipe, "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary,
				LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause,
					LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{"PRODUCTION_TRAFFIC_SHIFT"}}}}
		})},
		{"hook without stages", ipe, "lifecycleStages is required", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary,
				LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: "http://hook"}}}
		})},
		{"hook not a URL", ipe, "neither a Lambda function ARN nor an http", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary,
				LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: "ftp://x", LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{"POST_SCALE_UP"}}}}
		})},
		{"daemon blue/green", ipe, "DAEMON scheduling strategy", daemon(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: new(int32(1))}
		})},
		{"code deploy", ipe, "CODE_DEPLOY deployment controller", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentController = &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy}
		})},
		{"external", ipe, "EXTERNAL deployment controller", rep(func(in *ecstypes.CreateServiceRequest) {
			in.DeploymentController = &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal}
		})},
		{"no task definition", ipe, "task definition must be specified", rep(func(in *ecstypes.CreateServiceRequest) { in.TaskDefinition = "" })},
		{"missing task definition", ipe, "TaskDefinition not found.", replica("s", "nope:1", 1)},
		{"inactive task definition", ce, "TaskDefinition is inactive", replica("s", "old:1", 1)},
		{"launch type and strategy", ipe, "Specifying both a launch type and capacity provider strategy", rep(func(in *ecstypes.CreateServiceRequest) {
			in.LaunchType = ecstypes.LaunchTypeEc2
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE"}}
		})},
		{"provider not in cluster", ipe, "not associated with the cluster", rep(func(in *ecstypes.CreateServiceRequest) {
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE"}}
		})},
		{"platform version on EC2", ipe, "platform version must be null", rep(func(in *ecstypes.CreateServiceRequest) { in.PlatformVersion = "1.4.0" })},
		{"awsvpc without network", ipe, "Network Configuration must be provided", replica("s", "vpc", 1)},
		{"fargate incompatible", ipe, "does not support launch_type FARGATE", rep(func(in *ecstypes.CreateServiceRequest) {
			in.LaunchType = ecstypes.LaunchTypeFargate
		})},
		{"placement", ipe, "closest", rep(func(in *ecstypes.CreateServiceRequest) {
			in.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: "closest"}}
		})},
		{"lb without target", ipe, "targetGroupArn", rep(func(in *ecstypes.CreateServiceRequest) {
			in.LoadBalancers = []ecstypes.LoadBalancer{{ContainerName: "app", ContainerPort: &port}}
		})},
		{"lb container", ipe, "The container web does not exist in the task definition.", rep(func(in *ecstypes.CreateServiceRequest) {
			in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: "arn:tg", ContainerName: "web", ContainerPort: &port}}
		})},
		{"lb port", ipe, "The container app did not have a container port 9090 defined.", rep(func(in *ecstypes.CreateServiceRequest) {
			in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: "arn:tg", ContainerName: "app", ContainerPort: &other}}
		})},
		{"two registries", ipe, "one service registry", rep(func(in *ecstypes.CreateServiceRequest) {
			in.ServiceRegistries = []ecstypes.ServiceRegistry{{RegistryArn: "a"}, {RegistryArn: "b"}}
		})},
		{"grace period", ipe, "healthCheckGracePeriodSeconds", rep(func(in *ecstypes.CreateServiceRequest) { in.HealthCheckGracePeriodSeconds = new(int32(-1)) })},
		{"reserved tag", ipe, "reserved", rep(func(in *ecstypes.CreateServiceRequest) { in.Tags = []ecstypes.Tag{{Key: "aws:x", Value: "y"}} })},
		{"service connect", ipe, "Service Connect", rep(func(in *ecstypes.CreateServiceRequest) {
			in.ServiceConnectConfiguration = &ecstypes.ServiceConnectConfiguration{Enabled: true}
		})},
		{"missing cluster", ecstypes.ErrCodeClusterNotFoundException, "Cluster not found.", rep(func(in *ecstypes.CreateServiceRequest) { in.Cluster = "nope" })},
	}
	for _, tc := range cases {
		_, err := a.CreateService(ctx, call, tc.in)
		if e, ok := core.AsError(err); !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: CreateService = %v, want %s containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
	list, err := a.ListServices(ctx, call, &ecstypes.ListServicesRequest{})
	if err != nil || len(list.ServiceArns) != 0 {
		t.Fatalf("refused services were stored: %v %v", list, err)
	}
	// The cluster's default capacity provider strategy applies.
	if _, err := a.PutClusterCapacityProviders(ctx, call, &ecstypes.PutClusterCapacityProvidersRequest{Cluster: "fargate",
		CapacityProviders:               []string{"FARGATE"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE", Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	in := replica("s", "fg", 1)
	in.Cluster, in.NetworkConfiguration = "fargate", subnets
	s := mustCreate(t, a, in)
	if s.LaunchType != "" || len(s.CapacityProviderStrategy) != 1 || s.PlatformVersion != "LATEST" {
		t.Errorf("service on the cluster's default strategy: launchType %q, strategy %v, platform %q", s.LaunchType, s.CapacityProviderStrategy, s.PlatformVersion)
	}
}

func TestServiceNameReuse(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	first := mustCreate(t, a, replica("api", "web:1", 0))
	for _, msg := range []string{"Creation of service was not idempotent.", "Unable to Start a service that is still Draining."} {
		if _, err := a.CreateService(ctx, call, replica("api", "web:1", 1)); errCode(err) != ecstypes.ErrCodeInvalidParameterException || !strings.Contains(err.Error(), msg) {
			t.Fatalf("create over an existing service: %v, want %q", err, msg)
		}
		if _, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "api"}); err != nil { // ACTIVE, then DRAINING
			t.Fatal(err)
		}
	}
	editService(t, st, "default", "api", func(s *state.Service) { s.Service.Status = "INACTIVE"; s.Service.Deployments = nil }) // the controller's part
	second := mustCreate(t, a, replica("api", "web:2", 3))
	if second.Status != "ACTIVE" || second.DesiredCount != 3 || len(second.Deployments) != 1 || second.Deployments[0].Id == first.Deployments[0].Id {
		t.Fatalf("recreated service: %+v", second)
	}
	rec := getService(t, st, "default", "api").Value
	h := history(t, st, "default", "api")
	if rec.DeploymentCount != 2 || len(h) != 2 || h[0].Deployment.Status != ecstypes.ServiceDeploymentStatusStopped ||
		h[1].Deployment.Status != ecstypes.ServiceDeploymentStatusInProgress || h[1].TaskDefinition != "web:2" {
		t.Fatalf("after recreate: count %d, history %+v", rec.DeploymentCount, h)
	}
}

func TestUpdateServiceDeployments(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	port := int32(8080)
	cases := []struct {
		name   string
		td     string
		update ecstypes.UpdateServiceRequest
		deploy bool
		check  func(s ecstypes.Service) bool
	}{
		{"desiredCount", "web:1", ecstypes.UpdateServiceRequest{DesiredCount: new(int32(5))}, false,
			func(s ecstypes.Service) bool { return s.DesiredCount == 5 && s.Deployments[0].DesiredCount == 5 }},
		{"taskDefinition", "web:1", ecstypes.UpdateServiceRequest{TaskDefinition: "web:2"}, true,
			func(s ecstypes.Service) bool { return strings.HasSuffix(s.TaskDefinition, "web:2") }},
		{"same taskDefinition", "web:1", ecstypes.UpdateServiceRequest{TaskDefinition: "web:1"}, false, nil},
		{"forceNewDeployment", "web:1", ecstypes.UpdateServiceRequest{ForceNewDeployment: true}, true, nil},
		{"networkConfiguration", "vpc", ecstypes.UpdateServiceRequest{NetworkConfiguration: &ecstypes.NetworkConfiguration{
			AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-2"}}}}, true, nil},
		{"same networkConfiguration", "vpc", ecstypes.UpdateServiceRequest{NetworkConfiguration: subnets}, false, nil},
		{"loadBalancers", "web:1", ecstypes.UpdateServiceRequest{LoadBalancers: []ecstypes.LoadBalancer{
			{TargetGroupArn: "arn:tg", ContainerName: "app", ContainerPort: &port}}}, true, nil},
		{"serviceRegistries", "web:1", ecstypes.UpdateServiceRequest{ServiceRegistries: []ecstypes.ServiceRegistry{{RegistryArn: "arn:sd"}}}, true, nil},
		{"placement", "web:1", ecstypes.UpdateServiceRequest{PlacementStrategy: []ecstypes.PlacementStrategy{{Type: "binpack", Field: "memory"}},
			PlacementConstraints: []ecstypes.PlacementConstraint{{Type: "distinctInstance"}}}, false,
			func(s ecstypes.Service) bool {
				return len(s.PlacementStrategy) == 1 && len(s.PlacementConstraints) == 1
			}},
		{"deploymentConfiguration", "web:1", ecstypes.UpdateServiceRequest{DeploymentConfiguration: &ecstypes.DeploymentConfiguration{
			MaximumPercent: new(int32(150)), DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}}}, false,
			func(s ecstypes.Service) bool {
				dc := s.DeploymentConfiguration
				return *dc.MaximumPercent == 150 && *dc.MinimumHealthyPercent == 100 && dc.DeploymentCircuitBreaker.Rollback
			}},
		{"healthCheckGracePeriod", "web:1", ecstypes.UpdateServiceRequest{HealthCheckGracePeriodSeconds: new(int32(30)), EnableExecuteCommand: new(true),
			PropagateTags: ecstypes.PropagateTagsService}, false,
			func(s ecstypes.Service) bool {
				return *s.HealthCheckGracePeriodSeconds == 30 && s.EnableExecuteCommand && s.PropagateTags == ecstypes.PropagateTagsService
			}},
	}
	for i, tc := range cases {
		name := fmt.Sprintf("s%d", i)
		in := replica(name, tc.td, 2)
		if tc.td == "vpc" {
			in.NetworkConfiguration = subnets
		}
		created := mustCreate(t, a, in)
		editService(t, st, "default", name, func(s *state.Service) { s.Steady = true })
		tc.update.Service = name
		out, err := a.UpdateService(ctx, call, &tc.update)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		s := *out.Service
		rec := getService(t, st, "default", name).Value
		h := history(t, st, "default", name)
		if !tc.deploy {
			if len(s.Deployments) != 1 || s.Deployments[0].Id != created.Deployments[0].Id || len(h) != 1 || rec.DeploymentCount != 1 {
				t.Errorf("%s started a deployment: %+v", tc.name, s.Deployments)
			}
		} else {
			old, d := created.Deployments[0], s.Deployments[0]
			if len(s.Deployments) != 2 || d.Status != "PRIMARY" || d.Id == old.Id || s.Deployments[1].Id != old.Id || s.Deployments[1].Status != "ACTIVE" ||
				d.RolloutState != ecstypes.DeploymentRolloutStateInProgress || d.DesiredCount != 2 || rec.DeploymentCount != 2 {
				t.Errorf("%s: deployments %+v", tc.name, s.Deployments)
			}
			if len(h) != 2 || h[0].Deployment.Status != ecstypes.ServiceDeploymentStatusStopped || h[0].Deployment.StatusReason == "" ||
				h[1].Deployment.Status != ecstypes.ServiceDeploymentStatusInProgress || h[1].DeploymentID != d.Id || h[1].Sequence != 2 ||
				!slices.Equal(h[1].SourceDeploymentIDs, []string{old.Id}) || !slices.Equal(h[1].Source, []string{rec.Service.Deployments[1].TaskDefinition}) ||
				!strings.HasSuffix(s.CurrentServiceDeployment, h[1].ID) {
				t.Errorf("%s: history %+v", tc.name, h)
			}
		}
		if tc.check != nil && !tc.check(s) {
			t.Errorf("%s: service %+v", tc.name, s)
		}
		if changed := !strings.HasPrefix(tc.name, "same "); rec.Steady == changed {
			t.Errorf("%s: Steady = %v", tc.name, rec.Steady)
		}
	}
}

func TestUpdateServiceRefused(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	if _, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "fargate", CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterTaskDefinition(ctx, call, simpleTD("noport")); err != nil {
		t.Fatal(err)
	}
	port := int32(8080)
	lb := replica("lb", "web:2", 1)
	lb.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: "arn:tg", ContainerName: "app", ContainerPort: &port}}
	mustCreate(t, a, lb)
	mustCreate(t, a, &ecstypes.CreateServiceRequest{ServiceName: "d", TaskDefinition: "web", SchedulingStrategy: ecstypes.SchedulingStrategyDaemon})
	fg := &ecstypes.CreateServiceRequest{ServiceName: "fg", Cluster: "fargate", TaskDefinition: "fg", DesiredCount: new(int32(1)),
		LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: subnets}
	mustCreate(t, a, fg)
	mustCreate(t, a, replica("gone", "web", 0))
	if _, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "gone"}); err != nil {
		t.Fatal(err)
	}
	spot := []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE_SPOT", Weight: 1}}
	const ipe = ecstypes.ErrCodeInvalidParameterException
	for _, tc := range []struct {
		name, code, msg string
		in              ecstypes.UpdateServiceRequest
	}{
		{"missing", ecstypes.ErrCodeServiceNotFoundException, "Service not found.", ecstypes.UpdateServiceRequest{Service: "nope"}},
		{"draining", ecstypes.ErrCodeServiceNotActiveException, "Service was not ACTIVE.", ecstypes.UpdateServiceRequest{Service: "gone"}},
		{"cluster", ecstypes.ErrCodeClusterNotFoundException, "", ecstypes.UpdateServiceRequest{Service: "lb", Cluster: "nope"}},
		{"daemon desiredCount", ipe, "desired count", ecstypes.UpdateServiceRequest{Service: "d", DesiredCount: new(int32(2))}},
		{"daemon strategy", ipe, "placement strategies", ecstypes.UpdateServiceRequest{Service: "d",
			PlacementStrategy: []ecstypes.PlacementStrategy{{Type: "random"}}}},
		{"inactive td", ecstypes.ErrCodeClientException, "TaskDefinition is inactive", ecstypes.UpdateServiceRequest{Service: "lb", TaskDefinition: "old:1"}},
		{"lb no longer fits", ipe, "The container app did not have a container port 8080 defined.", ecstypes.UpdateServiceRequest{Service: "lb", TaskDefinition: "noport"}},
		{"capacity change without force", ipe, "you must force a new deployment", ecstypes.UpdateServiceRequest{Service: "fg", Cluster: "fargate",
			CapacityProviderStrategy: spot}},
		{"code deploy", ipe, "CODE_DEPLOY", ecstypes.UpdateServiceRequest{Service: "lb",
			DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeCodeDeploy}}},
		{"percent", ipe, "minimumHealthyPercent", ecstypes.UpdateServiceRequest{Service: "lb",
			DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: new(int32(-1))}}},
	} {
		_, err := a.UpdateService(ctx, call, &tc.in)
		if e, ok := core.AsError(err); !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: UpdateService = %v, want %s containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
	out, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "fg", Cluster: "arn:aws:ecs:us-east-1:000000000000:cluster/fargate",
		CapacityProviderStrategy: spot, ForceNewDeployment: true})
	if err != nil || out.Service.LaunchType != "" || len(out.Service.Deployments) != 2 || out.Service.Deployments[0].CapacityProviderStrategy[0].CapacityProvider != "FARGATE_SPOT" {
		t.Fatalf("capacity change with force: %+v %v", out, err)
	}
	// By ARN, with the cluster taken from it.
	out, err = a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "arn:aws:ecs:us-east-1:000000000000:service/fargate/fg",
		CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{}, ForceNewDeployment: true})
	if err != nil || out.Service.LaunchType != ecstypes.LaunchTypeFargate || out.Service.PlatformVersion != "LATEST" {
		t.Fatalf("back to the launch type: %+v %v", out, err)
	}
	if rec := getService(t, st, "default", "lb").Value; rec.DeploymentCount != 1 || rec.Service.TaskDefinition != "web:2" {
		t.Fatalf("refused updates changed the service: %+v", rec)
	}
}

func TestDeleteService(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	mustCreate(t, a, replica("api", "web", 2))
	_, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "api"})
	if errCode(err) != ecstypes.ErrCodeInvalidParameterException || !strings.Contains(err.Error(), "The service cannot be stopped while it is scaled above 0.") {
		t.Fatalf("delete without force: %v", err)
	}
	out, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "api", Force: new(true)})
	if err != nil || out.Service.Status != "DRAINING" || out.Service.DesiredCount != 0 || out.Service.Deployments[0].DesiredCount != 0 {
		t.Fatalf("forced delete: %+v %v", out, err)
	}
	if h := history(t, st, "default", "api"); h[0].Deployment.Status != ecstypes.ServiceDeploymentStatusStopped || h[0].Deployment.StoppedAt.IsZero() {
		t.Errorf("history after delete: %+v", h[0].Deployment)
	}
	if again, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "api"}); err != nil || again.Service.Status != "DRAINING" {
		t.Fatalf("delete of a DRAINING service: %+v %v", again, err)
	}
	mustCreate(t, a, &ecstypes.CreateServiceRequest{ServiceName: "d", TaskDefinition: "web", SchedulingStrategy: ecstypes.SchedulingStrategyDaemon})
	if out, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "arn:aws:ecs:us-east-1:000000000000:service/default/d"}); err != nil || out.Service.Status != "DRAINING" {
		t.Fatalf("delete of a DAEMON service without force: %+v %v", out, err)
	}
	list, err := a.ListServices(ctx, call, &ecstypes.ListServicesRequest{})
	if err != nil || len(list.ServiceArns) != 0 {
		t.Fatalf("DRAINING services are listed: %v %v", list, err)
	}
	editService(t, st, "default", "api", func(s *state.Service) { s.Service.Status = "INACTIVE" })
	for _, ref := range []string{"api", "nope"} {
		if _, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: ref, Force: new(true)}); errCode(err) != ecstypes.ErrCodeServiceNotFoundException {
			t.Errorf("delete of %s: %v", ref, err)
		}
	}
	d, err := a.DescribeServices(ctx, call, &ecstypes.DescribeServicesRequest{Services: []string{"api"}})
	if err != nil || len(d.Services) != 1 || d.Services[0].Status != "INACTIVE" {
		t.Fatalf("INACTIVE service is still described: %+v %v", d, err)
	}
}

// putTask writes a task record of a service directly, as placement would.
func putTask(t *testing.T, st store.Store, id, service, deployment, last, desired string) {
	t.Helper()
	task := state.Task{ID: id, Cluster: "default", Family: "web", Revision: 1, ServiceName: service, DeploymentID: deployment,
		Task: ecstypes.Task{LastStatus: last, DesiredStatus: desired}}
	b, _ := state.Encode(task)
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put(state.TaskKey("default", id), b)}); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeServicesCounts(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	in := replica("api", "web:1", 4)
	in.Tags = []ecstypes.Tag{{Key: "team", Value: "a"}}
	first := mustCreate(t, a, in).Deployments[0].Id
	up, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "api", TaskDefinition: "web:2"})
	if err != nil {
		t.Fatal(err)
	}
	second := up.Service.Deployments[0].Id
	mustCreate(t, a, replica("other", "web:1", 1))
	putTask(t, st, "t1", "api", first, "RUNNING", "RUNNING")
	putTask(t, st, "t2", "api", first, "RUNNING", "STOPPED") // being stopped: not counted
	putTask(t, st, "t3", "api", second, "RUNNING", "RUNNING")
	putTask(t, st, "t4", "api", second, "PROVISIONING", "RUNNING")
	putTask(t, st, "t5", "api", second, "ACTIVATING", "RUNNING")
	putTask(t, st, "t6", "api", second, "STOPPED", "RUNNING")
	putTask(t, st, "t7", "other", "x", "RUNNING", "RUNNING")
	putTask(t, st, "t8", "", "", "RUNNING", "RUNNING")
	out, err := a.DescribeServices(ctx, call, &ecstypes.DescribeServicesRequest{
		Services: []string{"api", "arn:aws:ecs:us-east-1:000000000000:service/default/other", "nope"},
		Include:  []ecstypes.ServiceField{ecstypes.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 2 || len(out.Failures) != 1 || out.Failures[0].Reason != "MISSING" ||
		out.Failures[0].Arn != "arn:aws:ecs:us-east-1:000000000000:service/default/nope" {
		t.Fatalf("describe: %+v", out)
	}
	s := out.Services[0]
	if s.RunningCount != 2 || s.PendingCount != 2 || len(s.Tags) != 1 {
		t.Errorf("service counts running %d pending %d, tags %v", s.RunningCount, s.PendingCount, s.Tags)
	}
	d := s.Deployments
	if d[0].Id != second || d[0].RunningCount != 1 || d[0].PendingCount != 2 || d[1].RunningCount != 1 || d[1].PendingCount != 0 ||
		!strings.HasSuffix(d[1].TaskDefinition, "task-definition/web:1") {
		t.Errorf("deployment counts: %+v", d)
	}
	if r := s.CurrentServiceRevisions; len(r) != 2 || r[0].RequestedTaskCount != 4 || r[0].PendingTaskCount != 2 ||
		r[0].Arn != "arn:aws:ecs:us-east-1:000000000000:service-revision/default/api/"+strings.TrimPrefix(second, "ecs-svc/") {
		t.Errorf("current revisions: %+v", r)
	}
	if o := out.Services[1]; o.RunningCount != 1 || o.Tags == nil {
		t.Errorf("other service: %+v", o)
	}
	noTags, err := a.DescribeServices(ctx, call, &ecstypes.DescribeServicesRequest{Services: []string{"api"}})
	if err != nil || noTags.Services[0].Tags != nil {
		t.Errorf("tags without include: %v %v", noTags.Services[0].Tags, err)
	}
	eleven := make([]string, 11)
	if _, err := a.DescribeServices(ctx, call, &ecstypes.DescribeServicesRequest{Services: eleven}); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Errorf("11 services: %v", err)
	}
	if _, err := a.DescribeServices(ctx, call, &ecstypes.DescribeServicesRequest{Cluster: "nope", Services: []string{"api"}}); errCode(err) != ecstypes.ErrCodeClusterNotFoundException {
		t.Errorf("missing cluster: %v", err)
	}
}

func TestListServices(t *testing.T) {
	a, _ := newServiceAPI(t)
	ctx := context.Background()
	for i := range 7 {
		mustCreate(t, a, replica(fmt.Sprintf("s%d", i), "web", 0))
	}
	mustCreate(t, a, &ecstypes.CreateServiceRequest{ServiceName: "daemon", TaskDefinition: "web", SchedulingStrategy: ecstypes.SchedulingStrategyDaemon})
	mustCreate(t, a, &ecstypes.CreateServiceRequest{ServiceName: "fg", TaskDefinition: "fg", DesiredCount: new(int32(0)),
		LaunchType: ecstypes.LaunchTypeFargate, NetworkConfiguration: subnets})
	if _, err := a.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "s3"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	token := ""
	for {
		out, err := a.ListServices(ctx, call, &ecstypes.ListServicesRequest{MaxResults: new(int32(3)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.ServiceArns...)
		if token = out.NextToken; token == "" {
			break
		}
	}
	if len(got) != 8 || !slices.IsSorted(got) || slices.Contains(got, "arn:aws:ecs:us-east-1:000000000000:service/default/s3") {
		t.Fatalf("listed %v", got)
	}
	def, err := a.ListServices(ctx, call, &ecstypes.ListServicesRequest{})
	if err != nil || len(def.ServiceArns) != 8 || def.NextToken != "" {
		t.Fatalf("default page: %v %v", def, err)
	}
	for _, tc := range []struct {
		in   ecstypes.ListServicesRequest
		want string
	}{
		{ecstypes.ListServicesRequest{SchedulingStrategy: ecstypes.SchedulingStrategyDaemon}, "daemon"},
		{ecstypes.ListServicesRequest{LaunchType: ecstypes.LaunchTypeFargate}, "fg"},
	} {
		out, err := a.ListServices(ctx, call, &tc.in)
		if err != nil || len(out.ServiceArns) != 1 || !strings.HasSuffix(out.ServiceArns[0], "/"+tc.want) {
			t.Errorf("filter %+v: %v %v", tc.in, out, err)
		}
	}
	for _, in := range []*ecstypes.ListServicesRequest{{MaxResults: new(int32(101))}, {NextToken: "!!"}, {Cluster: "nope"}} {
		if _, err := a.ListServices(ctx, call, in); err == nil {
			t.Errorf("ListServices(%+v) succeeded", in)
		}
	}
	ns, err := a.ListServicesByNamespace(ctx, call, &ecstypes.ListServicesByNamespaceRequest{Namespace: "ns"})
	if err != nil || ns.ServiceArns == nil || len(ns.ServiceArns) != 0 {
		t.Fatalf("ListServicesByNamespace: %v %v", ns, err)
	}
}

func TestServiceDeploymentHistory(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	in := replica("api", "web:1", 2)
	in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true}}
	mustCreate(t, a, in)
	var last ecstypes.Service
	for range 4 {
		out, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "api", ForceNewDeployment: true})
		if err != nil {
			t.Fatal(err)
		}
		last = *out.Service
	}
	h := history(t, st, "default", "api")
	if len(h) != 5 {
		t.Fatalf("%d history records", len(h))
	}
	var arns []string
	token := ""
	for {
		out, err := a.ListServiceDeployments(ctx, call, &ecstypes.ListServiceDeploymentsRequest{Service: "api", MaxResults: new(int32(2)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range out.ServiceDeployments {
			arns = append(arns, b.ServiceDeploymentArn)
			if b.CreatedAt.IsZero() || b.ClusterArn == "" || !strings.HasSuffix(b.ServiceArn, "service/default/api") || !strings.Contains(b.TargetServiceRevisionArn, "service-revision/default/api/") {
				t.Errorf("brief: %+v", b)
			}
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	want := []string{}
	for i := len(h) - 1; i >= 0; i-- {
		want = append(want, "arn:aws:ecs:us-east-1:000000000000:service-deployment/default/api/"+h[i].ID)
	}
	if !slices.Equal(arns, want) {
		t.Fatalf("listed %v, want newest first %v", arns, want)
	}
	inProgress, err := a.ListServiceDeployments(ctx, call, &ecstypes.ListServiceDeploymentsRequest{Service: "arn:aws:ecs:us-east-1:000000000000:service/default/api",
		Status: []ecstypes.ServiceDeploymentStatus{ecstypes.ServiceDeploymentStatusInProgress}})
	if err != nil || len(inProgress.ServiceDeployments) != 1 || inProgress.ServiceDeployments[0].ServiceDeploymentArn != want[0] {
		t.Fatalf("status filter: %+v %v", inProgress, err)
	}
	mid := h[2].Deployment.CreatedAt
	window, err := a.ListServiceDeployments(ctx, call, &ecstypes.ListServiceDeploymentsRequest{Service: "api",
		CreatedAt: &ecstypes.CreatedAt{After: mid, Before: mid}})
	if err != nil || len(window.ServiceDeployments) != 1 || window.ServiceDeployments[0].ServiceDeploymentArn != want[2] {
		t.Fatalf("createdAt filter: %+v %v", window, err)
	}
	for _, tc := range []struct {
		in   ecstypes.ListServiceDeploymentsRequest
		code string
	}{
		{ecstypes.ListServiceDeploymentsRequest{Service: "nope"}, ecstypes.ErrCodeServiceNotFoundException},
		{ecstypes.ListServiceDeploymentsRequest{Service: "api", Cluster: "nope"}, ecstypes.ErrCodeClusterNotFoundException},
		{ecstypes.ListServiceDeploymentsRequest{Service: "api", MaxResults: new(int32(0))}, ecstypes.ErrCodeInvalidParameterException},
	} {
		if _, err := a.ListServiceDeployments(ctx, call, &tc.in); errCode(err) != tc.code {
			t.Errorf("ListServiceDeployments(%+v) = %v, want %s", tc.in, err, tc.code)
		}
	}

	putTask(t, st, "t1", "api", last.Deployments[0].Id, "RUNNING", "RUNNING")
	putTask(t, st, "t2", "api", last.Deployments[1].Id, "PENDING", "RUNNING")
	missing := "arn:aws:ecs:us-east-1:000000000000:service-deployment/default/api/NOPE"
	out, err := a.DescribeServiceDeployments(ctx, call, &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{want[0], want[4], missing}})
	if err != nil || len(out.ServiceDeployments) != 2 || len(out.Failures) != 1 || out.Failures[0].Arn != missing || out.Failures[0].Reason != "MISSING" {
		t.Fatalf("describe: %+v %v", out, err)
	}
	newest, oldest := out.ServiceDeployments[0], out.ServiceDeployments[1]
	if newest.Status != ecstypes.ServiceDeploymentStatusInProgress || newest.ServiceDeploymentArn != want[0] ||
		newest.TargetServiceRevision.RunningTaskCount != 1 || newest.TargetServiceRevision.RequestedTaskCount != 2 ||
		len(newest.SourceServiceRevisions) != 4 || newest.SourceServiceRevisions[0].PendingTaskCount != 1 ||
		newest.DeploymentCircuitBreaker.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring || newest.DeploymentCircuitBreaker.Threshold != 3 ||
		!newest.DeploymentConfiguration.DeploymentCircuitBreaker.Enable {
		t.Errorf("newest: %+v", newest)
	}
	if oldest.Status != ecstypes.ServiceDeploymentStatusStopped || oldest.StoppedAt.IsZero() || len(oldest.SourceServiceRevisions) != 0 ||
		oldest.DeploymentCircuitBreaker.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete {
		t.Errorf("oldest: %+v", oldest)
	}
	if _, err := a.DescribeServiceDeployments(ctx, call, &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{"arn:aws:ecs:us-east-1:0:service/default/api"}}); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Errorf("bad ARN: %v", err)
	}
}

func TestServiceIDs(t *testing.T) {
	a, _ := newServiceAPI(t)
	seen := map[string]bool{}
	for range 200 {
		d, h := a.newDeploymentID(), a.newHistoryID()
		if !deploymentIDRE.MatchString(d) || len(h) != 26 || strings.Trim(h, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" || seen[d] || seen[h] {
			t.Fatalf("IDs %q %q", d, h)
		}
		seen[d], seen[h] = true, true
	}
	if reconcile.Threshold(1) != 3 || reconcile.Threshold(11) != 6 || reconcile.Threshold(1000) != 200 {
		t.Fatal("circuit breaker threshold")
	}
}

// Concurrent creates of one name make one service; creates go through while
// the cluster record changes under them.
func TestCreateServiceConcurrent(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := a.CreateService(ctx, call, replica("same", "web", 1)); err == nil {
				ok.Add(1)
			} else if !strings.Contains(err.Error(), "not idempotent") {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := a.CreateService(ctx, call, replica(fmt.Sprintf("s%d", i), "web", 1)); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := a.UpdateClusterSettings(ctx, call, &ecstypes.UpdateClusterSettingsRequest{Cluster: "default",
				Settings: []ecstypes.ClusterSetting{{Name: "containerInsights", Value: "enabled"}}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || len(history(t, st, "default", "same")) != 1 {
		t.Fatalf("%d creates of one name succeeded", ok.Load())
	}
}

// targetGroups is a table of target groups, for checking services'
// loadBalancers without a load balancer.
type targetGroups map[string]TargetGroupRef

func (g targetGroups) LookupTargetGroup(_ context.Context, arn string) (TargetGroupRef, bool, error) {
	tg, ok := g[arn]
	return tg, ok, nil
}

func TestCreateServiceTargetGroups(t *testing.T) {
	a, _ := newServiceAPI(t)
	ctx := context.Background()
	port := int32(8080)
	for _, tc := range []struct {
		name, tg, msg string
	}{
		{"missing", "arn:nope", "The target group with targetGroupArn arn:nope does not exist."},
		{"no load balancer", "arn:tg-alone", "The target group with targetGroupArn arn:tg-alone does not have an associated load balancer."},
		{"ip with bridge", "arn:tg-ip", "The provided target group arn:tg-ip has target type ip, which is incompatible with the bridge network mode specified in the task definition."},
	} {
		in := replica("lb-"+strings.ReplaceAll(tc.name, " ", "-"), "web:2", 1)
		in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: tc.tg, ContainerName: "app", ContainerPort: &port}}
		_, err := a.CreateService(ctx, call, in)
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Code != ecstypes.ErrCodeInvalidParameterException || ce.Message != tc.msg {
			t.Errorf("%s: %v, want InvalidParameterException %q", tc.name, err, tc.msg)
		}
	}
	in := replica("classic", "web:2", 1)
	in.LoadBalancers = []ecstypes.LoadBalancer{{LoadBalancerName: "old", ContainerName: "app", ContainerPort: &port}}
	if _, err := a.CreateService(ctx, call, in); err == nil || !strings.Contains(err.Error(), "Classic Load Balancer") {
		t.Errorf("classic load balancer: %v", err)
	}
	ok := replica("fine", "web:2", 1)
	ok.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: "arn:tg", ContainerName: "app", ContainerPort: &port}}
	if _, err := a.CreateService(ctx, call, ok); err != nil {
		t.Fatal(err)
	}
}
