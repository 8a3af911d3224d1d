package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// receiver is a local HTTP endpoint an API destination calls: it keeps
// what it got, and answers what the test says.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	auth   []string
	calls  atomic.Int64
	status atomic.Int64  // the status it answers; 0: 200
	hold   chan struct{} // when set, requests wait until it is closed
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		r.mu.Lock()
		hold := r.hold
		r.mu.Unlock()
		if hold != nil {
			<-hold // released: the caller may be gone; it is not a delivery
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if s := r.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.auth = append(r.auth, req.Header.Get("Authorization")+"|"+req.Header.Get("X-Api-Key"))
		r.mu.Unlock()
	}))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hold != nil {
			select {
			case <-r.hold:
			default:
				close(r.hold)
			}
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// apiDestination makes a connection (basic auth) and an API destination
// to the receiver, and returns the destination's ARN.
func apiDestination(t *testing.T, n *node, name, endpoint string) string {
	t.Helper()
	var conn struct{ ConnectionArn string }
	n.cliJSON(t, &conn, "events", "create-connection", "--name", name, "--authorization-type", "BASIC",
		"--auth-parameters", `{"BasicAuthParameters":{"Username":"u","Password":"p"}}`)
	var dest struct{ ApiDestinationArn string }
	n.cliJSON(t, &dest, "events", "create-api-destination", "--name", name, "--connection-arn", conn.ConnectionArn,
		"--invocation-endpoint", endpoint, "--http-method", "POST", "--invocation-rate-limit-per-second", "10")
	return dest.ApiDestinationArn
}

// logMessages returns the messages of a log group (aws logs
// filter-log-events).
func logMessages(t *testing.T, n *node, group string) []string {
	t.Helper()
	var out struct{ Events []struct{ Message string } }
	r := n.cli(t, "logs", "filter-log-events", "--log-group-name", group)
	if r.exit != 0 {
		return nil
	}
	json.Unmarshal([]byte(r.stdout), &out)
	var msgs []string
	for _, e := range out.Events {
		msgs = append(msgs, e.Message)
	}
	return msgs
}

func containsAll(list []string, subs ...string) bool {
	for _, s := range subs {
		found := false
		for _, l := range list {
			found = found || strings.Contains(l, s)
		}
		if !found {
			return false
		}
	}
	return true
}

// Seed 003's abnormal-exit monitor, with the aws CLI: a rule on ECS Task
// State Change, lastStatus STOPPED and a non-zero exitCode, delivers to a
// log group and to an HTTP endpoint when a task exits 3, and not when one
// exits 0.
func TestEventsAbnormalExitMonitor(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	recv := newReceiver(t)
	registerApp(t, n, "crash3", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "3", "after", "1s"} })
	registerApp(t, n, "clean0", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "0", "after", "1s"} })

	group := "/aws/events/ecs-abnormal-exit"
	n.cliJSON(t, nil, "logs", "create-log-group", "--log-group-name", group)
	destARN := apiDestination(t, n, "alerts", recv.srv.URL+"/hook")
	pattern := `{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"lastStatus":["STOPPED"],"containers":{"exitCode":[{"anything-but":0}]}}}`
	var rule struct{ RuleArn string }
	n.cliJSON(t, &rule, "events", "put-rule", "--name", "ecs-abnormal-exit", "--event-pattern", pattern)
	if !strings.HasSuffix(rule.RuleArn, ":rule/ecs-abnormal-exit") {
		t.Fatalf("put-rule: %+v", rule)
	}
	targets := fmt.Sprintf(`[{"Id":"logs","Arn":"arn:aws:logs:%s:000000000000:log-group:%s"},`+
		`{"Id":"hook","Arn":%q,"InputTransformer":{"InputPathsMap":{"task":"$.detail.taskArn","code":"$.detail.containers[0].exitCode"},"InputTemplate":"{\"task\": <task>, \"exitCode\": <code>}"}}]`,
		testRegion, group, destARN)
	var put struct{ FailedEntryCount int }
	n.cliJSON(t, &put, "events", "put-targets", "--rule", "ecs-abnormal-exit", "--targets", targets)
	if put.FailedEntryCount != 0 {
		t.Fatalf("put-targets: %+v", put)
	}

	// A clean exit first: it must never reach the targets.
	var run struct{ Tasks []struct{ TaskArn string } }
	n.cliJSON(t, &run, "ecs", "run-task", "--task-definition", "clean0")
	clean := taskID(run.Tasks[0].TaskArn) // events name the node's region; the CLI's ARNs its own
	n.cliJSON(t, nil, "ecs", "wait", "tasks-stopped", "--tasks", clean)
	n.cliJSON(t, &run, "ecs", "run-task", "--task-definition", "crash3")
	crash := taskID(run.Tasks[0].TaskArn)
	waitFor(t, 90*time.Second, "the exit-3 task's event in the log group and at the receiver", func() (bool, string) {
		msgs := logMessages(t, n, group)
		return containsAll(msgs, crash) && containsAll(recv.got(), crash), fmt.Sprintf("logs %d, http %v", len(msgs), recv.got())
	})
	// The events are matched in the order of the changes: the exit-0 task
	// stopped before, so had it matched it would be here already.
	msgs := logMessages(t, n, group)
	for _, m := range append(msgs, recv.got()...) {
		if strings.Contains(m, clean) {
			t.Fatalf("the exit-0 task reached a target: %s", m)
		}
	}
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Resources  []string
		Detail     struct {
			LastStatus string `json:"lastStatus"`
			StopCode   string `json:"stopCode"`
			Version    int    `json:"version"`
			Containers []struct {
				ExitCode int `json:"exitCode"`
			} `json:"containers"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(msgs[len(msgs)-1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "aws.ecs" || ev.DetailType != "ECS Task State Change" || ev.Detail.LastStatus != "STOPPED" ||
		ev.Detail.StopCode != "EssentialContainerExited" || ev.Detail.Containers[0].ExitCode != 3 || ev.Detail.Version < 2 ||
		len(ev.Resources) != 1 || !strings.HasSuffix(ev.Resources[0], ":task/default/"+crash) {
		t.Fatalf("the logged event: %+v\n%s", ev, msgs[len(msgs)-1])
	}
	body := recv.got()[0]
	if !strings.HasPrefix(body, `{"task": "arn:aws:ecs:`) || !strings.HasSuffix(body, `/`+crash+`", "exitCode": 3}`) {
		t.Fatalf("the receiver got %s", body)
	}
	recv.mu.Lock()
	auth := recv.auth[0]
	recv.mu.Unlock()
	if auth != "Basic dTpw|" {
		t.Fatalf("Authorization: %q", auth)
	}
}

// A rate(1 minute) rule runs a task, on a clock sped up 60 times
// (MINATO_EVENTS_SCHEDULE_SCALE, a documented test knob).
func TestEventsScheduledTask(t *testing.T) {
	e2eTest(t)
	n := newNode(t)
	n.env = []string{"MINATO_EVENTS_SCHEDULE_SCALE=60"}
	n.args = []string{"--stop-timeout", "5s", "--dynamic-ports", n.ports.dynamicPorts()}
	n.launch()
	waitForInstances(t, n, "default", 1)
	registerApp(t, n, "nightly", func(c *types.ContainerDefinition) {
		c.Command = []string{"exit", "0", "after", "1s"}
		c.PortMappings = nil
	})
	n.cliJSON(t, nil, "events", "put-rule", "--name", "every-minute", "--schedule-expression", "rate(1 minute)")
	var describe struct{ ScheduleExpression, State string }
	n.cliJSON(t, &describe, "events", "describe-rule", "--name", "every-minute")
	if describe.ScheduleExpression != "rate(1 minute)" || describe.State != "ENABLED" {
		t.Fatalf("describe-rule: %+v", describe)
	}
	targets := fmt.Sprintf(`[{"Id":"job","Arn":"arn:aws:ecs:%s:000000000000:cluster/default","EcsParameters":{"TaskDefinitionArn":"nightly","TaskCount":1}}]`, testRegion)
	n.cliJSON(t, nil, "events", "put-targets", "--rule", "every-minute", "--targets", targets)
	waitFor(t, 90*time.Second, "two scheduled runs", func() (bool, string) {
		var list struct{ TaskArns []string }
		n.cliJSON(t, &list, "ecs", "list-tasks", "--started-by", "events-rule/every-minute", "--desired-status", "STOPPED")
		var running struct{ TaskArns []string }
		n.cliJSON(t, &running, "ecs", "list-tasks", "--started-by", "events-rule/every-minute")
		total := len(list.TaskArns) + len(running.TaskArns)
		return total >= 2, fmt.Sprint(total, " tasks")
	})
	n.cliJSON(t, nil, "events", "disable-rule", "--name", "every-minute")
	n.cliJSON(t, nil, "events", "remove-targets", "--rule", "every-minute", "--ids", "job")
	n.cliJSON(t, nil, "events", "delete-rule", "--name", "every-minute")
}

// `aws events put-events` with a custom event reaches its target on a
// custom bus; bad input gets EventBridge's errors.
func TestEventsPutEventsCLI(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	group := "/custom/orders"
	n.cliJSON(t, nil, "logs", "create-log-group", "--log-group-name", group)
	n.cliJSON(t, nil, "events", "create-event-bus", "--name", "orders")
	n.cliJSON(t, nil, "events", "put-rule", "--name", "big-orders", "--event-bus-name", "orders",
		"--event-pattern", `{"source":["my.shop"],"detail":{"total":[{"numeric":[">",100]}]}}`)
	n.cliJSON(t, nil, "events", "put-targets", "--rule", "big-orders", "--event-bus-name", "orders", "--targets",
		fmt.Sprintf(`[{"Id":"log","Arn":"arn:aws:logs:%s:000000000000:log-group:%s","InputPath":"$.detail"}]`, testRegion, group))
	var put struct {
		FailedEntryCount int
		Entries          []struct{ EventId, ErrorCode string }
	}
	n.cliJSON(t, &put, "events", "put-events", "--entries",
		`[{"Source":"my.shop","DetailType":"order","Detail":"{\"id\":\"small\",\"total\":5}","EventBusName":"orders"},`+
			`{"Source":"my.shop","DetailType":"order","Detail":"{\"id\":\"big\",\"total\":500}","EventBusName":"orders"},`+
			`{"Source":"my.shop","DetailType":"order","Detail":"not json","EventBusName":"orders"}]`)
	if put.FailedEntryCount != 1 || put.Entries[2].ErrorCode != "MalformedDetail" || put.Entries[1].EventId == "" {
		t.Fatalf("put-events: %+v", put)
	}
	waitFor(t, 30*time.Second, "the big order in the log group", func() (bool, string) {
		msgs := logMessages(t, n, group)
		return containsAll(msgs, `"big"`), fmt.Sprint(msgs)
	})
	if msgs := logMessages(t, n, group); len(msgs) != 1 || msgs[0] != `{"id":"big","total":500}` {
		t.Fatalf("log group holds %q", msgs)
	}

	var list struct {
		Rules []struct{ Name, EventBusName string }
	}
	n.cliJSON(t, &list, "events", "list-rules", "--event-bus-name", "orders")
	if len(list.Rules) != 1 || list.Rules[0].Name != "big-orders" {
		t.Fatalf("list-rules: %+v", list)
	}
	var test struct{ Result bool }
	n.cliJSON(t, &test, "events", "test-event-pattern", "--event-pattern", `{"source":[{"prefix":"my."}]}`, "--event",
		`{"id":"1","account":"000000000000","source":"my.shop","time":"2026-12-07T00:00:00Z","region":"us-east-1","resources":[],"detail-type":"x","detail":{}}`)
	if !test.Result {
		t.Fatal("test-event-pattern: no match")
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "put-rule", "--name", "bad", "--event-pattern", `{"source":"aws.ecs"}`}, "InvalidEventPatternException"},
		{[]string{"events", "put-rule", "--name", "bad", "--event-pattern", `{"n":[{"numeric":[">","x"]}]}`}, "InvalidEventPatternException"},
		{[]string{"events", "put-rule", "--name", "bad", "--schedule-expression", "cron(0 10 * * * *)"}, "ValidationException"},
		{[]string{"events", "put-rule", "--name", "bad", "--schedule-expression", "rate(1 minutes)"}, "ValidationException"},
		{[]string{"events", "put-rule", "--name", "bad"}, "ValidationException"},
		{[]string{"events", "put-rule", "--name", "bad", "--event-bus-name", "nope", "--event-pattern", `{"a":["b"]}`}, "ResourceNotFoundException"},
		{[]string{"events", "describe-rule", "--name", "nope"}, "ResourceNotFoundException"},
		{[]string{"events", "put-targets", "--rule", "big-orders", "--event-bus-name", "orders", "--targets", `[{"Id":"x","Arn":"not-an-arn"}]`}, "ValidationException"},
		{[]string{"events", "put-targets", "--rule", "big-orders", "--event-bus-name", "orders", "--targets",
			`[{"Id":"x","Arn":"arn:aws:logs:us-east-1:000000000000:log-group:g","Input":"{}","InputPath":"$.detail"}]`}, "ValidationException"},
		{[]string{"events", "delete-rule", "--name", "big-orders", "--event-bus-name", "orders"}, "ValidationException"},
		{[]string{"events", "test-event-pattern", "--event-pattern", `{"a":["b"]}`, "--event", `{"a":"b"}`}, "ValidationException"},
		{[]string{"events", "create-event-bus", "--name", "orders"}, "ResourceAlreadyExistsException"},
	} {
		r := n.cli(t, c.args...)
		if r.exit == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("aws %s: exit %d, stderr %q; want %s", strings.Join(c.args, " "), r.exit, r.stderr, c.want)
		}
	}
}

// A target that is down gets the event once it is back; kill -9 of the
// node while a delivery is in flight and another event waits in the
// outbox loses neither.
func TestEventsRetryAndKill9(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	recv := newReceiver(t)
	destARN := apiDestination(t, n, "hook", recv.srv.URL)
	n.cliJSON(t, nil, "events", "put-rule", "--name", "all-mine", "--event-pattern", `{"source":["my.app"]}`)
	n.cliJSON(t, nil, "events", "put-targets", "--rule", "all-mine", "--targets",
		fmt.Sprintf(`[{"Id":"hook","Arn":%q,"InputPath":"$.detail","RetryPolicy":{"MaximumRetryAttempts":50,"MaximumEventAgeInSeconds":3600}}]`, destARN))
	putEvent := func(id string) {
		n.cliJSON(t, nil, "events", "put-events", "--entries",
			fmt.Sprintf(`[{"Source":"my.app","DetailType":"t","Detail":"{\"n\":\"%s\"}"}]`, id))
	}

	// Down: the receiver answers 503 until it has been tried twice.
	recv.status.Store(503)
	putEvent("while-down")
	waitFor(t, 30*time.Second, "two failed attempts", func() (bool, string) {
		return recv.calls.Load() >= 2, fmt.Sprint(recv.calls.Load())
	})
	recv.status.Store(0)
	waitFor(t, 60*time.Second, "the event after the target came back", func() (bool, string) {
		return containsAll(recv.got(), "while-down"), fmt.Sprint(recv.got())
	})

	// Hold the next delivery open, so that the kill lands with it in
	// flight and with a later event still in the outbox behind it.
	recv.mu.Lock()
	recv.hold = make(chan struct{})
	recv.mu.Unlock()
	calls := recv.calls.Load()
	putEvent("in-flight")
	waitFor(t, 30*time.Second, "the delivery in flight", func() (bool, string) {
		return recv.calls.Load() > calls, fmt.Sprint(recv.calls.Load())
	})
	putEvent("in-outbox")
	n.kill()
	recv.mu.Lock()
	close(recv.hold)
	recv.hold = nil
	recv.mu.Unlock()
	n.start()
	waitFor(t, 60*time.Second, "both events after the restart", func() (bool, string) {
		return containsAll(recv.got(), "in-flight", "in-outbox"), fmt.Sprint(recv.got())
	})
}

// A service's deployment and steady state reach a rule on ECS Deployment
// State Change and ECS Service Action; the container instance's events
// reach one on ECS Container Instance State Change.
func TestEventsServiceAndInstanceEvents(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "svc-web", func(c *types.ContainerDefinition) { c.PortMappings = nil })
	group := "/aws/events/ecs-service"
	n.cliJSON(t, nil, "logs", "create-log-group", "--log-group-name", group)
	target := fmt.Sprintf(`[{"Id":"logs","Arn":"arn:aws:logs:%s:000000000000:log-group:%s"}]`, testRegion, group)
	n.cliJSON(t, nil, "events", "put-rule", "--name", "svc", "--event-pattern",
		`{"source":["aws.ecs"],"detail-type":["ECS Deployment State Change","ECS Service Action","ECS Container Instance State Change"]}`)
	n.cliJSON(t, nil, "events", "put-targets", "--rule", "svc", "--targets", target)
	n.cliJSON(t, nil, "ecs", "create-service", "--service-name", "web", "--task-definition", "svc-web", "--desired-count", "1")
	waitFor(t, 120*time.Second, "the deployment's and the service's events", func() (bool, string) {
		msgs := logMessages(t, n, group)
		return containsAll(msgs, `"SERVICE_DEPLOYMENT_IN_PROGRESS"`, `"SERVICE_DEPLOYMENT_COMPLETED"`, `"SERVICE_STEADY_STATE"`,
			`"ECS Container Instance State Change"`), fmt.Sprint(len(msgs), " events")
	})
	for _, m := range logMessages(t, n, group) {
		var ev struct {
			DetailType string   `json:"detail-type"`
			Resources  []string `json:"resources"`
			Detail     struct {
				EventName, DeploymentID string
				RemainingResources      []any `json:"remainingResources"`
			} `json:"detail"`
		}
		if err := json.Unmarshal([]byte(m), &ev); err != nil || len(ev.Resources) != 1 {
			t.Fatalf("event %s: %v", m, err)
		}
		if ev.DetailType == "ECS Deployment State Change" && !strings.HasSuffix(ev.Resources[0], ":service/default/web") {
			t.Errorf("deployment event names %s", ev.Resources[0])
		}
		if ev.DetailType == "ECS Container Instance State Change" && len(ev.Detail.RemainingResources) != 4 {
			t.Errorf("instance event: %s", m)
		}
	}
}
