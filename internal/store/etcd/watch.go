package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/minato-project/minato/internal/store"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch streams every change under prefix with a revision greater than
// afterRev, from an etcd watch that starts at afterRev+1. A revision that
// etcd compacted ends the watcher with store.ErrCompacted, as does falling
// more than Options.MaxLag events behind. The watch requires a leader: a
// member cut off from the majority ends it with an error, and the caller
// lists again (on a member that can serve) rather than wait on a stale one.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64) (store.Watcher, error) {
	return s.watch(ctx, prefix, afterRev, false)
}

// WatchProgress is Watch, and the watch also delivers a store.EventProgress
// whenever etcd reports its progress (RequestProgress): every change up to
// the event's revision, under prefix or not, has been delivered. A reader
// that tracks the store's revision (the cluster view) learns from it that
// revisions written elsewhere (other prefixes) hold nothing for it.
func (s *Store) WatchProgress(ctx context.Context, prefix string, afterRev int64) (store.Watcher, error) {
	return s.watch(ctx, prefix, afterRev, true)
}

// RequestProgress asks etcd to report the progress of every watch of the
// store (WatchProgress delivers it).
func (s *Store) RequestProgress(ctx context.Context) error {
	c, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	// The watches run on the stream of WithRequireLeader's contexts.
	if err := s.cli.RequestProgress(clientv3.WithRequireLeader(c)); err != nil {
		return s.fail(ctx, "request progress", err)
	}
	return nil
}

func (s *Store) watch(ctx context.Context, prefix string, afterRev int64, progress bool) (store.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	ch := s.cli.Watch(clientv3.WithRequireLeader(wctx), s.prefix+prefix,
		clientv3.WithPrefix(), clientv3.WithRev(max(afterRev, 0)+1))
	w := &watcher{out: make(chan store.Event, s.opts.WatchBuffer)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer cancel()
		err := s.pump(wctx, ch, w.out, progress)
		switch {
		case s.ctx.Err() != nil:
			err = store.ErrClosed
		case ctx.Err() != nil:
			err = nil
		}
		w.finish(err)
		// Let the client finish the cancelled watch before the store
		// (and perhaps its client) closes.
		cancel()
		for range ch {
		}
	}()
	return w, nil
}

// pump copies the events of etcd's watch to out, queueing at most MaxLag
// that out does not take yet. It returns why the watch ended.
func (s *Store) pump(ctx context.Context, ch clientv3.WatchChan, out chan<- store.Event, progress bool) error {
	var queue []store.Event
	for {
		var (
			send chan<- store.Event
			next store.Event
		)
		if len(queue) > 0 {
			send, next = out, queue[0]
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case send <- next:
			queue[0] = store.Event{}
			queue = queue[1:]
		case resp, ok := <-ch:
			if !ok {
				return errors.New("store/etcd: watch ended")
			}
			if resp.CompactRevision != 0 {
				return store.ErrCompacted
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					return store.ErrCompacted
				}
				return fmt.Errorf("store/etcd: watch: %w", err)
			}
			if progress && resp.IsProgressNotify() {
				queue = append(queue, store.Event{Type: store.EventProgress, KV: store.KV{ModRevision: resp.Header.Revision}, Last: true})
			}
			queue = s.appendEvents(queue, resp.Events)
			if len(queue) > s.opts.MaxLag {
				return store.ErrCompacted
			}
		}
	}
}

// appendEvents converts the events of one watch response. etcd sends every
// event of a revision in one response, so the last event of each revision
// in it is the last that the watch delivers.
func (s *Store) appendEvents(queue []store.Event, evs []*clientv3.Event) []store.Event {
	for i, e := range evs {
		ev := store.Event{Last: i == len(evs)-1 || evs[i+1].Kv.ModRevision != e.Kv.ModRevision}
		if e.Type == mvccpb.DELETE {
			ev.Type = store.EventDelete
			ev.KV = store.KV{Key: string(e.Kv.Key[len(s.prefix):]), ModRevision: e.Kv.ModRevision}
		} else {
			ev.Type = store.EventPut
			ev.KV = s.kv(e.Kv.Key, e.Kv.Value, e.Kv.CreateRevision, e.Kv.ModRevision)
		}
		queue = append(queue, ev)
	}
	return queue
}

// watcher is one open Watch.
type watcher struct {
	out chan store.Event
	mu  sync.Mutex
	err error
}

func (w *watcher) Events() <-chan store.Event { return w.out }

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watcher) finish(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	close(w.out)
}
