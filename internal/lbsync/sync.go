package lbsync

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Applier takes a new configuration and returns the listeners it could
// not bind (listener ARN -> error; nil when all bound). *lb.Plane
// implements it.
type Applier interface {
	Update(cfg *lb.Config) map[string]error
}

// HealthSource reports a target group's target health. *lb.Plane
// implements it.
type HealthSource interface {
	Health(tgARN string) []lb.TargetStatus
}

// Defaults of Syncer.
const (
	DefaultReapInterval = time.Second
	DefaultDebounce     = 20 * time.Millisecond
	// DrainSlack is how long past a group's deregistration delay a
	// draining registration is kept when the plane never reports it
	// drained (it does not know it, or is gone).
	DrainSlack = 5 * time.Second
)

// Syncer keeps a data plane in step with the store.
type Syncer struct {
	Store  store.Store
	Plane  Applier
	Health HealthSource
	// LBAddr is the address every listener binds; default 127.0.0.1.
	LBAddr string
	Logger *slog.Logger
	Clock  core.Clock
	// ReapInterval is how often drained targets are looked for; default
	// DefaultReapInterval.
	ReapInterval time.Duration
	// Debounce coalesces bursts of changes into one update; default
	// DefaultDebounce.
	Debounce time.Duration

	last     *lb.Config
	bindErrs map[string]string

	mu      sync.Mutex
	dirty   chan struct{} // asks Run for a sync
	applied int64         // the store revision the plane's configuration includes
	moved   chan struct{} // closed when applied moves
}

// WaitApplied returns once the plane runs a configuration that includes
// every change up to the store revision rev, or with ctx's error. Callers
// that change routing (a deployment moving traffic) use it so that what
// they record next is what the load balancer does. It asks for a sync,
// so it does not wait for an unrelated change.
func (s *Syncer) WaitApplied(ctx context.Context, rev int64) error {
	for {
		s.mu.Lock()
		if s.applied >= rev {
			s.mu.Unlock()
			return nil
		}
		if s.moved == nil {
			s.moved = make(chan struct{})
		}
		ch := s.moved
		if s.dirty != nil {
			select {
			case s.dirty <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setApplied records that the plane's configuration includes rev.
func (s *Syncer) setApplied(rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev <= s.applied {
		return
	}
	s.applied = rev
	if s.moved != nil {
		close(s.moved)
		s.moved = nil
	}
}

func (s *Syncer) defaults() {
	if s.LBAddr == "" {
		s.LBAddr = "127.0.0.1"
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Clock == nil {
		s.Clock = core.SystemClock{}
	}
	if s.ReapInterval <= 0 {
		s.ReapInterval = DefaultReapInterval
	}
	if s.Debounce <= 0 {
		s.Debounce = DefaultDebounce
	}
}

// Run applies the store's configuration to the plane, then again after
// every change, and reaps drained targets, until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	s.defaults()
	dirty := make(chan struct{}, 1)
	s.mu.Lock()
	s.dirty = dirty
	s.mu.Unlock()
	mark := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	rev, err := s.Store.Revision(ctx)
	for err != nil {
		s.Logger.Warn("load balancer sync: store revision", "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
		rev, err = s.Store.Revision(ctx)
	}
	var watchers sync.WaitGroup
	defer watchers.Wait()
	for _, prefix := range []string{state.ELBv2Prefix(), state.AllContainerInstancesPrefix()} {
		watchers.Go(func() { s.watch(ctx, prefix, rev, mark) })
	}

	s.sync(ctx)
	reap := time.NewTicker(s.ReapInterval)
	defer reap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-dirty:
			if !sleep(ctx, s.Debounce) {
				return
			}
			select {
			case <-dirty:
			default:
			}
			s.sync(ctx)
		case <-reap.C:
			if len(s.bindErrs) > 0 {
				s.sync(ctx) // try the listeners that could not bind again
			}
			if err := s.Reap(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Warn("load balancer sync: reaping drained targets", "err", err)
			}
		}
	}
}

// watch follows the records under prefix from rev and calls mark on
// every change that can change the configuration. A watch that ends
// (compaction, a lagging watcher, a store error) starts again from the
// current revision, after a full resync.
func (s *Syncer) watch(ctx context.Context, prefix string, rev int64, mark func()) {
	// Container instances change with every task placed on them; only a
	// change of where targets on them are reached matters here.
	reach := map[string]instanceReach{}
	for {
		w, err := s.Store.Watch(ctx, prefix, rev)
		if err == nil {
			for ev := range w.Events() {
				rev = ev.KV.ModRevision
				if !state.IsELBv2ConfigKey(ev.KV.Key) {
					continue
				}
				if strings.HasPrefix(ev.KV.Key, state.AllContainerInstancesPrefix()) {
					r, ok := reachOf(ev)
					if ok && reach[ev.KV.Key] == r {
						continue
					}
					if ok {
						reach[ev.KV.Key] = r
					} else {
						delete(reach, ev.KV.Key)
					}
				}
				mark()
			}
			err = w.Err()
		}
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return
		}
		s.Logger.Info("load balancer sync: watch ended, resyncing", "prefix", prefix, "err", err)
		if !sleep(ctx, 100*time.Millisecond) {
			return
		}
		if r, err := s.Store.Revision(ctx); err == nil {
			rev = r
		}
		mark()
	}
}

// instanceReach is what the configuration reads of a container instance.
type instanceReach struct{ ec2InstanceID, address string }

// reachOf decodes what the configuration reads of a container instance
// event; false for a deletion or a record it cannot read.
func reachOf(ev store.Event) (instanceReach, bool) {
	if ev.Type != store.EventPut {
		return instanceReach{}, false
	}
	var ci struct {
		EC2InstanceID string `json:"ec2InstanceId"`
		Address       string `json:"address"`
	}
	if err := json.Unmarshal(ev.KV.Value, &ci); err != nil {
		return instanceReach{}, false
	}
	return instanceReach{ci.EC2InstanceID, ci.Address}, true
}

// sync builds the configuration and applies it when it changed.
func (s *Syncer) sync(ctx context.Context) {
	// The snapshot read after this revision includes every change up to it.
	rev, err := s.Store.Revision(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Warn("load balancer sync: store revision", "err", err)
		}
		return
	}
	snap, err := state.LoadELBv2Snapshot(ctx, s.Store)
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Warn("load balancer sync: reading the records", "err", err)
		}
		return
	}
	cfg := Build(snap, s.LBAddr)
	if s.last != nil && reflect.DeepEqual(cfg, s.last) && len(s.bindErrs) == 0 {
		s.setApplied(rev)
		return
	}
	errs := s.Plane.Update(cfg)
	s.last = cfg
	s.setApplied(rev)
	next := map[string]string{}
	for arn, err := range errs {
		if err == nil {
			continue
		}
		next[arn] = err.Error()
		if s.bindErrs[arn] != err.Error() {
			s.Logger.Warn("load balancer listener cannot bind", "listener", arn, "err", err)
		}
	}
	s.bindErrs = next
}

// Reap deletes the registrations of draining targets that the plane
// reports drained, or whose deregistration delay (plus DrainSlack) has
// passed. A registration that changed meanwhile (registered again) stays.
func (s *Syncer) Reap(ctx context.Context) error {
	s.defaults()
	regs, err := state.List[state.Registration](ctx, s.Store, state.AllRegistrationsPrefix(), store.ListOptions{})
	if err != nil {
		return err
	}
	byGroup := map[string][]state.Item[state.Registration]{}
	for _, r := range regs {
		if r.Value.Draining {
			byGroup[r.Value.TargetGroupID] = append(byGroup[r.Value.TargetGroupID], r)
		}
	}
	if len(byGroup) == 0 {
		return nil
	}
	now := s.Clock.Now()
	var errs []error
	for id, rs := range byGroup {
		g, err := state.Get[state.TargetGroup](ctx, s.Store, state.TargetGroupKey(id))
		if err != nil && !state.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		delay := seconds(attrInt(g.Value.Attributes, "deregistration_delay.timeout_seconds", 300))
		var statuses []lb.TargetStatus
		if err == nil && s.Health != nil {
			statuses = s.Health.Health(g.Value.ARN)
		}
		for _, r := range rs {
			drained := slices.ContainsFunc(statuses, func(st lb.TargetStatus) bool {
				return st.Key == lb.Key{ID: r.Value.TargetID, Port: r.Value.Port} && st.Drained
			})
			if !drained && now.Before(r.Value.DeregisteredAt.Add(delay+DrainSlack)) {
				continue
			}
			_, err := s.Store.Txn(ctx, []store.Cond{store.MustBeAt(r.Key, r.ModRevision)}, []store.Op{store.Delete(r.Key)})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
