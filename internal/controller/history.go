package controller

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// The service deployment history (ListServiceDeployments) follows what
// the decider does to deployments. It is written after the service record
// would be, in its own transactions: after a crash it can lag, never lead.

// editHistory applies edit to the history record that follows deployment
// id (as its own deployment or as its rollback).
func (c *Services) editHistory(ctx context.Context, r serviceRef, id string, edit func(h *state.ServiceDeployment) bool) {
	for attempt := 0; attempt < 10; attempt++ {
		items, err := state.List[state.ServiceDeployment](ctx, c.Store, state.ServiceDeploymentsPrefix(r.cluster, r.name), store.ListOptions{})
		if err != nil {
			return
		}
		var found *state.Item[state.ServiceDeployment]
		for i := range items {
			if items[i].Value.DeploymentID == id || items[i].Value.RollbackID == id {
				found = &items[i]
				break
			}
		}
		if found == nil {
			return
		}
		h := found.Value
		if !edit(&h) {
			return
		}
		b, err := state.Encode(h)
		if err != nil {
			return
		}
		_, err = c.Store.Txn(ctx, []store.Cond{{Key: found.Key, ModRevision: found.ModRevision}}, []store.Op{store.Put(found.Key, b)})
		if !errors.Is(err, store.ErrConflict) {
			return
		}
	}
}

// recordRollback notes that the circuit breaker rolled a deployment back.
func (c *Services) recordRollback(ctx context.Context, r serviceRef, svc state.Service, d reconcile.Deployment,
	plan []reconcile.Deployment, now time.Time) {
	if d.RollbackFrom == "" {
		return
	}
	why := "Service deployment rolled back because the circuit breaker threshold was exceeded."
	for _, f := range plan {
		if f.ID == d.RollbackFrom {
			if names, ok := reconcile.AlarmsOfReason(f.RolloutReason); ok {
				why = "Service deployment rolled back because alarm(s) " + strings.Join(names, ", ") + " went into ALARM state."
			}
		}
	}
	c.editHistory(ctx, r, d.RollbackFrom, func(h *state.ServiceDeployment) bool {
		h.RollbackID = d.ID
		h.Deployment.Status = ecstypes.ServiceDeploymentStatusRollbackInProgress
		h.Deployment.StatusReason = why
		h.Deployment.Rollback = &ecstypes.Rollback{Reason: "Circuit breaker threshold exceeded; rolling back to " + d.TaskDefinition + ".",
			StartedAt: shape.NewTimestamp(now)}
		h.Deployment.UpdatedAt = shape.NewTimestamp(now)
		return true
	})
}

// recordOutcome notes a deployment's new rollout state.
func (c *Services) recordOutcome(ctx context.Context, r serviceRef, svc state.Service, d reconcile.Deployment, now time.Time) {
	c.editHistory(ctx, r, d.ID, func(h *state.ServiceDeployment) bool {
		ts := shape.NewTimestamp(now)
		rollback := h.RollbackID == d.ID
		if !h.Deployment.FinishedAt.IsZero() || !h.Deployment.StoppedAt.IsZero() {
			return false // finished (or superseded) already
		}
		switch d.RolloutState {
		case reconcile.RolloutCompleted:
			h.Deployment.Status = ecstypes.ServiceDeploymentStatusSuccessful
			if rollback {
				h.Deployment.Status = ecstypes.ServiceDeploymentStatusRollbackSuccessful
			}
			h.Deployment.FinishedAt = ts
		case reconcile.RolloutFailed:
			if rollback {
				h.Deployment.Status = ecstypes.ServiceDeploymentStatusRollbackFailed
				h.Deployment.FinishedAt = ts
				break
			}
			if names, ok := reconcile.AlarmsOfReason(d.RolloutReason); ok {
				al := &ecstypes.ServiceDeploymentAlarms{Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered,
					TriggeredAlarmNames: names}
				if h.Deployment.Alarms != nil {
					al.AlarmNames = h.Deployment.Alarms.AlarmNames
				}
				h.Deployment.Alarms = al
			} else {
				h.Deployment.DeploymentCircuitBreaker = &ecstypes.ServiceDeploymentCircuitBreaker{
					Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered, FailureCount: int32(d.FailedTasks),
					Threshold: int32(serviceThreshold(svc.Service)),
				}
			}
			if h.RollbackID == "" {
				h.Deployment.Status = ecstypes.ServiceDeploymentStatusStopped
				h.Deployment.StatusReason = d.RolloutReason
				h.Deployment.StoppedAt = ts
			}
		default:
			return false
		}
		h.Deployment.UpdatedAt = ts
		return true
	})
}

// serviceThreshold is the circuit breaker threshold of a service.
func serviceThreshold(s ecstypes.Service) int {
	if dc := s.DeploymentConfiguration; dc != nil && dc.DeploymentCircuitBreaker != nil {
		if tc := dc.DeploymentCircuitBreaker.ThresholdConfiguration; tc != nil {
			return reconcile.ThresholdOf(string(tc.Type), int(tc.Value), int(s.DesiredCount))
		}
	}
	return reconcile.Threshold(int(s.DesiredCount))
}
