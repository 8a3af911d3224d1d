package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The ELBv2 API through the real aws CLI v2, against a backend the test
// serves on loopback (an ip target), without Docker: the seed's ALB
// commands, the data plane answering on the listener, attributes, tags
// and the errors a user meets.

// elbBackend serves /health and a greeting on a loopback port.
func elbBackend(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "backend %s", r.URL.Path) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// elbFail runs the aws CLI, requires it to fail with code in its error
// output, and returns that output.
func (n *node) elbFail(t *testing.T, code string, args ...string) string {
	t.Helper()
	r := n.cli(t, args...)
	if r.exit == 0 || !strings.Contains(r.stderr, "("+code+")") {
		t.Fatalf("aws %s: want %s, got exit %d\n%s%s", strings.Join(args, " "), code, r.exit, r.stdout, r.stderr)
	}
	return r.stderr
}

// elbGet fetches url, returning the status and body ("" and 0 when the
// request fails).
func elbGet(url string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestELBv2CLI(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	backend := elbBackend(t)
	bport := strconv.Itoa(backend)

	var lbs struct {
		LoadBalancers []struct {
			LoadBalancerArn, DNSName, Type, Scheme string
			State                                  struct{ Code string }
		}
	}
	n.cliJSON(t, &lbs, "elbv2", "create-load-balancer", "--name", "seed-alb", "--subnets", "subnet-a", "subnet-c",
		"--security-groups", "sg-1", "--tags", "Key=env,Value=dev")
	lb := lbs.LoadBalancers[0]
	if lb.DNSName != "localhost" || lb.State.Code != "active" || lb.Type != "application" || lb.Scheme != "internet-facing" ||
		!strings.HasPrefix(lb.LoadBalancerArn, "arn:aws:elasticloadbalancing:"+testRegion+":000000000000:loadbalancer/app/seed-alb/") {
		t.Fatalf("create-load-balancer: %+v", lb)
	}

	var tgs struct {
		TargetGroups []struct {
			TargetGroupArn, HealthCheckPath string
			HealthCheckIntervalSeconds      int
			LoadBalancerArns                []string
		}
	}
	n.cliJSON(t, &tgs, "elbv2", "create-target-group", "--name", "seed-tg", "--protocol", "HTTP", "--port", bport,
		"--vpc-id", "vpc-minato", "--target-type", "ip", "--health-check-path", "/health",
		"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
		"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2", "--matcher", "HttpCode=200-299")
	tgARN := tgs.TargetGroups[0].TargetGroupArn
	if tgs.TargetGroups[0].HealthCheckPath != "/health" || tgs.TargetGroups[0].HealthCheckIntervalSeconds != 5 {
		t.Fatalf("create-target-group: %+v", tgs.TargetGroups[0])
	}

	lport := strconv.Itoa(n.ports.listenerPort(t))
	var ls struct {
		Listeners []struct{ ListenerArn string }
	}
	n.cliJSON(t, &ls, "elbv2", "create-listener", "--load-balancer-arn", lb.LoadBalancerArn, "--protocol", "HTTP",
		"--port", lport, "--default-actions", "Type=forward,TargetGroupArn="+tgARN)
	listenerARN := ls.Listeners[0].ListenerArn
	n.cliJSON(t, nil, "elbv2", "create-rule", "--listener-arn", listenerARN, "--priority", "10",
		"--conditions", `[{"Field":"path-pattern","PathPatternConfig":{"Values":["/teapot/*"]}}]`,
		"--actions", `[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"418","ContentType":"text/plain","MessageBody":"short and stout"}}]`)
	n.cliJSON(t, nil, "elbv2", "create-rule", "--listener-arn", listenerARN, "--priority", "20",
		"--conditions", "Field=host-header,Values=old.example.com",
		"--actions", `[{"Type":"redirect","RedirectConfig":{"Host":"new.example.com","StatusCode":"HTTP_301"}}]`)
	n.cliJSON(t, nil, "elbv2", "register-targets", "--target-group-arn", tgARN, "--targets", "Id=127.0.0.1,Port="+bport)

	n.cliJSON(t, &tgs, "elbv2", "describe-target-groups", "--load-balancer-arn", lb.LoadBalancerArn)
	if len(tgs.TargetGroups) != 1 || len(tgs.TargetGroups[0].LoadBalancerArns) != 1 || tgs.TargetGroups[0].LoadBalancerArns[0] != lb.LoadBalancerArn {
		t.Fatalf("describe-target-groups --load-balancer-arn: %+v", tgs)
	}
	var rules struct {
		Rules []struct {
			Priority  string
			IsDefault bool
		}
	}
	n.cliJSON(t, &rules, "elbv2", "describe-rules", "--listener-arn", listenerARN)
	if len(rules.Rules) != 3 || rules.Rules[0].Priority != "10" || rules.Rules[2].Priority != "default" || !rules.Rules[2].IsDefault {
		t.Fatalf("describe-rules: %+v", rules)
	}

	// The seed's command, until the target is healthy.
	seedQuery := []string{"elbv2", "describe-target-health", "--target-group-arn", tgARN,
		"--query", "TargetHealthDescriptions[*].{Target:Target.Id,Health:TargetHealth.State,Description:TargetHealth.Description}",
		"--output", "table"}
	var table string
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := n.cli(t, seedQuery...)
		if r.exit != 0 {
			t.Fatalf("describe-target-health: exit %d %s", r.exit, r.stderr)
		}
		table = r.stdout
		if strings.Contains(table, "healthy") && !strings.Contains(table, "unhealthy") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target not healthy in time:\n%s", table)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("the seed's describe-target-health:\n%s", table)
	if !strings.Contains(table, "DescribeTargetHealth") || !strings.Contains(table, "127.0.0.1") || !strings.Contains(table, "Health") {
		t.Fatalf("seed table:\n%s", table)
	}

	// The load balancer answers on the listener, by its DNS name.
	base := "http://" + lb.DNSName + ":" + lport
	if code, body := elbGet(base + "/hello"); code != 200 || body != "backend /hello" {
		t.Fatalf("GET /hello: %d %q", code, body)
	}
	if code, body := elbGet(base + "/teapot/pot"); code != 418 || body != "short and stout" {
		t.Fatalf("GET /teapot/pot: %d %q", code, body)
	}
	req, _ := http.NewRequest("GET", base+"/x?q=1", nil)
	req.Host = "old.example.com"
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 301 || loc != "http://new.example.com:"+lport+"/x?q=1" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, loc)
	}

	// Attributes.
	var attrs struct{ Attributes []struct{ Key, Value string } }
	n.cliJSON(t, &attrs, "elbv2", "modify-target-group-attributes", "--target-group-arn", tgARN,
		"--attributes", "Key=deregistration_delay.timeout_seconds,Value=2", "Key=stickiness.enabled,Value=true")
	if !elbHasAttr(attrs.Attributes, "deregistration_delay.timeout_seconds", "2") || !elbHasAttr(attrs.Attributes, "stickiness.type", "lb_cookie") {
		t.Fatalf("modify-target-group-attributes: %+v", attrs)
	}
	n.elbFail(t, "ValidationError", "elbv2", "modify-target-group-attributes", "--target-group-arn", tgARN,
		"--attributes", "Key=load_balancing.algorithm.type,Value=fastest")
	n.cliJSON(t, &attrs, "elbv2", "modify-load-balancer-attributes", "--load-balancer-arn", lb.LoadBalancerArn,
		"--attributes", "Key=deletion_protection.enabled,Value=true", "Key=idle_timeout.timeout_seconds,Value=30")
	n.cliJSON(t, &attrs, "elbv2", "describe-load-balancer-attributes", "--load-balancer-arn", lb.LoadBalancerArn)
	if !elbHasAttr(attrs.Attributes, "deletion_protection.enabled", "true") || !elbHasAttr(attrs.Attributes, "idle_timeout.timeout_seconds", "30") {
		t.Fatalf("describe-load-balancer-attributes: %+v", attrs)
	}
	n.elbFail(t, "OperationNotPermitted", "elbv2", "delete-load-balancer", "--load-balancer-arn", lb.LoadBalancerArn)

	// Tags.
	n.cliJSON(t, nil, "elbv2", "add-tags", "--resource-arns", lb.LoadBalancerArn, tgARN, "--tags", "Key=team,Value=web")
	n.cliJSON(t, nil, "elbv2", "remove-tags", "--resource-arns", lb.LoadBalancerArn, "--tag-keys", "env")
	var tags struct {
		TagDescriptions []struct {
			ResourceArn string
			Tags        []struct{ Key, Value string }
		}
	}
	n.cliJSON(t, &tags, "elbv2", "describe-tags", "--resource-arns", lb.LoadBalancerArn, tgARN)
	if len(tags.TagDescriptions) != 2 || len(tags.TagDescriptions[0].Tags) != 1 || tags.TagDescriptions[0].Tags[0].Key != "team" ||
		len(tags.TagDescriptions[1].Tags) != 1 {
		t.Fatalf("describe-tags: %+v", tags)
	}

	// Errors a user meets.
	var other struct {
		LoadBalancers []struct{ LoadBalancerArn string }
	}
	n.cliJSON(t, &other, "elbv2", "create-load-balancer", "--name", "other-alb")
	msg := n.elbFail(t, "DuplicateListener", "elbv2", "create-listener", "--load-balancer-arn", other.LoadBalancers[0].LoadBalancerArn,
		"--protocol", "HTTP", "--port", lport, "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404}")
	if !strings.Contains(msg, "same address") {
		t.Fatalf("DuplicateListener does not say why: %s", msg)
	}
	n.elbFail(t, "DuplicateLoadBalancerName", "elbv2", "create-load-balancer", "--name", "seed-alb", "--scheme", "internal")
	n.elbFail(t, "InvalidConfigurationRequest", "elbv2", "create-load-balancer", "--name", "nlb", "--type", "network")
	n.elbFail(t, "TargetGroupNotFound", "elbv2", "describe-target-groups", "--names", "nope")
	n.elbFail(t, "LoadBalancerNotFound", "elbv2", "describe-load-balancers", "--names", "nope")
	n.elbFail(t, "ValidationError", "elbv2", "create-target-group", "--name", "bad-tg", "--protocol", "HTTP", "--port", "80",
		"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "5")
	n.elbFail(t, "ResourceInUse", "elbv2", "delete-target-group", "--target-group-arn", tgARN)
	n.elbFail(t, "PriorityInUse", "elbv2", "create-rule", "--listener-arn", listenerARN, "--priority", "10",
		"--conditions", "Field=path-pattern,Values=/x", "--actions", "Type=forward,TargetGroupArn="+tgARN)
	n.elbFail(t, "InvalidTarget", "elbv2", "register-targets", "--target-group-arn", tgARN, "--targets", "Id=i-0123456789abcdef0")
	n.elbFail(t, "InvalidAction", "elbv2", "describe-ssl-policies")

	// Deregistering drains, then the target goes; the listener keeps
	// answering with a 503 (no healthy target).
	n.cliJSON(t, nil, "elbv2", "deregister-targets", "--target-group-arn", tgARN, "--targets", "Id=127.0.0.1,Port="+bport)
	var th struct {
		TargetHealthDescriptions []struct {
			Target       struct{ Id string }
			TargetHealth struct{ State, Reason string }
		}
	}
	n.cliJSON(t, &th, "elbv2", "describe-target-health", "--target-group-arn", tgARN)
	if len(th.TargetHealthDescriptions) == 1 && th.TargetHealthDescriptions[0].TargetHealth.State != "draining" {
		t.Fatalf("after deregister-targets: %+v", th)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		n.cliJSON(t, &th, "elbv2", "describe-target-health", "--target-group-arn", tgARN)
		if len(th.TargetHealthDescriptions) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deregistered target still there: %+v", th)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code, _ := elbGet(base + "/hello"); code != 503 {
		t.Fatalf("GET with no targets: %d, want 503", code)
	}

	// Deleting the listener frees its port for another load balancer.
	n.cliJSON(t, nil, "elbv2", "delete-listener", "--listener-arn", listenerARN)
	n.cliJSON(t, nil, "elbv2", "create-listener", "--load-balancer-arn", other.LoadBalancers[0].LoadBalancerArn,
		"--protocol", "HTTP", "--port", lport, "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404}")
	n.cliJSON(t, nil, "elbv2", "delete-target-group", "--target-group-arn", tgARN)
}

func elbHasAttr(attrs []struct{ Key, Value string }, k, v string) bool {
	for _, a := range attrs {
		if a.Key == k {
			return a.Value == v
		}
	}
	return false
}
