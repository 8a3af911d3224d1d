package ecs

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/minato-project/minato/internal/store/bolt"
)

// BenchmarkRegisterTaskDefinitionOneFamily registers revisions of one
// family from 64 callers at once (32 per CPU on the 2-CPU machine): what
// a deploy script fanned out over many services of one family does. It
// reports the transactions that lost a race for the family record per
// registration.
func BenchmarkRegisterTaskDefinitionOneFamily(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cc := &conflictCounter{Store: st}
	a := New(Config{Store: cc, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.RegisterTaskDefinition(ctx, call, simpleTD("hot")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(cc.conflicts.Load())/float64(b.N), "conflicts/op")
}
