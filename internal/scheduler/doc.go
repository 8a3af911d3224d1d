// Package scheduler decides where Amazon ECS tasks run: given a snapshot of
// a cluster's container instances and one task's needs, Place proposes an
// instance (and concrete dynamic host ports) for each of count copies, or
// says, in ECS's words, why it cannot. It is pure: no I/O, no clock, and
// randomness comes from the *rand.Rand the caller passes. The caller commits
// the proposal (Reserve keeps its instance snapshots exact); nothing here
// writes anything.
//
// The pipeline, per task, is the one the ECS developer guide describes
// ("Amazon ECS task placement"):
//
//	filter       ACTIVE instances only; DRAINING and the rest are invisible
//	feasibility  agent connected, required attributes, CPU, memory, ports
//	constraints  distinctInstance, memberOf (cluster query language, see cql)
//	strategies   each narrows the candidates for the next: spread keeps the
//	             least-used values of its field, binpack the instances with
//	             the least remaining cpu or memory, random keeps one
//	choose       one of what is left, at random
//	reserve      cpu, memory, host ports, group counts: task i+1 sees task i
//
// # Failures
//
// ECS reports placement failures per container instance, not per task: the
// Failure's arn is the instance's ARN and its reason is the first check the
// instance failed (the API failure reasons page: "RESOURCE:* (container
// instance ID)", "AGENT (container instance ID)", "ATTRIBUTE (container
// instance ID)"). Place does the same. When a task cannot be placed, every
// active instance contributes one failure with its reason, and placing
// stops: the cluster did not change, so the remaining copies would fail in
// exactly the same way. Result.Unplaced says how many copies that is. The
// reasons, in the order they are checked:
//
//	AGENT                                               agent disconnected
//	ATTRIBUTE                                           a requiresAttributes entry is missing (minato names it in detail)
//	RESOURCE:CPU                                        not enough CPU units left
//	RESOURCE:MEMORY                                     not enough memory left
//	RESOURCE:PORTS                                      a TCP host port is taken, or no dynamic TCP port is free
//	RESOURCE:PORTS_UDP                                  the same for UDP (ECS's resource name for UDP ports)
//	DistinctInstance placement constraint unsatisfied.  the instance already runs a task of the group
//	MemberOf placement constraint unsatisfied.          the memberOf expression is false for the instance
//
// With no ACTIVE instance at all, Result.NoInstances is set instead: RunTask
// then fails with InvalidParameterException "No Container Instances were
// found in your cluster." and a service records the event
// Result.EventMessage builds.
//
// # Defaults
//
// ECS documents a default strategy only for services: spread across
// Availability Zones, favouring the instances with the fewest tasks of the
// service (ServiceDefaultStrategies). For RunTask without placementStrategy
// minato places at random (RunTaskDefaultStrategies), which is what Place
// does when it is given no strategy. FARGATE tasks ignore strategies and
// constraints, as on ECS, and are spread like service tasks.
//
// # Fargate
//
// A FARGATE request is placed on the Fargate pool (fargate.go): the
// instances, of any cluster, whose agent offers Fargate capacity. Its CPU is
// what the pool accounts (FargateCPU: the task's cpu divided by the
// overcommit ratio), its group the pool's (PoolGroup). When it cannot be
// placed, the result holds one failure, ECS's capacity shortage
// (ReasonCapacity), instead of one per instance, and EventMessage is ECS's
// Fargate event; an empty pool answers the same, never NoInstances.
package scheduler
