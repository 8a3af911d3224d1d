package ecs

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/fence"
	"github.com/minato-project/minato/internal/taskdef"
	"github.com/minato-project/minato/internal/tasks"
)

// Services are stored as state.Service: the ECS view without ARNs, with
// task definitions as "family:revision". The API writes what is desired
// (counts, configuration, deployments); the service controller starts and
// stops the tasks, moves the deployments and records the events.

const (
	svcActive   = state.ServiceActive
	svcDraining = state.ServiceDraining
	svcInactive = state.ServiceInactive

	deploymentPrimary = "PRIMARY"
	deploymentActive  = "ACTIVE"
)

// serviceOps are the service operations.
func (a *API) serviceOps() map[string]awsproto.JSONHandler {
	return map[string]awsproto.JSONHandler{
		"CreateService":              awsproto.Op(a.CreateService),
		"UpdateService":              awsproto.Op(a.UpdateService),
		"DeleteService":              awsproto.Op(a.DeleteService),
		"DescribeServices":           awsproto.Op(a.DescribeServices),
		"ListServices":               awsproto.Op(a.ListServices),
		"ListServicesByNamespace":    awsproto.Op(a.ListServicesByNamespace),
		"ListServiceDeployments":     awsproto.Op(a.ListServiceDeployments),
		"DescribeServiceDeployments": awsproto.Op(a.DescribeServiceDeployments),
		"DescribeServiceRevisions":   awsproto.Op(a.DescribeServiceRevisions),
		"StopServiceDeployment":      awsproto.Op(a.StopServiceDeployment),
		"ContinueServiceDeployment":  awsproto.Op(a.ContinueServiceDeployment),
	}
}

func errServiceNotFound() error {
	return core.Errorf(core.KindNotFound, ecstypes.ErrCodeServiceNotFoundException, "Service not found.")
}

func errServiceNotActive() error {
	return core.Errorf(core.KindConflict, ecstypes.ErrCodeServiceNotActiveException, "Service was not ACTIVE.")
}

// serviceRef resolves the service parameter of a request (a name, or an
// ARN arn:...:service/CLUSTER/NAME or the old arn:...:service/NAME) and the
// cluster parameter to a cluster and service name. Without a cluster
// parameter the cluster of a long ARN is used.
func serviceRef(clusterRef, ref string) (cluster, name string, err error) {
	name = ref
	if arn.IsARN(ref) {
		p, perr := arn.Parse(ref)
		rest, ok := strings.CutPrefix(p.Resource, "service/")
		if perr != nil || p.Service != "ecs" || !ok || rest == "" {
			return "", "", invalidParam("Invalid service ARN %q.", ref)
		}
		name = rest
		if c, n, has := strings.Cut(rest, "/"); has {
			if clusterRef == "" {
				clusterRef = c
			}
			name = n
		}
	}
	cluster, err = clusterName(clusterRef)
	return cluster, name, err
}

func serviceARN(scope arn.Scope, cluster, name string) string {
	return scope.New("ecs", "service/"+cluster+"/"+name)
}

// CreateService creates a service and its first deployment. The service
// controller starts its tasks.
func (a *API) CreateService(ctx context.Context, c *awsproto.Call, in *ecstypes.CreateServiceRequest) (*ecstypes.CreateServiceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if !taskdef.ValidName(in.ServiceName) {
		return nil, invalidParam("Service name %q is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", in.ServiceName)
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if err := checkUnsupported(in.ServiceConnectConfiguration, in.VolumeConfigurations, in.VpcLatticeConfigurations); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	svc, td, err := a.newServiceSpec(ctx, c, cl.Value, in)
	if err != nil {
		return nil, err
	}
	if err := checkServiceSpec(td, &svc); err != nil {
		return nil, err
	}
	if err := a.checkTargetGroups(ctx, td, svc.LoadBalancers); err != nil {
		return nil, err
	}
	if err := a.checkAdvanced(ctx, &svc); err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	key := state.ServiceKey(cluster, in.ServiceName)
	var rec state.Service
	err = a.serial.Do(ctx, key, func() error {
		cl, err := a.activeCluster(ctx, cluster) // the service is created only in an ACTIVE cluster
		if err != nil {
			return err
		}
		old, err := state.Get[state.Service](ctx, a.store, key)
		switch {
		case err == nil && old.Value.Service.Status == svcActive:
			return invalidParam("Creation of service was not idempotent.")
		case err == nil && old.Value.Service.Status == svcDraining:
			return invalidParam("Unable to Start a service that is still Draining.")
		case err != nil && !state.IsNotFound(err):
			return err
		}
		// A new service, or one whose INACTIVE name is taken again: the
		// deployment count goes on so that the history stays in order.
		rec = state.Service{Name: in.ServiceName, Cluster: cluster, Service: svc, DeploymentCount: old.Value.DeploymentCount}
		now := a.now()
		hist := a.startDeployment(&rec, now)
		ops, err := encodePuts(key, rec, state.ServiceDeploymentKey(cluster, rec.Name, hist.ID), hist)
		if err != nil {
			return err
		}
		// A DeleteCluster that checked the cluster empty must not commit
		// after this service: the cluster's fence orders the two.
		fconds, fops, err := fence.Enter(ctx, a.store, cl.Key)
		if err != nil {
			return err
		}
		conds := append([]store.Cond{{Key: key, ModRevision: old.ModRevision}, {Key: cl.Key, ModRevision: cl.ModRevision}}, fconds...)
		_, err = a.store.Txn(ctx, conds, append(ops, fops...))
		return err
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("service created", "cluster", cluster, "service", rec.Name, "taskDefinition", rec.Service.TaskDefinition,
		"desiredCount", rec.Service.DesiredCount, "schedulingStrategy", string(rec.Service.SchedulingStrategy))
	a.logDeploymentStarted(rec)
	out, err := a.renderServices(ctx, scopeOf(c), []state.Service{rec}, true)
	if err != nil {
		return nil, err
	}
	return &ecstypes.CreateServiceResponse{Service: &out[0]}, nil
}

// encodePuts encodes key/value pairs into put operations.
func encodePuts(kv ...any) ([]store.Op, error) {
	var ops []store.Op
	for i := 0; i+1 < len(kv); i += 2 {
		b, err := state.Encode(kv[i+1])
		if err != nil {
			return nil, err
		}
		ops = append(ops, store.Put(kv[i].(string), b))
	}
	return ops, nil
}

// newServiceSpec builds the ECS view of a service from CreateService, with
// ECS's defaults, and returns it with its task definition.
func (a *API) newServiceSpec(ctx context.Context, c *awsproto.Call, cl ecstypes.Cluster, in *ecstypes.CreateServiceRequest) (ecstypes.Service, ecstypes.TaskDefinition, error) {
	daemon := in.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon
	if err := checkController(in.DeploymentController); err != nil {
		return ecstypes.Service{}, ecstypes.TaskDefinition{}, err
	}
	if in.TaskDefinition == "" {
		return ecstypes.Service{}, ecstypes.TaskDefinition{}, invalidParam("A task definition must be specified for a service that uses the ECS deployment controller.")
	}
	td, err := a.serviceTaskDef(ctx, in.TaskDefinition)
	if err != nil {
		return ecstypes.Service{}, ecstypes.TaskDefinition{}, err
	}
	var desired int32
	switch {
	case daemon && in.DesiredCount != nil:
		return ecstypes.Service{}, td, invalidParam("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again")
	case !daemon && in.DesiredCount == nil:
		return ecstypes.Service{}, td, invalidParam("desiredCount is required for a service that uses the REPLICA scheduling strategy.")
	case in.DesiredCount != nil:
		desired = *in.DesiredCount
	}
	lt, cps, err := launchCapacity(cl, in.LaunchType, in.CapacityProviderStrategy)
	if err != nil {
		return ecstypes.Service{}, td, err
	}
	dc, err := deploymentConfig(daemon, nil, in.DeploymentConfiguration)
	if err != nil {
		return ecstypes.Service{}, td, err
	}
	sched := in.SchedulingStrategy
	if sched == "" {
		sched = ecstypes.SchedulingStrategyReplica
	}
	propagate := in.PropagateTags
	if propagate == "" {
		propagate = ecstypes.PropagateTagsNone
	}
	grace := int32(0)
	if in.HealthCheckGracePeriodSeconds != nil {
		grace = *in.HealthCheckGracePeriodSeconds
	}
	rebalancing := in.AvailabilityZoneRebalancing
	if rebalancing == "" {
		rebalancing = ecstypes.AvailabilityZoneRebalancingEnabled
		if daemon || *dc.MaximumPercent <= 100 {
			rebalancing = ecstypes.AvailabilityZoneRebalancingDisabled
		}
	}
	svc := ecstypes.Service{
		ServiceName:                   in.ServiceName,
		Status:                        svcActive,
		DesiredCount:                  desired,
		LaunchType:                    lt,
		CapacityProviderStrategy:      cps,
		TaskDefinition:                familyRev(td),
		DeploymentConfiguration:       dc,
		RoleArn:                       roleARN(c.Principal.AccountID, in.Role),
		Events:                        []ecstypes.ServiceEvent{},
		CreatedAt:                     shape.NewTimestamp(a.now()),
		CreatedBy:                     c.Principal.ARN,
		PlacementConstraints:          nonNil(in.PlacementConstraints),
		PlacementStrategy:             nonNil(in.PlacementStrategy),
		NetworkConfiguration:          normalNetwork(in.NetworkConfiguration),
		HealthCheckGracePeriodSeconds: &grace,
		SchedulingStrategy:            sched,
		DeploymentController:          &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		Tags:                          nonNil(in.Tags),
		EnableECSManagedTags:          in.EnableECSManagedTags,
		PropagateTags:                 propagate,
		EnableExecuteCommand:          in.EnableExecuteCommand,
		AvailabilityZoneRebalancing:   rebalancing,
		LoadBalancers:                 nonNil(in.LoadBalancers),
		ServiceRegistries:             nonNil(in.ServiceRegistries),
	}
	if err := setPlatform(&svc, in.PlatformVersion); err != nil {
		return svc, td, err
	}
	return svc, td, nil
}

// UpdateService changes a service. A new task definition, network
// configuration, load balancers, service registries or platform version,
// or forceNewDeployment, start a new deployment; the others apply to the
// service as it is.
func (a *API) UpdateService(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateServiceRequest) (*ecstypes.UpdateServiceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkUnsupported(in.ServiceConnectConfiguration, in.VolumeConfigurations, in.VpcLatticeConfigurations); err != nil {
		return nil, err
	}
	if err := checkController(in.DeploymentController); err != nil {
		return nil, err
	}
	cluster, name, err := serviceRef(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var newTD *ecstypes.TaskDefinition
	if in.TaskDefinition != "" {
		td, err := a.serviceTaskDef(ctx, in.TaskDefinition)
		if err != nil {
			return nil, err
		}
		newTD = &td
	}
	key := state.ServiceKey(cluster, name)
	var rec state.Service
	var wrote, deployed bool // what the committed attempt did
	var oldCount int32
	err = a.serial.Do(ctx, key, func() error {
		wrote, deployed = false, false
		it, err := state.Get[state.Service](ctx, a.store, key)
		if state.IsNotFound(err) {
			return errServiceNotFound()
		}
		if err != nil {
			return err
		}
		if it.Value.Service.Status != svcActive {
			return errServiceNotActive()
		}
		rec = it.Value
		deploy, err := a.applyUpdate(ctx, cl.Value, &rec.Service, newTD, in)
		if err != nil {
			return err
		}
		if !deploy && sameJSON(rec, it.Value) {
			return nil // nothing changed
		}
		rec.Steady = false
		ops, conds := []store.Op{}, []store.Cond{{Key: key, ModRevision: it.ModRevision}}
		if deploy && rec.Rollout != nil && !progressive(rec.Service) {
			// The rules still split traffic between the two target groups;
			// only a progressive deployment moves it back.
			return invalidParam("A %s service deployment is in progress (stage %s); a new deployment may replace it only with "+
				"the BLUE_GREEN, LINEAR or CANARY strategy. Stop it with StopServiceDeployment, or wait for it, before "+
				"switching to %s.", rec.Rollout.Strategy, rec.Rollout.Stage, rec.Service.DeploymentConfiguration.Strategy)
		}
		if deploy {
			now := a.now()
			supersede(&rec)
			stops, stopConds, err := a.stopOngoing(ctx, cluster, name, now, "Stopped because a new service deployment started.")
			if err != nil {
				return err
			}
			hist := a.startDeployment(&rec, now)
			hops, err := encodePuts(state.ServiceDeploymentKey(cluster, name, hist.ID), hist)
			if err != nil {
				return err
			}
			ops, conds = append(append(ops, stops...), hops...), append(conds, stopConds...)
		} else {
			syncPrimary(&rec.Service)
		}
		sops, err := encodePuts(key, rec)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, conds, append(ops, sops...))
		wrote, deployed, oldCount = err == nil, deploy, it.Value.Service.DesiredCount
		return err
	})
	if err != nil {
		return nil, err
	}
	if wrote && rec.Service.DesiredCount != oldCount {
		a.log.Info("service desired count changed", "cluster", cluster, "service", name, "from", oldCount, "to", rec.Service.DesiredCount)
	}
	if wrote && deployed {
		a.logDeploymentStarted(rec)
	}
	out, err := a.renderServices(ctx, scopeOf(c), []state.Service{rec}, true)
	if err != nil {
		return nil, err
	}
	return &ecstypes.UpdateServiceResponse{Service: &out[0]}, nil
}

// progressive says the service's next deployment is BLUE_GREEN, LINEAR or
// CANARY.
func progressive(svc ecstypes.Service) bool {
	return svc.DeploymentConfiguration != nil && deploy.Progressive(string(svc.DeploymentConfiguration.Strategy))
}

// supersede ends the progressive deployment a new deployment replaces,
// as ECS does: the new deployment starts from the revision that serves
// production (green once all production traffic is on it, otherwise blue,
// to which any traffic on green goes back: see deploy.Supersede), and the
// other revision's tasks go in its RECONCILE_SERVICE stage. The old
// service deployment ends STOPPED (stopOngoing).
func supersede(rec *state.Service) {
	ro := rec.Rollout
	if ro == nil {
		return
	}
	rec.Rollout = nil
	prod := ro.Blue
	if deploy.Supersede(ro.Progress) {
		prod = ro.Green
		for _, l := range rec.Service.LoadBalancers {
			if l.AdvancedConfiguration != nil && l.AdvancedConfiguration.AlternateTargetGroupArn != "" {
				rec.ProdAlternate = !rec.ProdAlternate // green's target group serves production
				break
			}
		}
	}
	// The production revision goes first: it is the new deployment's
	// source (blue).
	deps := rec.Service.Deployments
	if i := slices.IndexFunc(deps, func(d ecstypes.Deployment) bool { return d.Id == prod }); i > 0 {
		d := deps[i]
		deps = append(append([]ecstypes.Deployment{d}, deps[:i]...), deps[i+1:]...)
		rec.Service.Deployments = deps
	}
	for i := range rec.Service.Deployments {
		d := &rec.Service.Deployments[i]
		d.Status = deploymentActive
		if i == 0 {
			d.Status = deploymentPrimary // startDeployment makes it ACTIVE
		}
	}
}

// applyUpdate applies an UpdateService request to svc and checks the
// result. It reports whether the change needs a new deployment.
func (a *API) applyUpdate(ctx context.Context, cl ecstypes.Cluster, svc *ecstypes.Service, newTD *ecstypes.TaskDefinition, in *ecstypes.UpdateServiceRequest) (bool, error) {
	daemon := svc.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon
	old := *svc
	deploy := in.ForceNewDeployment
	if in.DesiredCount != nil {
		if daemon {
			return false, invalidParam("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again")
		}
		svc.DesiredCount = *in.DesiredCount
	}
	td, err := a.serviceRevision(ctx, svc.TaskDefinition)
	if err != nil {
		return false, err
	}
	if newTD != nil {
		td = *newTD
		svc.TaskDefinition = familyRev(td)
	}
	if in.CapacityProviderStrategy != nil {
		lt, cps := ecstypes.LaunchType(""), in.CapacityProviderStrategy
		if len(cps) == 0 { // back to the launch type the strategy stood for
			lt, cps = tasks.LaunchTypeOf("", svc.CapacityProviderStrategy), nil
		}
		if err := checkStrategy(cl, cps); err != nil {
			return false, err
		}
		if lt != svc.LaunchType || !sameJSON(cps, svc.CapacityProviderStrategy) {
			if !in.ForceNewDeployment {
				return false, invalidParam("When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.")
			}
			svc.LaunchType, svc.CapacityProviderStrategy = lt, cps
		}
	}
	if in.PlatformVersion != "" {
		if err := setPlatform(svc, in.PlatformVersion); err != nil {
			return false, err
		}
	} else if tasks.LaunchTypeOf(svc.LaunchType, svc.CapacityProviderStrategy) != tasks.LaunchTypeOf(old.LaunchType, old.CapacityProviderStrategy) {
		svc.PlatformVersion, svc.PlatformFamily = "", ""
		if err := setPlatform(svc, ""); err != nil {
			return false, err
		}
	}
	if in.DeploymentConfiguration != nil {
		dc, err := deploymentConfig(daemon, svc.DeploymentConfiguration, in.DeploymentConfiguration)
		if err != nil {
			return false, err
		}
		svc.DeploymentConfiguration = dc
	}
	if in.NetworkConfiguration != nil {
		svc.NetworkConfiguration = normalNetwork(in.NetworkConfiguration)
	}
	if in.PlacementConstraints != nil {
		svc.PlacementConstraints = nonNil(in.PlacementConstraints)
	}
	if in.PlacementStrategy != nil {
		svc.PlacementStrategy = nonNil(in.PlacementStrategy)
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGracePeriodSeconds = new(*in.HealthCheckGracePeriodSeconds)
	}
	if in.LoadBalancers != nil {
		svc.LoadBalancers = nonNil(in.LoadBalancers)
	}
	if in.ServiceRegistries != nil {
		svc.ServiceRegistries = nonNil(in.ServiceRegistries)
	}
	if in.EnableExecuteCommand != nil {
		svc.EnableExecuteCommand = *in.EnableExecuteCommand
	}
	if in.EnableECSManagedTags != nil {
		svc.EnableECSManagedTags = *in.EnableECSManagedTags
	}
	if in.PropagateTags != "" {
		svc.PropagateTags = in.PropagateTags
	}
	if in.AvailabilityZoneRebalancing != "" {
		svc.AvailabilityZoneRebalancing = in.AvailabilityZoneRebalancing
	}
	if err := checkServiceSpec(td, svc); err != nil {
		return false, err
	}
	if in.LoadBalancers != nil {
		if err := a.checkTargetGroups(ctx, td, svc.LoadBalancers); err != nil {
			return false, err
		}
	}
	if in.LoadBalancers != nil || in.DeploymentConfiguration != nil {
		if err := a.checkAdvanced(ctx, svc); err != nil {
			return false, err
		}
	}
	deploy = deploy || svc.TaskDefinition != old.TaskDefinition ||
		!sameJSON(svc.NetworkConfiguration, old.NetworkConfiguration) ||
		!sameJSON(svc.LoadBalancers, old.LoadBalancers) ||
		!sameJSON(svc.ServiceRegistries, old.ServiceRegistries) ||
		svc.PlatformVersion != old.PlatformVersion
	return deploy, nil
}

// syncPrimary keeps the PRIMARY deployment's desired count at the
// service's, as ECS does when only desiredCount changes.
func syncPrimary(svc *ecstypes.Service) {
	for i := range svc.Deployments {
		if svc.Deployments[i].Status == deploymentPrimary && svc.SchedulingStrategy != ecstypes.SchedulingStrategyDaemon {
			svc.Deployments[i].DesiredCount = svc.DesiredCount
		}
	}
}

// DeleteService scales a service to zero and marks it DRAINING; the
// service controller stops its tasks and marks it INACTIVE.
func (a *API) DeleteService(ctx context.Context, c *awsproto.Call, in *ecstypes.DeleteServiceRequest) (*ecstypes.DeleteServiceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cluster, name, err := serviceRef(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if _, err := a.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	key := state.ServiceKey(cluster, name)
	var rec state.Service
	err = a.serial.Do(ctx, key, func() error {
		it, err := state.Get[state.Service](ctx, a.store, key)
		if state.IsNotFound(err) || (err == nil && it.Value.Service.Status == svcInactive) {
			return errServiceNotFound()
		}
		if err != nil {
			return err
		}
		rec = it.Value
		if rec.Service.Status == svcDraining {
			return nil // already being deleted
		}
		if !force && rec.Service.SchedulingStrategy != ecstypes.SchedulingStrategyDaemon && rec.Service.DesiredCount > 0 {
			return invalidParam("The service cannot be stopped while it is scaled above 0.")
		}
		now := a.now()
		rec.Service.Status = svcDraining
		rec.Service.DesiredCount = 0
		for i := range rec.Service.Deployments {
			rec.Service.Deployments[i].DesiredCount = 0
		}
		rec.Steady = false
		ops, conds, err := a.stopOngoing(ctx, cluster, name, now, "Stopped because the service was deleted.")
		if err != nil {
			return err
		}
		sops, err := encodePuts(key, rec)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, append(conds, store.Cond{Key: key, ModRevision: it.ModRevision}), append(ops, sops...))
		if err == nil {
			a.log.Info("service deleted", "cluster", cluster, "service", name, "force", force)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := a.renderServices(ctx, scopeOf(c), []state.Service{rec}, true)
	if err != nil {
		return nil, err
	}
	return &ecstypes.DeleteServiceResponse{Service: &out[0]}, nil
}

// ongoing are the service deployment states of a deployment that has not
// finished.
var ongoing = []ecstypes.ServiceDeploymentStatus{
	ecstypes.ServiceDeploymentStatusPending, ecstypes.ServiceDeploymentStatusInProgress,
	ecstypes.ServiceDeploymentStatusStopRequested, ecstypes.ServiceDeploymentStatusRollbackRequested,
	ecstypes.ServiceDeploymentStatusRollbackInProgress,
}

// stopOngoing returns the writes that mark the service's unfinished
// deployments in its history STOPPED, with the conditions they need.
func (a *API) stopOngoing(ctx context.Context, cluster, name string, now time.Time, reason string) ([]store.Op, []store.Cond, error) {
	items, err := state.List[state.ServiceDeployment](ctx, a.store, state.ServiceDeploymentsPrefix(cluster, name), store.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	var ops []store.Op
	var conds []store.Cond
	ts := shape.NewTimestamp(now)
	for _, it := range items {
		h := it.Value
		if !slices.Contains(ongoing, h.Deployment.Status) {
			continue
		}
		h.Deployment.Status = ecstypes.ServiceDeploymentStatusStopped
		h.Deployment.StatusReason = reason
		h.Deployment.StoppedAt, h.Deployment.FinishedAt, h.Deployment.UpdatedAt = ts, ts, ts
		if cb := h.Deployment.DeploymentCircuitBreaker; cb != nil && cb.Status == ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoring {
			cb.Status = ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete
		}
		b, err := state.Encode(h)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, store.Put(it.Key, b))
		conds = append(conds, store.Cond{Key: it.Key, ModRevision: it.ModRevision})
	}
	return ops, conds, nil
}
