package logmeta

import (
	"fmt"
	"testing"

	"github.com/minato-project/minato/internal/logstore"
)

// BenchmarkIngest is the agent's log path on one node (EnsureStream for
// the stream, then Append of a batch of 100 lines), without and with the
// metadata in the state store: the records are written once per stream,
// and appends never reach them.
func BenchmarkIngest(b *testing.B) {
	for _, withMeta := range []bool{false, true} {
		b.Run(fmt.Sprintf("meta=%v", withMeta), func(b *testing.B) {
			logs, err := logstore.Open(b.TempDir(), logstore.Options{NoSync: true, SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer logs.Close()
			if withMeta {
				logs.SetMeta(&Records{Store: openStore(b)})
			}
			evs := make([]logstore.Event, 100)
			for i := range evs {
				evs[i] = logstore.Event{Timestamp: int64(i), Message: "GET /health 200 0.4ms user-agent=ELB-HealthChecker/2.0"}
			}
			if err := logs.EnsureStream("/ecs/app", "ecs/web/1", true); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := logs.EnsureStream("/ecs/app", "ecs/web/1", true); err != nil {
					b.Fatal(err)
				}
				for j := range evs {
					evs[j].Timestamp = int64(i*100 + j)
				}
				if _, err := logs.Append("/ecs/app", "ecs/web/1", evs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
