package console

import (
	"slices"

	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/state"
)

// How a rollback is carried out.
const (
	// RollbackStop asks the progressive deployment that runs to roll
	// back (StopServiceDeployment, stopType ROLLBACK).
	RollbackStop = "stop-deployment"
	// RollbackUpdate updates the service to the previous task definition
	// (UpdateService), which starts a deployment of it.
	RollbackUpdate = "update-service"
)

// RollbackPlan says what rolling a service back would do.
type RollbackPlan struct {
	Mode   string // RollbackStop, RollbackUpdate, or "" (nothing to go back to)
	Target string // the task definition ("family:revision") it goes back to, when known
}

// PlanRollback decides how to roll a service back from its stored record
// and deployment history. Pure.
//
//   - A progressive deployment in progress (not already rolling back) is
//     rolled back by StopServiceDeployment, as ECS does.
//   - A rolling deployment in progress goes back to the task definition
//     of the deployment it replaces (the ACTIVE one).
//   - Otherwise the service goes back to the task definition that the
//     deployment which brought in the current one replaced.
func PlanRollback(rec state.Service, hist []state.ServiceDeployment) RollbackPlan {
	cur := rec.Service.TaskDefinition
	source := func(td string) string {
		h := slices.Clone(hist)
		slices.SortFunc(h, func(a, b state.ServiceDeployment) int { return b.Sequence - a.Sequence })
		for _, d := range h {
			if d.TaskDefinition == td && len(d.Source) > 0 && d.Source[0] != td {
				return d.Source[0]
			}
		}
		return ""
	}
	if ro := rec.Rollout; ro != nil && ro.Result == "" && ro.Stage != deploy.StageRollback && ro.Stage != deploy.StageDone {
		target := ""
		for _, d := range hist {
			if d.ID == ro.HistoryID && len(d.Source) > 0 {
				target = d.Source[0]
			}
		}
		return RollbackPlan{Mode: RollbackStop, Target: target}
	}
	for _, d := range rec.Service.Deployments {
		if d.Status == "ACTIVE" && d.TaskDefinition != "" && d.TaskDefinition != cur {
			return RollbackPlan{Mode: RollbackUpdate, Target: d.TaskDefinition}
		}
	}
	if t := source(cur); t != "" {
		return RollbackPlan{Mode: RollbackUpdate, Target: t}
	}
	if rec.LastCompleted != "" && rec.LastCompleted != cur {
		return RollbackPlan{Mode: RollbackUpdate, Target: rec.LastCompleted}
	}
	return RollbackPlan{}
}

// Steps lays out a progressive deployment's stages for display: those
// passed, the current one, those to come. A deployment rolling back
// shows ROLLBACK as current after the stage it left.
func Steps(stage, result string) []Step {
	var steps []Step
	cur := deploy.Stage(stage)
	all := deploy.Stages()
	idx := slices.Index(all, cur)
	for i, s := range all {
		st := "pending"
		switch {
		case result != "" || cur == deploy.StageDone:
			st = "done"
		case cur == deploy.StageRollback:
			st = "skipped"
		case i < idx:
			st = "done"
		case i == idx:
			st = "current"
		}
		steps = append(steps, Step{Stage: string(s), State: st})
	}
	if cur == deploy.StageRollback {
		steps = append(steps, Step{Stage: string(deploy.StageRollback), State: "current"})
	}
	return steps
}
