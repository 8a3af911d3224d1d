package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// BenchmarkTaskTransition commits a task's status change (one conditioned
// put, as internal/tasks does) on the bare engine and through the outbox
// store, which reads the old record and writes the event in the same Txn.
func BenchmarkTaskTransition(b *testing.B) {
	for _, wrapped := range []bool{false, true} {
		b.Run(fmt.Sprintf("outbox=%v", wrapped), func(b *testing.B) {
			ctx := context.Background()
			eng, err := bolt.Open(filepath.Join(b.TempDir(), "s.db"), bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			var st store.Store = eng
			if wrapped {
				st = outbox.Wrap(eng, arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, nil, nil)
			}
			task := state.Task{ID: "t", Cluster: "default", Family: "web", Revision: 1, ContainerIDs: []string{"c1", "c2"},
				Task: ecstypes.Task{LastStatus: "PENDING", DesiredStatus: "RUNNING", Version: 1,
					Containers: []ecstypes.Container{{Name: "app", LastStatus: "PENDING"}, {Name: "sidecar", LastStatus: "PENDING"}}}}
			key := state.TaskKey("default", "t")
			v, _ := state.Encode(task)
			rev, err := st.Txn(ctx, nil, []store.Op{store.Put(key, v)})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				task.Task.Version = int64(i + 2)
				v, _ := state.Encode(task)
				if rev, err = st.Txn(ctx, []store.Cond{{Key: key, ModRevision: rev}}, []store.Op{store.Put(key, v)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTaskEventCPU is the CPU the outbox adds to a task transition
// without the disk: reading the old record (from memory) and making and
// encoding the event.
func BenchmarkTaskEventCPU(b *testing.B) {
	ctx := context.Background()
	mem := &memStore{vals: map[string][]byte{}}
	st := outbox.Wrap(mem, arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, nil, nil)
	task := state.Task{ID: "t", Cluster: "default", Family: "web", Revision: 1, ContainerIDs: []string{"c1", "c2"},
		Task: ecstypes.Task{LastStatus: "PENDING", DesiredStatus: "RUNNING", Version: 1,
			Containers: []ecstypes.Container{{Name: "app", LastStatus: "PENDING"}, {Name: "sidecar", LastStatus: "PENDING"}}}}
	key := state.TaskKey("default", "t")
	mem.vals[key], _ = state.Encode(task)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		task.Task.Version = int64(i + 2)
		v, _ := state.Encode(task)
		if _, err := st.Txn(ctx, nil, []store.Op{store.Put(key, v)}); err != nil {
			b.Fatal(err)
		}
	}
	if mem.puts != 2*b.N {
		b.Fatalf("%d puts for %d transitions", mem.puts, b.N)
	}
}

// memStore is the least store the outbox needs: Get and a Txn that
// counts puts.
type memStore struct {
	store.Store
	vals map[string][]byte
	puts int
}

func (m *memStore) Get(_ context.Context, key string) (store.KV, error) {
	v, ok := m.vals[key]
	if !ok {
		return store.KV{}, store.ErrNotFound
	}
	return store.KV{Key: key, Value: v}, nil
}

func (m *memStore) Txn(_ context.Context, _ []store.Cond, ops []store.Op) (int64, error) {
	m.puts += len(ops)
	return 1, nil
}
