package ecs

import (
	"context"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/fence"
	"github.com/minato-project/minato/internal/taskdef"
)

const (
	clusterActive   = "ACTIVE"
	clusterInactive = "INACTIVE"
	defaultCluster  = "default"
)

// Clusters are stored as ecstypes.Cluster without the ARN and the counts,
// which depend on the caller's region and on other records.

// clusterName resolves the cluster parameter of a request (name, ARN or
// empty for "default") to a cluster name.
func clusterName(ref string) (string, error) {
	if ref == "" {
		return defaultCluster, nil
	}
	if arn.IsARN(ref) {
		p, err := arn.Parse(ref)
		name, ok := strings.CutPrefix(p.Resource, "cluster/")
		if err != nil || p.Service != "ecs" || !ok || name == "" {
			return "", invalidParam("Invalid cluster ARN %q.", ref)
		}
		return name, nil
	}
	return ref, nil
}

// activeCluster reads the ACTIVE cluster ref names.
func (a *API) activeCluster(ctx context.Context, ref string) (state.Item[ecstypes.Cluster], error) {
	name, err := clusterName(ref)
	if err != nil {
		return state.Item[ecstypes.Cluster]{}, err
	}
	it, err := state.Get[ecstypes.Cluster](ctx, a.store, state.ClusterKey(name))
	if state.IsNotFound(err) || (err == nil && it.Value.Status != clusterActive) {
		return it, errClusterNotFound()
	}
	return it, err
}

func checkClusterSettings(settings []ecstypes.ClusterSetting) error {
	for _, s := range settings {
		if s.Name != ecstypes.ClusterSettingNameContainerInsights {
			return invalidParam("Unknown cluster setting %q.", s.Name)
		}
		if !slices.Contains([]string{"enabled", "disabled", "enhanced"}, s.Value) {
			return invalidParam("The value of cluster setting containerInsights must be enabled, enhanced or disabled; got %q.", s.Value)
		}
	}
	return nil
}

func mergeSettings(have, set []ecstypes.ClusterSetting) []ecstypes.ClusterSetting {
	out := slices.Clone(have)
	for _, s := range set {
		i := slices.IndexFunc(out, func(o ecstypes.ClusterSetting) bool { return o.Name == s.Name })
		if i >= 0 {
			out[i] = s
		} else {
			out = append(out, s)
		}
	}
	return out
}

func checkCapacityProviders(names []string, strategy []ecstypes.CapacityProviderStrategyItem) error {
	for _, n := range names {
		if n != "FARGATE" && n != "FARGATE_SPOT" {
			return invalidParam("The specified capacity provider %q does not exist. minato offers FARGATE and FARGATE_SPOT.", n)
		}
	}
	for _, s := range strategy {
		if !slices.Contains(names, s.CapacityProvider) {
			return invalidParam("The capacity provider %q in the default strategy is not associated with the cluster.", s.CapacityProvider)
		}
	}
	return nil
}

// EnsureDefaultCluster creates the "default" cluster if there is none, as
// ECS does for a new account.
func (a *API) EnsureDefaultCluster(ctx context.Context) error {
	_, err := a.createCluster(ctx, &ecstypes.CreateClusterRequest{ClusterName: defaultCluster})
	return err
}

// CreateCluster creates a cluster, or returns the ACTIVE cluster of that name.
func (a *API) CreateCluster(ctx context.Context, c *awsproto.Call, in *ecstypes.CreateClusterRequest) (*ecstypes.CreateClusterResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.createCluster(ctx, in)
	if err != nil {
		return nil, err
	}
	out, err := a.renderCluster(ctx, scopeOf(c), cl, allClusterFields)
	if err != nil {
		return nil, err
	}
	return &ecstypes.CreateClusterResponse{Cluster: &out}, nil
}

func (a *API) createCluster(ctx context.Context, in *ecstypes.CreateClusterRequest) (ecstypes.Cluster, error) {
	name := in.ClusterName
	if name == "" {
		name = defaultCluster
	}
	if !taskdef.ValidName(name) {
		return ecstypes.Cluster{}, invalidParam("Cluster name %q is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", name)
	}
	if err := checkTags(in.Tags); err != nil {
		return ecstypes.Cluster{}, err
	}
	if err := checkClusterSettings(in.Settings); err != nil {
		return ecstypes.Cluster{}, err
	}
	if err := checkCapacityProviders(in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return ecstypes.Cluster{}, err
	}
	settings := mergeSettings([]ecstypes.ClusterSetting{{Name: ecstypes.ClusterSettingNameContainerInsights, Value: "disabled"}}, in.Settings)
	cl := ecstypes.Cluster{
		ClusterName:                     name,
		Status:                          clusterActive,
		Configuration:                   in.Configuration,
		Tags:                            nonNil(in.Tags),
		Settings:                        settings,
		CapacityProviders:               nonNil(in.CapacityProviders),
		DefaultCapacityProviderStrategy: nonNil(in.DefaultCapacityProviderStrategy),
	}
	if in.ServiceConnectDefaults != nil {
		cl.ServiceConnectDefaults = &ecstypes.ClusterServiceConnectDefaults{Namespace: in.ServiceConnectDefaults.Namespace}
	}
	key := state.ClusterKey(name)
	err := store.RetryConflicts(ctx, func() error {
		it, err := state.Get[ecstypes.Cluster](ctx, a.store, key)
		switch {
		case err == nil && it.Value.Status == clusterActive:
			cl = it.Value // CreateCluster is idempotent for an ACTIVE cluster
			return nil
		case err == nil:
			return a.put(ctx, key, it.ModRevision, cl) // a deleted cluster's name is free again
		case state.IsNotFound(err):
			return a.put(ctx, key, 0, cl)
		default:
			return err
		}
	})
	return cl, err
}

// clusterFields says which optional parts of a cluster to render.
type clusterFields struct {
	attachments, configurations, settings, statistics, tags bool
}

var allClusterFields = clusterFields{true, true, true, true, true}

func (a *API) renderCluster(ctx context.Context, scope arn.Scope, cl ecstypes.Cluster, f clusterFields) (ecstypes.Cluster, error) {
	out := cl
	out.ClusterArn = scope.New("ecs", "cluster/"+cl.ClusterName)
	if cl.Status == clusterActive {
		counts, err := a.clusterCounts(ctx, cl.ClusterName)
		if err != nil {
			return out, err
		}
		out.RegisteredContainerInstancesCount = counts.instances
		out.RunningTasksCount = counts.running
		out.PendingTasksCount = counts.pending
		out.ActiveServicesCount = counts.services
	}
	if !f.tags {
		out.Tags = nil
	}
	if !f.settings {
		out.Settings = nil
	}
	if !f.configurations {
		out.Configuration = nil
	}
	if f.statistics {
		out.Statistics = []ecstypes.KeyValuePair{}
	}
	if f.attachments {
		out.Attachments = []ecstypes.Attachment{}
	}
	return out, nil
}

type clusterCounts struct {
	instances, running, pending, notStopped, services int32
}

// clusterCounts counts what the cluster holds: container instances that
// are not INACTIVE, services that are not INACTIVE, and tasks by status.
// The instances and tasks come from the cluster view; services are few.
func (a *API) clusterCounts(ctx context.Context, name string) (clusterCounts, error) {
	var n clusterCounts
	v, err := a.synced(ctx)
	if err != nil {
		return n, err
	}
	vc := v.ClusterCounts(name)
	n.instances, n.running, n.pending, n.notStopped = vc.Instances, vc.RunningTasks, vc.PendingTasks, vc.NotStoppedTasks
	svcs, err := state.List[state.Service](ctx, a.store, state.ServicesPrefix(name), store.ListOptions{})
	if err != nil {
		return n, err
	}
	for _, s := range svcs {
		if s.Value.Service.Status != svcInactive {
			n.services++
		}
	}
	return n, nil
}

// holdsActive reports whether the cluster has container instances that
// are not INACTIVE, services, or tasks that are not STOPPED.
func (a *API) holdsActive(ctx context.Context, name string) (code, msg string, err error) {
	n, err := a.clusterCounts(ctx, name)
	if err != nil {
		return "", "", err
	}
	switch {
	case n.instances > 0:
		return ecstypes.ErrCodeClusterContainsContainerInstancesException,
			"The Cluster cannot be deleted while Container Instances are active or draining.", nil
	case n.services > 0:
		return ecstypes.ErrCodeClusterContainsServicesException, "The Cluster cannot be deleted while Services are active.", nil
	case n.notStopped > 0:
		return ecstypes.ErrCodeClusterContainsTasksException, "The Cluster cannot be deleted while Tasks are active.", nil
	}
	return "", "", nil
}

// DescribeClusters describes clusters by name or ARN; missing ones are
// reported in failures.
func (a *API) DescribeClusters(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeClustersRequest) (*ecstypes.DescribeClustersResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{defaultCluster}
	}
	if len(refs) > 100 {
		return nil, invalidParam("At most 100 clusters can be described at once.")
	}
	var f clusterFields
	for _, inc := range in.Include {
		switch inc {
		case ecstypes.ClusterFieldAttachments:
			f.attachments = true
		case ecstypes.ClusterFieldConfigurations:
			f.configurations = true
		case ecstypes.ClusterFieldSettings:
			f.settings = true
		case ecstypes.ClusterFieldStatistics:
			f.statistics = true
		case ecstypes.ClusterFieldTags:
			f.tags = true
		}
	}
	scope := scopeOf(c)
	out := &ecstypes.DescribeClustersResponse{Clusters: []ecstypes.Cluster{}, Failures: []ecstypes.Failure{}}
	for _, ref := range refs {
		name, err := clusterName(ref)
		if err != nil {
			return nil, err
		}
		it, err := state.Get[ecstypes.Cluster](ctx, a.store, state.ClusterKey(name))
		if state.IsNotFound(err) {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: scope.New("ecs", "cluster/"+name), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		cl, err := a.renderCluster(ctx, scope, it.Value, f)
		if err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, cl)
	}
	return out, nil
}

// ListClusters lists the ARNs of ACTIVE clusters in name order.
func (a *API) ListClusters(ctx context.Context, c *awsproto.Call, in *ecstypes.ListClustersRequest) (*ecstypes.ListClustersResponse, error) {
	limit, ok := paging.Limit(in.MaxResults, 100, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	page, next, err := a.scan(ctx, state.ClustersPrefix(), after, limit, func(kv store.KV) (bool, error) {
		it, err := state.Get[ecstypes.Cluster](ctx, a.store, kv.Key)
		return err == nil && it.Value.Status == clusterActive, err
	})
	if err != nil {
		return nil, err
	}
	scope := scopeOf(c)
	out := &ecstypes.ListClustersResponse{ClusterArns: []string{}, NextToken: next}
	for _, kv := range page {
		out.ClusterArns = append(out.ClusterArns, scope.New("ecs", "cluster/"+state.LastSegment(kv.Key)))
	}
	return out, nil
}

// scan pages through the records under prefix after key `after`, keeping
// those keep accepts, and returns at most limit of them and the token that
// resumes after the last one ("" at the end).
func (a *API) scan(ctx context.Context, prefix, after string, limit int, keep func(store.KV) (bool, error)) ([]store.KV, string, error) {
	var out []store.KV
	const chunk = 256
	for {
		kvs, _, err := a.store.List(ctx, prefix, store.ListOptions{After: after, Limit: chunk})
		if err != nil {
			return nil, "", err
		}
		for _, kv := range kvs {
			ok, err := keep(kv)
			if err != nil {
				return nil, "", err
			}
			if !ok {
				continue
			}
			if len(out) == limit {
				return out, paging.Encode(out[len(out)-1].Key), nil
			}
			out = append(out, kv)
		}
		if len(kvs) < chunk {
			return out, "", nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

// updateCluster applies change to an ACTIVE cluster with compare-and-swap.
func (a *API) updateCluster(ctx context.Context, ref string, change func(*ecstypes.Cluster)) (ecstypes.Cluster, error) {
	var cl ecstypes.Cluster
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.activeCluster(ctx, ref)
		if err != nil {
			return err
		}
		cl = it.Value
		change(&cl)
		return a.put(ctx, it.Key, it.ModRevision, cl)
	})
	return cl, err
}

// UpdateCluster changes a cluster's settings, execute-command configuration
// and Service Connect defaults.
func (a *API) UpdateCluster(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateClusterRequest) (*ecstypes.UpdateClusterResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	cl, err := a.updateCluster(ctx, in.Cluster, func(cl *ecstypes.Cluster) {
		cl.Settings = mergeSettings(cl.Settings, in.Settings)
		if in.Configuration != nil {
			cl.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			cl.ServiceConnectDefaults = &ecstypes.ClusterServiceConnectDefaults{Namespace: in.ServiceConnectDefaults.Namespace}
		}
	})
	if err != nil {
		return nil, err
	}
	out, err := a.renderCluster(ctx, scopeOf(c), cl, allClusterFields)
	if err != nil {
		return nil, err
	}
	return &ecstypes.UpdateClusterResponse{Cluster: &out}, nil
}

// UpdateClusterSettings changes a cluster's settings.
func (a *API) UpdateClusterSettings(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateClusterSettingsRequest) (*ecstypes.UpdateClusterSettingsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	cl, err := a.updateCluster(ctx, in.Cluster, func(cl *ecstypes.Cluster) {
		cl.Settings = mergeSettings(cl.Settings, in.Settings)
	})
	if err != nil {
		return nil, err
	}
	out, err := a.renderCluster(ctx, scopeOf(c), cl, allClusterFields)
	if err != nil {
		return nil, err
	}
	return &ecstypes.UpdateClusterSettingsResponse{Cluster: &out}, nil
}

// PutClusterCapacityProviders sets a cluster's capacity providers and
// default strategy.
func (a *API) PutClusterCapacityProviders(ctx context.Context, c *awsproto.Call, in *ecstypes.PutClusterCapacityProvidersRequest) (*ecstypes.PutClusterCapacityProvidersResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkCapacityProviders(in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return nil, err
	}
	cl, err := a.updateCluster(ctx, in.Cluster, func(cl *ecstypes.Cluster) {
		cl.CapacityProviders = nonNil(in.CapacityProviders)
		cl.DefaultCapacityProviderStrategy = nonNil(in.DefaultCapacityProviderStrategy)
	})
	if err != nil {
		return nil, err
	}
	out, err := a.renderCluster(ctx, scopeOf(c), cl, allClusterFields)
	if err != nil {
		return nil, err
	}
	return &ecstypes.PutClusterCapacityProvidersResponse{Cluster: &out}, nil
}

// DeleteCluster marks an empty cluster INACTIVE. A cluster that still has
// services, tasks or container instances is refused, as ECS refuses it.
//
// The check and the write are ordered with CreateService and agent
// registrations by the cluster's fence (store/fence): a service or a
// container instance created between them makes the write fail and the
// check run again. Tasks need no fence of their own: a task is placed
// only on a container instance that is not INACTIVE, under a condition on
// that instance's record, and such an instance refuses the deletion.
func (a *API) DeleteCluster(ctx context.Context, c *awsproto.Call, in *ecstypes.DeleteClusterRequest) (*ecstypes.DeleteClusterResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	var cl ecstypes.Cluster
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.activeCluster(ctx, in.Cluster)
		if err != nil {
			return err
		}
		frev, err := fence.Raise(ctx, a.store, it.Key, it.ModRevision)
		if err != nil {
			return err
		}
		code, msg, err := a.holdsActive(ctx, it.Value.ClusterName)
		if err == nil && code != "" {
			err = core.Errorf(core.KindConflict, code, "%s", msg)
		}
		if err != nil {
			// A fence left up is harmless (the next creator takes it
			// down): the answer is the refusal.
			if lerr := fence.Lower(ctx, a.store, it.Key, frev); lerr != nil {
				a.log.Warn("cluster fence not lowered", "cluster", it.Value.ClusterName, "err", lerr)
			}
			return err
		}
		cl = it.Value
		cl.Status = clusterInactive
		b, err := state.Encode(cl)
		if err != nil {
			return err
		}
		fc, fop := fence.Drop(it.Key, frev)
		_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision), fc}, []store.Op{store.Put(it.Key, b), fop})
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := a.renderCluster(ctx, scopeOf(c), cl, allClusterFields)
	if err != nil {
		return nil, err
	}
	return &ecstypes.DeleteClusterResponse{Cluster: &out}, nil
}
