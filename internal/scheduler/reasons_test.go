package scheduler

import (
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Every message EventMessage writes reads back as the reason it was
// written for.
func TestEventReasonsReadBackEventMessage(t *testing.T) {
	closest := func(reason string) Result {
		return Result{Unplaced: 1, Failures: []ecstypes.Failure{{Reason: reason}}, closest: 1, closestID: "i-1"}
	}
	for _, tc := range []struct {
		r    Result
		want []string
	}{
		{closest(ReasonCPU), []string{ReasonCPU}},
		{closest(ReasonMemory), []string{ReasonMemory}},
		{closest(ReasonPortsUDP), []string{ReasonPorts}},
		{closest(ReasonAttribute), []string{ReasonAttribute}},
		{closest(ReasonMemberOf), []string{}},
		{Result{Unplaced: 1, Fargate: true}, []string{"RESOURCE:FARGATE"}},
		{Result{Unplaced: 1, NoInstances: true}, []string{}},
	} {
		msg := tc.r.EventMessage("web")
		if msg == "" {
			t.Fatalf("%+v: no message", tc.r)
		}
		if got := EventReasons(msg); !slices.Equal(got, tc.want) {
			t.Errorf("%q: reasons %v, want %v", msg, got, tc.want)
		}
	}
}
