package clusterview

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/store/storetest"
)

// The store every writer of a node uses is the view's wrapper over bolt,
// not bolt itself: it must keep the whole store contract, and keep what
// the engine offers beyond it (bolt compacts, so the suite's compaction
// test runs rather than being skipped).
func TestViewStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		v := New(st, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); v.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
			st.Close()
		})
		vst := v.Store()
		if _, ok := vst.(storetest.Compactor); !ok {
			t.Fatalf("the view's store %T hides bolt's Compact", vst)
		}
		if v.Wrap(vst) != vst {
			t.Fatal("wrapping the view's store again made another wrapper")
		}
		return vst
	})
}
