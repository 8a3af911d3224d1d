package ecs

import (
	"context"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

// A task is tagged through the task domain: TagResource and
// ListTagsForResource by the task's ARN, and a task that does not exist is
// ResourceNotFoundException.
func TestTagTask(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	ci := ciRegister(t, st, "default", 1, func(ci *state.ContainerInstance) { ci.Attributes = append(ci.Attributes, benchCapabilities...) })
	a.agents.Touch(ci.ID)
	if _, err := a.RegisterTaskDefinition(ctx, call, simpleTD("web")); err != nil {
		t.Fatal(err)
	}
	run, err := a.RunTask(ctx, call, &ecstypes.RunTaskRequest{TaskDefinition: "web"})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	taskARN := run.Tasks[0].TaskArn
	if _, err := a.TagResource(ctx, call, &ecstypes.TagResourceRequest{ResourceArn: taskARN,
		Tags: []ecstypes.Tag{{Key: "team", Value: "a"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := a.ListTagsForResource(ctx, call, &ecstypes.ListTagsForResourceRequest{ResourceArn: taskARN})
	if err != nil || len(got.Tags) != 1 || got.Tags[0].Value != "a" {
		t.Fatalf("ListTagsForResource: %+v %v", got, err)
	}
	d, err := a.DescribeTasks(ctx, call, &ecstypes.DescribeTasksRequest{Tasks: []string{taskARN}, Include: []ecstypes.TaskField{ecstypes.TaskFieldTags}})
	if err != nil || len(d.Tasks) != 1 || len(d.Tasks[0].Tags) != 1 {
		t.Fatalf("DescribeTasks: %+v %v", d, err)
	}
	_, err = a.TagResource(ctx, call, &ecstypes.TagResourceRequest{ResourceArn: "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef",
		Tags: []ecstypes.Tag{{Key: "team", Value: "a"}}})
	if errCode(err) != ecstypes.ErrCodeResourceNotFoundException {
		t.Fatalf("a task that does not exist: %v", err)
	}
}
