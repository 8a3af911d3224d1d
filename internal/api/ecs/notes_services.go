package ecs

import "maps"

// serviceNotes are the compatibility notes of the service and service
// deployment operations.
var serviceNotes = map[string]string{
	"CreateService": "REPLICA (default; `desiredCount` required) and DAEMON (no `desiredCount`, no `placementStrategy`, not on " +
		"FARGATE). `taskDefinition` as family, family:revision or ARN; the revision must be ACTIVE. `launchType` or " +
		"`capacityProviderStrategy` (FARGATE*, associated with the cluster; default: the cluster's default strategy, else EC2), " +
		"`platformVersion` (FARGATE; default LATEST), `networkConfiguration` (awsvpc; assignPublicIp defaults to DISABLED), " +
		"`placementStrategy` and `placementConstraints` (the service scheduler's default spreads over Availability Zones and " +
		"instances), `deploymentConfiguration` (defaults 200/100 for REPLICA, 100/0 for DAEMON, circuit breaker off, strategy " +
		"ROLLING; maximumPercent at least 100, at most 100 for DAEMON; minimumHealthyPercent 0–100), `healthCheckGracePeriodSeconds` " +
		"(default 0; applies to container and load balancer health checks), `loadBalancers` (each a `targetGroupArn` of a target " +
		"group that a load balancer forwards to, with a target type that fits the network mode, and a containerName/containerPort of " +
		"the task definition; Classic Load Balancers (`loadBalancerName`) are refused. Each RUNNING task is registered as a target, " +
		"counts as healthy only once its targets are, and is deregistered and drained (lastStatus DEACTIVATING) before it stops), " +
		"`serviceRegistries` (at most one; " +
		"stored), `role`, `tags`, `propagateTags` (default NONE), `enableECSManagedTags`, `enableExecuteCommand`, " +
		"`availabilityZoneRebalancing` (stored). `deploymentController` must be ECS: minato runs deployments with its own " +
		"service controller, so CODE_DEPLOY and EXTERNAL are refused with InvalidParameterException. `deploymentConfiguration.strategy` " +
		"ROLLING, BLUE_GREEN (`bakeTimeInMinutes` required), LINEAR (`linearConfiguration`: stepPercent 3–100 in tenths, default 10; " +
		"stepBakeTimeInMinutes 0–1440, default 6) and CANARY (`canaryConfiguration`: canaryPercent 0.1–100, default 5; " +
		"canaryBakeTimeInMinutes 0–1440, default 10), with `loadBalancers[].advancedConfiguration` (alternateTargetGroupArn, " +
		"productionListenerRule, testListenerRule; roleArn stored) and `lifecycleHooks` (PAUSE, or an http(s) URL as hookTargetArn — " +
		"a minato extension; Lambda ARNs are refused). See docs/deployments.md. Service Connect, `volumeConfigurations` and `vpcLatticeConfigurations` are " +
		"refused; `monitoring` and `clientToken` are ignored. A name that is ACTIVE is refused (\"Creation of service was not " +
		"idempotent.\"), one that is DRAINING too; an INACTIVE name can be used again. The first deployment is PRIMARY and " +
		"IN_PROGRESS; the service controller starts the tasks.",
	"UpdateService": "`desiredCount`, `taskDefinition`, `forceNewDeployment`, `deploymentConfiguration` (merged into the " +
		"service's), `networkConfiguration`, `placementStrategy` and `placementConstraints` (an empty list clears), " +
		"`healthCheckGracePeriodSeconds`, `capacityProviderStrategy` (a change needs `forceNewDeployment`, as in ECS; an empty " +
		"list goes back to the launch type), `platformVersion`, `loadBalancers`, `serviceRegistries`, `enableExecuteCommand`, " +
		"`enableECSManagedTags`, `propagateTags`, `availabilityZoneRebalancing`. As in ECS, a new task definition, network " +
		"configuration, load balancers, service registries or platform version, or `forceNewDeployment`, start a new PRIMARY " +
		"deployment (the old one becomes ACTIVE and an unfinished one in the deployment history is STOPPED); the other fields, " +
		"`desiredCount` included, change the service as it is. Only ACTIVE services (ServiceNotActiveException otherwise).",
	"DeleteService": "Sets `desiredCount` to 0 and the service DRAINING; the service controller stops its tasks and then marks " +
		"it INACTIVE. Without `force` a REPLICA service scaled above 0 is refused, as in ECS. Deleting an INACTIVE service " +
		"fails with ServiceNotFoundException; deleting a DRAINING one returns it unchanged.",
	"DescribeServices": "Up to 10 names or ARNs; `include` TAGS. Missing services are reported in `failures` with reason " +
		"MISSING; DRAINING and INACTIVE ones are described. `runningCount` and `pendingCount` (of the service, its deployments " +
		"and `currentServiceRevisions`) count the tasks desired RUNNING that are RUNNING, or PROVISIONING, PENDING or ACTIVATING, " +
		"so the services-stable waiter works. Events are the service controller's, newest first (at most 100).",
	"ListServices": "`launchType`, `schedulingStrategy`, pagination (`maxResults` 1–100, default 10). Only ACTIVE services, " +
		"in name order, as ECS lists them.",
	"ListServicesByNamespace": "minato has no Cloud Map namespaces yet: the list is always empty.",
	"ListServiceDeployments": "`status`, `createdAt` (`after`, `before`), pagination (`maxResults` 1–100, default 20); " +
		"newest first. Each CreateService and each UpdateService that starts a deployment adds one; the service controller " +
		"moves them to SUCCESSFUL, STOPPED or the ROLLBACK_* states. Service revision ARNs end with the number of the " +
		"`ecs-svc/` deployment ID. Rolling and progressive deployments alike.",
	"DescribeServiceDeployments": "Up to 20 ARNs; missing ones are reported in `failures` with reason MISSING. Source and " +
		"target revisions carry the requested, running and pending task counts; `deploymentConfiguration` is the one the " +
		"deployment started with. A BLUE_GREEN, LINEAR or CANARY deployment also has `lifecycleStage`, `lifecycleHookDetails` and " +
		"the revisions' `requestedProductionTrafficWeight` and `requestedTestTrafficWeight`.",
	"StopServiceDeployment": "`stopType` ROLLBACK (default) or ABORT. A BLUE_GREEN, LINEAR or CANARY deployment moves traffic back to " +
		"the source revision and scales the target in (ROLLBACK_SUCCESSFUL, or STOPPED for ABORT), until its CLEAN_UP stage " +
		"(ConflictException after). A rolling deployment rolls back with a new deployment of the last revision that completed " +
		"(ABORT: it launches nothing more). ConflictException for a deployment that is not in progress; " +
		"ServiceDeploymentNotFoundException for an unknown one.",
	"ContinueServiceDeployment": "Answers a PAUSE lifecycle hook that is AWAITING_ACTION (`hookId` from lifecycleHookDetails): " +
		"`action` CONTINUE (default) or ROLLBACK. InvalidParameterException if no such hook is waiting.",
	"DescribeServiceRevisions": "Up to 20 ARNs (`service-revision/CLUSTER/SERVICE/N`, N the number of the `ecs-svc/` deployment); " +
		"missing ones are reported in `failures` with reason MISSING. The task definition is the revision's; the load " +
		"balancers, network and capacity settings are the service's current ones.",
}

func init() { maps.Copy(Notes, serviceNotes) }
