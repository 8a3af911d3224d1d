package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The seed documents' ALB wiring with the aws CLI: a load balancer, a
// target group with a /health check, a listener, and a service of three
// tasks on dynamic host ports behind it.

type albSetup struct {
	lbARN, tgARN, listenerARN string
	port                      int
	dns                       string
}

// createALB creates a load balancer, a target group checked on /health
// every 5 s, and an HTTP listener on a free port that forwards to it.
func createALB(t *testing.T, n *node, name string, delay int) albSetup {
	t.Helper()
	var lbs struct {
		LoadBalancers []struct{ LoadBalancerArn, DNSName string }
	}
	n.cliJSON(t, &lbs, "elbv2", "create-load-balancer", "--name", name+"-alb", "--type", "application",
		"--subnets", "subnet-1", "subnet-2")
	if len(lbs.LoadBalancers) != 1 {
		t.Fatalf("create-load-balancer: %+v", lbs)
	}
	s := albSetup{lbARN: lbs.LoadBalancers[0].LoadBalancerArn, dns: lbs.LoadBalancers[0].DNSName}
	s.tgARN = createTG(t, n, name+"-tg", delay)
	s.port = n.ports.listenerPort(t)
	portS := strconv.Itoa(s.port)
	var ls struct {
		Listeners []struct{ ListenerArn string }
	}
	n.cliJSON(t, &ls, "elbv2", "create-listener", "--load-balancer-arn", s.lbARN, "--protocol", "HTTP",
		"--port", portS, "--default-actions", "Type=forward,TargetGroupArn="+s.tgARN)
	if len(ls.Listeners) != 1 {
		t.Fatalf("create-listener: %+v", ls)
	}
	s.listenerARN = ls.Listeners[0].ListenerArn
	return s
}

func createTG(t *testing.T, n *node, name string, delay int) string {
	t.Helper()
	var tgs struct {
		TargetGroups []struct{ TargetGroupArn string }
	}
	n.cliJSON(t, &tgs, "elbv2", "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "80",
		"--vpc-id", "vpc-minato", "--target-type", "instance",
		"--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
		"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2")
	if len(tgs.TargetGroups) != 1 {
		t.Fatalf("create-target-group: %+v", tgs)
	}
	arn := tgs.TargetGroups[0].TargetGroupArn
	n.cliJSON(t, nil, "elbv2", "modify-target-group-attributes", "--target-group-arn", arn,
		"--attributes", "Key=deregistration_delay.timeout_seconds,Value="+strconv.Itoa(delay))
	return arn
}

// createLBService creates a service of count tasks behind tgARN.
func createLBService(t *testing.T, n *node, name, td, tgARN string, count int) {
	t.Helper()
	n.cliJSON(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", name,
		"--task-definition", td, "--desired-count", strconv.Itoa(count),
		"--load-balancers", "targetGroupArn="+tgARN+",containerName=app,containerPort=8080",
		"--health-check-grace-period-seconds", "30")
}

// lbClient is a keep-alive client for the listener.
func lbClient() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

// hostnames asks the listener n times for the test app's "/" and counts
// the answers per container hostname.
func hostnames(t *testing.T, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		var body struct{ Hostname string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		seen[body.Hostname]++
	}
	return seen
}

// waitHealthy waits until describe-target-health shows want healthy targets.
func waitHealthy(t *testing.T, n *node, tgARN string, want int) {
	t.Helper()
	waitFor(t, 90*time.Second, fmt.Sprintf("%d healthy targets", want), func() (bool, string) {
		var states []string
		n.cliJSON(t, &states, "elbv2", "describe-target-health", "--target-group-arn", tgARN,
			"--query", "TargetHealthDescriptions[*].TargetHealth.State")
		healthy := 0
		for _, s := range states {
			if s == "healthy" {
				healthy++
			}
		}
		return healthy == want, fmt.Sprint(states)
	})
}

// load sends requests to url from several keep-alive clients until stop
// is closed, and counts what did not answer 2xx.
type load struct {
	ok, bad atomic.Int64
	mu      sync.Mutex
	errs    []string
	wg      sync.WaitGroup
	stop    chan struct{}
}

// loadGap spaces each client's requests: the load is steady without
// taking the CPU that tests running alongside need.
const loadGap = 10 * time.Millisecond

func startLoad(url string, clients int) *load {
	l := &load{stop: make(chan struct{})}
	for i := 0; i < clients; i++ {
		l.wg.Go(func() {
			c := lbClient()
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(loadGap):
				}
				resp, err := c.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						l.ok.Add(1)
						continue
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				l.bad.Add(1)
				l.mu.Lock()
				if len(l.errs) < 10 {
					l.errs = append(l.errs, err.Error())
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// waitMore waits until n more requests have answered 2xx.
func (l *load) waitMore(t *testing.T, n int64) {
	t.Helper()
	from := l.ok.Load()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d more requests of the load", n), func() (bool, string) {
		got := l.ok.Load() - from
		return got >= n, fmt.Sprintf("%d answered 2xx, %d did not", got, l.bad.Load())
	})
}

// heldAnswer is what a held request got: its status and body, or code -1.
type heldAnswer struct {
	code int
	body string
}

// holdVia sends a request through the listener at url that the task
// holds until releaseHeld.
func holdVia(url string) chan heldAnswer {
	c := make(chan heldAnswer, 1)
	go func() {
		// The task holds it up to 120 s; the client waits longer, as long
		// as the test takes to see the drain begin on a busy machine.
		hc := &http.Client{Timeout: 150 * time.Second}
		resp, err := hc.Get(strings.TrimSuffix(url, "/") + "/hold?ms=120000")
		if err != nil {
			c <- heldAnswer{code: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c <- heldAnswer{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}()
	return c
}

// holdOnEach sends held requests through the listener at url until the
// task on each of hostPorts holds at least one, whatever order the load
// balancer picks them in.
func holdOnEach(t *testing.T, url string, hostPorts []int) []chan heldAnswer {
	t.Helper()
	var held []chan heldAnswer
	for len(held) < 5*len(hostPorts) {
		held = append(held, holdVia(url))
		var per []int
		waitFor(t, 60*time.Second, fmt.Sprintf("%d requests in flight on the tasks", len(held)), func() (bool, string) {
			per = per[:0]
			sum := 0
			for _, hp := range hostPorts {
				code, body := elbGet(fmt.Sprintf("http://127.0.0.1:%d/inflight", hp))
				k, err := strconv.Atoi(strings.TrimSpace(body))
				if code != http.StatusOK || err != nil {
					return false, fmt.Sprintf("port %d: %d %q", hp, code, body)
				}
				per = append(per, k)
				sum += k
			}
			return sum >= len(held), fmt.Sprint(per)
		})
		if !slices.Contains(per, 0) {
			return held
		}
	}
	t.Fatalf("%d held requests did not reach every task", len(held))
	return nil
}

// releaseHeld answers every held request of the task on hostPort.
func releaseHeld(t *testing.T, hostPort int) {
	t.Helper()
	if code, body := elbGet(fmt.Sprintf("http://127.0.0.1:%d/release", hostPort)); code != http.StatusOK {
		t.Fatalf("release on host port %d: %d %q", hostPort, code, body)
	}
}

func (l *load) finish() (ok, bad int64, errs []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.bad.Load(), l.errs
}

func TestLoadBalancedServiceCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "web", nil)
	// A long deregistration delay: the drains below end when their
	// requests do, and a slow machine must not cut them short.
	alb := createALB(t, n, "web", 30)
	if alb.dns != "localhost" {
		t.Fatalf("DNSName %q, want localhost (where the listeners bind)", alb.dns)
	}
	url := fmt.Sprintf("http://%s:%d/", alb.dns, alb.port)
	createLBService(t, n, "web", "web", alb.tgARN, 3)
	n.cliJSON(t, nil, "ecs", "wait", "services-stable", "--cluster", "default", "--services", "web")
	waitHealthy(t, n, alb.tgARN, 3)

	// Every task answers through the listener.
	c := lbClient()
	if seen := hostnames(t, c, url, 30); len(seen) != 3 {
		t.Fatalf("30 requests reached %d tasks, want 3: %v", len(seen), seen)
	}
	// The seed's describe-target-health with its --query and table output.
	table := n.cli(t, "elbv2", "describe-target-health", "--target-group-arn", alb.tgARN,
		"--query", "TargetHealthDescriptions[*].{Target:Target.Id,Health:TargetHealth.State,Description:TargetHealth.Description}",
		"--output", "table")
	if table.exit != 0 || strings.Count(table.stdout, "healthy") != 3 {
		t.Fatalf("describe-target-health --output table:\n%s\n%s", table.stdout, table.stderr)
	}
	// The targets are the tasks' host ports.
	var ports []int
	n.cliJSON(t, &ports, "elbv2", "describe-target-health", "--target-group-arn", alb.tgARN, "--query", "TargetHealthDescriptions[*].Target.Port")
	for _, tk := range serviceTasks(t, n, "web") {
		hp := int(aws.ToInt32(tk.Containers[0].NetworkBindings[0].HostPort))
		if !containsInt(ports, hp) {
			t.Fatalf("task %s on host port %d is not a target: %v", aws.ToString(tk.TaskArn), hp, ports)
		}
	}

	// A rolling deployment under continuous load drops nothing.
	l := startLoad(url, 4)
	l.waitMore(t, 100) // the load flows before the deployment starts
	n.cliJSON(t, nil, "ecs", "update-service", "--cluster", "default", "--service", "web", "--force-new-deployment")
	waitStable(t, n, "web", 180*time.Second)
	waitCompleted(t, n, "web")
	l.waitMore(t, 100) // and after it ended
	ok, bad, errs := l.finish()
	if bad != 0 || ok < 200 {
		t.Fatalf("rolling deployment under load: %d answered 2xx, %d did not: %v", ok, bad, errs)
	}
	t.Logf("rolling deployment under load: %d requests, none failed", ok)
	svc := describeService(t, n, "web")
	if !hasEvent(svc, "deregistered 1 targets in (target-group "+alb.tgARN+")") || !hasEvent(svc, "registered 1 targets in (target-group "+alb.tgARN+")") {
		t.Fatalf("events: %v", firstEvents(svc, 20))
	}

	// Draining: requests in flight on tasks that the service stops still
	// complete. They are held in the tasks (testapp's /hold) until the
	// test has seen the tasks DEACTIVATING, so the drain has to wait for
	// them however slow the machine is.
	var hostPorts []int
	for _, tk := range serviceTasks(t, n, "web") {
		hostPorts = append(hostPorts, int(aws.ToInt32(tk.Containers[0].NetworkBindings[0].HostPort)))
	}
	held := holdOnEach(t, url, hostPorts)
	n.cliJSON(t, nil, "ecs", "update-service", "--cluster", "default", "--service", "web", "--desired-count", "1")
	// The tasks being stopped show ECS's DEACTIVATING while they drain.
	waitFor(t, 60*time.Second, "a task to be DEACTIVATING", func() (bool, string) {
		out, err := n.ecs().ListTasks(context.Background(), &ecs.ListTasksInput{ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusStopped})
		if err != nil || len(out.TaskArns) == 0 {
			return false, fmt.Sprint(err)
		}
		d, err := n.ecs().DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: out.TaskArns})
		if err != nil {
			return false, err.Error()
		}
		var st []string
		for _, tk := range d.Tasks {
			st = append(st, aws.ToString(tk.LastStatus))
			if aws.ToString(tk.LastStatus) == "DEACTIVATING" {
				return true, ""
			}
		}
		return false, fmt.Sprint(st)
	})
	for _, hp := range hostPorts {
		releaseHeld(t, hp)
	}
	for i, c := range held {
		if a := <-c; a.code != http.StatusOK || a.body != "released" {
			t.Fatalf("request %d in flight during scale-in: %d %q", i, a.code, a.body)
		}
	}
	waitStable(t, n, "web", 60*time.Second)
	waitHealthy(t, n, alb.tgARN, 1)

	// A task you stop yourself is drained as well: a request in flight
	// on it completes, and it is DEACTIVATING until then.
	only := serviceTasks(t, n, "web")[0]
	onlyPort := int(aws.ToInt32(only.Containers[0].NetworkBindings[0].HostPort))
	slow := holdOnEach(t, url, []int{onlyPort})[0]
	n.cliJSON(t, nil, "ecs", "stop-task", "--cluster", "default", "--task", aws.ToString(only.TaskArn))
	if st := aws.ToString(describeTask(t, n, aws.ToString(only.TaskArn)).LastStatus); st != "DEACTIVATING" {
		t.Fatalf("a stopped load balancer target with a request in flight is %s, want DEACTIVATING", st)
	}
	releaseHeld(t, onlyPort)
	if a := <-slow; a.code != http.StatusOK || a.body != "released" {
		t.Fatalf("request in flight on a task stopped with stop-task: %d %q", a.code, a.body)
	}
	if st := waitTaskStatus(t, n, aws.ToString(only.TaskArn), "STOPPED", 60*time.Second); st.StopCode != types.TaskStopCodeUserInitiated {
		t.Fatalf("stopCode %s", st.StopCode)
	}
	waitStable(t, n, "web", 90*time.Second)
	waitHealthy(t, n, alb.tgARN, 1)

	// A target that fails its health check: the task is replaced, with
	// ECS's stoppedReason.
	tasks := serviceTasks(t, n, "web")
	victim := tasks[0]
	hp := aws.ToInt32(victim.Containers[0].NetworkBindings[0].HostPort)
	if code, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/fail", hp)); err != nil || code != 200 {
		t.Fatalf("/fail: %d %v", code, err)
	}
	stopped := waitTaskStatus(t, n, aws.ToString(victim.TaskArn), "STOPPED", 90*time.Second)
	want := "Task failed ELB health checks in (target-group " + alb.tgARN + ")"
	if aws.ToString(stopped.StoppedReason) != want {
		t.Fatalf("stoppedReason %q, want %q", aws.ToString(stopped.StoppedReason), want)
	}
	waitStable(t, n, "web", 90*time.Second)
	waitHealthy(t, n, alb.tgARN, 1)
	if seen := hostnames(t, c, url, 5); len(seen) != 1 {
		t.Fatalf("after the replacement: %v", seen)
	}
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Rules and weights: two services behind one load balancer, a path rule,
// a host rule and a weighted forward.
func TestLoadBalancerRulesCLI(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "blue", func(c *types.ContainerDefinition) {
		c.Environment = []types.KeyValuePair{{Name: aws.String("ECS_COLOR"), Value: aws.String("blue")}}
	})
	registerApp(t, n, "green", func(c *types.ContainerDefinition) {
		c.Environment = []types.KeyValuePair{{Name: aws.String("ECS_COLOR"), Value: aws.String("green")}}
	})
	alb := createALB(t, n, "blue", 0)
	green := createTG(t, n, "green-tg", 0)
	// Attach green through a rule so it has a load balancer before the
	// service names it.
	n.cliJSON(t, nil, "elbv2", "create-rule", "--listener-arn", alb.listenerARN, "--priority", "10",
		"--conditions", "Field=path-pattern,Values=/green/*", "--actions", "Type=forward,TargetGroupArn="+green)
	n.cliJSON(t, nil, "elbv2", "create-rule", "--listener-arn", alb.listenerARN, "--priority", "20",
		"--conditions", "Field=host-header,Values=green.example.com", "--actions", "Type=forward,TargetGroupArn="+green)
	n.cliJSON(t, nil, "elbv2", "create-rule", "--listener-arn", alb.listenerARN, "--priority", "30",
		"--conditions", "Field=path-pattern,Values=/split",
		"--actions", `[{"Type":"forward","ForwardConfig":{"TargetGroups":[{"TargetGroupArn":"`+alb.tgARN+`","Weight":90},{"TargetGroupArn":"`+green+`","Weight":10}]}}]`)
	createLBService(t, n, "blue", "blue", alb.tgARN, 1)
	createLBService(t, n, "green", "green", green, 1)
	n.cliJSON(t, nil, "ecs", "wait", "services-stable", "--cluster", "default", "--services", "blue", "green")
	waitHealthy(t, n, alb.tgARN, 1)
	waitHealthy(t, n, green, 1)

	c := lbClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", alb.port)
	type answer struct {
		Task    map[string]string
		Path    string
		Headers map[string][]string
	}
	get := func(path, host string) answer {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s (host %q): %d %v", path, host, resp.StatusCode, err)
		}
		return a
	}
	if a := get("/", ""); a.Task["ECS_COLOR"] != "blue" {
		t.Fatalf("default action reached %q", a.Task["ECS_COLOR"])
	}
	if a := get("/", "green.example.com"); a.Task["ECS_COLOR"] != "green" {
		t.Fatalf("host-header rule reached %q", a.Task["ECS_COLOR"])
	}
	a := get("/green/x", "")
	if a.Task["ECS_COLOR"] != "green" || a.Path != "/green/x" {
		t.Fatalf("path rule reached %q for %q", a.Task["ECS_COLOR"], a.Path)
	}
	// ALB's forwarding headers.
	if xff := a.Headers["X-Forwarded-For"]; len(xff) == 0 || !strings.HasPrefix(xff[0], "127.0.0.1") ||
		a.Headers["X-Forwarded-Proto"][0] != "http" || a.Headers["X-Forwarded-Port"][0] != strconv.Itoa(alb.port) {
		t.Fatalf("forwarding headers: %v", a.Headers)
	}
	// Weighted 90/10 over 400 requests: green gets 40, give or take 25.
	greens := 0
	for i := 0; i < 400; i++ {
		if get("/split", "").Task["ECS_COLOR"] == "green" {
			greens++
		}
	}
	if greens < 15 || greens > 65 {
		t.Fatalf("weighted forward 90/10: green got %d of 400", greens)
	}
	t.Logf("weighted forward 90/10: green got %d of 400", greens)
}
