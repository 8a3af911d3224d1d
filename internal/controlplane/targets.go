package controlplane

import (
	"context"
	"errors"

	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	"github.com/minato-project/minato/internal/controller"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
)

// serviceTargets lets ECS services use the load balancer: the ECS API
// checks the target groups a service names, and the service controller
// registers, reads and drains its tasks' targets.
type serviceTargets struct{ elb *elbv2api.API }

var (
	_ ecsapi.TargetGroups = serviceTargets{}
	_ controller.Targets  = serviceTargets{}
)

func (s serviceTargets) LookupTargetGroup(ctx context.Context, arn string) (ecsapi.TargetGroupRef, bool, error) {
	tg, err := s.elb.TargetGroup(ctx, arn)
	if err != nil {
		var ce *core.Error
		if errors.As(err, &ce) && (ce.Kind == core.KindNotFound || ce.Kind == core.KindInvalid) {
			return ecsapi.TargetGroupRef{}, false, nil
		}
		return ecsapi.TargetGroupRef{}, false, err
	}
	return ecsapi.TargetGroupRef{TargetType: tg.TargetType, LoadBalancerARNs: tg.LoadBalancerARNs}, true, nil
}

func (s serviceTargets) TargetGroupInfo(ctx context.Context, arn string) (controller.TargetGroupInfo, error) {
	tg, err := s.elb.TargetGroup(ctx, arn)
	if err != nil {
		return controller.TargetGroupInfo{}, err
	}
	return controller.TargetGroupInfo{TargetType: tg.TargetType, DeregistrationDelay: tg.DeregistrationDelay}, nil
}

func (s serviceTargets) RegisterTarget(ctx context.Context, tgARN string, t lb.Key, az string) error {
	return s.elb.RegisterTarget(ctx, tgARN, t, az)
}

func (s serviceTargets) DeregisterTarget(ctx context.Context, tgARN string, t lb.Key) error {
	return s.elb.DeregisterTarget(ctx, tgARN, t)
}

func (s serviceTargets) TargetHealth(tgARN string, t lb.Key) (lb.TargetStatus, bool) {
	return s.elb.TargetHealth(tgARN, t)
}
