package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/testutil/minicluster"
)

// logBuffer collects JSON log records.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// find returns the INFO records with message msg whose attributes include
// want (compared as printed).
func (l *logBuffer) find(msg string, want map[string]string) []map[string]any {
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != msg || rec["level"] != "INFO" {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && fmt.Sprint(rec[k]) == v
		}
		if ok {
			out = append(out, rec)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The INFO log tells an operator what happens to tasks and services:
// tasks placed, RUNNING, stopping and STOPPED (with why), services
// created, scaled and deleted, and deployments started, completed, failed
// and rolled back, with constant keys.
func TestOperatorEventsAreLoggedAtInfo(t *testing.T) {
	logs := &logBuffer{}
	c := minicluster.New(t, minicluster.Options{Controller: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	expect := func(msg string, want map[string]string) map[string]any {
		t.Helper()
		var got []map[string]any
		c.Eventually(20*time.Second, "log line "+msg, func() (bool, string) {
			got = logs.find(msg, want)
			return len(got) > 0, fmt.Sprintf("%v in\n%s", want, logs)
		})
		return got[len(got)-1]
	}
	c.AddAgent("zone-a", "app:1")
	expect("container instance registered", map[string]string{"cluster": "default"})
	c.Register("web", "app:1", nil)
	c.Register("web", "missing:1", nil)
	ctx := context.Background()

	run, err := c.ECS.RunTask(ctx, call, &ecstypes.RunTaskRequest{TaskDefinition: "web:1"})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	arn := run.Tasks[0].TaskArn
	id := arn[strings.LastIndex(arn, "/")+1:]
	placed := expect("task placed", map[string]string{"cluster": "default", "task": id, "taskDefinition": "web:1"})
	if placed["instance"] == "" {
		t.Errorf("task placed names no instance: %v", placed)
	}
	c.WaitTask(arn, "RUNNING")
	expect("task running", map[string]string{"cluster": "default", "task": id})
	if _, err := c.ECS.StopTask(ctx, call, &ecstypes.StopTaskRequest{Task: arn, Reason: "done here"}); err != nil {
		t.Fatal(err)
	}
	expect("task stopping", map[string]string{"task": id, "stopCode": "UserInitiated", "reason": "done here"})
	c.WaitTask(arn, "STOPPED")
	expect("task stopped", map[string]string{"task": id, "stopCode": "UserInitiated", "reason": "done here"})

	two := int32(2)
	if _, err := c.ECS.CreateService(ctx, call, &ecstypes.CreateServiceRequest{ServiceName: "svc", TaskDefinition: "web:1", DesiredCount: &two,
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}}}); err != nil {
		t.Fatal(err)
	}
	expect("service created", map[string]string{"cluster": "default", "service": "svc", "taskDefinition": "web:1", "desiredCount": "2"})
	first := expect("deployment started", map[string]string{"service": "svc", "taskDefinition": "web:1"})
	expect("task placed", map[string]string{"service": "svc", "deployment": fmt.Sprint(first["deployment"])})
	expect("task running", map[string]string{"service": "svc"})
	expect("deployment completed", map[string]string{"service": "svc", "deployment": fmt.Sprint(first["deployment"])})

	one := int32(1)
	if _, err := c.ECS.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "svc", DesiredCount: &one}); err != nil {
		t.Fatal(err)
	}
	expect("service desired count changed", map[string]string{"service": "svc", "from": "2", "to": "1"})
	expect("task stopping", map[string]string{"service": "svc", "stopCode": "ServiceSchedulerInitiated"})

	// A revision whose image cannot be pulled fails, and the circuit
	// breaker rolls the service back.
	if _, err := c.ECS.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "svc", TaskDefinition: "web:2"}); err != nil {
		t.Fatal(err)
	}
	bad := expect("deployment started", map[string]string{"service": "svc", "taskDefinition": "web:2"})
	failed := expect("task stopped", map[string]string{"service": "svc", "taskDefinition": "web:2", "stopCode": "TaskFailedToStart"})
	if !strings.Contains(fmt.Sprint(failed["reason"]), "CannotPullContainerError") {
		t.Errorf("the stopped line does not say why the container failed: %v", failed)
	}
	expect("deployment failed", map[string]string{"service": "svc", "deployment": fmt.Sprint(bad["deployment"])})
	back := expect("deployment rolled back", map[string]string{"service": "svc", "failedDeployment": fmt.Sprint(bad["deployment"]),
		"taskDefinition": "web:1"})
	expect("deployment completed", map[string]string{"service": "svc", "deployment": fmt.Sprint(back["deployment"])})

	if _, err := c.ECS.DeleteService(ctx, call, &ecstypes.DeleteServiceRequest{Service: "svc", Force: new(true)}); err != nil {
		t.Fatal(err)
	}
	expect("service deleted", map[string]string{"cluster": "default", "service": "svc"})
}
