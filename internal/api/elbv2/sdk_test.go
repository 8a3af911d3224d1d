package elbv2_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/minato-project/minato/internal/api/elbv2"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

const (
	testKey    = "AKIAELBV2TEST0000001"
	testSecret = "elbv2-test-secret"
	testRegion = "ap-northeast-1"
)

// fakeHealth is a HealthSource the test sets.
type fakeHealth struct {
	mu sync.Mutex
	m  map[string][]lb.TargetStatus
}

func (f *fakeHealth) Health(tg string) []lb.TargetStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.m[tg])
}

func (f *fakeHealth) set(tg string, s ...lb.TargetStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string][]lb.TargetStatus{}
	}
	f.m[tg] = s
}

type env struct {
	api    *elbv2.API
	st     store.Store
	health *fakeHealth
	c      *elb.Client
}

// newEnv serves the ELBv2 API over a real bbolt store on a loopback
// server, and returns a client of the real AWS SDK for Go v2 for it.
func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &fakeHealth{}
	api := elbv2.New(elbv2.Config{Store: st, Health: h})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"})})
	srv.RegisterQuery(api.Service())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c := elb.New(elb.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(ts.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		RetryMaxAttempts: 1,
	})
	return &env{api: api, st: st, health: h, c: c}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is an API error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}

func (e *env) createLB(t *testing.T, name string) types.LoadBalancer {
	t.Helper()
	out, err := e.c.CreateLoadBalancer(ctxT(t), &elb.CreateLoadBalancerInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.LoadBalancers[0]
}

func (e *env) createTG(t *testing.T, name string, tt types.TargetTypeEnum, port int32) types.TargetGroup {
	t.Helper()
	out, err := e.c.CreateTargetGroup(ctxT(t), &elb.CreateTargetGroupInput{Name: aws.String(name),
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port), TargetType: tt})
	if err != nil {
		t.Fatal(err)
	}
	return out.TargetGroups[0]
}

func (e *env) createListener(t *testing.T, lbARN string, port int32, tgARN string) types.Listener {
	t.Helper()
	out, err := e.c.CreateListener(ctxT(t), &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN),
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Listeners[0]
}

func TestLoadBalancerLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.createLB(t, "web-alb")
	arn := aws.ToString(l.LoadBalancerArn)
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:"+testRegion+":000000000000:loadbalancer/app/web-alb/") ||
		len(arn[strings.LastIndexByte(arn, '/')+1:]) != 16 {
		t.Fatalf("ARN %s", arn)
	}
	if aws.ToString(l.DNSName) != "localhost" || l.State.Code != types.LoadBalancerStateEnumActive ||
		l.Type != types.LoadBalancerTypeEnumApplication || l.Scheme != types.LoadBalancerSchemeEnumInternetFacing ||
		aws.ToString(l.VpcId) != "vpc-minato" || len(l.AvailabilityZones) == 0 || l.CreatedTime == nil ||
		aws.ToString(l.CanonicalHostedZoneId) == "" {
		t.Fatalf("load balancer %+v", l)
	}

	same, err := e.c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("web-alb")})
	if err != nil || aws.ToString(same.LoadBalancers[0].LoadBalancerArn) != arn {
		t.Fatalf("creating it again with the same settings: %v", err)
	}
	_, err = e.c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("web-alb"), Scheme: types.LoadBalancerSchemeEnumInternal})
	wantCode(t, err, "DuplicateLoadBalancerName")
	_, err = e.c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("nlb"), Type: types.LoadBalancerTypeEnumNetwork})
	wantCode(t, err, "InvalidConfigurationRequest")
	_, err = e.c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("bad_name")})
	wantCode(t, err, "ValidationError")
	_, err = e.c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("-x")})
	wantCode(t, err, "ValidationError")

	e.createLB(t, "api-alb")
	e.createLB(t, "zz-alb")
	all, err := e.c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range all.LoadBalancers {
		names = append(names, aws.ToString(x.LoadBalancerName))
	}
	if !slices.Equal(names, []string{"api-alb", "web-alb", "zz-alb"}) {
		t.Fatalf("names %v", names)
	}
	// Paging through with the SDK's paginator.
	var paged []string
	p := elb.NewDescribeLoadBalancersPaginator(e.c, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, x := range out.LoadBalancers {
			paged = append(paged, aws.ToString(x.LoadBalancerName))
		}
	}
	if pages != 2 || !slices.Equal(paged, names) {
		t.Fatalf("paged %v in %d pages", paged, pages)
	}
	byName, err := e.c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"web-alb"}})
	if err != nil || len(byName.LoadBalancers) != 1 || aws.ToString(byName.LoadBalancers[0].LoadBalancerArn) != arn {
		t.Fatalf("by name: %v %+v", err, byName)
	}
	_, err = e.c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"nope"}})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = e.c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{"not-an-arn"}})
	wantCode(t, err, "ValidationError")
	_, err = e.c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(401)})
	wantCode(t, err, "ValidationError")

	// Attributes: defaults, changes, bad values, deletion protection.
	attrs, err := e.c.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if v := attrValue(attrs.Attributes, "idle_timeout.timeout_seconds"); v != "60" {
		t.Fatalf("idle timeout %q", v)
	}
	if v := attrValue(attrs.Attributes, "deletion_protection.enabled"); v != "false" {
		t.Fatalf("deletion protection %q", v)
	}
	mod, err := e.c.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
		Attributes: []types.LoadBalancerAttribute{{Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("120")},
			{Key: aws.String("deletion_protection.enabled"), Value: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	if attrValue(mod.Attributes, "idle_timeout.timeout_seconds") != "120" || attrValue(mod.Attributes, "deletion_protection.enabled") != "true" {
		t.Fatalf("modified %+v", mod.Attributes)
	}
	for _, bad := range [][2]string{{"idle_timeout.timeout_seconds", "0"}, {"idle_timeout.timeout_seconds", "x"},
		{"deletion_protection.enabled", "yes"}, {"no.such.key", "1"}} {
		_, err = e.c.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
			Attributes: []types.LoadBalancerAttribute{{Key: aws.String(bad[0]), Value: aws.String(bad[1])}}})
		wantCode(t, err, "ValidationError")
	}
	_, err = e.c.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)})
	wantCode(t, err, "OperationNotPermitted")
	if _, err := e.c.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
		Attributes: []types.LoadBalancerAttribute{{Key: aws.String("deletion_protection.enabled"), Value: aws.String("false")}}}); err != nil {
		t.Fatal(err)
	}

	// Deleting removes its listeners, frees the name and the port; a
	// second delete succeeds, as on AWS.
	tg := e.createTG(t, "web-tg", types.TargetTypeEnumIp, 8080)
	e.createListener(t, arn, 8081, aws.ToString(tg.TargetGroupArn))
	if _, err := e.c.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err = e.c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
	wantCode(t, err, "LoadBalancerNotFound")
	if n := countKeys(t, e.st, state.AllListenersPrefix()); n != 0 {
		t.Fatalf("%d listeners left", n)
	}
	again := e.createLB(t, "web-alb")
	e.createListener(t, aws.ToString(again.LoadBalancerArn), 8081, aws.ToString(tg.TargetGroupArn))
}

func attrValue[A interface {
	types.LoadBalancerAttribute | types.TargetGroupAttribute
}](attrs []A, key string) string {
	for _, a := range attrs {
		switch x := any(a).(type) {
		case types.LoadBalancerAttribute:
			if aws.ToString(x.Key) == key {
				return aws.ToString(x.Value)
			}
		case types.TargetGroupAttribute:
			if aws.ToString(x.Key) == key {
				return aws.ToString(x.Value)
			}
		}
	}
	return "<absent>"
}

func countKeys(t *testing.T, st store.Store, prefix string) int {
	t.Helper()
	kvs, _, err := st.List(context.Background(), prefix, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(kvs)
}

// Concurrent listeners of several load balancers on one port: exactly one
// gets it, the others a DuplicateListener; the port index agrees.
func TestConcurrentListenersOnOnePort(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	const n = 6
	var lbs []string
	for i := range n {
		lbs = append(lbs, aws.ToString(e.createLB(t, "lb-"+string(rune('a'+i))).LoadBalancerArn))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.c.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbs[i]), Protocol: types.ProtocolEnumHttp,
				Port: aws.Int32(9999), DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse,
					FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}}}})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantCode(t, err, "DuplicateListener")
		}
	}
	if won != 1 || countKeys(t, e.st, state.AllListenersPrefix()) != 1 {
		t.Fatalf("%d won, %d listeners stored", won, countKeys(t, e.st, state.AllListenersPrefix()))
	}
}
