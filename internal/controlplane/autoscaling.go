package controlplane

import (
	"context"
	"encoding/json"
	"errors"

	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// scalableServices gives Application Auto Scaling the services' desired
// count: read from the service records, set through UpdateService, as the
// ECS API does for any caller.
type scalableServices struct {
	store store.Store
	ecs   *ecsapi.API
	call  awsproto.Call // the account and region the autoscaler acts in
}

func (s scalableServices) DesiredCount(ctx context.Context, cluster, service string) (int, error) {
	kv, err := s.store.Get(ctx, state.ServiceKey(cluster, service))
	if errors.Is(err, store.ErrNotFound) {
		return 0, core.Errorf(core.KindNotFound, "ServiceNotFoundException", "service %s/%s not found", cluster, service)
	}
	if err != nil {
		return 0, err
	}
	var svc state.Service
	if err := json.Unmarshal(kv.Value, &svc); err != nil {
		return 0, err
	}
	if svc.Service.Status != "ACTIVE" {
		return 0, core.Errorf(core.KindNotFound, "ServiceNotFoundException", "service %s/%s is %s", cluster, service, svc.Service.Status)
	}
	return int(svc.Service.DesiredCount), nil
}

func (s scalableServices) SetDesiredCount(ctx context.Context, cluster, service string, n int) error {
	count := int32(n)
	c := s.call
	_, err := s.ecs.UpdateService(ctx, &c, &ecstypes.UpdateServiceRequest{Cluster: cluster, Service: service, DesiredCount: &count})
	return err
}
