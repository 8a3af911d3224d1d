package ecs

import (
	"context"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if e, ok := core.AsError(err); !ok || e.Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func putService(t *testing.T, st store.Store, rec state.Service) {
	t.Helper()
	b, err := state.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put(state.ServiceKey(rec.Cluster, rec.Name), b)}); err != nil {
		t.Fatal(err)
	}
}

func TestProgressiveDeploymentAPIs(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	in := replica("bg", "web:1", 2)
	in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: new(int32(1)),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause,
			LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{"POST_SCALE_UP"}}}}
	mustCreate(t, a, in)
	if rec := getService(t, st, "default", "bg").Value; rec.Rollout != nil {
		t.Fatal("the first deployment has no blue to replace: no rollout")
	}
	if _, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "bg", TaskDefinition: "web:2"}); err != nil {
		t.Fatal(err)
	}
	rec := getService(t, st, "default", "bg").Value
	h := history(t, st, "default", "bg")
	if rec.Rollout == nil || rec.Rollout.Stage != deploy.StageReconcile || rec.Rollout.HistoryID != h[1].ID || rec.Rollout.Green != h[1].DeploymentID {
		t.Fatalf("rollout %+v", rec.Rollout)
	}
	if h[1].Deployment.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageReconcileService {
		t.Errorf("lifecycle stage %q", h[1].Deployment.LifecycleStage)
	}
	arn := serviceDeploymentARN(scopeOf(call), "default", "bg", h[1].ID)
	// A PAUSE hook waiting (as the controller would have it).
	rec.Rollout.Hooks = []deploy.HookRun{{ID: "hook-0-post-scale-up-0", Status: deploy.HookAwaiting}}
	putService(t, st, rec)
	_, err := a.ContinueServiceDeployment(ctx, call, &ecstypes.ContinueServiceDeploymentRequest{ServiceDeploymentArn: arn, HookId: "nope"})
	wantCode(t, "a wrong hook", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.ContinueServiceDeployment(ctx, call, &ecstypes.ContinueServiceDeploymentRequest{ServiceDeploymentArn: arn + "x", HookId: "h"})
	wantCode(t, "an unknown deployment", err, ecstypes.ErrCodeServiceDeploymentNotFoundException)
	if _, err := a.ContinueServiceDeployment(ctx, call, &ecstypes.ContinueServiceDeploymentRequest{ServiceDeploymentArn: arn,
		HookId: "hook-0-post-scale-up-0"}); err != nil {
		t.Fatal(err)
	}
	if got := getService(t, st, "default", "bg").Value.Rollout.Hooks[0].Answer; got != deploy.ActionContinue {
		t.Fatalf("answer %q", got)
	}

	// The revisions.
	target := serviceRevisionARN(scopeOf(call), "default", "bg", h[1].DeploymentID)
	revs, err := a.DescribeServiceRevisions(ctx, call, &ecstypes.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{target,
		serviceRevisionARN(scopeOf(call), "default", "bg", h[0].DeploymentID), serviceRevisionARN(scopeOf(call), "default", "bg", "ecs-svc/1")}})
	if err != nil || len(revs.ServiceRevisions) != 2 || len(revs.Failures) != 1 || revs.Failures[0].Reason != "MISSING" ||
		!strings.HasSuffix(revs.ServiceRevisions[0].TaskDefinition, "task-definition/web:2") ||
		!strings.HasSuffix(revs.ServiceRevisions[1].TaskDefinition, "task-definition/web:1") {
		t.Fatalf("DescribeServiceRevisions: %+v %v", revs, err)
	}
	// Traffic weights in the deployment's revisions.
	d, err := a.DescribeServiceDeployments(ctx, call, &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{arn}})
	if err != nil || d.ServiceDeployments[0].TargetServiceRevision.RequestedProductionTrafficWeight == nil ||
		*d.ServiceDeployments[0].SourceServiceRevisions[0].RequestedProductionTrafficWeight != 100 {
		t.Fatalf("DescribeServiceDeployments: %+v %v", d, err)
	}

	// Stop it: the request goes to the controller through the record.
	if _, err := a.StopServiceDeployment(ctx, call, &ecstypes.StopServiceDeploymentRequest{ServiceDeploymentArn: arn}); err != nil {
		t.Fatal(err)
	}
	if rec := getService(t, st, "default", "bg").Value; rec.Rollout.StopRequest != deploy.ActionRollback {
		t.Fatalf("stop request %q", rec.Rollout.StopRequest)
	}
	if h := history(t, st, "default", "bg"); h[1].Deployment.Status != ecstypes.ServiceDeploymentStatusRollbackRequested {
		t.Fatalf("status %s", h[1].Deployment.Status)
	}
	_, err = a.StopServiceDeployment(ctx, call, &ecstypes.StopServiceDeploymentRequest{ServiceDeploymentArn: arn + "x"})
	wantCode(t, "an unknown deployment", err, ecstypes.ErrCodeServiceDeploymentNotFoundException)
	_, err = a.StopServiceDeployment(ctx, call, &ecstypes.StopServiceDeploymentRequest{ServiceDeploymentArn: serviceDeploymentARN(scopeOf(call), "default", "bg", h[0].ID)})
	wantCode(t, "a finished deployment", err, ecstypes.ErrCodeConflictException)
}

func TestStopRollingDeployment(t *testing.T) {
	a, st := newServiceAPI(t)
	ctx := context.Background()
	mustCreate(t, a, replica("roll", "web:1", 2))
	rec := getService(t, st, "default", "roll").Value
	rec.LastCompleted = "web:1"
	putService(t, st, rec)
	if _, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "roll", TaskDefinition: "web:2"}); err != nil {
		t.Fatal(err)
	}
	h := history(t, st, "default", "roll")
	arn := serviceDeploymentARN(scopeOf(call), "default", "roll", h[1].ID)
	if _, err := a.StopServiceDeployment(ctx, call, &ecstypes.StopServiceDeploymentRequest{ServiceDeploymentArn: arn,
		StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatal(err)
	}
	rec = getService(t, st, "default", "roll").Value
	if rec.Service.TaskDefinition != "web:1" || len(rec.Service.Deployments) != 3 || rec.Service.Deployments[0].TaskDefinition != "web:1" ||
		rec.Service.Deployments[0].Status != "PRIMARY" {
		t.Fatalf("after the rollback: %s %+v", rec.Service.TaskDefinition, rec.Service.Deployments)
	}
	h = history(t, st, "default", "roll")
	if h[1].Deployment.Status != ecstypes.ServiceDeploymentStatusRollbackInProgress || h[1].RollbackID != rec.Service.Deployments[0].Id {
		t.Fatalf("history %+v", h[1])
	}
	_, err := a.StopServiceDeployment(ctx, call, &ecstypes.StopServiceDeploymentRequest{ServiceDeploymentArn: arn})
	wantCode(t, "stopping it again", err, ecstypes.ErrCodeConflictException)
}

// A new deployment while a progressive one runs replaces it, as in ECS:
// the old service deployment ends STOPPED and the new one starts from the
// revision that serves production: blue while green has only part of the
// production traffic, green once it has all of it (its target group then
// serves production).
func TestNewDeploymentSupersedesProgressive(t *testing.T) {
	tests := []struct {
		name        string
		at          deploy.Progress
		greenServes bool
	}{
		{"canary step", deploy.Progress{Stage: deploy.StageProdShift, Step: 1, ProdWeight: 10}, false},
		{"paused after the test traffic", deploy.Progress{Stage: deploy.StagePostTestShift, TestWeight: 100}, false},
		{"bake", deploy.Progress{Stage: deploy.StageBake, Step: 2, ProdWeight: 100, TestWeight: 100}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, st := newServiceAPI(t)
			ctx := context.Background()
			in := replica("bg", "web:1", 2)
			in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary}
			mustCreate(t, a, in)
			if _, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "bg", TaskDefinition: "web:2"}); err != nil {
				t.Fatal(err)
			}
			rec := getService(t, st, "default", "bg").Value
			old := *rec.Rollout
			old.Progress = tt.at
			rec.Rollout = &old
			rec.Service.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: "tg-a", ContainerName: "app", ContainerPort: new(int32(8080)),
				AdvancedConfiguration: &ecstypes.AdvancedConfiguration{AlternateTargetGroupArn: "tg-b", ProductionListenerRule: "rule"}}}
			putService(t, st, rec)

			if _, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "bg", ForceNewDeployment: true}); err != nil {
				t.Fatalf("a new deployment during a canary one: %v", err)
			}
			rec = getService(t, st, "default", "bg").Value
			h := history(t, st, "default", "bg")
			if len(h) != 3 || h[1].ID != old.HistoryID || h[1].Deployment.Status != ecstypes.ServiceDeploymentStatusStopped ||
				h[2].Deployment.Status != ecstypes.ServiceDeploymentStatusInProgress {
				t.Fatalf("history: %+v", h)
			}
			prod := old.Blue
			if tt.greenServes {
				prod = old.Green
			}
			ro := rec.Rollout
			if ro == nil || ro.HistoryID != h[2].ID || ro.Green != h[2].DeploymentID || ro.Blue != prod || ro.Stage != deploy.StageReconcile ||
				ro.ProdWeight != 0 || ro.TestWeight != 0 {
				t.Fatalf("new rollout %+v, want blue %s", ro, prod)
			}
			if h[2].SourceDeploymentIDs[0] != prod || !strings.HasSuffix(rec.Service.TaskDefinition, "web:2") {
				t.Fatalf("source %v, task definition %s", h[2].SourceDeploymentIDs, rec.Service.TaskDefinition)
			}
			deps := rec.Service.Deployments
			if len(deps) != 3 || deps[0].Id != ro.Green || deps[0].Status != deploymentPrimary || deps[1].Id != prod ||
				deps[1].Status != deploymentActive || deps[2].Status != deploymentActive {
				t.Fatalf("deployments %+v", deps)
			}
			if rec.ProdAlternate != tt.greenServes {
				t.Fatalf("production target group is the alternate: %v, want %v", rec.ProdAlternate, tt.greenServes)
			}
			// Switching to ROLLING while it runs is refused: only a
			// progressive deployment moves the traffic back.
			// (The strategy is set in the record: the test's target groups
			// do not exist, which a new deploymentConfiguration checks.)
			dc := *rec.Service.DeploymentConfiguration
			dc.Strategy = ecstypes.DeploymentStrategyRolling
			rec.Service.DeploymentConfiguration = &dc
			putService(t, st, rec)
			_, err := a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "bg", ForceNewDeployment: true})
			wantCode(t, "a rolling deployment during a progressive one", err, ecstypes.ErrCodeInvalidParameterException)
			if !strings.Contains(err.Error(), "may replace it only with") {
				t.Fatalf("refused for another reason: %v", err)
			}
		})
	}
}

// deploymentConfiguration.alarms is stored, and the service deployment
// says the controller is MONITORING them (internal/reconcile fails the
// deployment while one is in ALARM).
func TestDeploymentAlarmsAreMonitored(t *testing.T) {
	a, st := newServiceAPI(t)
	in := replica("al", "web:1", 1)
	in.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Alarms: &ecstypes.DeploymentAlarms{Enable: true, Rollback: true,
		AlarmNames: []string{"high-latency"}}}
	mustCreate(t, a, in)
	h := history(t, st, "default", "al")
	if al := h[0].Deployment.Alarms; al == nil || al.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring ||
		len(al.AlarmNames) != 1 || al.AlarmNames[0] != "high-latency" {
		t.Fatalf("alarms of the service deployment: %+v", h[0].Deployment.Alarms)
	}
	if dc := getService(t, st, "default", "al").Value.Service.DeploymentConfiguration; dc.Alarms == nil || !dc.Alarms.Enable {
		t.Fatalf("the alarms configuration is not stored: %+v", dc.Alarms)
	}
}
