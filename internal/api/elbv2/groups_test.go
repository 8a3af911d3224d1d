package elbv2_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

func TestTargetGroupDefaultsAndValidation(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	g := e.createTG(t, "app-tg", "", 80)
	arn := aws.ToString(g.TargetGroupArn)
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:"+testRegion+":000000000000:targetgroup/app-tg/") {
		t.Fatalf("ARN %s", arn)
	}
	if g.TargetType != types.TargetTypeEnumInstance || aws.ToString(g.HealthCheckPath) != "/" ||
		aws.ToString(g.HealthCheckPort) != "traffic-port" || g.HealthCheckProtocol != types.ProtocolEnumHttp ||
		aws.ToInt32(g.HealthCheckIntervalSeconds) != 30 || aws.ToInt32(g.HealthCheckTimeoutSeconds) != 5 ||
		aws.ToInt32(g.HealthyThresholdCount) != 5 || aws.ToInt32(g.UnhealthyThresholdCount) != 2 ||
		aws.ToString(g.Matcher.HttpCode) != "200" || !aws.ToBool(g.HealthCheckEnabled) ||
		aws.ToString(g.VpcId) == "" || aws.ToString(g.ProtocolVersion) != "HTTP1" || len(g.LoadBalancerArns) != 0 {
		t.Fatalf("defaults %+v", g)
	}
	// The same settings again: the same group; other settings: a duplicate.
	again := e.createTG(t, "app-tg", "", 80)
	if aws.ToString(again.TargetGroupArn) != arn {
		t.Fatalf("idempotent create made %s", aws.ToString(again.TargetGroupArn))
	}
	_, err := e.c.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("app-tg"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81)})
	wantCode(t, err, "DuplicateTargetGroupName")

	bad := []struct {
		name string
		in   elb.CreateTargetGroupInput
		code string
	}{
		{"timeout not below interval", elb.CreateTargetGroupInput{HealthCheckIntervalSeconds: aws.Int32(10), HealthCheckTimeoutSeconds: aws.Int32(10)}, "ValidationError"},
		{"interval too short", elb.CreateTargetGroupInput{HealthCheckIntervalSeconds: aws.Int32(4)}, "ValidationError"},
		{"healthy threshold", elb.CreateTargetGroupInput{HealthyThresholdCount: aws.Int32(11)}, "ValidationError"},
		{"unhealthy threshold", elb.CreateTargetGroupInput{UnhealthyThresholdCount: aws.Int32(1)}, "ValidationError"},
		{"path", elb.CreateTargetGroupInput{HealthCheckPath: aws.String("health")}, "ValidationError"},
		{"hc port", elb.CreateTargetGroupInput{HealthCheckPort: aws.String("70000")}, "ValidationError"},
		{"matcher", elb.CreateTargetGroupInput{Matcher: &types.Matcher{HttpCode: aws.String("600")}}, "ValidationError"},
		{"matcher range", elb.CreateTargetGroupInput{Matcher: &types.Matcher{HttpCode: aws.String("299-200")}}, "ValidationError"},
		{"lambda", elb.CreateTargetGroupInput{TargetType: types.TargetTypeEnumLambda}, "InvalidConfigurationRequest"},
		{"https", elb.CreateTargetGroupInput{Protocol: types.ProtocolEnumHttps}, "InvalidConfigurationRequest"},
		{"hc https", elb.CreateTargetGroupInput{HealthCheckProtocol: types.ProtocolEnumHttps}, "InvalidConfigurationRequest"},
		{"no port", elb.CreateTargetGroupInput{Port: aws.Int32(0)}, "ValidationError"},
	}
	for _, tc := range bad {
		in := tc.in
		in.Name = aws.String("bad-tg")
		if in.Protocol == "" {
			in.Protocol = types.ProtocolEnumHttp
		}
		if in.Port == nil {
			in.Port = aws.Int32(80)
		}
		_, err := e.c.CreateTargetGroup(ctx, &in)
		t.Run(tc.name, func(t *testing.T) { wantCode(t, err, tc.code) })
	}
	if n := countKeys(t, e.st, state.TargetGroupsPrefix()); n != 1 {
		t.Fatalf("%d target groups stored after refusals", n)
	}

	mod, err := e.c.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(arn),
		HealthCheckPath: aws.String("/health"), HealthCheckIntervalSeconds: aws.Int32(10), HealthCheckTimeoutSeconds: aws.Int32(3),
		Matcher: &types.Matcher{HttpCode: aws.String("200-299")}})
	if err != nil {
		t.Fatal(err)
	}
	mg := mod.TargetGroups[0]
	if aws.ToString(mg.HealthCheckPath) != "/health" || aws.ToInt32(mg.HealthCheckIntervalSeconds) != 10 || aws.ToString(mg.Matcher.HttpCode) != "200-299" {
		t.Fatalf("modified %+v", mg)
	}
	_, err = e.c.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(arn), HealthCheckTimeoutSeconds: aws.Int32(10)})
	wantCode(t, err, "ValidationError")
	_, err = e.c.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(strings.Replace(arn, "app-tg/", "app-tg/0", 1)[:len(arn)])})
	wantCode(t, err, "TargetGroupNotFound")

	// Attributes.
	attrs, err := e.c.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"deregistration_delay.timeout_seconds": "300", "load_balancing.algorithm.type": "round_robin",
		"stickiness.enabled": "false", "stickiness.type": "lb_cookie", "stickiness.lb_cookie.duration_seconds": "86400", "slow_start.duration_seconds": "0"} {
		if got := attrValue(attrs.Attributes, k); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	set := func(kv ...string) error {
		var as []types.TargetGroupAttribute
		for i := 0; i < len(kv); i += 2 {
			as = append(as, types.TargetGroupAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := e.c.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: as})
		return err
	}
	if err := set("deregistration_delay.timeout_seconds", "5", "load_balancing.algorithm.type", "least_outstanding_requests",
		"stickiness.enabled", "true", "stickiness.lb_cookie.duration_seconds", "60", "slow_start.duration_seconds", "30"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"deregistration_delay.timeout_seconds", "3601"}, {"load_balancing.algorithm.type", "random"},
		{"stickiness.type", "app_cookie"}, {"stickiness.enabled", "1"}, {"slow_start.duration_seconds", "10"}, {"nope", "x"}} {
		wantCode(t, set(kv[0], kv[1]), "ValidationError")
	}
	info, err := e.api.TargetGroup(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if info.DeregistrationDelay != 5*time.Second || info.Port != 80 || info.TargetType != "instance" ||
		info.HealthCheck.Path != "/health" || info.HealthCheck.Interval != 10*time.Second || len(info.LoadBalancerARNs) != 0 {
		t.Fatalf("TargetGroup() = %+v", info)
	}
	_, err = e.api.TargetGroup(ctx, strings.Replace(arn, "/app-tg/", "/other/", 1))
	if err == nil || !strings.Contains(err.Error(), "TargetGroupNotFound") {
		t.Fatalf("TargetGroup(missing) = %v", err)
	}

	// Describe by name, ARN, load balancer; delete.
	e.createTG(t, "b-tg", types.TargetTypeEnumIp, 8080)
	all, err := e.c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{})
	if err != nil || len(all.TargetGroups) != 2 || aws.ToString(all.TargetGroups[0].TargetGroupName) != "app-tg" {
		t.Fatalf("describe all: %v %+v", err, all)
	}
	_, err = e.c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{"nope"}})
	wantCode(t, err, "TargetGroupNotFound")
	lbo := e.createLB(t, "lb1")
	e.createListener(t, aws.ToString(lbo.LoadBalancerArn), 8000, arn)
	byLB, err := e.c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{LoadBalancerArn: lbo.LoadBalancerArn})
	if err != nil || len(byLB.TargetGroups) != 1 || !slices.Equal(byLB.TargetGroups[0].LoadBalancerArns, []string{aws.ToString(lbo.LoadBalancerArn)}) {
		t.Fatalf("by load balancer: %v %+v", err, byLB)
	}
	_, err = e.c.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)})
	wantCode(t, err, "ResourceInUse")
	// A target group serves one load balancer only.
	lb2 := e.createLB(t, "lb2")
	_, err = e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: lb2.LoadBalancerArn, Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(8001), DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}}})
	wantCode(t, err, "TargetGroupAssociationLimit")
	if _, err := e.c.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: lbo.LoadBalancerArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); err != nil {
		t.Fatalf("deleting a deleted group: %v", err)
	}
	// The name is free again.
	e.createTG(t, "app-tg", "", 81)
}

func TestTargetsAndHealth(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	// An instance group needs the instance to be a container instance.
	putInstance(t, e, "default", "ci-1", "i-0abc", "10.0.0.5")
	ig := e.createTG(t, "inst-tg", types.TargetTypeEnumInstance, 80)
	igARN := aws.ToString(ig.TargetGroupArn)
	_, err := e.c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(igARN),
		Targets: []types.TargetDescription{{Id: aws.String("i-unknown")}}})
	wantCode(t, err, "InvalidTarget")
	if _, err := e.c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(igARN),
		Targets: []types.TargetDescription{{Id: aws.String("i-0abc")}, {Id: aws.String("i-0abc"), Port: aws.Int32(32768)}}}); err != nil {
		t.Fatal(err)
	}

	g := e.createTG(t, "ip-tg", types.TargetTypeEnumIp, 8080)
	arn := aws.ToString(g.TargetGroupArn)
	_, err = e.c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []types.TargetDescription{{Id: aws.String("not-an-ip")}}})
	wantCode(t, err, "InvalidTarget")
	_, err = e.c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1"), Port: aws.Int32(0)}}})
	wantCode(t, err, "ValidationError")
	if _, err := e.c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1")}, {Id: aws.String("10.0.0.2"), Port: aws.Int32(9000)}}}); err != nil {
		t.Fatal(err)
	}
	// Not in use yet: unused.
	h, err := e.c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := healthSummary(h.TargetHealthDescriptions); !slices.Equal(got, []string{
		"10.0.0.1:8080 unused Target.NotInUse hp=8080", "10.0.0.2:9000 unused Target.NotInUse hp=9000"}) {
		t.Fatalf("before use: %v", got)
	}
	l := e.createLB(t, "lb")
	e.createListener(t, aws.ToString(l.LoadBalancerArn), 8080, arn)
	// In use, the plane knows nothing yet: initial; then what it says.
	e.health.set(arn, lb.TargetStatus{Key: lb.Key{ID: "10.0.0.1", Port: 8080}, State: lb.StateHealthy, HealthPort: "8080"},
		lb.TargetStatus{Key: lb.Key{ID: "10.0.0.9", Port: 1}, State: lb.StateHealthy})
	h, err = e.c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := healthSummary(h.TargetHealthDescriptions); !slices.Equal(got, []string{
		"10.0.0.1:8080 healthy  hp=8080", "10.0.0.2:9000 initial Elb.RegistrationInProgress hp=9000"}) {
		t.Fatalf("in use: %v", got)
	}
	// Asked for: a target that is not registered is unused/NotRegistered.
	h, err = e.c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.2"), Port: aws.Int32(9000)}, {Id: aws.String("10.0.0.3")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := healthSummary(h.TargetHealthDescriptions); !slices.Equal(got, []string{
		"10.0.0.2:9000 initial Elb.RegistrationInProgress hp=9000", "10.0.0.3:8080 unused Target.NotRegistered hp=8080"}) {
		t.Fatalf("asked for: %v", got)
	}
	// Deregistering drains, whatever the plane said last; registering
	// again makes it registered; deregistering a stranger is a no-op.
	if _, err := e.c.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1")}, {Id: aws.String("10.9.9.9")}}}); err != nil {
		t.Fatal(err)
	}
	reg, err := state.Get[state.Registration](ctx, e.st, state.RegistrationKey(idOf(arn), "10.0.0.1", 8080))
	if err != nil || !reg.Value.Draining || reg.Value.DeregisteredAt.IsZero() {
		t.Fatalf("registration after deregister: %v %+v", err, reg.Value)
	}
	h, _ = e.c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{{Id: aws.String("10.0.0.1")}}})
	if got := healthSummary(h.TargetHealthDescriptions); !slices.Equal(got, []string{"10.0.0.1:8080 draining Target.DeregistrationInProgress hp=8080"}) {
		t.Fatalf("draining: %v", got)
	}
	st, ok := e.api.TargetHealth(arn, lb.Key{ID: "10.0.0.1", Port: 8080})
	if !ok || st.State != lb.StateDraining {
		t.Fatalf("TargetHealth(draining) = %+v %v", st, ok)
	}
	if err := e.api.RegisterTarget(ctx, arn, lb.Key{ID: "10.0.0.1", Port: 8080}, "ap-northeast-1a"); err != nil {
		t.Fatal(err)
	}
	reg, _ = state.Get[state.Registration](ctx, e.st, state.RegistrationKey(idOf(arn), "10.0.0.1", 8080))
	if reg.Value.Draining || reg.Value.AvailabilityZone != "ap-northeast-1a" {
		t.Fatalf("registered again: %+v", reg.Value)
	}
	rev := reg.ModRevision
	if err := e.api.RegisterTarget(ctx, arn, lb.Key{ID: "10.0.0.1", Port: 8080}, ""); err != nil {
		t.Fatal(err)
	}
	reg, _ = state.Get[state.Registration](ctx, e.st, state.RegistrationKey(idOf(arn), "10.0.0.1", 8080))
	if reg.ModRevision != rev {
		t.Fatal("registering a registered target wrote it again")
	}
	st, ok = e.api.TargetHealth(arn, lb.Key{ID: "10.0.0.1", Port: 8080})
	if !ok || st.State != lb.StateHealthy {
		t.Fatalf("TargetHealth(registered) = %+v %v", st, ok)
	}
	if _, ok := e.api.TargetHealth(arn, lb.Key{ID: "10.0.0.7", Port: 8080}); ok {
		t.Fatal("TargetHealth of an unregistered target is ok")
	}
	if err := e.api.DeregisterTarget(ctx, arn, lb.Key{ID: "10.0.0.7", Port: 8080}); err != nil {
		t.Fatalf("DeregisterTarget(stranger) = %v", err)
	}
	_, err = e.c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(strings.Replace(arn, "ip-tg", "no-tg", 1))})
	wantCode(t, err, "TargetGroupNotFound")
}

func healthSummary(ds []types.TargetHealthDescription) []string {
	var out []string
	for _, d := range ds {
		out = append(out, aws.ToString(d.Target.Id)+":"+strconv.Itoa(int(aws.ToInt32(d.Target.Port)))+" "+string(d.TargetHealth.State)+" "+
			string(d.TargetHealth.Reason)+" hp="+aws.ToString(d.HealthCheckPort))
	}
	return out
}

// idOf returns the ID that ends an ARN.
func idOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

func putInstance(t *testing.T, e *env, cluster, id, ec2ID, addr string) {
	t.Helper()
	b, err := state.Encode(state.ContainerInstance{ID: id, Cluster: cluster, EC2InstanceID: ec2ID, Status: "ACTIVE", Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Txn(ctxT(t), nil, []store.Op{store.Put(state.ContainerInstanceKey(cluster, id), b)}); err != nil {
		t.Fatal(err)
	}
}
