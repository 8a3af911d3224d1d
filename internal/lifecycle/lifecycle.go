// Package lifecycle holds the pure decisions of a task's life on a host:
// which containers may start now given their dependsOn conditions, in what
// order they stop, when the task counts as running or must stop, and its
// health. The agent observes containers, asks these functions, and acts.
package lifecycle

import (
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Container is what the decisions need to know of one container.
type Container struct {
	Def      ecstypes.ContainerDefinition
	Started  bool   // it has been started at least once
	Running  bool   // it is running now
	Exited   bool   // it has started and exited
	ExitCode *int32 // when Exited
	Health   ecstypes.HealthStatus
}

// essential reports whether the definition is essential (default true).
func essential(d ecstypes.ContainerDefinition) bool { return d.Essential == nil || *d.Essential }

// Plan is the next step of starting a task.
type Plan struct {
	// Start lists containers whose dependencies are met and that have not
	// been started.
	Start []string
	// Failed names a container whose dependency can never be met, with the
	// reason; the task must stop.
	Failed, Reason string
	// Waiting lists containers still waiting for a dependency.
	Waiting []string
}

// CreateOrder returns the order to create a task's containers in: the
// definition's, except that a container comes after every container it
// mounts volumes from (volumesFrom), since the engine needs the source
// container to exist first. ECS gives volumesFrom this implicit
// dependency, so the order of the definition does not matter. A source
// that is not a container of the task is ignored (registration refuses
// it); containers in a volumesFrom cycle keep the definition's order.
func CreateOrder(defs []ecstypes.ContainerDefinition) []string {
	known := make(map[string]bool, len(defs))
	for _, d := range defs {
		known[d.Name] = true
	}
	placed := make(map[string]bool, len(defs))
	out := make([]string, 0, len(defs))
	ready := func(d ecstypes.ContainerDefinition) bool {
		for _, vf := range d.VolumesFrom {
			if known[vf.SourceContainer] && !placed[vf.SourceContainer] && vf.SourceContainer != d.Name {
				return false
			}
		}
		return true
	}
	for len(out) < len(defs) {
		next := -1
		for i, d := range defs {
			if !placed[d.Name] && ready(d) {
				next = i
				break
			}
		}
		if next < 0 { // a cycle: the first one left, in definition order
			for i, d := range defs {
				if !placed[d.Name] {
					next = i
					break
				}
			}
		}
		placed[defs[next].Name] = true
		out = append(out, defs[next].Name)
	}
	return out
}

// NextStarts decides which containers to start now. cs is keyed by name.
func NextStarts(order []string, cs map[string]Container) Plan {
	var p Plan
	for _, name := range order {
		c := cs[name]
		if c.Started {
			continue
		}
		ready := true
		for _, d := range c.Def.DependsOn {
			dep, ok := cs[d.ContainerName]
			if !ok {
				return Plan{Failed: name, Reason: "dependency " + d.ContainerName + " does not exist"}
			}
			met, never := condition(d.Condition, dep)
			if never {
				return Plan{Failed: name, Reason: "dependency " + d.ContainerName + " cannot reach condition " + string(d.Condition)}
			}
			ready = ready && met
		}
		if ready {
			p.Start = append(p.Start, name)
		} else {
			p.Waiting = append(p.Waiting, name)
		}
	}
	return p
}

// condition reports whether dep satisfies cond now, and whether it never can.
func condition(cond ecstypes.ContainerCondition, dep Container) (met, never bool) {
	switch cond {
	case ecstypes.ContainerConditionStart:
		return dep.Started, false
	case ecstypes.ContainerConditionComplete:
		return dep.Exited, false
	case ecstypes.ContainerConditionSuccess:
		if dep.Exited {
			ok := dep.ExitCode != nil && *dep.ExitCode == 0
			return ok, !ok
		}
		return false, false
	case ecstypes.ContainerConditionHealthy:
		if dep.Health == ecstypes.HealthStatusHealthy {
			return true, false
		}
		return false, dep.Exited || dep.Health == ecstypes.HealthStatusUnhealthy
	}
	return false, true
}

// StopOrder returns the order to stop containers in: a container stops
// before the containers it depends on, the reverse of the start order.
func StopOrder(order []string, cs map[string]Container) [][]string {
	// Group into waves: a wave holds containers no remaining container
	// depends on.
	remaining := map[string]bool{}
	for _, n := range order {
		remaining[n] = true
	}
	var waves [][]string
	for len(remaining) > 0 {
		dependedOn := map[string]bool{}
		for n := range remaining {
			for _, d := range cs[n].Def.DependsOn {
				if remaining[d.ContainerName] {
					dependedOn[d.ContainerName] = true
				}
			}
		}
		var wave []string
		for _, n := range order {
			if remaining[n] && !dependedOn[n] {
				wave = append(wave, n)
			}
		}
		if len(wave) == 0 { // a cycle: registration prevents it; stop the rest together
			for _, n := range order {
				if remaining[n] {
					wave = append(wave, n)
				}
			}
		}
		for _, n := range wave {
			delete(remaining, n)
		}
		waves = append(waves, wave)
	}
	return waves
}

// Running reports whether the task counts as RUNNING: every essential
// container runs, and every container has been started.
func Running(cs map[string]Container) bool {
	for _, c := range cs {
		if !c.Started {
			return false
		}
		if essential(c.Def) && !c.Running {
			return false
		}
	}
	return len(cs) > 0
}

// EssentialExit returns the name of an essential container that has
// exited, or "". When there is one, the task stops.
func EssentialExit(order []string, cs map[string]Container) string {
	for _, n := range order {
		c := cs[n]
		if essential(c.Def) && c.Exited {
			return n
		}
	}
	return ""
}

// TaskHealth is the task's health from its essential containers: UNHEALTHY
// if any essential container with a health check is unhealthy, HEALTHY if
// all of them are healthy, UNKNOWN otherwise (or when none has a check).
func TaskHealth(cs map[string]Container) ecstypes.HealthStatus {
	checked, healthy := 0, 0
	for _, c := range cs {
		if !essential(c.Def) || c.Def.HealthCheck == nil {
			continue
		}
		checked++
		switch c.Health {
		case ecstypes.HealthStatusUnhealthy:
			return ecstypes.HealthStatusUnhealthy
		case ecstypes.HealthStatusHealthy:
			healthy++
		}
	}
	if checked > 0 && healthy == checked {
		return ecstypes.HealthStatusHealthy
	}
	return ecstypes.HealthStatusUnknown
}
