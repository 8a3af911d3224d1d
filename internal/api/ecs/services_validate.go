package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/taskdef"
	"github.com/minato-project/minato/internal/tasks"
)

// What CreateService and UpdateService check, and ECS's defaults.

func familyRev(td ecstypes.TaskDefinition) string {
	return td.Family + ":" + strconv.Itoa(int(td.Revision))
}

// serviceTaskDef finds the task definition a CreateService or
// UpdateService names. Only an ACTIVE revision can be deployed.
func (a *API) serviceTaskDef(ctx context.Context, ref string) (ecstypes.TaskDefinition, error) {
	td, err := a.runnableTaskDef(ctx, ref)
	if err != nil {
		return td, err
	}
	if td.Status == tdInactive {
		return td, clientErr("TaskDefinition is inactive")
	}
	return td, nil
}

// serviceRevision reads the revision ("family:revision") a service runs,
// whatever its status.
func (a *API) serviceRevision(ctx context.Context, ref string) (ecstypes.TaskDefinition, error) {
	family, rev, ok := taskdef.SplitFamilyRevision(ref)
	if !ok || rev == 0 {
		return ecstypes.TaskDefinition{}, core.Errorf(core.KindInternal, ecstypes.ErrCodeServerException, "service runs an invalid task definition %q", ref)
	}
	it, err := state.Get[state.TaskDef](ctx, a.store, state.TaskDefKey(family, rev))
	if err != nil {
		return ecstypes.TaskDefinition{}, err
	}
	return it.Value.TaskDefinition, nil
}

// checkController accepts the ECS deployment controller only.
func checkController(dc *ecstypes.DeploymentController) error {
	if dc == nil || dc.Type == "" || dc.Type == ecstypes.DeploymentControllerTypeEcs {
		return nil
	}
	return invalidParam("The %s deployment controller is not supported: minato runs the ECS deployment controller (rolling updates) only.", dc.Type)
}

// checkUnsupported refuses what minato cannot provide yet rather than
// accept it and not honour it.
func checkUnsupported(sc *ecstypes.ServiceConnectConfiguration, vols []ecstypes.ServiceVolumeConfiguration, lattice []ecstypes.VpcLatticeConfiguration) error {
	switch {
	case sc != nil && sc.Enabled:
		return invalidParam("Service Connect is not supported by minato yet.")
	case len(vols) > 0:
		return invalidParam("volumeConfigurations (Amazon EBS volumes) are not supported by minato yet.")
	case len(lattice) > 0:
		return invalidParam("vpcLatticeConfigurations are not supported by minato yet.")
	}
	return nil
}

// setPlatform sets the platform version of a Fargate service (default
// LATEST); other launch types have none.
func setPlatform(svc *ecstypes.Service, version string) error {
	if tasks.LaunchTypeOf(svc.LaunchType, svc.CapacityProviderStrategy) != ecstypes.LaunchTypeFargate {
		if version != "" {
			return invalidParam("The platform version must be null when specifying an EC2 launch type.")
		}
		svc.PlatformVersion, svc.PlatformFamily = "", ""
		return nil
	}
	if err := checkPlatform(ecstypes.LaunchTypeFargate, version); err != nil {
		return err
	}
	if version == "" {
		version = "LATEST"
	}
	svc.PlatformVersion, svc.PlatformFamily = version, "Linux"
	return nil
}

// normalNetwork copies a network configuration with ECS's default
// assignPublicIp (DISABLED).
func normalNetwork(nc *ecstypes.NetworkConfiguration) *ecstypes.NetworkConfiguration {
	if nc == nil || nc.AwsvpcConfiguration == nil {
		return nil
	}
	vpc := *nc.AwsvpcConfiguration
	vpc.Subnets, vpc.SecurityGroups = slices.Clone(vpc.Subnets), slices.Clone(vpc.SecurityGroups)
	if vpc.AssignPublicIp == "" {
		vpc.AssignPublicIp = ecstypes.AssignPublicIpDisabled
	}
	return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &vpc}
}

// roleARN turns the role parameter (a name, a path and name, or an ARN)
// into an ARN.
func roleARN(account, role string) string {
	if role == "" || arn.IsARN(role) {
		return role
	}
	return "arn:aws:iam::" + account + ":role/" + strings.TrimPrefix(role, "/")
}

// deploymentConfig applies set to have (nil: ECS's defaults) and checks
// the result. have is not modified.
func deploymentConfig(daemon bool, have, set *ecstypes.DeploymentConfiguration) (*ecstypes.DeploymentConfiguration, error) {
	var dc ecstypes.DeploymentConfiguration
	if have != nil {
		dc = *have
	} else {
		maxP, minP := int32(200), int32(100)
		if daemon {
			maxP, minP = 100, 0
		}
		dc = ecstypes.DeploymentConfiguration{
			MaximumPercent: &maxP, MinimumHealthyPercent: &minP,
			DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{},
			Strategy:                 ecstypes.DeploymentStrategyRolling,
		}
	}
	if set != nil {
		if set.MaximumPercent != nil {
			dc.MaximumPercent = new(*set.MaximumPercent)
		}
		if set.MinimumHealthyPercent != nil {
			dc.MinimumHealthyPercent = new(*set.MinimumHealthyPercent)
		}
		if set.DeploymentCircuitBreaker != nil {
			dc.DeploymentCircuitBreaker = new(*set.DeploymentCircuitBreaker)
		}
		if set.Alarms != nil {
			dc.Alarms = new(*set.Alarms)
		}
		if set.Strategy != "" {
			dc.Strategy = set.Strategy
		}
		if set.BakeTimeInMinutes != nil {
			dc.BakeTimeInMinutes = new(*set.BakeTimeInMinutes)
		}
		if set.LifecycleHooks != nil {
			dc.LifecycleHooks = set.LifecycleHooks
		}
		if set.LinearConfiguration != nil {
			dc.LinearConfiguration = new(*set.LinearConfiguration)
		}
		if set.CanaryConfiguration != nil {
			dc.CanaryConfiguration = new(*set.CanaryConfiguration)
		}
	}
	if err := checkDeploymentStrategy(&dc, daemon); err != nil {
		return nil, err
	}
	maxP, minP := *dc.MaximumPercent, *dc.MinimumHealthyPercent
	switch {
	case minP < 0 || minP > 100:
		return nil, invalidParam("minimumHealthyPercent must be between 0 and 100, not %d.", minP)
	case daemon && maxP > 100:
		return nil, invalidParam("The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, and try again")
	case daemon && maxP < 0:
		return nil, invalidParam("maximumPercent must be between 0 and 100 for the daemon scheduling strategy, not %d.", maxP)
	case !daemon && maxP < 100:
		return nil, invalidParam("maximumPercent must be at least 100, not %d.", maxP)
	}
	return &dc, nil
}

// checkServiceSpec checks a service as created or updated against its task
// definition: launch type and network, placement, the daemon strategy's
// limits, load balancers, service registries and counts.
func checkServiceSpec(td ecstypes.TaskDefinition, svc *ecstypes.Service) error {
	lt := tasks.LaunchTypeOf(svc.LaunchType, svc.CapacityProviderStrategy)
	if svc.SchedulingStrategy == ecstypes.SchedulingStrategyDaemon {
		if len(svc.PlacementStrategy) > 0 {
			return invalidParam("The daemon scheduling strategy does not support placement strategies.")
		}
		if lt == ecstypes.LaunchTypeFargate {
			return invalidParam("The daemon scheduling strategy does not support the FARGATE launch type. Change the launch type and try again")
		}
	}
	if svc.DesiredCount < 0 {
		return invalidParam("desiredCount must be at least 0, not %d.", svc.DesiredCount)
	}
	if g := svc.HealthCheckGracePeriodSeconds; g != nil && *g < 0 {
		return invalidParam("healthCheckGracePeriodSeconds must be between 0 and 2147483647, not %d.", *g)
	}
	if err := checkTaskLaunch(td, lt, svc.NetworkConfiguration, nil); err != nil {
		return err
	}
	if err := scheduler.ValidatePlacement(svc.PlacementStrategy, scheduler.Constraints(&td, svc.PlacementConstraints)); err != nil {
		return err
	}
	if len(svc.ServiceRegistries) > 1 {
		return invalidParam("A service can be associated with one service registry only.")
	}
	return checkLoadBalancers(td, svc.LoadBalancers)
}

// checkLoadBalancers checks that each load balancer names a target group
// (or a Classic Load Balancer) and a container port of the task
// definition, as ECS does.
func checkLoadBalancers(td ecstypes.TaskDefinition, lbs []ecstypes.LoadBalancer) error {
	for _, lb := range lbs {
		if lb.TargetGroupArn == "" && lb.LoadBalancerName == "" {
			return invalidParam("A load balancer needs a targetGroupArn (Application or Network Load Balancer) or a loadBalancerName (Classic Load Balancer).")
		}
		if lb.ContainerName == "" || lb.ContainerPort == nil {
			return invalidParam("A load balancer needs a containerName and a containerPort.")
		}
		i := slices.IndexFunc(td.ContainerDefinitions, func(c ecstypes.ContainerDefinition) bool { return c.Name == lb.ContainerName })
		if i < 0 {
			return invalidParam("The container %s does not exist in the task definition.", lb.ContainerName)
		}
		if !slices.ContainsFunc(td.ContainerDefinitions[i].PortMappings, func(pm ecstypes.PortMapping) bool {
			return pm.ContainerPort != nil && *pm.ContainerPort == *lb.ContainerPort
		}) {
			return invalidParam("The container %s did not have a container port %d defined.", lb.ContainerName, *lb.ContainerPort)
		}
	}
	return nil
}

// checkTargetGroups checks that each load balancer's target group exists,
// belongs to a load balancer, and has a target type that fits the task
// definition's network mode, as ECS does.
func (a *API) checkTargetGroups(ctx context.Context, td ecstypes.TaskDefinition, lbs []ecstypes.LoadBalancer) error {
	seen := map[string]bool{}
	for _, l := range lbs {
		if l.TargetGroupArn == "" {
			return invalidParam("minato has Application Load Balancers only: a load balancer needs a targetGroupArn, not a loadBalancerName (Classic Load Balancer).")
		}
		key := l.TargetGroupArn + "|" + l.ContainerName + "|" + fmt.Sprint(aws32(l.ContainerPort))
		if seen[key] {
			return invalidParam("The load balancer %s with container %s and port %d is specified more than once.", l.TargetGroupArn, l.ContainerName, aws32(l.ContainerPort))
		}
		seen[key] = true
		if a.tgs == nil {
			return invalidParam("The target group %s does not exist: this minato runs no load balancer.", l.TargetGroupArn)
		}
		tg, found, err := a.tgs.LookupTargetGroup(ctx, l.TargetGroupArn)
		if err != nil {
			return err
		}
		if !found {
			return invalidParam("The target group with targetGroupArn %s does not exist.", l.TargetGroupArn)
		}
		if len(tg.LoadBalancerARNs) == 0 {
			return invalidParam("The target group with targetGroupArn %s does not have an associated load balancer.", l.TargetGroupArn)
		}
		awsvpc := td.NetworkMode == ecstypes.NetworkModeAwsvpc
		mode := string(td.NetworkMode)
		if mode == "" {
			mode = string(ecstypes.NetworkModeBridge)
		}
		if awsvpc && tg.TargetType != "ip" || !awsvpc && tg.TargetType == "ip" {
			return invalidParam("The provided target group %s has target type %s, which is incompatible with the %s network mode specified in the task definition.",
				l.TargetGroupArn, tg.TargetType, mode)
		}
	}
	return nil
}

func aws32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// sameJSON reports whether two values encode alike, an empty list being
// the same as none.
func sameJSON(x, y any) bool {
	bx, errx := json.Marshal(x)
	by, erry := json.Marshal(y)
	norm := func(b []byte) string {
		if s := string(b); s != "null" && s != "[]" {
			return s
		}
		return ""
	}
	return errx == nil && erry == nil && norm(bx) == norm(by)
}
