package ecs_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// raceRounds is how often each race is run. Before the fixes each race
// below was lost in about a third of the rounds.
const raceRounds = 40

// together runs fs at the same moment, each on its own goroutine, and
// waits for all of them.
func together(fs ...func()) {
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fs {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-start
			f()
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
}

func (e *sdkEnv) registerTD(t *testing.T, family string) {
	t.Helper()
	_, err := e.c.RegisterTaskDefinition(ctxT(t), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("app:1"),
			Memory: aws.Int32(64)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// clusterHolds returns the stored status of a cluster and the names of
// its services that are not INACTIVE.
func clusterHolds(t *testing.T, st store.Store, cluster string) (status string, services []string) {
	t.Helper()
	ctx := ctxT(t)
	cl, err := state.Get[ecstypes.Cluster](ctx, st, state.ClusterKey(cluster))
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := state.List[state.Service](ctx, st, state.ServicesPrefix(cluster), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Value.Service.Status != "INACTIVE" {
			services = append(services, s.Value.Name)
		}
	}
	return cl.Value.Status, services
}

// DeleteCluster and CreateService in that cluster at the same moment: one
// of them wins. Never does the cluster turn INACTIVE with a service in it,
// which would reappear when the name is taken again.
func TestDeleteClusterRacesCreateService(t *testing.T) {
	e := newSDKEnv(t, 1)
	ctx := ctxT(t)
	e.registerTD(t, "web")
	both, deleted, created := 0, 0, 0
	for i := range raceRounds {
		name := fmt.Sprintf("race-%d", i)
		if _, err := e.c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		var delErr, createErr error
		together(
			func() { _, delErr = e.c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(name)}) },
			func() {
				_, createErr = e.c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(name),
					ServiceName: aws.String("svc"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)})
			},
		)
		switch {
		case delErr == nil && createErr == nil:
			both++
		case delErr == nil && apiCode(createErr) != ecstypes.ErrCodeClusterNotFoundException:
			t.Fatalf("round %d: the cluster was deleted; CreateService = %v, want ClusterNotFoundException", i, createErr)
		case createErr == nil && apiCode(delErr) != ecstypes.ErrCodeClusterContainsServicesException:
			t.Fatalf("round %d: the service was created; DeleteCluster = %v, want ClusterContainsServicesException", i, delErr)
		case delErr != nil && createErr != nil:
			t.Fatalf("round %d: both failed: DeleteCluster %v; CreateService %v", i, delErr, createErr)
		case delErr == nil:
			deleted++
		default:
			created++
		}
		if status, svcs := clusterHolds(t, e.st, name); status == "INACTIVE" && len(svcs) > 0 {
			t.Errorf("round %d: cluster %s is INACTIVE and holds services %v", i, name, svcs)
		}
	}
	t.Logf("rounds: %d the cluster was deleted, %d the service created, %d both", deleted, created, both)
	if both > 0 {
		t.Fatalf("DeleteCluster and CreateService both succeeded in %d of %d rounds", both, raceRounds)
	}
}

// DeleteCluster and an agent registering a host with that cluster at the
// same moment: never does the cluster turn INACTIVE with an ACTIVE
// container instance in it, on which tasks could still be placed.
func TestDeleteClusterRacesAgentRegistration(t *testing.T) {
	e := newSDKEnv(t, 1)
	ctx := ctxT(t)
	both, deleted, registered := 0, 0, 0
	for i := range raceRounds {
		name := fmt.Sprintf("race-%d", i)
		if _, err := e.c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		var delErr, regErr error
		var status int
		together(
			func() { _, delErr = e.c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(name)}) },
			func() { status, _, regErr = e.registerAgent(ctx, name) },
		)
		if regErr != nil {
			t.Fatal(regErr)
		}
		switch {
		case delErr == nil && status == http.StatusOK:
			both++
		case delErr == nil && status != http.StatusNotFound:
			t.Fatalf("round %d: the cluster was deleted; registration answered %d, want 404", i, status)
		case delErr == nil:
			deleted++
		case status == http.StatusOK && apiCode(delErr) != ecstypes.ErrCodeClusterContainsContainerInstancesException:
			t.Fatalf("round %d: the host registered; DeleteCluster = %v, want ClusterContainsContainerInstancesException", i, delErr)
		case status == http.StatusOK:
			registered++
		default:
			t.Fatalf("round %d: both failed: DeleteCluster %v; registration %d", i, delErr, status)
		}
		cl, err := state.Get[ecstypes.Cluster](ctx, e.st, state.ClusterKey(name))
		if err != nil {
			t.Fatal(err)
		}
		insts, err := state.List[state.ContainerInstance](ctx, e.st, state.ContainerInstancesPrefix(name), store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range insts {
			if cl.Value.Status == "INACTIVE" && it.Value.Status != "INACTIVE" {
				t.Errorf("round %d: cluster %s is INACTIVE and holds %s instance %s", i, name, it.Value.Status, it.Value.ID)
			}
		}
	}
	t.Logf("rounds: %d the cluster was deleted, %d the host registered, %d both", deleted, registered, both)
	if both > 0 {
		t.Fatalf("DeleteCluster and the registration both succeeded in %d of %d rounds", both, raceRounds)
	}
}
