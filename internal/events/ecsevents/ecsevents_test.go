package ecsevents

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

// A service event that says a task could not be placed makes one
// SERVICE_TASK_PLACEMENT_FAILURE with the closest instance's reason; the
// same event seen again in a later revision makes none.
func TestServicePlacementFailure(t *testing.T) {
	n := 0
	m := Maker{Scope: arn.Scope{Region: "us-east-1", AccountID: "123456789012"}, Now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC),
		NewID: func() string { n++; return fmt.Sprint(n) }}
	r := scheduler.Result{Unplaced: 1, Fargate: true}
	svc := state.Service{Name: "web", Cluster: "default"}
	old, _ := json.Marshal(svc)
	svc.Service.Events = []ecstypes.ServiceEvent{{Id: "e1", Message: r.EventMessage("web")}}
	cur, _ := json.Marshal(svc)

	evs, err := m.service(old, cur)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %v, %v", evs, err)
	}
	var got struct {
		DetailType string `json:"detail-type"`
		Source     string
		Resources  []string
		Detail     struct {
			EventType, EventName, ClusterArn string
			Reasons                          []string
		}
	}
	b, _ := json.Marshal(evs[0])
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.DetailType != ServiceAction || got.Detail.EventName != "SERVICE_TASK_PLACEMENT_FAILURE" || got.Detail.EventType != "ERROR" ||
		got.Detail.ClusterArn != "arn:aws:ecs:us-east-1:123456789012:cluster/default" || !slices.Equal(got.Detail.Reasons, []string{"RESOURCE:FARGATE"}) ||
		!slices.Equal(got.Resources, []string{"arn:aws:ecs:us-east-1:123456789012:service/default/web"}) {
		t.Fatalf("event %s", b)
	}
	if again, err := m.service(cur, cur); err != nil || len(again) != 0 {
		t.Fatalf("the same service event again: %v %v", again, err)
	}
}
