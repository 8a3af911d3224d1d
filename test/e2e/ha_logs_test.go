package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// TestHALogsSurviveServer: log events acknowledged by one server (the
// leader) are read from another after that server is killed with SIGKILL
// (internal/logrepl, docs/ha.md).
func TestHALogsSurviveServer(t *testing.T) {
	haMode(t)
	ss := startHA(t)
	lead := leaderOf(t, ss, "", 60*time.Second)
	ctx := context.Background()
	group, stream := "/ha/logs", "web/1"
	if _, err := lead.logs().CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lead.logs().CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	const n = 20
	var evs []cwltypes.InputLogEvent
	for i := range n {
		evs = append(evs, cwltypes.InputLogEvent{Timestamp: aws.Int64(now + int64(i)), Message: aws.String(fmt.Sprintf("line %d", i))})
	}
	if _, err := lead.logs().PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: evs}); err != nil {
		t.Fatal(err)
	}
	lead.kill()
	for _, s := range alive(ss) {
		waitFor(t, 60*time.Second, "the events on "+s.name, func() (bool, string) {
			out, err := s.logs().GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
			if err != nil {
				return false, err.Error()
			}
			if len(out.Events) > n {
				t.Fatalf("%s holds %d events, want %d (imported twice?)", s.name, len(out.Events), n)
			}
			if len(out.Events) < n {
				return false, fmt.Sprintf("%d events", len(out.Events))
			}
			for i, e := range out.Events {
				if aws.ToString(e.Message) != fmt.Sprintf("line %d", i) {
					t.Fatalf("%s: event %d is %q", s.name, i, aws.ToString(e.Message))
				}
			}
			return true, ""
		})
	}
}

// TestHALogMetadata: a log group made on one server, with its retention,
// tags and a stream, is the same on the other two; deleted on another, it
// is gone from all three with its events (internal/logmeta, docs/ha.md).
func TestHALogMetadata(t *testing.T) {
	haMode(t)
	ss := startHA(t)
	a, b, c := ss[0], ss[1], ss[2]
	ctx := context.Background()
	group, stream := "/ha/meta", "web/1"
	if _, err := a.logs().CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(group),
		Tags: map[string]string{"team": "blue"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.logs().PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String(group), RetentionInDays: aws.Int32(14)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.logs().CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.logs().PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		LogEvents: []cwltypes.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String("hello")}}}); err != nil {
		t.Fatal(err)
	}
	arn := ""
	for _, s := range ss {
		waitFor(t, 30*time.Second, "the group, its retention, tags, stream and event on "+s.name, func() (bool, string) {
			gs, err := s.logs().DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
			if err != nil {
				return false, err.Error()
			}
			if len(gs.LogGroups) != 1 || aws.ToInt32(gs.LogGroups[0].RetentionInDays) != 14 {
				return false, fmt.Sprintf("groups %+v", gs.LogGroups)
			}
			arn = aws.ToString(gs.LogGroups[0].LogGroupArn)
			tags, err := s.logs().ListTagsForResource(ctx, &cwl.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			if err != nil || tags.Tags["team"] != "blue" {
				return false, fmt.Sprintf("tags %v %v", tags, err)
			}
			st, err := s.logs().DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String(group)})
			if err != nil || len(st.LogStreams) != 1 || aws.ToString(st.LogStreams[0].LogStreamName) != stream {
				return false, fmt.Sprintf("streams %v %v", st, err)
			}
			ev, err := s.logs().GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
			if err != nil || len(ev.Events) != 1 {
				return false, fmt.Sprintf("events %v %v", ev, err)
			}
			return true, ""
		})
	}
	// Tags changed on c show on a.
	if _, err := c.logs().TagResource(ctx, &cwl.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "c's tag on a", func() (bool, string) {
		tags, err := a.logs().ListTagsForResource(ctx, &cwl.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		return err == nil && tags.Tags["env"] == "prod" && tags.Tags["team"] == "blue", fmt.Sprintf("%v %v", tags, err)
	})

	if _, err := b.logs().DeleteLogGroup(ctx, &cwl.DeleteLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		waitFor(t, 30*time.Second, "the group and its events gone on "+s.name, func() (bool, string) {
			gs, err := s.logs().DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
			if err != nil || len(gs.LogGroups) != 0 {
				return false, fmt.Sprintf("groups %v %v", gs, err)
			}
			_, err = s.logs().GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
			var nf *cwltypes.ResourceNotFoundException
			if !errors.As(err, &nf) {
				return false, fmt.Sprintf("GetLogEvents: %v", err)
			}
			return true, ""
		})
	}
	if _, err := c.logs().CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("x")}); err == nil {
		t.Fatal("a stream was created in the deleted group")
	}
}
