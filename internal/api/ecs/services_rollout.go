package ecs

import (
	"context"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/taskdef"
)

// StopServiceDeployment, ContinueServiceDeployment and
// DescribeServiceRevisions. A progressive deployment (state.Rollout) is
// stopped or continued by writing the request into the service record;
// the service controller's state machine (internal/deploy) acts on it.

func errDeploymentNotFound() error {
	return core.Errorf(core.KindNotFound, ecstypes.ErrCodeServiceDeploymentNotFoundException, "Service deployment not found.")
}

func conflict(format string, args ...any) error {
	return core.Errorf(core.KindConflict, ecstypes.ErrCodeConflictException, format, args...)
}

// deploymentRecords reads a service deployment (by ARN) and its service.
func (a *API) deploymentRecords(ctx context.Context, ref string) (hist state.Item[state.ServiceDeployment], svc state.Item[state.Service], err error) {
	cluster, service, id, ok := parseServiceDeploymentARN(ref)
	if !ok {
		return hist, svc, invalidParam("Invalid service deployment ARN %q.", ref)
	}
	hist, err = state.Get[state.ServiceDeployment](ctx, a.store, state.ServiceDeploymentKey(cluster, service, id))
	if state.IsNotFound(err) {
		return hist, svc, errDeploymentNotFound()
	}
	if err != nil {
		return hist, svc, err
	}
	svc, err = state.Get[state.Service](ctx, a.store, state.ServiceKey(cluster, service))
	if state.IsNotFound(err) {
		return hist, svc, errDeploymentNotFound()
	}
	return hist, svc, err
}

// StopServiceDeployment stops a service deployment: ROLLBACK (the
// default) goes back to the revision it replaced, ABORT stops it where
// it is (a progressive deployment still moves traffic back to blue).
func (a *API) StopServiceDeployment(ctx context.Context, c *awsproto.Call, in *ecstypes.StopServiceDeploymentRequest) (*ecstypes.StopServiceDeploymentResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	stopType := in.StopType
	if stopType == "" {
		stopType = ecstypes.StopServiceDeploymentStopTypeRollback
	}
	cluster, service, _, ok := parseServiceDeploymentARN(in.ServiceDeploymentArn)
	if !ok {
		return nil, invalidParam("Invalid service deployment ARN %q.", in.ServiceDeploymentArn)
	}
	err := a.serial.Do(ctx, state.ServiceKey(cluster, service), func() error {
		hist, svc, err := a.deploymentRecords(ctx, in.ServiceDeploymentArn)
		if err != nil {
			return err
		}
		h, rec := hist.Value, svc.Value
		if !slices.Contains(ongoing, h.Deployment.Status) {
			return conflict("The service deployment is %s; only a deployment in progress can be stopped.", h.Deployment.Status)
		}
		now := a.now()
		ts := shape.NewTimestamp(now)
		switch {
		case rec.Rollout != nil && rec.Rollout.HistoryID == h.ID:
			if !rec.Rollout.CanRollback() {
				return conflict("The service deployment is at stage %s and can no longer be stopped.", rec.Rollout.Stage)
			}
			ro := *rec.Rollout
			ro.StopRequest = string(stopType)
			rec.Rollout = &ro
			h.Deployment.Status = ecstypes.ServiceDeploymentStatusRollbackRequested
			if stopType == ecstypes.StopServiceDeploymentStopTypeAbort {
				h.Deployment.Status = ecstypes.ServiceDeploymentStatusStopRequested
			}
		case len(rec.Service.Deployments) == 0 || rec.Service.Deployments[0].Id != h.DeploymentID:
			return conflict("The service deployment is no longer the service's current deployment.")
		case stopType == ecstypes.StopServiceDeploymentStopTypeAbort:
			// A rolling deployment stops where it is: its PRIMARY
			// deployment launches nothing more; the tasks it replaces keep
			// running.
			d := &rec.Service.Deployments[0]
			d.RolloutState, d.RolloutStateReason, d.UpdatedAt = ecstypes.DeploymentRolloutStateFailed, "Stopped by StopServiceDeployment (ABORT).", ts
			h.Deployment.Status, h.Deployment.StatusReason = ecstypes.ServiceDeploymentStatusStopped, "Stopped by StopServiceDeployment (ABORT)."
			h.Deployment.StoppedAt, h.Deployment.FinishedAt = ts, ts
		default:
			if rec.LastCompleted == "" {
				return conflict("The service has no earlier revision that completed to roll back to.")
			}
			// A rolling deployment rolls back with a new deployment of the
			// last revision that completed, as the circuit breaker does.
			id := a.newDeploymentID()
			for i := range rec.Service.Deployments {
				if rec.Service.Deployments[i].Status == deploymentPrimary {
					rec.Service.Deployments[i].Status, rec.Service.Deployments[i].UpdatedAt = deploymentActive, ts
				}
			}
			old := rec.Service.Deployments[0]
			back := old
			back.Id, back.Status, back.TaskDefinition = id, deploymentPrimary, rec.LastCompleted
			back.CreatedAt, back.UpdatedAt = ts, ts
			back.RolloutState, back.RolloutStateReason = ecstypes.DeploymentRolloutStateInProgress, "ECS deployment "+id+" in progress."
			back.FailedTasks, back.RunningCount, back.PendingCount = 0, 0, 0
			back.DesiredCount = rec.Service.DesiredCount
			rec.Service.Deployments = append([]ecstypes.Deployment{back}, rec.Service.Deployments...)
			rec.Service.TaskDefinition = rec.LastCompleted
			rec.DeploymentCount++
			rec.Steady = false
			h.RollbackID = id
			h.Deployment.Status = ecstypes.ServiceDeploymentStatusRollbackInProgress
			h.Deployment.StatusReason = "Service deployment rolled back by StopServiceDeployment."
			h.Deployment.Rollback = &ecstypes.Rollback{Reason: "StopServiceDeployment (ROLLBACK); rolling back to " + rec.LastCompleted + ".",
				StartedAt: ts}
		}
		h.Deployment.UpdatedAt = ts
		ops, err := encodePuts(svc.Key, rec, hist.Key, h)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{{Key: svc.Key, ModRevision: svc.ModRevision}, {Key: hist.Key, ModRevision: hist.ModRevision}}, ops)
		if err == nil {
			a.log.Info("service deployment stop requested", "cluster", cluster, "service", service, "deployment", h.DeploymentID, "stopType", string(stopType))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.StopServiceDeploymentResponse{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
}

// ContinueServiceDeployment answers a PAUSE hook: CONTINUE (the
// default) or ROLLBACK.
func (a *API) ContinueServiceDeployment(ctx context.Context, c *awsproto.Call, in *ecstypes.ContinueServiceDeploymentRequest) (*ecstypes.ContinueServiceDeploymentResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	action := in.Action
	if action == "" {
		action = ecstypes.DeploymentLifecycleHookActionContinue
	}
	cluster, service, _, ok := parseServiceDeploymentARN(in.ServiceDeploymentArn)
	if !ok {
		return nil, invalidParam("Invalid service deployment ARN %q.", in.ServiceDeploymentArn)
	}
	err := a.serial.Do(ctx, state.ServiceKey(cluster, service), func() error {
		hist, svc, err := a.deploymentRecords(ctx, in.ServiceDeploymentArn)
		if err != nil {
			return err
		}
		rec := svc.Value
		if rec.Rollout == nil || rec.Rollout.HistoryID != hist.Value.ID {
			return invalidParam("The service deployment is not paused at a lifecycle hook.")
		}
		ro := *rec.Rollout
		ro.Hooks = slices.Clone(ro.Hooks)
		i := slices.IndexFunc(ro.Hooks, func(r deploy.HookRun) bool { return r.ID == in.HookId })
		if i < 0 || ro.Hooks[i].Status != deploy.HookAwaiting {
			return invalidParam("The lifecycle hook %s is not awaiting action in this service deployment.", in.HookId)
		}
		ro.Hooks[i].Answer = string(action)
		rec.Rollout = &ro
		ops, err := encodePuts(svc.Key, rec)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{{Key: svc.Key, ModRevision: svc.ModRevision}}, ops)
		if err == nil {
			a.log.Info("lifecycle hook answered", "cluster", cluster, "service", service, "hook", in.HookId, "action", string(action))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.ContinueServiceDeploymentResponse{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
}

// parseServiceRevisionARN splits arn:...:service-revision/CLUSTER/SERVICE/N.
func parseServiceRevisionARN(s string) (cluster, service, deploymentID string, ok bool) {
	p, err := arn.Parse(s)
	rest, isRev := strings.CutPrefix(p.Resource, "service-revision/")
	parts := strings.Split(rest, "/")
	if err != nil || p.Service != "ecs" || !isRev || len(parts) != 3 || slices.Contains(parts, "") {
		return "", "", "", false
	}
	return parts[0], parts[1], "ecs-svc/" + parts[2], true
}

// DescribeServiceRevisions describes up to 20 service revisions: the
// task definition and the service's settings a deployment deploys.
func (a *API) DescribeServiceRevisions(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeServiceRevisionsRequest) (*ecstypes.DescribeServiceRevisionsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if n := len(in.ServiceRevisionArns); n < 1 || n > 20 {
		return nil, invalidParam("serviceRevisionArns must hold between 1 and 20 ARNs.")
	}
	scope := scopeOf(c)
	out := &ecstypes.DescribeServiceRevisionsResponse{ServiceRevisions: []ecstypes.ServiceRevision{}, Failures: []ecstypes.Failure{}}
	for _, ref := range in.ServiceRevisionArns {
		cluster, service, id, ok := parseServiceRevisionARN(ref)
		if !ok {
			return nil, invalidParam("Invalid service revision ARN %q.", ref)
		}
		rev, found, err := a.serviceRevisionOf(ctx, scope, cluster, service, id)
		if err != nil {
			return nil, err
		}
		if !found {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		rev.ServiceRevisionArn = ref
		out.ServiceRevisions = append(out.ServiceRevisions, rev)
	}
	return out, nil
}

// serviceRevisionOf finds deployment id of a service (among its
// deployments, else in its history) and renders its revision. The
// service's settings other than the task definition are its current ones.
func (a *API) serviceRevisionOf(ctx context.Context, scope arn.Scope, cluster, service, id string) (ecstypes.ServiceRevision, bool, error) {
	var out ecstypes.ServiceRevision
	it, err := state.Get[state.Service](ctx, a.store, state.ServiceKey(cluster, service))
	if state.IsNotFound(err) {
		return out, false, nil
	}
	if err != nil {
		return out, false, err
	}
	svc := it.Value.Service
	td, created := "", shape.Timestamp{}
	for _, d := range svc.Deployments {
		if d.Id == id {
			td, created = d.TaskDefinition, d.CreatedAt
		}
	}
	if td == "" {
		items, err := state.List[state.ServiceDeployment](ctx, a.store, state.ServiceDeploymentsPrefix(cluster, service), store.ListOptions{})
		if err != nil {
			return out, false, err
		}
		for _, h := range items {
			if h.Value.DeploymentID == id {
				td, created = h.Value.TaskDefinition, h.Value.Deployment.CreatedAt
			}
			for i, src := range h.Value.SourceDeploymentIDs {
				if src == id && td == "" && i < len(h.Value.Source) {
					td = h.Value.Source[i]
				}
			}
		}
	}
	if td == "" {
		return out, false, nil
	}
	family, rev, _ := taskdef.SplitFamilyRevision(td)
	out = ecstypes.ServiceRevision{
		ServiceArn:               serviceARN(scope, cluster, service),
		ClusterArn:               scope.New("ecs", "cluster/"+cluster),
		TaskDefinition:           taskDefARN(scope, family, rev),
		CapacityProviderStrategy: svc.CapacityProviderStrategy,
		LaunchType:               svc.LaunchType,
		PlatformVersion:          svc.PlatformVersion,
		PlatformFamily:           svc.PlatformFamily,
		LoadBalancers:            svc.LoadBalancers,
		ServiceRegistries:        svc.ServiceRegistries,
		NetworkConfiguration:     svc.NetworkConfiguration,
		CreatedAt:                created,
		ContainerImages:          []ecstypes.ContainerImage{},
	}
	return out, true, nil
}
