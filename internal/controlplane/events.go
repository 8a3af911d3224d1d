package controlplane

import (
	"context"
	"os"
	"strconv"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/events/delivery"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/store"
)

// ScheduleScaleEnv names the test knob that speeds up rate() schedules:
// MINATO_EVENTS_SCHEDULE_SCALE=60 makes rate(1 minute) fire every second
// (docs/events.md). Unset: real time.
const ScheduleScaleEnv = "MINATO_EVENTS_SCHEDULE_SCALE"

// newEventsWorker builds the EventBridge delivery controller. Its ECS
// targets run tasks through the ECS API's RunTask (the same checks and
// task definition lookup as a user's call; internal/tasks launches).
func newEventsWorker(n *Node, st store.Store, ost *outbox.Store, cfg Config) *delivery.Worker {
	scale, _ := strconv.ParseFloat(os.Getenv(ScheduleScaleEnv), 64)
	call := &awsproto.Call{Operation: "RunTask", Service: "ecs", Region: cfg.Region,
		Principal: awsproto.Principal{AccountID: cfg.AccountID, ARN: "arn:aws:iam::" + cfg.AccountID + ":root"}}
	return &delivery.Worker{
		Store: st, Logs: n.Logs, Clock: cfg.Clock, IDs: cfg.IDs, Seq: ost.Seq, Scope: ost.Scope,
		Logger: cfg.Logger.With("component", "events"), ScheduleScale: scale,
		RunTask: func(ctx context.Context, in *ecstypes.RunTaskRequest) (*ecstypes.RunTaskResponse, error) {
			return n.ECS.RunTask(ctx, call, in)
		},
	}
}
