package ecs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

// ListTasks (read from the cluster view) answers what a scan of the task
// records answers, for every filter, page by page; the counts of clusters,
// instances and services agree with the records too.
func TestListTasksMatchesRecords(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(7, 8))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	var recs []state.Task
	for i := range 120 {
		tk := state.Task{ID: fmt.Sprintf("%032x", rnd.Uint64()), Cluster: "default", InstanceID: pick("", ciID(1), ciID(2)),
			Family: pick("web", "batch"), Revision: 1, ServiceName: pick("", "", "api"), DeploymentID: pick("d1", "d2"),
			Task: ecstypes.Task{LastStatus: pick("PENDING", "RUNNING", "STOPPED"), DesiredStatus: pick("RUNNING", "STOPPED"),
				StartedBy: pick("", "me"), LaunchType: ecstypes.LaunchType(pick("EC2", "FARGATE")), Group: pick("", "g")}}
		if tk.ServiceName != "" {
			tk.Task.StartedBy = ""
		}
		if i%10 == 0 && len(recs) > 0 {
			tk.ID = recs[rnd.IntN(len(recs))].ID // an update
			recs = slices.DeleteFunc(recs, func(r state.Task) bool { return r.ID == tk.ID })
		}
		ciPut(t, st, state.TaskKey("default", tk.ID), tk)
		recs = append(recs, tk)
	}
	ciPlaceTask(t, st, "other", ciID(1), "elsewhere", "RUNNING", "RUNNING", "")
	slices.SortFunc(recs, func(x, y state.Task) int { return strings.Compare(x.ID, y.ID) })

	for _, in := range []ecstypes.ListTasksRequest{
		{},
		{DesiredStatus: "STOPPED"},
		{Family: "web"},
		{Family: "batch", StartedBy: "me"},
		{ServiceName: "api"},
		{ContainerInstance: ciID(1)},
		{ContainerInstance: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + ciID(2), DesiredStatus: "STOPPED"},
		{LaunchType: "FARGATE", DesiredStatus: "RUNNING"},
		{ContainerInstance: "nope"},
	} {
		desired := string(in.DesiredStatus)
		if desired == "" {
			desired = "RUNNING"
		}
		inst := state.LastSegment(in.ContainerInstance)
		var want []string
		for _, r := range recs {
			if r.Task.DesiredStatus == desired && (inst == "" || r.InstanceID == inst) && (in.Family == "" || r.Family == in.Family) &&
				(in.StartedBy == "" || r.Task.StartedBy == in.StartedBy) && (in.ServiceName == "" || r.ServiceName == in.ServiceName) &&
				(in.LaunchType == "" || r.Task.LaunchType == in.LaunchType) {
				want = append(want, r.ID)
			}
		}
		var got []string
		req := in
		req.MaxResults = new(int32(7))
		for pages := 0; ; pages++ {
			out, err := a.ListTasks(ctx, call, &req)
			if err != nil {
				t.Fatalf("%+v: %v", in, err)
			}
			if len(out.TaskArns) > 7 || pages > 30 {
				t.Fatalf("%+v: page of %d, %d pages", in, len(out.TaskArns), pages)
			}
			for _, s := range out.TaskArns {
				got = append(got, state.LastSegment(s))
			}
			if req.NextToken = out.NextToken; req.NextToken == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListTasks %+v:\n got %v\nwant %v", in, got, want)
		}
	}

	// Counts.
	var cl clusterCounts
	inst1 := 0
	var svc taskCounts
	for _, r := range recs {
		switch r.Task.LastStatus {
		case "RUNNING":
			cl.running++
		case "PENDING":
			cl.pending++
		}
		if r.Task.LastStatus != "STOPPED" {
			cl.notStopped++
		}
		if r.InstanceID == ciID(1) && r.Task.LastStatus == "RUNNING" && r.Task.DesiredStatus == "RUNNING" {
			inst1++
		}
		if r.ServiceName == "api" && r.Task.DesiredStatus == "RUNNING" {
			switch r.Task.LastStatus {
			case "RUNNING":
				svc.running++
			case "PENDING":
				svc.pending++
			}
		}
	}
	got, err := a.clusterCounts(ctx, "default")
	if err != nil || got != cl {
		t.Fatalf("cluster counts %+v %v, want %+v", got, err, cl)
	}
	v, err := a.synced(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := v.InstanceTasks("default", ciID(1)).Running; n != int32(inst1) {
		t.Fatalf("instance running %d, want %d", n, inst1)
	}
	if sc := serviceTaskCounts(v, "default", "api"); sc.total != svc {
		t.Fatalf("service counts %+v, want %+v", sc.total, svc)
	}

	// A token from another cluster's keys lists what follows it, as a
	// scan of the keys would.
	out, err := a.ListTasks(ctx, call, &ecstypes.ListTasksRequest{NextToken: paging.Encode(state.TaskKey("zzz", "x"))})
	if err != nil || len(out.TaskArns) != 0 {
		t.Fatalf("token past the cluster: %v %v", out, err)
	}
	out, err = a.ListTasks(ctx, call, &ecstypes.ListTasksRequest{NextToken: paging.Encode(state.TaskKey("aaa", "x")), MaxResults: new(int32(100))})
	first, n := desiredRunning(recs)
	if err != nil || len(out.TaskArns) != min(100, n) || out.TaskArns[0] != "arn:aws:ecs:us-east-1:000000000000:task/default/"+first {
		t.Fatalf("token before the cluster: %d tasks, %v", len(out.TaskArns), err)
	}
}

// desiredRunning returns the first of the tasks desired RUNNING, and how
// many there are.
func desiredRunning(recs []state.Task) (first string, n int) {
	for _, r := range recs {
		if r.Task.DesiredStatus == "RUNNING" {
			if n == 0 {
				first = r.ID
			}
			n++
		}
	}
	return first, n
}
