package ecs

// Notes says, per implemented operation, which request fields minato
// honours and where it differs from Amazon ECS. It feeds the compatibility
// matrix in docs/compatibility.md.
var Notes = map[string]string{
	"CreateCluster": "All fields stored and returned. `capacityProviders` accepts FARGATE and FARGATE_SPOT. " +
		"Idempotent for an ACTIVE cluster of the same name, as in ECS.",
	"DescribeClusters":            "`include` ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS. Missing clusters are reported in `failures` with reason MISSING.",
	"ListClusters":                "Pagination (`maxResults` 1–100, `nextToken`). INACTIVE clusters are not listed.",
	"UpdateCluster":               "`settings` (containerInsights), `configuration` and `serviceConnectDefaults` are stored and returned.",
	"UpdateClusterSettings":       "containerInsights: enabled, enhanced or disabled.",
	"PutClusterCapacityProviders": "FARGATE and FARGATE_SPOT, with a default strategy over them; stored and returned.",
	"DeleteCluster": "Refused with ClusterContainsServicesException / ClusterContainsTasksException / " +
		"ClusterContainsContainerInstancesException while the cluster holds any. The cluster stays describable as INACTIVE.",
	"RegisterTaskDefinition": "Every field stored and returned. ECS's validation: names, essential containers, dependsOn " +
		"targets and cycles, task/container cpu and memory rules, the Fargate cpu/memory table, awsvpc for Fargate, port " +
		"mappings per network mode, volumes and mount points, health-check bounds. Role ARNs are stored, not checked.",
	"DescribeTaskDefinition":     "`family`, `family:revision` or ARN; `include` TAGS.",
	"ListTaskDefinitions":        "`familyPrefix` (a whole family name, as in ECS), `status`, `sort`, pagination.",
	"ListTaskDefinitionFamilies": "`familyPrefix`, `status` ACTIVE/INACTIVE/ALL, pagination.",
	"DeregisterTaskDefinition":   "Needs `family:revision` or an ARN.",
	"DeleteTaskDefinitions": "Up to 10 INACTIVE revisions; they stay describable as DELETE_IN_PROGRESS. ACTIVE ones " +
		"are reported in `failures`.",
	"TagResource":         "Clusters, services, task definitions, tasks and container instances (long ARN format).",
	"UntagResource":       "Clusters, services, task definitions, tasks and container instances (long ARN format).",
	"ListTagsForResource": "Clusters, services, task definitions, tasks and container instances (long ARN format).",
	"ExecuteCommand": "Interactive only, as in ECS; the task must run with `enableExecuteCommand`. The session speaks the SSM " +
		"data channel protocol the session-manager-plugin speaks, on minato's API listener (docs/exec.md); " +
		"`minato exec` needs no plugin. No KMS encryption or session logging to S3/CloudWatch (`executeCommandConfiguration`).",
	"RunTask": "`count` 1–10, `launchType` (EC2, FARGATE, EXTERNAL) or `capacityProviderStrategy` (FARGATE and " +
		"FARGATE_SPOT, associated with the cluster, with ECS's base and weight; default: the cluster's default strategy, " +
		"else EC2; each task's `capacityProviderName` says which it got). FARGATE tasks need no container instance: they " +
		"run on minato's Fargate pool, the hosts whose agent offers Fargate capacity, whatever their cluster " +
		"(docs/fargate.md); they name no containerInstanceArn and have `platformVersion` (LATEST is 1.4.0) and " +
		"`platformFamily` Linux; a full pool fails them with ECS's \"Capacity is unavailable at this time...\". EC2 tasks " +
		"need container instances of the cluster (InvalidParameterException \"No Container Instances were found in your " +
		"cluster.\"). `overrides` (container command, environment, cpu, memory, memoryReservation; task cpu and memory, " +
		"a valid Fargate combination for FARGATE), `startedBy`, `group`, `tags`, `placementStrategy`, " +
		"`placementConstraints` (ignored for FARGATE, as in ECS), `networkConfiguration` (awsvpc: the task gets its own " +
		"address; any subnet ID is accepted), `platformVersion`, `enableExecuteCommand` (stored). Unplaceable copies come " +
		"back in `failures` with ECS's reasons.",
	"StartTask":     "On the named container instances (1–10); same fields as RunTask.",
	"StopTask":      "SIGTERM, then SIGKILL after the container's `stopTimeout` (default 30 s, `minato agent --stop-timeout`). stopCode UserInitiated.",
	"DescribeTasks": "By ID or ARN, up to 100; `include` TAGS. The lifecycle PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED with ECS's timestamps, stop codes and reasons.",
	"ListTasks":     "`containerInstance`, `family`, `startedBy`, `serviceName`, `desiredStatus` (default RUNNING), `launchType`, pagination. STOPPED tasks stay listed.",
}
