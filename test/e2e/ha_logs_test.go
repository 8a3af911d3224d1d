package e2e

import (
	"context"
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
