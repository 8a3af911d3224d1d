package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
)

// Lifecycle hooks with an http(s) URL as their hookTargetArn (minato's
// stand-in for a Lambda function): the controller POSTs the event ECS
// gives a Lambda hook and reads the same answer, {"hookStatus":
// "SUCCEEDED"|"FAILED"|"IN_PROGRESS", "callBackDelay": seconds,
// "hookDetails": {...}}. Calls run in their own goroutines; an answer is
// kept in memory until the next pass of the service hands it to the
// state machine (a crash in between calls the hook again, as the run is
// still IN_PROGRESS in the record).

// HookEvent is the JSON body a URL hook receives.
type HookEvent struct {
	ExecutionID      string           `json:"executionId"`
	LifecycleStage   string           `json:"lifecycleStage"`
	ResourceArn      string           `json:"resourceArn"`
	ExecutionDetails ExecutionDetails `json:"executionDetails"`
	HookDetails      shape.Document   `json:"hookDetails,omitzero"`
}

// ExecutionDetails describes the deployment to a hook.
type ExecutionDetails struct {
	TestTrafficWeights       map[string]float64 `json:"testTrafficWeights"`
	ProductionTrafficWeights map[string]float64 `json:"productionTrafficWeights"`
	ServiceArn               string             `json:"serviceArn"`
	TargetServiceRevisionArn string             `json:"targetServiceRevisionArn"`
}

// HookReply is what a URL hook answers.
type HookReply struct {
	HookStatus    string         `json:"hookStatus"`
	CallBackDelay *int           `json:"callBackDelay,omitzero"`
	HookDetails   shape.Document `json:"hookDetails,omitzero"`
}

func (c *Services) takeReplies(green string) map[string]deploy.Reply {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	out := c.replies[green]
	delete(c.replies, green)
	return out
}

func (c *Services) putBackReplies(green string, rs map[string]deploy.Reply) {
	if len(rs) == 0 {
		return
	}
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	if c.replies[green] == nil {
		c.replies[green] = map[string]deploy.Reply{}
	}
	for k, v := range rs {
		if _, newer := c.replies[green][k]; !newer {
			c.replies[green][k] = v
		}
	}
}

func (c *Services) addReply(r serviceRef, green, id string, rep deploy.Reply) {
	c.hookMu.Lock()
	if c.replies[green] == nil {
		c.replies[green] = map[string]deploy.Reply{}
	}
	c.replies[green][id] = rep
	c.hookMu.Unlock()
	c.mark(r)
}

// revisionARN and deploymentARN are the ARNs the ECS API renders.
func (c *Services) revisionARN(r serviceRef, deploymentID string) string {
	return c.Scope.New("ecs", "service-revision/"+r.cluster+"/"+r.name+"/"+strings.TrimPrefix(deploymentID, "ecs-svc/"))
}

// callHook calls a URL hook in the background.
func (c *Services) callHook(r serviceRef, svc state.Service, ro state.Rollout, run deploy.HookRun) {
	dc := svc.Service.DeploymentConfiguration
	if dc == nil || run.Index >= len(dc.LifecycleHooks) {
		return
	}
	h := dc.LifecycleHooks[run.Index]
	details := h.HookDetails
	c.hookMu.Lock()
	if d, ok := c.details[ro.Green+"/"+run.ID]; ok {
		details = d
	}
	c.hookMu.Unlock()
	greenARN, blueARN := c.revisionARN(r, ro.Green), c.revisionARN(r, ro.Blue)
	ev := HookEvent{
		ExecutionID:    run.ID,
		LifecycleStage: string(ro.Stage),
		ResourceArn:    c.Scope.New("ecs", "service-deployment/"+r.cluster+"/"+r.name+"/"+ro.HistoryID),
		ExecutionDetails: ExecutionDetails{
			TestTrafficWeights:       map[string]float64{greenARN: ro.TestWeight, blueARN: 100 - ro.TestWeight},
			ProductionTrafficWeights: map[string]float64{greenARN: ro.ProdWeight, blueARN: 100 - ro.ProdWeight},
			ServiceArn:               c.Scope.New("ecs", "service/"+r.cluster+"/"+r.name),
			TargetServiceRevisionArn: greenARN,
		},
		HookDetails: details,
	}
	url := h.HookTargetArn
	go func() {
		rep, reply := c.postHook(url, ev)
		if reply.HookDetails != nil {
			c.hookMu.Lock()
			c.details[ro.Green+"/"+run.ID] = reply.HookDetails
			c.hookMu.Unlock()
		}
		c.Logger.Info("lifecycle hook answered", "cluster", r.cluster, "service", r.name, "hook", run.ID, "url", url,
			"hookStatus", rep.Status)
		c.addReply(r, ro.Green, run.ID, rep)
	}()
}

// postHook POSTs the event and reads the answer; a failed call or an
// answer without a valid hookStatus is FAILED, as ECS treats a Lambda
// hook that fails.
func (c *Services) postHook(url string, ev HookEvent) (deploy.Reply, HookReply) {
	var reply HookReply
	body, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return deploy.Reply{Status: deploy.HookFailed}, reply
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HookClient.Do(req)
	if err != nil {
		c.Logger.Warn("lifecycle hook call failed", "url", url, "err", err)
		return deploy.Reply{Status: deploy.HookFailed}, reply
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 || json.Unmarshal(b, &reply) != nil {
		c.Logger.Warn("lifecycle hook answered badly", "url", url, "status", resp.StatusCode)
		return deploy.Reply{Status: deploy.HookFailed}, reply
	}
	switch reply.HookStatus {
	case deploy.HookSucceeded, deploy.HookFailed:
		return deploy.Reply{Status: reply.HookStatus}, reply
	case deploy.HookInProgress:
		rep := deploy.Reply{Status: deploy.HookInProgress}
		if reply.CallBackDelay != nil && *reply.CallBackDelay > 0 {
			rep.CallBackDelay = time.Duration(*reply.CallBackDelay) * time.Second
		}
		return rep, reply
	}
	return deploy.Reply{Status: deploy.HookFailed}, reply
}

// recordRollout brings the deployment's history record up to date with
// the rollout: its stage, hooks, status and end.
func (c *Services) recordRollout(ctx context.Context, r serviceRef, svc state.Service, ro state.Rollout, now time.Time) {
	c.editHistory(ctx, r, ro.Green, func(h *state.ServiceDeployment) bool {
		ts := shape.NewTimestamp(now)
		if !h.Deployment.FinishedAt.IsZero() || !h.Deployment.StoppedAt.IsZero() {
			return false
		}
		h.Deployment.LifecycleStage = ecstypes.ServiceDeploymentLifecycleStage(ro.Stage)
		h.Deployment.LifecycleHookDetails = hookDetails(svc, ro)
		h.Deployment.UpdatedAt = ts
		if ro.Stage == deploy.StageRollback || ro.Result == deploy.ResultRolledBack || ro.Result == deploy.ResultStopped {
			h.Deployment.Status = ecstypes.ServiceDeploymentStatusRollbackInProgress
			h.Deployment.StatusReason = "Service deployment rolled back: " + ro.RollbackReason + "."
			if h.Deployment.Rollback == nil {
				h.Deployment.Rollback = &ecstypes.Rollback{Reason: ro.RollbackReason, StartedAt: shape.NewTimestamp(ro.RollbackAt)}
			}
		}
		switch ro.Result {
		case deploy.ResultSuccessful:
			h.Deployment.Status, h.Deployment.FinishedAt = ecstypes.ServiceDeploymentStatusSuccessful, ts
			h.Deployment.LifecycleStage = ecstypes.ServiceDeploymentLifecycleStageCleanUp
		case deploy.ResultRolledBack:
			h.Deployment.Status, h.Deployment.FinishedAt = ecstypes.ServiceDeploymentStatusRollbackSuccessful, ts
		case deploy.ResultStopped:
			h.Deployment.Status, h.Deployment.StoppedAt = ecstypes.ServiceDeploymentStatusStopped, ts
			h.Deployment.StatusReason = "Service deployment stopped: " + ro.RollbackReason + "."
		}
		if ro.Stage == deploy.StageRollback || ro.Stage == deploy.StageDone {
			h.Deployment.LifecycleStage = ""
			if ro.Result == deploy.ResultSuccessful {
				h.Deployment.LifecycleStage = ecstypes.ServiceDeploymentLifecycleStageCleanUp
			}
		}
		return true
	})
}

// hookDetails renders the rollout's hook runs (those of the current stage
// and the finished ones, newest last).
func hookDetails(svc state.Service, ro state.Rollout) []ecstypes.DeploymentLifecycleHookDetail {
	var hooks []ecstypes.DeploymentLifecycleHook
	if dc := svc.Service.DeploymentConfiguration; dc != nil {
		hooks = dc.LifecycleHooks
	}
	var out []ecstypes.DeploymentLifecycleHookDetail
	for _, run := range append(append([]deploy.HookRun{}, ro.Finished...), ro.Hooks...) {
		d := ecstypes.DeploymentLifecycleHookDetail{HookId: run.ID, Status: ecstypes.DeploymentLifecycleHookStatus(run.Status),
			ExpiresAt: shape.NewTimestamp(run.ExpiresAt), TimeoutAction: ecstypes.DeploymentLifecycleHookActionRollback}
		if run.Index < len(hooks) {
			h := hooks[run.Index]
			d.TargetType = h.TargetType
			if d.TargetType == "" {
				d.TargetType = ecstypes.DeploymentLifecycleHookTargetTypeAwsLambda
			}
			d.TargetArn = h.HookTargetArn
			if tc := h.TimeoutConfiguration; tc != nil && tc.Action != "" {
				d.TimeoutAction = tc.Action
			}
		}
		out = append(out, d)
	}
	return out
}
