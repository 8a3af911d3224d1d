package console

import (
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/deploy"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
)

func ts(sec int) shape.Timestamp { return shape.NewTimestamp(time.Unix(int64(1_800_000_000+sec), 0)) }

func TestProblems(t *testing.T) {
	exit1 := int32(1)
	svcs := []ecstypes.Service{
		{ServiceName: "ok"},
		{ServiceName: "bad", Deployments: []ecstypes.Deployment{{Id: "ecs-svc/2", RolloutState: ecstypes.DeploymentRolloutStateFailed, RolloutStateReason: "circuit breaker"}}},
		{ServiceName: "rolled"},
	}
	hist := map[string][]ecstypes.ServiceDeploymentBrief{
		"ok":     {{Status: ecstypes.ServiceDeploymentStatusSuccessful, CreatedAt: ts(1)}},
		"rolled": {{Status: ecstypes.ServiceDeploymentStatusSuccessful, CreatedAt: ts(1)}, {Status: ecstypes.ServiceDeploymentStatusRollbackSuccessful, CreatedAt: ts(2), StatusReason: "tasks failed"}},
	}
	stopped := []ecstypes.Task{
		{Group: "service:bad", TaskArn: "arn/t1", StopCode: ecstypes.TaskStopCodeEssentialContainerExited, StoppedReason: "Essential container in task exited", StoppedAt: ts(1),
			Containers: []ecstypes.Container{{Name: "app", ExitCode: &exit1}}},
		{Group: "service:bad", TaskArn: "arn/t2", StopCode: ecstypes.TaskStopCodeEssentialContainerExited, StoppedReason: "Essential container in task exited", StoppedAt: ts(5),
			Containers: []ecstypes.Container{{Name: "app", ExitCode: &exit1}}},
		{Group: "service:ok", TaskArn: "arn/t3", StopCode: ecstypes.TaskStopCodeServiceSchedulerInitiated, StoppedReason: "Scaling activity initiated by (deployment ecs-svc/1)"},
		{Group: "family:job", TaskArn: "arn/t4", StopCode: ecstypes.TaskStopCodeUserInitiated, StoppedReason: "Task failed ELB health checks"},
	}
	ps := Problems("default", svcs, hist, stopped)
	var got []string
	for _, p := range ps {
		got = append(got, p.Kind+"|"+p.Service+"|"+p.Task+"|"+p.Title+"|"+p.Detail)
	}
	want := []string{
		"deployment|bad||Deployment ecs-svc/2 of bad failed|circuit breaker",
		"deployment|rolled||The last deployment of rolled was rolled back (ROLLBACK_SUCCESSFUL)|tasks failed",
		"stopping|bad|t2|2 tasks of service:bad stopped unexpectedly|EssentialContainerExited: Essential container in task exited; app exited 1",
		"stopping||t4|A task of family:job stopped unexpectedly|UserInitiated: Task failed ELB health checks",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ps := Problems("default", svcs[:1], hist, stopped[2:3]); len(ps) != 0 {
		t.Fatalf("a healthy cluster has problems: %+v", ps)
	}
}

func TestPlanRollback(t *testing.T) {
	svc := func(td string, deps ...ecstypes.Deployment) state.Service {
		return state.Service{Service: ecstypes.Service{TaskDefinition: td, Deployments: deps}}
	}
	hist := []state.ServiceDeployment{
		{ID: "h1", TaskDefinition: "web:1", Sequence: 1},
		{ID: "h2", TaskDefinition: "web:2", Source: []string{"web:1"}, Sequence: 2},
		{ID: "h3", TaskDefinition: "web:3", Source: []string{"web:2"}, Sequence: 3},
	}
	for _, c := range []struct {
		name string
		rec  state.Service
		hist []state.ServiceDeployment
		want RollbackPlan
	}{
		{"nothing before the first", svc("web:1"), hist[:1], RollbackPlan{}},
		{"steady: back to what the current one replaced", svc("web:2"), hist[:2], RollbackPlan{Mode: RollbackUpdate, Target: "web:1"}},
		{"steady after a rollback to web:2", svc("web:2"), hist, RollbackPlan{Mode: RollbackUpdate, Target: "web:1"}},
		{"rolling in progress: back to the ACTIVE one", svc("web:3", ecstypes.Deployment{Status: "PRIMARY", TaskDefinition: "web:3"},
			ecstypes.Deployment{Status: "ACTIVE", TaskDefinition: "web:2"}), hist, RollbackPlan{Mode: RollbackUpdate, Target: "web:2"}},
		{"last completed when the history is gone", state.Service{Service: ecstypes.Service{TaskDefinition: "web:5"}, LastCompleted: "web:4"}, nil,
			RollbackPlan{Mode: RollbackUpdate, Target: "web:4"}},
		{"progressive in progress: stop with rollback", state.Service{Service: ecstypes.Service{TaskDefinition: "web:3"},
			Rollout: &state.Rollout{HistoryID: "h3", Strategy: deploy.BlueGreen, Progress: deploy.Progress{Stage: deploy.StageBake}}}, hist,
			RollbackPlan{Mode: RollbackStop, Target: "web:2"}},
		{"progressive already rolling back: nothing more", state.Service{Service: ecstypes.Service{TaskDefinition: "web:1"},
			Rollout: &state.Rollout{HistoryID: "h1", Progress: deploy.Progress{Stage: deploy.StageRollback}}}, hist[:1], RollbackPlan{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := PlanRollback(c.rec, c.hist); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestSteps(t *testing.T) {
	steps := Steps(string(deploy.StageProdShift), "")
	var done, cur, pending []string
	for _, s := range steps {
		switch s.State {
		case "done":
			done = append(done, s.Stage)
		case "current":
			cur = append(cur, s.Stage)
		case "pending":
			pending = append(pending, s.Stage)
		}
	}
	if len(cur) != 1 || cur[0] != "PRODUCTION_TRAFFIC_SHIFT" || done[0] != "RECONCILE_SERVICE" || pending[len(pending)-1] != "DONE" || len(done) != 7 {
		t.Fatalf("done %v current %v pending %v", done, cur, pending)
	}
	rb := Steps(string(deploy.StageRollback), "")
	if last := rb[len(rb)-1]; last.Stage != "ROLLBACK" || last.State != "current" || rb[0].State != "skipped" {
		t.Fatalf("rollback steps: %+v", rb)
	}
	for _, s := range Steps(string(deploy.StageDone), deploy.ResultSuccessful) {
		if s.State != "done" {
			t.Fatalf("finished deployment: %+v", s)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/clusters/x/": "/console/clusters/x/",
		"//evil.example/":      "/console/",
		"https://evil.example": "/console/",
		"/console/\\evil":      "/console/",
		"":                     "/console/",
		"/v2/":                 "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
