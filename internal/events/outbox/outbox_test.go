package outbox_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func outboxEvents(t *testing.T, st store.Store) []events.Event {
	t.Helper()
	items, err := state.List[state.OutboxEvent](context.Background(), st, state.OutboxPrefix(), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for _, it := range items {
		var ev events.Event
		if err := json.Unmarshal(it.Value.Event, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// TestTaskChangesWriteEvents: a task's changes write one Task State Change
// each, in order, in the same transaction; a write that changes neither
// version nor status writes none; a failed Txn writes none.
func TestTaskChangesWriteEvents(t *testing.T) {
	ctx := context.Background()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	st := outbox.Wrap(b, arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, core.ClockFunc(func() time.Time { return now }), core.RandomIDs{})
	task := state.Task{ID: "t1", Cluster: "default", Family: "web", Revision: 2, ContainerIDs: []string{"c1"},
		Task: ecstypes.Task{LastStatus: "PROVISIONING", DesiredStatus: "RUNNING", Version: 1, Containers: []ecstypes.Container{{Name: "app"}}}}
	key := state.TaskKey("default", "t1")
	put := func(conds []store.Cond) error {
		v, _ := state.Encode(task)
		_, err := st.Txn(ctx, conds, []store.Op{store.Put(key, v)})
		return err
	}
	if err := put([]store.Cond{store.MustNotExist(key)}); err != nil {
		t.Fatal(err)
	}
	task.FailureCounted = true // a mark: no event
	if err := put(nil); err != nil {
		t.Fatal(err)
	}
	task.Task.LastStatus, task.Task.Version = "RUNNING", 2
	if err := put(nil); err != nil {
		t.Fatal(err)
	}
	task.Task.LastStatus, task.Task.DesiredStatus, task.Task.Version = "STOPPED", "STOPPED", 3
	code := int32(3)
	task.Task.Containers[0].ExitCode = &code
	if err := put([]store.Cond{{Key: key, ModRevision: 1}}); err == nil {
		t.Fatal("a stale condition committed")
	}
	kv, _ := b.Get(ctx, key)
	if err := put([]store.Cond{{Key: key, ModRevision: kv.ModRevision}}); err != nil {
		t.Fatal(err)
	}
	evs := outboxEvents(t, b)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	for i, want := range []string{"PROVISIONING", "RUNNING", "STOPPED"} {
		var d map[string]any
		if err := json.Unmarshal(evs[i].Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d["lastStatus"] != want || d["version"] != float64(i+1) {
			t.Errorf("event %d: lastStatus %v version %v, want %s %d", i, d["lastStatus"], d["version"], want, i+1)
		}
		if evs[i].Source != "aws.ecs" || evs[i].DetailType != "ECS Task State Change" || evs[i].Resources[0] != "arn:aws:ecs:us-east-1:000000000000:task/default/t1" {
			t.Errorf("event %d envelope: %+v", i, evs[i])
		}
		if d["taskDefinitionArn"] != "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2" {
			t.Errorf("taskDefinitionArn %v", d["taskDefinitionArn"])
		}
	}
	var d struct {
		Containers []struct {
			ExitCode     int    `json:"exitCode"`
			ContainerArn string `json:"containerArn"`
		} `json:"containers"`
	}
	json.Unmarshal(evs[2].Detail, &d)
	if len(d.Containers) != 1 || d.Containers[0].ExitCode != 3 || d.Containers[0].ContainerArn == "" {
		t.Errorf("containers %+v", d.Containers)
	}
}

func TestServiceEvents(t *testing.T) {
	ctx := context.Background()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := outbox.Wrap(b, arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, nil, nil)
	svc := state.Service{Name: "web", Cluster: "default", Service: ecstypes.Service{Deployments: []ecstypes.Deployment{{Id: "ecs-svc/1", RolloutState: "IN_PROGRESS"}}}}
	key := state.ServiceKey("default", "web")
	put := func() {
		v, _ := state.Encode(svc)
		if _, err := st.Txn(ctx, nil, []store.Op{store.Put(key, v)}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	svc.Service.Deployments[0].RolloutState = "COMPLETED"
	svc.Steady = true
	put()
	put()
	var names []string
	for _, ev := range outboxEvents(t, b) {
		var d map[string]any
		json.Unmarshal(ev.Detail, &d)
		names = append(names, ev.DetailType+"/"+d["eventName"].(string))
	}
	want := []string{"ECS Deployment State Change/SERVICE_DEPLOYMENT_IN_PROGRESS", "ECS Deployment State Change/SERVICE_DEPLOYMENT_COMPLETED", "ECS Service Action/SERVICE_STEADY_STATE"}
	if len(names) != len(want) {
		t.Fatalf("events %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("event %d = %s, want %s", i, names[i], want[i])
		}
	}
}

// TestTaskEventTimes: the task's timestamps are ISO 8601 text in its
// event, as ECS's events show them.
func TestTaskEventTimes(t *testing.T) {
	ctx := context.Background()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := outbox.Wrap(b, arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, nil, nil)
	at := time.Date(2026, 12, 7, 10, 1, 2, 345e6, time.UTC)
	task := state.Task{ID: "t1", Cluster: "default", Family: "web", Revision: 1,
		Task: ecstypes.Task{LastStatus: "RUNNING", DesiredStatus: "RUNNING", Version: 2, CreatedAt: shape.NewTimestamp(at), StartedAt: shape.NewTimestamp(at)}}
	v, _ := state.Encode(task)
	if _, err := st.Txn(ctx, nil, []store.Op{store.Put(state.TaskKey("default", "t1"), v)}); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.Unmarshal(outboxEvents(t, b)[0].Detail, &d)
	if d["createdAt"] != "2026-12-07T10:01:02.345Z" || d["startedAt"] != "2026-12-07T10:01:02.345Z" || d["updatedAt"] == nil {
		t.Errorf("times: createdAt %v startedAt %v updatedAt %v", d["createdAt"], d["startedAt"], d["updatedAt"])
	}
	if _, ok := d["stoppedAt"]; ok {
		t.Errorf("stoppedAt %v for a running task", d["stoppedAt"])
	}
}
