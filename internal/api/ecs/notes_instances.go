package ecs

import "maps"

// instanceNotes are the compatibility notes of the container instance and
// attribute operations.
var instanceNotes = map[string]string{
	"DescribeContainerInstances": "Up to 100 IDs or ARNs; missing ones are reported in `failures` with reason MISSING. " +
		"`include` TAGS and CONTAINER_INSTANCE_HEALTH (one AGENT_CONNECTIVITY check: OK while the agent is connected, " +
		"else IMPAIRED; minato does not check the container runtime). Resources CPU, MEMORY, PORTS, PORTS_UDP; remaining " +
		"PORTS lists the reserved and the used ports. `runningTasksCount` counts tasks desired and last RUNNING, " +
		"`pendingTasksCount` tasks last PROVISIONING, PENDING or ACTIVATING. Deregistered instances stay describable as INACTIVE.",
	"ListContainerInstances": "`filter` in the cluster query language (every subject of the ECS guide), `status` " +
		"(default: all but INACTIVE; REGISTERING, DEREGISTERING and REGISTRATION_FAILED never occur in minato), " +
		"pagination (`maxResults` 1–100). Listed in ID order.",
	"UpdateContainerInstancesState": "ACTIVE or DRAINING, up to 10 instances; the scheduler places no new tasks on a " +
		"DRAINING instance. Missing instances are reported in `failures` (MISSING), deregistered ones with reason INACTIVE.",
	"DeregisterContainerInstance": "Refused with InvalidParameterException while the instance has tasks that are not " +
		"STOPPED, unless `force`; with `force` the tasks are orphaned. The instance stays describable as INACTIVE; its " +
		"agent registers anew under a new ID.",
	"PutAttributes": "Container instances by ID (with `targetType`) or ARN. ECS's name and value rules, up to 10 attributes " +
		"per call and 10 custom attributes per instance (AttributeLimitExceededException); the agent's attributes " +
		"(`ecs.*`, `com.amazonaws.ecs.*`) do not count. All attributes of a call are applied, or none (TargetNotFoundException).",
	"DeleteAttributes": "By name and target; the value is ignored. Up to 10 per call; deleting an absent attribute is not an error.",
	"ListAttributes": "`targetType` container-instance, `attributeName` and `attributeValue` filters, pagination " +
		"(`maxResults` 1–100). Attributes of deregistered instances are not listed.",
}

func init() { maps.Copy(Notes, instanceNotes) }
