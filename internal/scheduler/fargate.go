package scheduler

import (
	"fmt"
	"math"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// The Fargate pool. On ECS a FARGATE task needs no container instance: AWS
// runs it on capacity of its own. minato runs FARGATE tasks on a pool of
// hosts instead: every container instance whose agent offers Fargate
// capacity (Instance.Fargate), whatever its own cluster, serves the FARGATE
// tasks of every cluster. The rules of the pool are here, pure:
//
//	FargatePool      which instances take FARGATE tasks (ACTIVE, offering capacity)
//	FargateCPU       what a task's cpu costs the pool: divided by the overcommit ratio
//	PoolGroup        the group a pool task counts in on its host
//	CapacityProviders which of FARGATE and FARGATE_SPOT each new task gets
//
// PlaceShared places a FARGATE request on the pool as ECS places Fargate
// tasks: no strategies or constraints of the caller, spread across zones
// and then hosts, and, when nothing fits, ECS's capacity shortage
// (ReasonCapacity) instead of one failure per container instance.

// ReasonCapacity is the RunTask failure reason and the service event reason
// of a FARGATE task that no capacity can take, in ECS's words.
const ReasonCapacity = "Capacity is unavailable at this time. Please try again later or in a different availability zone"

// DefaultFargateCPUOvercommit is the default ratio of Fargate CPU units to
// the host CPU units they take: a 256-unit task holds 64 units of its host,
// so that ten such tasks (and more) fit on a two-core laptop.
const DefaultFargateCPUOvercommit = 4.0

// FargatePool returns the instances that take FARGATE tasks: the ACTIVE
// ones that offer Fargate capacity, in the given order. instances is not
// modified.
func FargatePool(instances []*Instance) []*Instance {
	out := make([]*Instance, 0, len(instances))
	for _, in := range instances {
		if in.Fargate && in.Status == StatusActive {
			out = append(out, in)
		}
	}
	return out
}

// FargateCPU returns the host CPU units a Fargate task of cpu units holds
// on its pool host: cpu divided by overcommit, rounded up (a ratio below 1
// counts as 1: the pool never promises more than a task asked for).
// Memory is not overcommitted.
func FargateCPU(cpu int, overcommit float64) int {
	if overcommit <= 1 || math.IsNaN(overcommit) || math.IsInf(overcommit, 0) {
		return cpu
	}
	return int(math.Ceil(float64(cpu) / overcommit))
}

// PoolGroup is the group a task of the pool counts in on its host, for
// spread: its cluster's group qualified by the cluster, since the pool
// holds the tasks of every cluster and "service:web" of one cluster is not
// that of another.
func PoolGroup(cluster, group string) string { return cluster + "/" + group }

// CapacityProviders picks the capacity provider of each of n new tasks
// under strategy, given how many tasks each provider holds already (have;
// nil for none), as ECS distributes them: first each provider's base is
// filled, in strategy order; then each task goes to the provider whose
// tasks beyond its base, one more counted, are the fewest per unit of
// weight (ties: strategy order). A provider of weight 0 takes only its
// base. An empty strategy yields nil.
func CapacityProviders(strategy []ecstypes.CapacityProviderStrategyItem, have map[string]int, n int) []string {
	if len(strategy) == 0 || n <= 0 {
		return nil
	}
	count := make([]int, len(strategy))
	for i, s := range strategy {
		count[i] = have[s.CapacityProvider]
	}
	out := make([]string, 0, n)
	for range n {
		pick := -1
		for i, s := range strategy {
			if count[i] < int(s.Base) {
				pick = i
				break
			}
		}
		if pick < 0 {
			for i, s := range strategy {
				if s.Weight <= 0 {
					continue
				}
				// (excess_i+1)/w_i < (excess_p+1)/w_p, in integers.
				if pick < 0 || (excess(count[i], s.Base)+1)*int(strategy[pick].Weight) <
					(excess(count[pick], strategy[pick].Base)+1)*int(s.Weight) {
					pick = i
				}
			}
		}
		if pick < 0 { // every weight 0 and every base filled: validation refuses it
			pick = 0
		}
		count[pick]++
		out = append(out, strategy[pick].CapacityProvider)
	}
	return out
}

func excess(count int, base int32) int { return max(0, count-int(base)) }

// fargateFailure turns what place found for a FARGATE request into ECS's
// answer: no container instance is named, and when a copy could not be
// placed the one failure is the capacity shortage, with minato's reason in
// its detail.
func (s *state) fargateFailure(res *Result) {
	detail := "minato: no host offers Fargate capacity (an agent started with --fargate, as the agent of minato up is)"
	if len(s.nodes) > 0 {
		s.failures(res)
		id, f, _ := res.Closest()
		detail = fmt.Sprintf("minato: the Fargate pool host closest to taking the task (container instance %s) failed %s", id, f.Reason)
		switch f.Reason {
		case ReasonCPU:
			detail = fmt.Sprintf("minato: no Fargate pool host has %d CPU units left (the task's cpu divided by the CPU overcommit ratio); closest: container instance %s", s.req.CPU, id)
		case ReasonMemory:
			detail = fmt.Sprintf("minato: no Fargate pool host has %d MiB of memory left; closest: container instance %s", s.req.Memory, id)
		case ReasonAgent:
			detail = "minato: the agent of every Fargate pool host is disconnected"
		}
	}
	res.Failures = []ecstypes.Failure{{Reason: ReasonCapacity, Detail: detail}}
	res.closest, res.closestID = 0, ""
	res.Fargate = true
}
