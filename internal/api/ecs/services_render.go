package ecs

import (
	"context"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/taskdef"
	"github.com/minato-project/minato/internal/tasks"
)

// taskCounts counts a service's tasks that are desired RUNNING: those
// RUNNING, and those on their way (PROVISIONING, PENDING, ACTIVATING).
type taskCounts struct{ running, pending int32 }

// serviceCounts are the task counts of one service, in all and by
// deployment ID.
type serviceCounts struct {
	total        taskCounts
	byDeployment map[string]taskCounts
}

// serviceTaskCounts returns the counts of a service's tasks. They come
// from the cluster view, which keeps them from the task records as they
// change; v must be synced.
func serviceTaskCounts(v *clusterview.View, cluster, service string) *serviceCounts {
	sc := v.ServiceCounts(cluster, service)
	out := &serviceCounts{total: taskCounts{sc.Running, sc.Pending}, byDeployment: make(map[string]taskCounts, len(sc.ByDeployment))}
	for id, c := range sc.ByDeployment {
		out.byDeployment[id] = taskCounts{c.Running, c.Pending}
	}
	return out
}

// taskDefRefARN renders a stored "family:revision" as an ARN.
func taskDefRefARN(scope arn.Scope, ref string) string {
	family, rev, ok := taskdef.SplitFamilyRevision(ref)
	if !ok || rev == 0 {
		return ref
	}
	return taskDefARN(scope, family, rev)
}

// renderService fills in a service's ARNs and counts for the caller's
// scope; tags says whether to include its tags.
func renderService(scope arn.Scope, rec state.Service, counts *serviceCounts, tags bool) ecstypes.Service {
	out := rec.Service
	if counts == nil {
		counts = &serviceCounts{}
	}
	out.ServiceArn = serviceARN(scope, rec.Cluster, rec.Name)
	out.ClusterArn = scope.New("ecs", "cluster/"+rec.Cluster)
	out.TaskDefinition = taskDefRefARN(scope, out.TaskDefinition)
	out.RunningCount, out.PendingCount = counts.total.running, counts.total.pending
	out.Deployments = make([]ecstypes.Deployment, 0, len(rec.Service.Deployments))
	out.CurrentServiceRevisions = make([]ecstypes.ServiceCurrentRevisionSummary, 0, len(rec.Service.Deployments))
	for _, d := range rec.Service.Deployments {
		n := counts.byDeployment[d.Id]
		d.TaskDefinition = taskDefRefARN(scope, d.TaskDefinition)
		d.RunningCount, d.PendingCount = n.running, n.pending
		out.Deployments = append(out.Deployments, d)
		out.CurrentServiceRevisions = append(out.CurrentServiceRevisions, ecstypes.ServiceCurrentRevisionSummary{
			Arn: serviceRevisionARN(scope, rec.Cluster, rec.Name, d.Id), RequestedTaskCount: d.DesiredCount,
			RunningTaskCount: n.running, PendingTaskCount: n.pending,
		})
	}
	if out.CurrentServiceDeployment != "" {
		out.CurrentServiceDeployment = serviceDeploymentARN(scope, rec.Cluster, rec.Name, out.CurrentServiceDeployment)
	}
	out.Events = nonNil(out.Events)
	out.LoadBalancers = nonNil(out.LoadBalancers)
	out.ServiceRegistries = nonNil(out.ServiceRegistries)
	out.PlacementConstraints = nonNil(out.PlacementConstraints)
	out.PlacementStrategy = nonNil(out.PlacementStrategy)
	if tags {
		out.Tags = nonNil(out.Tags)
	} else {
		out.Tags = nil
	}
	return out
}

// renderServices renders service records with their task counts.
func (a *API) renderServices(ctx context.Context, scope arn.Scope, recs []state.Service, tags bool) ([]ecstypes.Service, error) {
	v, err := a.synced(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ecstypes.Service, 0, len(recs))
	for _, rec := range recs {
		out = append(out, renderService(scope, rec, serviceTaskCounts(v, rec.Cluster, rec.Name), tags))
	}
	return out, nil
}

// DescribeServices describes up to 10 services of a cluster, INACTIVE ones
// included; missing ones are reported in failures.
func (a *API) DescribeServices(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeServicesRequest) (*ecstypes.DescribeServicesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if n := len(in.Services); n < 1 || n > 10 {
		return nil, invalidParam("services must name between 1 and 10 services.")
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	scope := scopeOf(c)
	out := &ecstypes.DescribeServicesResponse{Services: []ecstypes.Service{}, Failures: []ecstypes.Failure{}}
	var recs []state.Service
	for _, ref := range in.Services {
		_, name, err := serviceRef(cluster, ref)
		if err != nil {
			return nil, err
		}
		it, err := state.Get[state.Service](ctx, a.store, state.ServiceKey(cluster, name))
		if state.IsNotFound(err) {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: serviceARN(scope, cluster, name), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, it.Value)
	}
	svcs, err := a.renderServices(ctx, scope, recs, slices.Contains(in.Include, ecstypes.ServiceFieldTags))
	if err != nil {
		return nil, err
	}
	out.Services = append(out.Services, svcs...)
	return out, nil
}

// ListServices lists the ARNs of a cluster's ACTIVE services in name
// order. DRAINING and INACTIVE ones are not listed, as in ECS.
func (a *API) ListServices(ctx context.Context, c *awsproto.Call, in *ecstypes.ListServicesRequest) (*ecstypes.ListServicesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit, ok := paging.Limit(in.MaxResults, 10, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	page, next, err := a.scan(ctx, state.ServicesPrefix(cluster), after, limit, func(kv store.KV) (bool, error) {
		it, err := state.Get[state.Service](ctx, a.store, kv.Key)
		if err != nil {
			return false, err
		}
		s := it.Value.Service
		switch {
		case s.Status != svcActive:
			return false, nil
		case in.LaunchType != "" && tasks.LaunchTypeOf(s.LaunchType, s.CapacityProviderStrategy) != in.LaunchType:
			return false, nil
		case in.SchedulingStrategy != "" && s.SchedulingStrategy != in.SchedulingStrategy:
			return false, nil
		case in.ResourceManagementType == ecstypes.ResourceManagementTypeEcs:
			return false, nil // minato has no ECS-managed services
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	scope := scopeOf(c)
	out := &ecstypes.ListServicesResponse{ServiceArns: []string{}, NextToken: next}
	for _, kv := range page {
		out.ServiceArns = append(out.ServiceArns, serviceARN(scope, cluster, state.LastSegment(kv.Key)))
	}
	return out, nil
}

// ListServicesByNamespace lists the services of a Cloud Map namespace.
// minato has no namespaces yet, so the list is empty.
func (a *API) ListServicesByNamespace(ctx context.Context, c *awsproto.Call, in *ecstypes.ListServicesByNamespaceRequest) (*ecstypes.ListServicesByNamespaceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if _, ok := paging.Limit(in.MaxResults, 10, 100); !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	if _, ok := paging.Decode(in.NextToken); !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	return &ecstypes.ListServicesByNamespaceResponse{ServiceArns: []string{}}, nil
}

// serviceTagKey is the record key of the service a long-format service ARN
// (arn:...:service/CLUSTER/NAME) names, for TagResource.
func serviceTagKey(resourceARN string) (string, bool) {
	p, err := arn.Parse(resourceARN)
	rest, ok := strings.CutPrefix(p.Resource, "service/")
	cluster, name, long := strings.Cut(rest, "/")
	if err != nil || p.Service != "ecs" || !ok || !long || cluster == "" || name == "" {
		return "", false
	}
	return state.ServiceKey(cluster, name), true
}

// serviceTags gives TagResource the tags of a service record; nil for an
// INACTIVE service, which cannot be tagged.
func serviceTags(s *state.Service) *[]ecstypes.Tag {
	if s.Service.Status == svcInactive {
		return nil
	}
	return &s.Service.Tags
}
