package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Progressive deployments (BLUE_GREEN, LINEAR, CANARY) through the load
// balancer, driven with the AWS SDK for Go v2 (the Debian aws CLI
// predates these fields). The node runs with --deployment-minute so that
// a "minute" of bake time lasts a few seconds.

// splitTolerance is how far the observed share of green answers may be
// from the requested production weight, in percentage points, over a
// sample of splitSample requests (about 4 standard deviations at 50 %).
const (
	splitTolerance = 9.0
	splitSample    = 300
)

// bgSetup is a load balancer with a blue and a green target group, a
// production rule (every path) and a test rule (header X-Test: 1), both
// forwarding to blue.
type bgSetup struct {
	alb                albSetup
	blue, green        string
	prodRule, testRule string
	prodURL            string
	serviceName        string
}

func setupBlueGreen(t *testing.T, n *node, name string) bgSetup {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, line := range strings.Split(n.out.String(), "\n") {
			for _, k := range []string{"traffic moved", "deployment", "target", "stopped", "hook"} {
				if strings.Contains(line, k) {
					t.Log(line)
					break
				}
			}
		}
	})
	s := bgSetup{alb: createALB(t, n, name, 5), serviceName: name}
	s.blue = s.alb.tgARN
	s.green = createTG(t, n, name+"-tg2", 5)
	var out struct{ Rules []struct{ RuleArn string } }
	n.cliJSON(t, &out, "elbv2", "create-rule", "--listener-arn", s.alb.listenerARN, "--priority", "5",
		"--conditions", "Field=http-header,HttpHeaderConfig={HttpHeaderName=X-Test,Values=1}",
		"--actions", "Type=forward,TargetGroupArn="+s.blue)
	s.testRule = out.Rules[0].RuleArn
	n.cliJSON(t, &out, "elbv2", "create-rule", "--listener-arn", s.alb.listenerARN, "--priority", "10",
		"--conditions", "Field=path-pattern,Values=/*", "--actions", "Type=forward,TargetGroupArn="+s.blue)
	s.prodRule = out.Rules[0].RuleArn
	s.prodURL = fmt.Sprintf("http://%s:%d/env", s.alb.dns, s.alb.port)
	return s
}

// registerColor registers a revision of the app that says its color in
// /env.
func registerColor(t *testing.T, n *node, family, color string) string {
	t.Helper()
	return registerApp(t, n, family, func(c *types.ContainerDefinition) {
		c.Environment = []types.KeyValuePair{{Name: aws.String("COLOR"), Value: aws.String(color)}}
	})
}

func (s bgSetup) loadBalancers(test bool) []types.LoadBalancer {
	ac := &types.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(s.green), ProductionListenerRule: aws.String(s.prodRule)}
	if test {
		ac.TestListenerRule = aws.String(s.testRule)
	}
	return []types.LoadBalancer{{TargetGroupArn: aws.String(s.blue), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080),
		AdvancedConfiguration: ac}}
}

// colorOf asks url once and returns the COLOR of the task that answered.
func colorOf(c *http.Client, url string, header bool) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if header {
		req.Header.Set("X-Test", "1")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var env map[string]string
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return "", err
	}
	return env["COLOR"], nil
}

// colorLoad sends requests to url from several clients and counts the
// answers per color and the failures.
type colorLoad struct {
	green, blue, bad atomic.Int64
	mu               sync.Mutex
	errs             []string
	wg               sync.WaitGroup
	stop             chan struct{}
}

func startColorLoad(url string, clients int) *colorLoad {
	l := &colorLoad{stop: make(chan struct{})}
	for range clients {
		l.wg.Go(func() {
			c := lbClient()
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(loadGap):
				}
				color, err := colorOf(c, url, false)
				switch {
				case err != nil:
					l.bad.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 || l.bad.Load()%50 == 0 {
						l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
					}
					l.mu.Unlock()
				case color == "green":
					l.green.Add(1)
				default:
					l.blue.Add(1)
				}
			}
		})
	}
	return l
}

func (l *colorLoad) total() int64 { return l.green.Load() + l.blue.Load() }

// sample waits for n more answers and returns green's share of them in
// percent.
func (l *colorLoad) sample(t *testing.T, n int64) float64 {
	t.Helper()
	g0, t0 := l.green.Load(), l.total()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d answers", n), func() (bool, string) {
		return l.total()-t0 >= n, fmt.Sprint(l.total() - t0)
	})
	return 100 * float64(l.green.Load()-g0) / float64(l.total()-t0)
}

func (l *colorLoad) finish(t *testing.T) int64 {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if l.bad.Load() != 0 {
		t.Fatalf("%d of %d requests failed: %v", l.bad.Load(), l.total()+l.bad.Load(), l.errs)
	}
	return l.total()
}

// currentDeployment is the service's newest service deployment.
func currentDeployment(t *testing.T, n *node, service string) types.ServiceDeployment {
	t.Helper()
	ctx := ctxT(t)
	list, err := n.ecs().ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Service: aws.String(service)})
	if err != nil || len(list.ServiceDeployments) == 0 {
		t.Fatalf("ListServiceDeployments: %v %v", err, list)
	}
	out, err := n.ecs().DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{
		ServiceDeploymentArns: []string{aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)}})
	if err != nil || len(out.ServiceDeployments) != 1 {
		t.Fatalf("DescribeServiceDeployments: %v %v", err, out)
	}
	return out.ServiceDeployments[0]
}

func prodWeight(d types.ServiceDeployment) float64 {
	if d.TargetServiceRevision == nil || d.TargetServiceRevision.RequestedProductionTrafficWeight == nil {
		return -1
	}
	return *d.TargetServiceRevision.RequestedProductionTrafficWeight
}

// waitDeployment waits until the service's current deployment has status.
func waitDeployment(t *testing.T, n *node, service string, status types.ServiceDeploymentStatus, timeout time.Duration) types.ServiceDeployment {
	t.Helper()
	var d types.ServiceDeployment
	waitFor(t, timeout, "deployment "+string(status), func() (bool, string) {
		d = currentDeployment(t, n, service)
		return d.Status == status, fmt.Sprintf("%s at %s, %v %%", d.Status, d.LifecycleStage, prodWeight(d))
	})
	return d
}

// ruleWeights reads a rule's forward weights with `aws elbv2 describe-rules`.
func ruleWeights(t *testing.T, n *node, rule string) map[string]int {
	t.Helper()
	var out struct {
		Rules []struct {
			Actions []struct {
				ForwardConfig struct {
					TargetGroups []struct {
						TargetGroupArn string
						Weight         int
					}
				}
			}
		}
	}
	n.cliJSON(t, &out, "elbv2", "describe-rules", "--rule-arns", rule)
	w := map[string]int{}
	for _, g := range out.Rules[0].Actions[len(out.Rules[0].Actions)-1].ForwardConfig.TargetGroups {
		w[g.TargetGroupArn] = g.Weight
	}
	return w
}

func createProgressive(t *testing.T, n *node, s bgSetup, td string, count int32, dc *types.DeploymentConfiguration, test bool) {
	t.Helper()
	_, err := n.ecs().CreateService(ctxT(t), &ecs.CreateServiceInput{ServiceName: aws.String(s.serviceName), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(count), LoadBalancers: s.loadBalancers(test), HealthCheckGracePeriodSeconds: aws.Int32(30),
		DeploymentConfiguration: dc})
	if err != nil {
		t.Fatal(err)
	}
	waitStable(t, n, s.serviceName, 120*time.Second)
	waitHealthy(t, n, s.blue, int(count))
}

func updateTD(t *testing.T, n *node, service, td string) {
	t.Helper()
	if _, err := n.ecs().UpdateService(ctxT(t), &ecs.UpdateServiceInput{Service: aws.String(service), TaskDefinition: aws.String(td)}); err != nil {
		t.Fatal(err)
	}
}

// TestLinearDeploymentUnderLoad: LINEAR 4 × 25 % under continuous load.
// Each step's observed split matches its weight; nothing fails; a kill -9
// of minato in the middle resumes from the step it was at.
func TestLinearDeploymentUnderLoad(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--deployment-minute", "2s")
	s := setupBlueGreen(t, n, "lin")
	blueTD, greenTD := registerColor(t, n, "lin", "blue"), registerColor(t, n, "lin", "green")
	createProgressive(t, n, s, blueTD, 2, &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyLinear,
		LinearConfiguration: &types.LinearConfiguration{StepPercent: aws.Float64(25), StepBakeTimeInMinutes: aws.Int32(8)},
		BakeTimeInMinutes:   aws.Int32(1)}, false)

	l := startColorLoad(s.prodURL, 4)
	if share := l.sample(t, 100); share != 0 {
		t.Fatalf("before the deployment %.1f %% of answers came from green", share)
	}
	updateTD(t, n, s.serviceName, greenTD)
	measured := map[float64]float64{}
	for _, want := range []float64{25, 50} {
		waitFor(t, 120*time.Second, fmt.Sprintf("production weight %v", want), func() (bool, string) {
			w := prodWeight(currentDeployment(t, n, s.serviceName))
			return w >= want, fmt.Sprint(w)
		})
		if w := prodWeight(currentDeployment(t, n, s.serviceName)); w != want {
			t.Logf("the %v %% step passed before the test saw it (now %v); not judged", want, w)
			continue
		}
		share := l.sample(t, splitSample)
		if w := prodWeight(currentDeployment(t, n, s.serviceName)); w != want {
			t.Logf("the step moved on while sampling (%v → %v); sample not judged", want, w)
			continue
		}
		measured[want] = share
		if math.Abs(share-want) > splitTolerance {
			t.Errorf("at %v %% green got %.1f %% of %d requests", want, share, splitSample)
		}
		// describe-rules shows the weights the load balancer applies
		// (judged if the step did not move on meanwhile).
		rw := ruleWeights(t, n, s.prodRule)
		if w := prodWeight(currentDeployment(t, n, s.serviceName)); w == want && (rw[s.green] != int(want*10) || rw[s.blue] != int(1000-want*10)) {
			t.Errorf("describe-rules at %v %%: %v", want, rw)
		}
	}
	bad := l.bad.Load()
	total := l.total()
	// kill -9 at the 50 % step: the load balancer is in the process, so
	// the load pauses while minato is down.
	close(l.stop)
	l.wg.Wait()
	if bad != 0 {
		t.Fatalf("%d requests failed before the kill: %v", bad, l.errs)
	}
	n.kill()
	n.start()
	waitHealthy(t, n, s.blue, 2)
	d := currentDeployment(t, n, s.serviceName)
	if w := prodWeight(d); w < 50 || d.Status != types.ServiceDeploymentStatusInProgress {
		t.Fatalf("after the restart: %s at %v %%", d.Status, w)
	}
	l = startColorLoad(s.prodURL, 4)
	waitFor(t, 120*time.Second, "production weight 75", func() (bool, string) {
		w := prodWeight(currentDeployment(t, n, s.serviceName))
		return w >= 75, fmt.Sprint(w)
	})
	if w := prodWeight(currentDeployment(t, n, s.serviceName)); w == 75 {
		share := l.sample(t, splitSample)
		if w2 := prodWeight(currentDeployment(t, n, s.serviceName)); w2 == 75 {
			measured[75] = share
			if math.Abs(share-75) > splitTolerance {
				t.Errorf("at 75 %% green got %.1f %%", share)
			}
		}
	}
	d = waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusSuccessful, 120*time.Second)
	if share := l.sample(t, 100); share != 100 {
		t.Fatalf("after the deployment %.1f %% of answers came from green", share)
	}
	total += l.finish(t)
	svc := waitStable(t, n, s.serviceName, 60*time.Second)
	if len(svc.Deployments) != 1 || !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "lin:2") {
		t.Fatalf("after the deployment: %s %+v", aws.ToString(svc.TaskDefinition), svc.Deployments)
	}
	if len(measured) == 0 {
		t.Error("no step was measured")
	}
	t.Logf("LINEAR 4×25%%: %d requests, none failed; green share per step: %v (tolerance ±%v points over %d requests)",
		total, measured, splitTolerance, splitSample)
}

// TestBlueGreenTestListenerAndPause: BLUE_GREEN with a test listener rule
// and a PAUSE hook after the test traffic shift: test traffic reaches
// green while production stays blue; CONTINUE finishes it; a second
// deployment paused the same way is rolled back.
func TestBlueGreenTestListenerAndPause(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--deployment-minute", "2s")
	s := setupBlueGreen(t, n, "bg")
	v1, v2 := registerColor(t, n, "bg", "blue"), registerColor(t, n, "bg", "green")
	v3 := registerColor(t, n, "bg", "red")
	pause := []types.DeploymentLifecycleHook{{TargetType: types.DeploymentLifecycleHookTargetTypePause,
		LifecycleStages: []types.DeploymentLifecycleHookStage{types.DeploymentLifecycleHookStagePostTestTrafficShift}}}
	createProgressive(t, n, s, v1, 2, &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen,
		BakeTimeInMinutes: aws.Int32(1), LifecycleHooks: pause}, true)
	ctx := ctxT(t)

	l := startColorLoad(s.prodURL, 3)
	updateTD(t, n, s.serviceName, v2)
	var hook string
	waitFor(t, 120*time.Second, "the PAUSE hook", func() (bool, string) {
		d := currentDeployment(t, n, s.serviceName)
		for _, h := range d.LifecycleHookDetails {
			if h.Status == types.DeploymentLifecycleHookStatusAwaitingAction {
				hook = aws.ToString(h.HookId)
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s %v", d.LifecycleStage, d.LifecycleHookDetails)
	})
	// Paused: test traffic is green, production blue.
	c := lbClient()
	for range 20 {
		if color, err := colorOf(c, s.prodURL, true); err != nil || color != "green" {
			t.Fatalf("test traffic reached %q (%v), want green", color, err)
		}
		if color, err := colorOf(c, s.prodURL, false); err != nil || color != "blue" {
			t.Fatalf("production traffic reached %q (%v), want blue", color, err)
		}
	}
	d := currentDeployment(t, n, s.serviceName)
	if d.LifecycleStage != types.ServiceDeploymentLifecycleStagePostTestTrafficShift || prodWeight(d) != 0 ||
		aws.ToFloat64(d.TargetServiceRevision.RequestedTestTrafficWeight) != 100 {
		t.Fatalf("paused deployment: %s prod %v", d.LifecycleStage, prodWeight(d))
	}
	// A wrong hook ID is refused.
	if _, err := n.ecs().ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: d.ServiceDeploymentArn,
		HookId: aws.String("nope")}); apiErrorCode(err) != "InvalidParameterException" {
		t.Fatalf("ContinueServiceDeployment with a wrong hook: %v", err)
	}
	if _, err := n.ecs().ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: d.ServiceDeploymentArn,
		HookId: aws.String(hook), Action: types.DeploymentLifecycleHookActionContinue}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusSuccessful, 120*time.Second)
	if share := l.sample(t, 100); share != 100 {
		t.Fatalf("after the deployment %.1f %% of answers came from green", share)
	}
	// Green now serves production from the alternate target group.
	if rw := ruleWeights(t, n, s.prodRule); rw[s.green] != 1 || rw[s.blue] != 0 {
		t.Fatalf("production rule after blue/green: %v", rw)
	}

	// A second deployment, paused and rolled back: red never serves
	// production and goes away.
	updateTD(t, n, s.serviceName, v3)
	waitFor(t, 120*time.Second, "the PAUSE hook", func() (bool, string) {
		d = currentDeployment(t, n, s.serviceName)
		for _, h := range d.LifecycleHookDetails {
			if h.Status == types.DeploymentLifecycleHookStatusAwaitingAction {
				hook = aws.ToString(h.HookId)
				return true, ""
			}
		}
		return false, string(d.LifecycleStage)
	})
	if color, err := colorOf(c, s.prodURL, true); err != nil || color != "red" {
		t.Fatalf("test traffic reached %q (%v), want red", color, err)
	}
	if _, err := n.ecs().ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: d.ServiceDeploymentArn,
		HookId: aws.String(hook), Action: types.DeploymentLifecycleHookActionRollback}); err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusRollbackSuccessful, 120*time.Second)
	if d.Rollback == nil || aws.ToString(d.Rollback.Reason) == "" {
		t.Errorf("rollback: %+v", d.Rollback)
	}
	svc := waitStable(t, n, s.serviceName, 60*time.Second)
	if !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "bg:2") || len(svc.Deployments) != 1 {
		t.Fatalf("after the rollback: %s %d deployments", aws.ToString(svc.TaskDefinition), len(svc.Deployments))
	}
	if color, err := colorOf(c, s.prodURL, true); err != nil || color != "green" {
		t.Fatalf("test traffic after the rollback reached %q (%v), want green", color, err)
	}
	total := l.finish(t)
	t.Logf("BLUE_GREEN with a test listener, paused, continued, then rolled back: %d requests, none failed", total)
}

// hookServer is a URL lifecycle hook: it answers IN_PROGRESS inProgress
// times, then final.
type hookServer struct {
	mu         sync.Mutex
	calls      []HookCall
	inProgress int
	final      string
}

// HookCall is what the hook server was sent.
type HookCall struct {
	ExecutionID    string `json:"executionId"`
	LifecycleStage string `json:"lifecycleStage"`
	ResourceArn    string `json:"resourceArn"`
	At             time.Time
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c HookCall
	json.NewDecoder(r.Body).Decode(&c)
	c.At = time.Now()
	h.mu.Lock()
	h.calls = append(h.calls, c)
	n, final := len(h.calls), h.final
	h.mu.Unlock()
	if n <= h.inProgress {
		fmt.Fprint(w, `{"hookStatus":"IN_PROGRESS","callBackDelay":1}`)
		return
	}
	fmt.Fprintf(w, `{"hookStatus":%q}`, final)
}

func (h *hookServer) reset(inProgress int, final string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls, h.inProgress, h.final = nil, inProgress, final
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// TestCanaryWithURLHooks: CANARY 10 % under load with a URL hook that
// answers IN_PROGRESS twice, then SUCCEEDED; then a deployment whose hook
// fails is rolled back. No request fails.
func TestCanaryWithURLHooks(t *testing.T) {
	e2eTest(t)
	hooks := &hookServer{inProgress: 2, final: "SUCCEEDED"}
	hs := httptest.NewServer(hooks)
	t.Cleanup(hs.Close)
	n := startDockerNode(t, "--deployment-minute", "5s")
	s := setupBlueGreen(t, n, "can")
	v1, v2, v3 := registerColor(t, n, "can", "blue"), registerColor(t, n, "can", "green"), registerColor(t, n, "can", "red")
	ctx := ctxT(t)
	// A Lambda ARN is refused: minato has no Lambda.
	_, err := n.ecs().CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("lambda"), TaskDefinition: aws.String(v1),
		DesiredCount: aws.Int32(1), DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary,
			LifecycleHooks: []types.DeploymentLifecycleHook{{HookTargetArn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:f"),
				LifecycleStages: []types.DeploymentLifecycleHookStage{types.DeploymentLifecycleHookStagePostScaleUp}}}}})
	if apiErrorCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "no AWS Lambda") {
		t.Fatalf("a Lambda hook: %v", err)
	}
	createProgressive(t, n, s, v1, 2, &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary,
		CanaryConfiguration: &types.CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(4)},
		LifecycleHooks: []types.DeploymentLifecycleHook{{HookTargetArn: aws.String(hs.URL + "/hook"),
			LifecycleStages: []types.DeploymentLifecycleHookStage{types.DeploymentLifecycleHookStagePostScaleUp}}}}, false)

	l := startColorLoad(s.prodURL, 4)
	updateTD(t, n, s.serviceName, v2)
	waitFor(t, 120*time.Second, "production weight 10", func() (bool, string) {
		w := prodWeight(currentDeployment(t, n, s.serviceName))
		return w == 10, fmt.Sprint(w)
	})
	if c := hooks.count(); c != 3 {
		t.Fatalf("the hook was called %d times, want 3 (IN_PROGRESS twice, then SUCCEEDED)", c)
	}
	share := l.sample(t, splitSample)
	if w := prodWeight(currentDeployment(t, n, s.serviceName)); w == 10 && math.Abs(share-10) > splitTolerance {
		t.Errorf("at 10 %% green got %.1f %% of %d requests", share, splitSample)
	}
	d := waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusSuccessful, 120*time.Second)
	if len(d.LifecycleHookDetails) != 1 || d.LifecycleHookDetails[0].Status != types.DeploymentLifecycleHookStatusSucceeded {
		t.Errorf("hook details: %+v", d.LifecycleHookDetails)
	}
	hooks.mu.Lock()
	first := hooks.calls[0]
	hooks.mu.Unlock()
	// (The event's ARNs are in the server's --region; the SDK's requests
	// here use another, so only the resource part is compared.)
	_, wantRes, _ := strings.Cut(aws.ToString(d.ServiceDeploymentArn), ":service-deployment/")
	if _, res, _ := strings.Cut(first.ResourceArn, ":service-deployment/"); first.LifecycleStage != "POST_SCALE_UP" || res != wantRes {
		t.Errorf("hook event: %+v", first)
	}

	// A hook that fails rolls the deployment back.
	hooks.reset(0, "FAILED")
	updateTD(t, n, s.serviceName, v3)
	d = waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusRollbackSuccessful, 120*time.Second)
	svc := waitStable(t, n, s.serviceName, 60*time.Second)
	if !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "can:2") {
		t.Fatalf("after the rollback: %s", aws.ToString(svc.TaskDefinition))
	}
	if share := l.sample(t, 100); share != 100 {
		t.Fatalf("after the rollback %.1f %% of answers came from green", share)
	}
	total := l.finish(t)
	t.Logf("CANARY 10%%: observed %.1f %% green at the canary step; URL hooks: IN_PROGRESS×2 then SUCCEEDED, FAILED → rolled back; %d requests, none failed",
		share, total)
}

// runningTasks returns the service's tasks that run and are meant to,
// with their task definitions ("family:revision").
func runningTasks(t *testing.T, n *node, service string) map[string]string {
	t.Helper()
	ctx := ctxT(t)
	list, err := n.ecs().ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String(service), DesiredStatus: types.DesiredStatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	if len(list.TaskArns) == 0 {
		return out
	}
	desc, err := n.ecs().DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range desc.Tasks {
		if aws.ToString(task.LastStatus) == "RUNNING" && aws.ToString(task.DesiredStatus) == "RUNNING" {
			td := aws.ToString(task.TaskDefinitionArn)
			out[aws.ToString(task.TaskArn)] = td[strings.LastIndex(td, "/")+1:]
		}
	}
	return out
}

// TestProgressiveKill9DuringBake: a BLUE_GREEN deployment in its bake
// (all production traffic on green, blue still running) and a CANARY one
// at its 10 % step, when minato is killed with -9 and restarted: both
// resume where they were (weights kept, no traffic back to blue) and
// complete. Before the kill, a blue task of the canary service that stops
// is replaced by a blue one while the deployment runs. No request fails
// while minato (which runs the load balancer) is up.
func TestProgressiveKill9DuringBake(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--deployment-minute", "1s")
	bg, can := setupBlueGreen(t, n, "kbg"), setupBlueGreen(t, n, "kcan")
	bgBlue, bgGreen := registerColor(t, n, "kbg", "blue"), registerColor(t, n, "kbg", "green")
	canBlue, canGreen := registerColor(t, n, "kcan", "blue"), registerColor(t, n, "kcan", "green")
	createProgressive(t, n, bg, bgBlue, 2, &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen,
		BakeTimeInMinutes: aws.Int32(40)}, false)
	createProgressive(t, n, can, canBlue, 2, &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary,
		CanaryConfiguration: &types.CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(40)}}, false)
	ctx := ctxT(t)

	bgLoad, canLoad := startColorLoad(bg.prodURL, 3), startColorLoad(can.prodURL, 3)
	updateTD(t, n, bg.serviceName, bgGreen)
	updateTD(t, n, can.serviceName, canGreen)
	waitFor(t, 120*time.Second, "blue/green in its bake, canary at 10 %", func() (bool, string) {
		b, c := currentDeployment(t, n, bg.serviceName), currentDeployment(t, n, can.serviceName)
		return b.LifecycleStage == types.ServiceDeploymentLifecycleStageBakeTime && prodWeight(c) == 10,
			fmt.Sprintf("blue/green %s %v %%, canary %s %v %%", b.LifecycleStage, prodWeight(b), c.LifecycleStage, prodWeight(c))
	})

	// A blue task of the canary service stops: a blue task replaces it
	// while the canary bakes.
	before := runningTasks(t, n, can.serviceName)
	var victim string
	for arn, td := range before {
		if strings.HasSuffix(canBlue, "/"+td) {
			victim = arn
		}
	}
	if victim == "" {
		t.Fatalf("no blue task among %v (blue is %s)", before, canBlue)
	}
	if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(victim), Reason: aws.String("e2e: a blue task dies")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "a new blue task", func() (bool, string) {
		now := runningTasks(t, n, can.serviceName)
		blue := 0
		fresh := false
		for arn, td := range now {
			if strings.HasSuffix(canBlue, "/"+td) {
				blue++
				if _, old := before[arn]; !old {
					fresh = true
				}
			}
		}
		if d := currentDeployment(t, n, can.serviceName); d.Status != types.ServiceDeploymentStatusInProgress {
			t.Fatalf("the canary deployment is %s before blue was repaired", d.Status)
		}
		return blue == 2 && fresh, fmt.Sprint(now)
	})

	// kill -9 in the bakes.
	for _, l := range []*colorLoad{bgLoad, canLoad} {
		close(l.stop)
		l.wg.Wait()
		if l.bad.Load() != 0 {
			t.Fatalf("%d requests failed before the kill: %v", l.bad.Load(), l.errs)
		}
	}
	total := bgLoad.total() + canLoad.total()
	n.kill()
	n.start()
	waitHealthy(t, n, bg.green, 2)
	waitHealthy(t, n, can.green, 2)
	b, c := currentDeployment(t, n, bg.serviceName), currentDeployment(t, n, can.serviceName)
	if prodWeight(b) != 100 || b.Status == types.ServiceDeploymentStatusRollbackSuccessful || b.Status == types.ServiceDeploymentStatusRollbackInProgress {
		t.Fatalf("blue/green after the restart: %s at %s, %v %%", b.Status, b.LifecycleStage, prodWeight(b))
	}
	if prodWeight(c) < 10 || c.Status != types.ServiceDeploymentStatusInProgress && c.Status != types.ServiceDeploymentStatusSuccessful {
		t.Fatalf("canary after the restart: %s at %s, %v %%", c.Status, c.LifecycleStage, prodWeight(c))
	}
	if rw := ruleWeights(t, n, bg.prodRule); rw[bg.green] != 1 || rw[bg.blue] != 0 {
		t.Fatalf("blue/green production rule after the restart: %v", rw)
	}
	if rw := ruleWeights(t, n, can.prodRule); prodWeight(currentDeployment(t, n, can.serviceName)) == 10 && (rw[can.green] != 100 || rw[can.blue] != 900) {
		t.Fatalf("canary production rule after the restart: %v", rw)
	}
	bgLoad, canLoad = startColorLoad(bg.prodURL, 3), startColorLoad(can.prodURL, 3)
	// No production traffic goes back to blue on the blue/green service.
	if share := bgLoad.sample(t, 100); share != 100 {
		t.Fatalf("blue/green after the restart: %.1f %% of answers from green", share)
	}
	waitDeployment(t, n, bg.serviceName, types.ServiceDeploymentStatusSuccessful, 120*time.Second)
	waitDeployment(t, n, can.serviceName, types.ServiceDeploymentStatusSuccessful, 120*time.Second)
	if share := canLoad.sample(t, 100); share != 100 {
		t.Fatalf("canary after the deployment: %.1f %% of answers from green", share)
	}
	total += bgLoad.finish(t) + canLoad.finish(t)
	for _, s := range []bgSetup{bg, can} {
		svc := waitStable(t, n, s.serviceName, 60*time.Second)
		if len(svc.Deployments) != 1 || !strings.HasSuffix(aws.ToString(svc.TaskDefinition), s.serviceName+":2") {
			t.Fatalf("%s after the deployment: %s %d deployments", s.serviceName, aws.ToString(svc.TaskDefinition), len(svc.Deployments))
		}
	}
	t.Logf("BLUE_GREEN (in its bake) and CANARY (at 10 %%) resumed after kill -9 and completed; a stopped blue task was replaced; %d requests, none failed",
		total)
}

// TestNewDeploymentDuringCanary: a new deployment while a CANARY one is at
// its 10 % step replaces it, as in ECS: the canary's service deployment
// ends STOPPED, its traffic goes back to blue, its tasks stop (in the new
// deployment's RECONCILE_SERVICE), and the new revision goes through its
// own canary to completion. No request fails.
func TestNewDeploymentDuringCanary(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--deployment-minute", "1s")
	s := setupBlueGreen(t, n, "sup")
	v1, v2, v3 := registerColor(t, n, "sup", "blue"), registerColor(t, n, "sup", "yellow"), registerColor(t, n, "sup", "green")
	createProgressive(t, n, s, v1, 2, &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary,
		CanaryConfiguration: &types.CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(15)}}, false)
	ctx := ctxT(t)

	l := startColorLoad(s.prodURL, 3)
	updateTD(t, n, s.serviceName, v2)
	first := waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusInProgress, 60*time.Second)
	waitFor(t, 120*time.Second, "the yellow canary at 10 %", func() (bool, string) {
		w := prodWeight(currentDeployment(t, n, s.serviceName))
		return w == 10, fmt.Sprint(w)
	})
	updateTD(t, n, s.serviceName, v3)
	out, err := n.ecs().DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(first.ServiceDeploymentArn)}})
	if err != nil || len(out.ServiceDeployments) != 1 || out.ServiceDeployments[0].Status != types.ServiceDeploymentStatusStopped {
		t.Fatalf("the replaced canary deployment: %+v %v", out, err)
	}
	// The yellow tasks go before the new revision scales up, and no
	// production traffic reaches them once they are gone.
	yellow := v2[strings.LastIndex(v2, "/")+1:]
	waitFor(t, 90*time.Second, "the yellow tasks to stop", func() (bool, string) {
		tasks := runningTasks(t, n, s.serviceName)
		for _, td := range tasks {
			if td == yellow {
				return false, fmt.Sprint(tasks)
			}
		}
		return true, ""
	})
	c := lbClient()
	for range 30 {
		if color, err := colorOf(c, s.prodURL, false); err != nil || color == "yellow" {
			t.Fatalf("production traffic after the canary was replaced reached %q (%v)", color, err)
		}
	}
	d := waitDeployment(t, n, s.serviceName, types.ServiceDeploymentStatusSuccessful, 180*time.Second)
	// It started from blue (sup:1), the revision that served production.
	if len(d.SourceServiceRevisions) == 0 {
		t.Fatalf("the new deployment has no source revision: %+v", d)
	}
	revs, err := n.ecs().DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{
		ServiceRevisionArns: []string{aws.ToString(d.SourceServiceRevisions[0].Arn)}})
	if err != nil || len(revs.ServiceRevisions) != 1 || !strings.HasSuffix(aws.ToString(revs.ServiceRevisions[0].TaskDefinition), "sup:1") {
		t.Fatalf("the new deployment's source revision: %+v %v", revs, err)
	}
	if share := l.sample(t, 100); share != 100 {
		t.Fatalf("after the new deployment %.1f %% of answers came from green", share)
	}
	total := l.finish(t)
	svc := waitStable(t, n, s.serviceName, 60*time.Second)
	if len(svc.Deployments) != 1 || !strings.HasSuffix(aws.ToString(svc.TaskDefinition), "sup:3") {
		t.Fatalf("after the deployment: %s %+v", aws.ToString(svc.TaskDefinition), svc.Deployments)
	}
	t.Logf("a new deployment during a CANARY one at 10 %%: the canary STOPPED, its tasks gone, the new one SUCCESSFUL; %d requests, none failed", total)
}
