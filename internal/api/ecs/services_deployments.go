package ecs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/reconcile"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Deployments. A service's deployments (ecstypes.Deployment, "ecs-svc/"
// IDs) live in its record; each one the API starts also gets a record in
// the service's deployment history (state.ServiceDeployment), which
// ListServiceDeployments and DescribeServiceDeployments read. The API
// starts deployments and stops the ones they replace; the service
// controller finishes them.

// idBits returns 16 bytes from the API's ID source (32 hex digits), or
// from crypto/rand if it gives something else.
func (a *API) idBits() [16]byte {
	var out [16]byte
	b, err := hex.DecodeString(a.ids.NewID())
	if err == nil && len(b) >= 16 {
		copy(out[:], b)
	} else {
		rand.Read(out[:])
	}
	return out
}

// newDeploymentID makes a deployment ID like ECS's: "ecs-svc/" and 19 digits.
func (a *API) newDeploymentID() string {
	b := a.idBits()
	n := binary.BigEndian.Uint64(b[:8])%9_000_000_000_000_000_000 + 1_000_000_000_000_000_000
	return "ecs-svc/" + strconv.FormatUint(n, 10)
}

// newHistoryID makes the ID of a service deployment: 26 characters.
func (a *API) newHistoryID() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := a.idBits()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	out := make([]byte, 26)
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}

// startDeployment makes a new PRIMARY deployment of the service as it now
// is (the old PRIMARY becomes ACTIVE) and returns its history record.
func (a *API) startDeployment(rec *state.Service, now time.Time) state.ServiceDeployment {
	svc := &rec.Service
	ts := shape.NewTimestamp(now)
	id := a.newDeploymentID()
	var sources, sourceIDs []string
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if d.Status == deploymentPrimary {
			d.Status, d.UpdatedAt = deploymentActive, ts
		}
		sources, sourceIDs = append(sources, d.TaskDefinition), append(sourceIDs, d.Id)
	}
	d := ecstypes.Deployment{
		Id:                       id,
		Status:                   deploymentPrimary,
		TaskDefinition:           svc.TaskDefinition,
		DesiredCount:             svc.DesiredCount,
		CreatedAt:                ts,
		UpdatedAt:                ts,
		CapacityProviderStrategy: svc.CapacityProviderStrategy,
		LaunchType:               svc.LaunchType,
		PlatformVersion:          svc.PlatformVersion,
		PlatformFamily:           svc.PlatformFamily,
		NetworkConfiguration:     svc.NetworkConfiguration,
		RolloutState:             ecstypes.DeploymentRolloutStateInProgress,
		RolloutStateReason:       "ECS deployment " + id + " in progress.",
	}
	svc.Deployments = append([]ecstypes.Deployment{d}, svc.Deployments...)
	rec.DeploymentCount++
	rec.Steady = false
	dc := *svc.DeploymentConfiguration
	hist := state.ServiceDeployment{
		ID:      a.newHistoryID(),
		Cluster: rec.Cluster,
		Service: rec.Name,
		Deployment: ecstypes.ServiceDeployment{
			CreatedAt: ts, StartedAt: ts, UpdatedAt: ts,
			Status:                  ecstypes.ServiceDeploymentStatusInProgress,
			DeploymentConfiguration: &dc,
			DeploymentCircuitBreaker: &ecstypes.ServiceDeploymentCircuitBreaker{
				Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusDisabled, Threshold: int32(threshold(svc)),
			},
			Alarms: &ecstypes.ServiceDeploymentAlarms{Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusDisabled},
		},
		TaskDefinition:      svc.TaskDefinition,
		Source:              sources,
		DeploymentID:        id,
		SourceDeploymentIDs: sourceIDs,
		Sequence:            rec.DeploymentCount,
	}
	if cb := dc.DeploymentCircuitBreaker; cb != nil && cb.Enable {
		hist.Deployment.DeploymentCircuitBreaker.Status = ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring
	}
	if al := dc.Alarms; al != nil && al.Enable {
		// The service controller watches them while the deployment runs.
		hist.Deployment.Alarms = &ecstypes.ServiceDeploymentAlarms{
			Status: ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring, AlarmNames: al.AlarmNames, TriggeredAlarmNames: []string{},
		}
	}
	svc.CurrentServiceDeployment = hist.ID
	if deploy.Progressive(string(dc.Strategy)) && len(sourceIDs) > 0 && svc.SchedulingStrategy != ecstypes.SchedulingStrategyDaemon {
		// A BLUE_GREEN, LINEAR or CANARY deployment: the service
		// controller moves it through its stages (internal/deploy).
		rec.Rollout = &state.Rollout{Green: id, Blue: sourceIDs[0], HistoryID: hist.ID, Strategy: string(dc.Strategy), Progress: deploy.Start(now)}
		hist.Deployment.LifecycleStage = ecstypes.ServiceDeploymentLifecycleStageReconcileService
	}
	return hist
}

// threshold is the circuit breaker threshold of a service.
func threshold(s *ecstypes.Service) int {
	if dc := s.DeploymentConfiguration; dc != nil && dc.DeploymentCircuitBreaker != nil {
		if tc := dc.DeploymentCircuitBreaker.ThresholdConfiguration; tc != nil {
			return reconcile.ThresholdOf(string(tc.Type), int(tc.Value), int(s.DesiredCount))
		}
	}
	return reconcile.Threshold(int(s.DesiredCount))
}

func serviceDeploymentARN(scope arn.Scope, cluster, service, id string) string {
	return scope.New("ecs", "service-deployment/"+cluster+"/"+service+"/"+id)
}

// serviceRevisionARN is the ARN of the service revision a deployment
// ("ecs-svc/N") deploys: service-revision/CLUSTER/SERVICE/N.
func serviceRevisionARN(scope arn.Scope, cluster, service, deploymentID string) string {
	return scope.New("ecs", "service-revision/"+cluster+"/"+service+"/"+strings.TrimPrefix(deploymentID, "ecs-svc/"))
}

// revisionSummary describes the revision of deployment id: the tasks the
// service asks of it and those it has.
func revisionSummary(scope arn.Scope, svc *state.Service, counts *serviceCounts, cluster, service, id string) ecstypes.ServiceRevisionSummary {
	out := ecstypes.ServiceRevisionSummary{Arn: serviceRevisionARN(scope, cluster, service, id)}
	if svc != nil {
		for _, d := range svc.Service.Deployments {
			if d.Id == id {
				out.RequestedTaskCount = d.DesiredCount
			}
		}
	}
	if counts != nil {
		n := counts.byDeployment[id]
		out.RunningTaskCount, out.PendingTaskCount = n.running, n.pending
	}
	return out
}

// renderServiceDeployment fills in a history record's ARNs and revisions.
// svc is the service's record (nil if gone), counts its tasks.
func renderServiceDeployment(scope arn.Scope, h state.ServiceDeployment, svc *state.Service, counts *serviceCounts) ecstypes.ServiceDeployment {
	out := h.Deployment
	out.ServiceDeploymentArn = serviceDeploymentARN(scope, h.Cluster, h.Service, h.ID)
	out.ServiceArn = serviceARN(scope, h.Cluster, h.Service)
	out.ClusterArn = scope.New("ecs", "cluster/"+h.Cluster)
	out.TargetServiceRevision = new(revisionSummary(scope, svc, counts, h.Cluster, h.Service, h.DeploymentID))
	out.SourceServiceRevisions = []ecstypes.ServiceRevisionSummary{}
	for _, id := range h.SourceDeploymentIDs {
		out.SourceServiceRevisions = append(out.SourceServiceRevisions, revisionSummary(scope, svc, counts, h.Cluster, h.Service, id))
	}
	if rb := out.Rollback; rb != nil && rb.ServiceRevisionArn == "" {
		back := h.RollbackID
		if back == "" && len(h.SourceDeploymentIDs) > 0 {
			back = h.SourceDeploymentIDs[0]
		}
		if back != "" {
			rb2 := *rb
			rb2.ServiceRevisionArn = serviceRevisionARN(scope, h.Cluster, h.Service, back)
			out.Rollback = &rb2
		}
	}
	if prod, test, ok := trafficWeights(h, svc); ok {
		out.TargetServiceRevision.RequestedProductionTrafficWeight = new(prod)
		out.TargetServiceRevision.RequestedTestTrafficWeight = new(test)
		if len(out.SourceServiceRevisions) > 0 {
			out.SourceServiceRevisions[0].RequestedProductionTrafficWeight = new(100 - prod)
			out.SourceServiceRevisions[0].RequestedTestTrafficWeight = new(100 - test)
		}
	}
	return out
}

// trafficWeights are the target revision's shares of production and test
// traffic in a BLUE_GREEN, LINEAR or CANARY deployment (ok false for a
// rolling one).
func trafficWeights(h state.ServiceDeployment, svc *state.Service) (prod, test float64, ok bool) {
	dc := h.Deployment.DeploymentConfiguration
	if dc == nil || !deploy.Progressive(string(dc.Strategy)) || len(h.SourceDeploymentIDs) == 0 {
		return 0, 0, false
	}
	if svc != nil && svc.Rollout != nil && svc.Rollout.HistoryID == h.ID {
		return svc.Rollout.ProdWeight, svc.Rollout.TestWeight, true
	}
	if h.Deployment.Status == ecstypes.ServiceDeploymentStatusSuccessful {
		return 100, 100, true
	}
	return 0, 0, true
}

// historyOrder is a key that sorts a service's deployments by creation,
// oldest first.
func historyOrder(h state.ServiceDeployment) string {
	return fmt.Sprintf("%016x/%010d/%s", h.Deployment.CreatedAt.Time().UnixMilli(), h.Sequence, h.ID)
}

// ListServiceDeployments lists a service's deployments, newest first.
func (a *API) ListServiceDeployments(ctx context.Context, c *awsproto.Call, in *ecstypes.ListServiceDeploymentsRequest) (*ecstypes.ListServiceDeploymentsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit, ok := paging.Limit(in.MaxResults, 20, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	cluster, name, err := serviceRef(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if _, err := a.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	if _, err := state.Get[state.Service](ctx, a.store, state.ServiceKey(cluster, name)); state.IsNotFound(err) {
		return nil, errServiceNotFound()
	} else if err != nil {
		return nil, err
	}
	items, err := state.List[state.ServiceDeployment](ctx, a.store, state.ServiceDeploymentsPrefix(cluster, name), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	byKey := map[string]state.ServiceDeployment{}
	var keys []string
	for _, it := range items {
		h := it.Value
		created := h.Deployment.CreatedAt
		switch {
		case len(in.Status) > 0 && !slices.Contains(in.Status, h.Deployment.Status):
			continue
		case in.CreatedAt != nil && !in.CreatedAt.After.IsZero() && created.Time().Before(in.CreatedAt.After.Time()):
			continue
		case in.CreatedAt != nil && !in.CreatedAt.Before.IsZero() && created.Time().After(in.CreatedAt.Before.Time()):
			continue
		}
		k := historyOrder(h)
		byKey[k] = h
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	page, next := pageKeys(keys, after, limit, true)
	scope := scopeOf(c)
	out := &ecstypes.ListServiceDeploymentsResponse{ServiceDeployments: []ecstypes.ServiceDeploymentBrief{}, NextToken: next}
	for _, k := range page {
		h := byKey[k]
		out.ServiceDeployments = append(out.ServiceDeployments, ecstypes.ServiceDeploymentBrief{
			ServiceDeploymentArn:     serviceDeploymentARN(scope, cluster, name, h.ID),
			ServiceArn:               serviceARN(scope, cluster, name),
			ClusterArn:               scope.New("ecs", "cluster/"+cluster),
			StartedAt:                h.Deployment.StartedAt,
			CreatedAt:                h.Deployment.CreatedAt,
			FinishedAt:               h.Deployment.FinishedAt,
			TargetServiceRevisionArn: serviceRevisionARN(scope, cluster, name, h.DeploymentID),
			Status:                   h.Deployment.Status,
			StatusReason:             h.Deployment.StatusReason,
		})
	}
	return out, nil
}

// parseServiceDeploymentARN splits arn:...:service-deployment/CLUSTER/SERVICE/ID.
func parseServiceDeploymentARN(s string) (cluster, service, id string, ok bool) {
	p, err := arn.Parse(s)
	rest, isSD := strings.CutPrefix(p.Resource, "service-deployment/")
	parts := strings.Split(rest, "/")
	if err != nil || p.Service != "ecs" || !isSD || len(parts) != 3 || slices.Contains(parts, "") {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// DescribeServiceDeployments describes up to 20 service deployments by
// ARN; missing ones are reported in failures.
func (a *API) DescribeServiceDeployments(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeServiceDeploymentsRequest) (*ecstypes.DescribeServiceDeploymentsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if n := len(in.ServiceDeploymentArns); n < 1 || n > 20 {
		return nil, invalidParam("serviceDeploymentArns must hold between 1 and 20 ARNs.")
	}
	scope := scopeOf(c)
	out := &ecstypes.DescribeServiceDeploymentsResponse{ServiceDeployments: []ecstypes.ServiceDeployment{}, Failures: []ecstypes.Failure{}}
	v, err := a.synced(ctx)
	if err != nil {
		return nil, err
	}
	for _, ref := range in.ServiceDeploymentArns {
		cluster, service, id, ok := parseServiceDeploymentARN(ref)
		if !ok {
			return nil, invalidParam("Invalid service deployment ARN %q.", ref)
		}
		it, err := state.Get[state.ServiceDeployment](ctx, a.store, state.ServiceDeploymentKey(cluster, service, id))
		if state.IsNotFound(err) {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		var svc *state.Service
		if s, err := state.Get[state.Service](ctx, a.store, state.ServiceKey(cluster, service)); err == nil {
			svc = &s.Value
		} else if !state.IsNotFound(err) {
			return nil, err
		}
		out.ServiceDeployments = append(out.ServiceDeployments, renderServiceDeployment(scope, it.Value, svc, serviceTaskCounts(v, cluster, service)))
	}
	return out, nil
}
