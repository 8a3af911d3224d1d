package ecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// newAPI returns the ECS API over a real bbolt store in a temp dir, with a
// fixed clock.
func newAPI(t *testing.T) (*API, store.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := core.ClockFunc(func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) })
	a := New(Config{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err := a.EnsureDefaultCluster(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, st
}

var call = &awsproto.Call{Region: "us-east-1", Principal: awsproto.Principal{AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"}}

func simpleTD(family string) *ecstypes.RegisterTaskDefinitionRequest {
	mem := int32(64)
	return &ecstypes.RegisterTaskDefinitionRequest{
		Family:               family,
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: "app", Image: "app:1", Memory: &mem}},
	}
}

func errCode(err error) string {
	if e, ok := core.AsError(err); ok {
		return e.Code
	}
	return fmt.Sprint(err)
}

// Concurrent registrations of one family get distinct, gapless revisions.
func TestConcurrentRegistrationRevisions(t *testing.T) {
	a, _ := newAPI(t)
	ctx := context.Background()
	const n = 40
	revs := make([]int32, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := a.RegisterTaskDefinition(ctx, call, simpleTD("web"))
			if err != nil {
				t.Error(err)
				return
			}
			revs[i] = out.TaskDefinition.Revision
		})
	}
	wg.Wait()
	slices.Sort(revs)
	for i, r := range revs {
		if r != int32(i+1) {
			t.Fatalf("revisions %v are not 1..%d", revs, n)
		}
	}
	fams, err := a.ListTaskDefinitionFamilies(ctx, call, &ecstypes.ListTaskDefinitionFamiliesRequest{})
	if err != nil || !slices.Equal(fams.Families, []string{"web"}) {
		t.Fatalf("families: %v %v", fams, err)
	}
}

// conflictCounter is a store that counts the transactions that lost a
// compare-and-swap race.
type conflictCounter struct {
	store.Store
	conflicts atomic.Int64
}

func (c *conflictCounter) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	rev, err := c.Store.Txn(ctx, conds, ops)
	if errors.Is(err, store.ErrConflict) {
		c.conflicts.Add(1)
	}
	return rev, err
}

// Callers of one node that change one family at once queue instead of
// racing each other for its record: none of them loses a race, however
// many there are.
func TestRegistrationsOfOneFamilyDoNotRace(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cc := &conflictCounter{Store: st}
	a := New(Config{Store: cc, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := a.RegisterTaskDefinition(ctx, call, simpleTD("web")); err != nil {
				t.Error(err)
			}
			if i%4 == 0 { // deregistrations rewrite the family record too
				if _, err := a.DeregisterTaskDefinition(ctx, call, &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: "web:1"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if c := cc.conflicts.Load(); c != 0 {
		t.Fatalf("%d transactions lost a race for the family record", c)
	}
	fam, err := state.Get[familyRecord](ctx, st, state.FamilyKey("web"))
	if err != nil || fam.Value.LatestRevision != n || fam.Value.Active != n-1 {
		t.Fatalf("family record %+v %v, want %d revisions, %d active", fam.Value, err, n, n-1)
	}
}

// A cluster that holds services, tasks or container instances is not
// deleted, and says which.
func TestDeleteClusterRefusedWhileInUse(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	for _, tc := range []struct {
		prefix, code string
	}{
		{state.ServicesPrefix("busy"), ecstypes.ErrCodeClusterContainsServicesException},
		{state.TasksPrefix("busy"), ecstypes.ErrCodeClusterContainsTasksException},
		{state.ContainerInstancesPrefix("busy"), ecstypes.ErrCodeClusterContainsContainerInstancesException},
	} {
		t.Run(tc.code, func(t *testing.T) {
			if _, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "busy"}); err != nil {
				t.Fatal(err)
			}
			key := tc.prefix + "x"
			if _, err := st.Txn(ctx, nil, []store.Op{store.Put(key, []byte(`{}`))}); err != nil {
				t.Fatal(err)
			}
			_, err := a.DeleteCluster(ctx, call, &ecstypes.DeleteClusterRequest{Cluster: "busy"})
			if errCode(err) != tc.code {
				t.Fatalf("DeleteCluster = %v, want %s", err, tc.code)
			}
			d, err := a.DescribeClusters(ctx, call, &ecstypes.DescribeClustersRequest{Clusters: []string{"busy"}})
			if err != nil || len(d.Clusters) != 1 || d.Clusters[0].Status != clusterActive {
				t.Fatalf("cluster after refused delete: %+v %v", d, err)
			}
			if _, err := st.Txn(ctx, nil, []store.Op{store.Delete(key)}); err != nil {
				t.Fatal(err)
			}
		})
	}
	out, err := a.DeleteCluster(ctx, call, &ecstypes.DeleteClusterRequest{Cluster: "arn:aws:ecs:eu-west-1:000000000000:cluster/busy"})
	if err != nil || out.Cluster.Status != clusterInactive {
		t.Fatalf("delete of the emptied cluster: %+v %v", out, err)
	}
	if _, err := a.DeleteCluster(ctx, call, &ecstypes.DeleteClusterRequest{Cluster: "busy"}); errCode(err) != ecstypes.ErrCodeClusterNotFoundException {
		t.Fatalf("second delete: %v", err)
	}
	// The name is free again: a new ACTIVE cluster without the old tags.
	c, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "busy"})
	if err != nil || c.Cluster.Status != clusterActive {
		t.Fatalf("recreate: %+v %v", c, err)
	}
}

func TestCreateClusterIdempotentAndValidated(t *testing.T) {
	a, _ := newAPI(t)
	ctx := context.Background()
	tags := []ecstypes.Tag{{Key: "a", Value: "1"}}
	first, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "c", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "c"})
	if err != nil || len(again.Cluster.Tags) != 1 || again.Cluster.ClusterArn != first.Cluster.ClusterArn {
		t.Fatalf("second create should return the existing cluster: %+v %v", again, err)
	}
	bad := []*ecstypes.CreateClusterRequest{
		{ClusterName: "has space"},
		{ClusterName: "c2", Settings: []ecstypes.ClusterSetting{{Name: "containerInsights", Value: "maybe"}}},
		{ClusterName: "c3", Tags: []ecstypes.Tag{{Key: "aws:reserved", Value: "x"}}},
		{ClusterName: "c4", CapacityProviders: []string{"my-asg"}},
	}
	for _, in := range bad {
		if _, err := a.CreateCluster(ctx, call, in); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
			t.Errorf("CreateCluster(%+v) = %v, want InvalidParameterException", in, err)
		}
	}
	list, err := a.ListClusters(ctx, call, &ecstypes.ListClustersRequest{})
	if err != nil || len(list.ClusterArns) != 2 {
		t.Fatalf("refused clusters were stored: %v %v", list, err)
	}
}

func TestListClustersPagination(t *testing.T) {
	a, _ := newAPI(t)
	ctx := context.Background()
	for i := range 7 {
		if _, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: fmt.Sprintf("c%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.DeleteCluster(ctx, call, &ecstypes.DeleteClusterRequest{Cluster: "c3"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	token := ""
	three := int32(3)
	for {
		out, err := a.ListClusters(ctx, call, &ecstypes.ListClustersRequest{MaxResults: &three, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.ClusterArns...)
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	if len(got) != 7 { // c0..c6 without c3, plus default
		t.Fatalf("listed %d clusters: %v", len(got), got)
	}
	zero := int32(0)
	if _, err := a.ListClusters(ctx, call, &ecstypes.ListClustersRequest{MaxResults: &zero}); errCode(err) != ecstypes.ErrCodeInvalidParameterException {
		t.Fatalf("maxResults 0: %v", err)
	}
}

// UpdateService and TagResource of one service from many callers of one
// node queue on the service record: none loses a race, and no change is
// lost.
func TestServiceWritesDoNotRace(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cc := &conflictCounter{Store: st}
	a := New(Config{Store: cc, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if err := a.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterTaskDefinition(ctx, call, simpleTD("web")); err != nil {
		t.Fatal(err)
	}
	zero := int32(0)
	svc, err := a.CreateService(ctx, call, &ecstypes.CreateServiceRequest{ServiceName: "web", TaskDefinition: "web", DesiredCount: &zero})
	if err != nil {
		t.Fatal(err)
	}
	cc.conflicts.Store(0)
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = a.UpdateService(ctx, call, &ecstypes.UpdateServiceRequest{Service: "web", ForceNewDeployment: true})
			} else {
				_, err = a.TagResource(ctx, call, &ecstypes.TagResourceRequest{ResourceArn: svc.Service.ServiceArn,
					Tags: []ecstypes.Tag{{Key: fmt.Sprintf("k%d", i), Value: "v"}}})
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c := cc.conflicts.Load(); c != 0 {
		t.Fatalf("%d transactions lost a race for the service record", c)
	}
	tags, err := a.ListTagsForResource(ctx, call, &ecstypes.ListTagsForResourceRequest{ResourceArn: svc.Service.ServiceArn})
	if err != nil || len(tags.Tags) != n/2 {
		t.Fatalf("tags %v %v, want %d", tags, err, n/2)
	}
	d, err := a.ListServiceDeployments(ctx, call, &ecstypes.ListServiceDeploymentsRequest{Service: "web"})
	if err != nil || len(d.ServiceDeployments) != n/2+1 {
		t.Fatalf("%d deployments (%v), want %d", len(d.ServiceDeployments), err, n/2+1)
	}
}
