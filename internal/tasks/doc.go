// Package tasks is the one owner of task state. Every write to a task
// record, and to what a task takes on its container instance, is made
// here:
//
//   - Launch: the scheduler (internal/scheduler, pure) proposes where the
//     tasks go from a snapshot of the cluster view; Launch commits the
//     proposal in one transaction — the task records, their entries in the
//     instances' task index and the resources they take — conditioned on
//     the revision of every instance the snapshot read. A conflict (the
//     instance changed meanwhile) proposes again. This is Nomad's split
//     between a scheduler that submits a plan and the leader that applies
//     it.
//     A FARGATE launch places on the Fargate pool, the hosts of every
//     cluster that offer Fargate capacity, with the task's cpu
//     overcommitted (Config.FargateCPUOvercommit); the task stays in its
//     cluster and records its host's (state.Task.HostCluster).
//   - Stop, StopServiceTask, FinishDeactivation: the desired status
//     STOPPED, and the DEACTIVATING detour of a load balancer target.
//     StopOnLostHost: a pool task whose host was lost, STOPPED at once.
//   - ApplyReports: what agents report, merged forward only (Apply), and
//     the resources of a task that reached STOPPED given back.
//   - MovePorts: a container's dynamic host ports moved off ports found
//     taken on the host.
//   - MarkCounted, SetTargets, MarkTargetsReleased: what the service
//     controller records about its tasks.
//
// The callers are edges that own a small interface of what they use: the
// ECS API (RunTask, StartTask, StopTask), the agent server (reports, port
// moves) and the service controller (launches, stops, marks). Statuses are
// core.TaskStatus; the records keep ECS's strings.
//
// Every write is a compare-and-swap on the records it read, retried on a
// conflict (store.RetryConflicts), and goes through the cluster view's
// store, so that a caller reads its own writes.
package tasks
