package clusterview

import (
	"context"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
)

// On etcd, writes beside the view's prefix (log batches, in a sibling
// store) never reach the view's watch, and yet Sync, which waits for the
// store's revision, returns: a progress report says those revisions hold
// nothing for it.
func TestSiblingWritesDoNotReachTheView(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded etcd: not in -short")
	}
	_, cli := etcdtest.Start(t, etcdtest.Options{})
	st := etcdstore.New(cli, etcdstore.Options{})
	defer st.Close()
	logs := st.Sibling("logs")
	defer logs.Close()
	v := New(st, nil)
	v.SetProgress(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()

	vst := v.Store()
	if _, err := vst.Txn(wctx, nil, []store.Op{store.Put("clusters/c1", []byte("{}"))}); err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(wctx); err != nil {
		t.Fatal(err)
	}
	before := v.Stats().Events
	var last int64
	for i := range 50 {
		rev, err := logs.Txn(wctx, nil, []store.Op{store.Put("logbatches/x", []byte{byte(i)})})
		if err != nil {
			t.Fatal(err)
		}
		last = rev
	}
	start := time.Now()
	if err := v.Sync(wctx); err != nil {
		t.Fatalf("Sync after writes beside the prefix: %v", err)
	}
	if got := v.Revision(); got < last {
		t.Fatalf("view at revision %d after Sync, the last write was at %d", got, last)
	}
	t.Logf("Sync took %v", time.Since(start))
	if got := v.Stats().Events - before; got > 5 {
		t.Fatalf("the view saw %d events for 50 writes beside its prefix (progress reports only expected)", got)
	}
	// A write in the prefix after them is seen as usual.
	rev, err := vst.Txn(wctx, nil, []store.Op{store.Put("clusters/c2", []byte("{}"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.WaitFor(wctx, rev); err != nil {
		t.Fatal(err)
	}
}
