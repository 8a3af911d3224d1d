package reconcile

import (
	"cmp"
	"slices"

	"github.com/minato-project/minato/internal/core"
)

// The rolling update, as ECS's service scheduler runs it. With D the
// desired count, the tasks that are not stopped or stopping never exceed
// floor(D·maximumPercent/100) because of a launch, and a healthy task is
// never stopped when that would leave fewer than
// ceil(D·minimumHealthyPercent/100) healthy tasks. Within those bounds:
//
//   - tasks that failed their health checks are stopped (never healthy, so
//     this costs nothing against the minimum);
//   - tasks on DRAINING instances that are not healthy (still PENDING) are
//     stopped at once, healthy ones as the minimum allows, first of all;
//   - tasks of older deployments that are not healthy are stopped, healthy
//     ones as the minimum allows, oldest deployment first;
//   - PRIMARY tasks beyond D (scale-in) are stopped, those not running
//     first, healthy ones as the minimum allows;
//   - PRIMARY tasks are launched up to D, as far as the maximum allows.
//
// A FAILED PRIMARY deployment launches nothing and the tasks of older
// deployments keep running; health checks, draining and scale-in still
// apply. When the bounds leave no move at all (D=1 with 100/100, say) the
// deployment waits, as ECS's does, and the plan records ECS's "unable to
// stop or start tasks during a deployment" event.

// taskRank orders tasks from least to most worth keeping: not running,
// running but not healthy, healthy.
func taskRank(t Task) int {
	switch {
	case isHealthy(t):
		return 2
	case t.LastStatus == core.TaskRunning:
		return 1
	}
	return 0
}

func byRankThenID(a, b *Task) int {
	return cmp.Or(cmp.Compare(taskRank(*a), taskRank(*b)), cmp.Compare(a.ID, b.ID))
}

// depAge ranks deployments from newest (0, PRIMARY) to oldest; tasks of a
// deployment the snapshot does not list are the oldest of all.
func (d *decider) depAge() func(string) int {
	age := map[string]int{}
	for i, dep := range d.deps {
		age[dep.ID] = i
	}
	return func(id string) int {
		if a, ok := age[id]; ok {
			return a
		}
		return len(d.deps)
	}
}

// oldestFirst orders healthy tasks of older deployments for stopping.
func (d *decider) oldestFirst(cands []candidate) {
	age := d.depAge()
	slices.SortStableFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(age(b.task.DeploymentID), age(a.task.DeploymentID)), cmp.Compare(a.task.ID, b.task.ID))
	})
}

// replica decides a REPLICA service's stops and launches.
func (d *decider) replica() {
	p := d.primary()
	failed := d.primaryFailed()
	scaling := ReasonScaling(p.ID)
	d.stopUnhealthy()

	var keep []*Task
	var draining, old []candidate
	for i := range d.tasks {
		t := &d.tasks[i]
		if !isLive(*t) || d.stopping[t.ID] {
			continue
		}
		switch {
		case t.OnDrainingInstance && !isHealthy(*t):
			d.stop(*t, ReasonDraining)
		case t.OnDrainingInstance:
			draining = append(draining, candidate{t, ReasonDraining})
		case t.DeploymentID == p.ID:
			keep = append(keep, t)
		case failed:
			// a FAILED deployment leaves the tasks it was replacing alone
		case !isHealthy(*t):
			d.stop(*t, scaling)
		default:
			old = append(old, candidate{t, scaling})
		}
	}
	d.oldestFirst(old)

	// Scale-in: the PRIMARY tasks least worth keeping go first.
	var extra []candidate
	if len(keep) > d.desired {
		slices.SortFunc(keep, byRankThenID)
		for _, t := range keep[:len(keep)-d.desired] {
			if isHealthy(*t) {
				extra = append(extra, candidate{t, scaling})
			} else {
				d.stop(*t, scaling)
			}
		}
	}

	cands := slices.Concat(draining, old, extra)
	done := d.stopHealthy(d.healthyCount(func(Task) bool { return true }), cands)

	kept := 0
	for _, t := range keep {
		if !d.stopping[t.ID] {
			kept++
		}
	}
	need := d.desired - kept
	n := min(need, d.maxLive-d.liveCount())
	if d.launchGate(n) {
		d.launches = append(d.launches, Launch{DeploymentID: p.ID, Count: n})
	}
	d.outstanding = !done || need > max(n, 0)
}

// DaemonDesiredCount is a DAEMON service's desired count: the number of
// instances a task belongs on (ACTIVE, connected and not DRAINING).
func DaemonDesiredCount(instances []Instance) int { return len(eligibleInstances(instances)) }

// eligibleInstances are the instances a DAEMON task belongs on, sorted.
func eligibleInstances(insts []Instance) []string {
	var ids []string
	for _, i := range insts {
		if i.Active && !i.Draining {
			ids = append(ids, i.ID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// daemon decides a DAEMON service's stops and launches: one PRIMARY task on
// every eligible instance (ACTIVE, connected, not DRAINING), with D the
// number of those instances. Tasks on any other instance are stopped at
// once: ECS stops the daemon tasks of an instance that starts DRAINING,
// and an instance that left or is no longer active needs none. A
// deployment replaces the task of each instance within the percents (with
// DAEMON's defaults, 100/0, it stops the old task and launches the new
// one in the same plan); instances that join get a task.
func (d *decider) daemon() {
	p := d.primary()
	failed := d.primaryFailed()
	scaling := ReasonScaling(p.ID)
	d.stopUnhealthy()

	eligible := map[string]bool{}
	for _, id := range d.eligible {
		eligible[id] = true
	}
	draining := map[string]bool{}
	for _, i := range d.in.Instances {
		if i.Draining {
			draining[i.ID] = true
		}
	}
	primaryOn := map[string][]*Task{}
	oldOn := map[string][]*Task{}
	for i := range d.tasks {
		t := &d.tasks[i]
		if !isLive(*t) || d.stopping[t.ID] {
			continue
		}
		switch {
		case !eligible[t.InstanceID] && (draining[t.InstanceID] || t.OnDrainingInstance):
			d.stop(*t, ReasonDraining)
		case !eligible[t.InstanceID]:
			d.stop(*t, scaling)
		case t.DeploymentID == p.ID:
			primaryOn[t.InstanceID] = append(primaryOn[t.InstanceID], t)
		default:
			oldOn[t.InstanceID] = append(oldOn[t.InstanceID], t)
		}
	}

	var replaced, extra, old []candidate
	var launchOn []string
	for _, id := range d.eligible {
		tasks := primaryOn[id]
		slices.SortFunc(tasks, func(a, b *Task) int { return byRankThenID(b, a) })
		servedBy := Task{}
		if len(tasks) > 0 {
			servedBy = *tasks[0]
			for _, t := range tasks[1:] {
				if isHealthy(*t) {
					extra = append(extra, candidate{t, scaling})
				} else {
					d.stop(*t, scaling)
				}
			}
		} else {
			launchOn = append(launchOn, id)
		}
		if failed {
			continue
		}
		for _, t := range oldOn[id] {
			switch {
			case !isHealthy(*t):
				d.stop(*t, scaling)
			case isHealthy(servedBy):
				replaced = append(replaced, candidate{t, scaling})
			default:
				old = append(old, candidate{t, scaling})
			}
		}
	}
	d.oldestFirst(replaced)
	d.oldestFirst(old)
	cands := slices.Concat(replaced, extra, old)
	done := d.stopHealthy(d.healthyCount(func(Task) bool { return true }), cands)

	// Launch first where no task is left to share the instance with.
	occupied := map[string]bool{}
	for _, t := range d.tasks {
		if isLive(t) && !d.stopping[t.ID] {
			occupied[t.InstanceID] = true
		}
	}
	slices.SortStableFunc(launchOn, func(a, b string) int {
		return cmp.Compare(boolRank(occupied[a]), boolRank(occupied[b]))
	})
	n := min(len(launchOn), d.maxLive-d.liveCount())
	if d.launchGate(n) {
		for _, id := range launchOn[:n] {
			d.launches = append(d.launches, Launch{DeploymentID: p.ID, Count: 1, InstanceID: id})
		}
	}
	d.outstanding = !done || len(launchOn) > max(n, 0)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
