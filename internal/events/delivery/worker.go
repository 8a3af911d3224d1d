// Package delivery is the EventBridge controller: it takes events out of
// the outbox, matches them against the rules of their bus, and delivers
// them to the rules' targets, at least once, with retries, a RetryPolicy
// and a dead-letter record; and it fires schedule rules.
//
//	outbox/<seq>  ──match rules──►  deliveries/<seq>/<bus>/<rule>/<target>  ──send──►  target
//	   (written with the change)      (one Txn: outbox entry out, deliveries in)   (deleted once sent,
//	                                                                                 or dead-lettered)
//
// Every step is a store transaction, so a crash at any point leaves an
// outbox entry or a delivery record behind, which the next pass (after a
// restart, on whichever node leads) takes up again: nothing committed is
// lost, and a target may see an event twice (at least once, as on AWS).
//
// A failed delivery is retried with exponential backoff (1 s doubling up
// to MaxBackoff) until the target's RetryPolicy gives up
// (MaximumRetryAttempts, default 185; MaximumEventAgeInSeconds, default
// 24 h); then, or at once for a client error (HTTP 4xx but 429), the
// event goes to the dead-letter log group (the target's DeadLetterConfig
// when it names a log group, else /minato/events/dead-letter), one stream
// per rule, readable with `aws logs`.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/events/pattern"
	"github.com/minato-project/minato/internal/events/schedule"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// RunTask runs ECS tasks for an ECS target (the ECS API's RunTask, which
// checks the request and asks internal/tasks to launch).
type RunTask func(ctx context.Context, in *ecstypes.RunTaskRequest) (*ecstypes.RunTaskResponse, error)

// Worker is the controller. Run it on the leader only.
type Worker struct {
	Store   store.Store
	Logs    *logstore.Store
	RunTask RunTask
	Clock   core.Clock
	IDs     core.IDs
	Seq     *outbox.Sequencer
	Scope   arn.Scope
	Logger  *slog.Logger
	HTTP    *http.Client
	// MaxBackoff caps the wait between retries; default 30 s.
	MaxBackoff time.Duration
	// ScheduleScale divides the period of rate() schedules (a test knob:
	// 60 makes rate(1 minute) fire every second); default 1.
	ScheduleScale float64
	// Batch bounds the outbox entries one pass takes; default 500.
	Batch int

	mu      sync.Mutex
	rules   map[string][]*rule // by bus
	indexes map[string]*index  // by bus
	limits  map[string]*bucket // API destination rate limits
	kick    chan struct{}
	metrics Metrics
}

// Metrics counts what the worker did (for tests and the benchmark).
type Metrics struct {
	Matched, Delivered, Failed, DeadLettered int64
}

type rule struct {
	rec     state.EventRule
	arn     string
	pattern *pattern.Pattern
	sched   schedule.Schedule
}

// Stats returns the worker's counters.
func (w *Worker) Stats() Metrics {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.metrics
}

func (w *Worker) defaults() {
	if w.Clock == nil {
		w.Clock = core.SystemClock{}
	}
	if w.IDs == nil {
		w.IDs = core.RandomIDs{}
	}
	if w.Seq == nil {
		w.Seq = &outbox.Sequencer{Clock: w.Clock}
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.HTTP == nil {
		w.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if w.MaxBackoff == 0 {
		w.MaxBackoff = 30 * time.Second
	}
	if w.ScheduleScale <= 0 {
		w.ScheduleScale = 1
	}
	if w.Batch == 0 {
		w.Batch = 500
	}
	w.kick = make(chan struct{}, 1)
	w.limits = map[string]*bucket{}
}

// Run runs the worker until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	for ctx.Err() == nil {
		if err := w.run(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Warn("event delivery restarts", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (w *Worker) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Worker) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rev, err := w.Store.Revision(ctx)
	if err != nil {
		return err
	}
	wt, err := w.Store.Watch(ctx, "events/", rev)
	if err != nil {
		return err
	}
	if err := w.loadRules(ctx); err != nil {
		return err
	}
	watchErr := make(chan error, 1)
	go func() {
		rulesPrefix := state.EventRulesPrefix("")
		for e := range wt.Events() {
			if len(e.KV.Key) >= len(rulesPrefix) && e.KV.Key[:len(rulesPrefix)] == rulesPrefix {
				if err := w.loadRules(ctx); err != nil {
					watchErr <- err
					return
				}
			}
			if e.Type == store.EventPut {
				w.wake()
			}
		}
		watchErr <- fmt.Errorf("watch ended: %v", wt.Err())
	}()
	w.wake()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			return err
		case <-w.kick:
		case <-timer.C:
		}
		next, err := w.pass(ctx)
		if err != nil {
			return err
		}
		timer.Reset(time.Until(next))
	}
}

// loadRules reads and compiles every rule.
func (w *Worker) loadRules(ctx context.Context) error {
	items, err := state.List[state.EventRule](ctx, w.Store, state.EventRulesPrefix(""), store.ListOptions{})
	if err != nil {
		return err
	}
	byBus := map[string][]*rule{}
	for _, it := range items {
		r := &rule{rec: it.Value, arn: ruleARN(w.Scope, it.Value.Bus, it.Value.Name)}
		if r.rec.EventPattern != "" {
			if r.pattern, err = pattern.Compile(r.rec.EventPattern); err != nil {
				continue // the API checked it; a record that does not compile matches nothing
			}
		}
		if r.rec.ScheduleExpression != "" {
			r.sched, _ = schedule.Parse(r.rec.ScheduleExpression)
		}
		byBus[r.rec.Bus] = append(byBus[r.rec.Bus], r)
	}
	indexes := map[string]*index{}
	for bus, rs := range byBus {
		var live []*rule
		for _, r := range rs {
			if r.pattern != nil && r.rec.State == "ENABLED" && len(r.rec.Targets) > 0 {
				live = append(live, r)
			}
		}
		indexes[bus] = buildIndex(live)
	}
	w.mu.Lock()
	w.rules, w.indexes = byBus, indexes
	w.mu.Unlock()
	return nil
}

func ruleARN(s arn.Scope, bus, name string) string {
	if bus == outbox.DefaultBus {
		return s.New("events", "rule/"+name)
	}
	return s.New("events", "rule/"+bus+"/"+name)
}

// pass fans the outbox out, fires due schedules, and sends the due
// deliveries; it returns when it wants to run next.
func (w *Worker) pass(ctx context.Context) (time.Time, error) {
	now := w.Clock.Now()
	next := now.Add(time.Hour)
	for {
		more, err := w.fanOut(ctx)
		if err != nil {
			return next, err
		}
		if !more {
			break
		}
	}
	at, err := w.fireSchedules(ctx, now)
	if err != nil {
		return next, err
	}
	if at.Before(next) {
		next = at
	}
	at, err = w.deliverDue(ctx)
	if err != nil {
		return next, err
	}
	if at.Before(next) {
		next = at
	}
	return next, nil
}

// fanOut turns a batch of outbox entries into deliveries, in one Txn.
// more says whether the outbox held more than the batch.
func (w *Worker) fanOut(ctx context.Context) (more bool, err error) {
	kvs, _, err := w.Store.List(ctx, state.OutboxPrefix(), store.ListOptions{Limit: w.Batch})
	if err != nil || len(kvs) == 0 {
		return false, err
	}
	now := w.Clock.Now()
	var ops []store.Op
	matched := 0
	for _, kv := range kvs {
		ops = append(ops, store.Delete(kv.Key))
		var ob state.OutboxEvent
		if err := json.Unmarshal(kv.Value, &ob); err != nil {
			w.Logger.Warn("dropping an outbox entry that does not decode", "key", kv.Key, "err", err)
			continue
		}
		var seq uint64
		fmt.Sscanf(kv.Key[len(state.OutboxPrefix()):], "%d", &seq)
		for _, r := range w.match(ob) {
			for _, t := range r.rec.Targets {
				d := state.Delivery{Bus: r.rec.Bus, Rule: r.rec.Name, RuleARN: r.arn, Target: t, Event: ob.Event, Created: now}
				b, err := state.Encode(d)
				if err != nil {
					return false, err
				}
				ops = append(ops, store.Put(state.DeliveryKey(seq, r.rec.Bus, r.rec.Name, t.Id), b))
			}
			matched++
		}
	}
	if _, err := w.Store.Txn(ctx, nil, ops); err != nil {
		return false, err
	}
	w.mu.Lock()
	w.metrics.Matched += int64(matched)
	w.mu.Unlock()
	return len(kvs) == w.Batch, nil
}

// match returns the enabled rules of the event's bus that it matches (a
// schedule's firing: its rule only).
func (w *Worker) match(ob state.OutboxEvent) []*rule {
	w.mu.Lock()
	rules := w.rules[ob.Bus]
	w.mu.Unlock()
	var out []*rule
	if ob.Rule != "" {
		for _, r := range rules {
			if r.rec.Name == ob.Rule && r.rec.State == "ENABLED" {
				out = append(out, r)
			}
		}
		return out
	}
	w.mu.Lock()
	ix := w.indexes[ob.Bus]
	w.mu.Unlock()
	if ix == nil {
		return nil
	}
	ev, err := pattern.DecodeEvent(ob.Event)
	if err != nil {
		return nil
	}
	ix.candidates(ev, func(r *rule) {
		if r.pattern.Match(ev) {
			out = append(out, r)
		}
	})
	return out
}

// fireSchedules puts the firing of every due schedule rule into the
// outbox, with the rule's new mark in the same Txn (a firing happens once
// even across a crash). It returns when the next one is due.
func (w *Worker) fireSchedules(ctx context.Context, now time.Time) (time.Time, error) {
	next := now.Add(time.Hour)
	w.mu.Lock()
	var rules []*rule
	for _, rs := range w.rules {
		for _, r := range rs {
			if r.sched != nil && r.rec.State == "ENABLED" {
				rules = append(rules, r)
			}
		}
	}
	w.mu.Unlock()
	for _, r := range rules {
		markKey := state.ScheduleMarkKey(r.rec.Bus, r.rec.Name)
		var last time.Time
		var markRev int64
		if kv, err := w.Store.Get(ctx, markKey); err == nil {
			json.Unmarshal(kv.Value, &last)
			markRev = kv.ModRevision
		} else if !errors.Is(err, store.ErrNotFound) {
			return next, err
		}
		from := r.rec.EnabledAt
		if last.Before(from) {
			last = from
		}
		due, ok := w.nextFiring(r, from, last)
		if !ok {
			continue
		}
		if due.After(now) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		// Fire once for the latest due time (missed firings are not
		// made up, as on AWS), and mark it.
		for {
			n, ok := w.nextFiring(r, from, due)
			if !ok || n.After(now) {
				break
			}
			due = n
		}
		mark, _ := json.Marshal(due)
		e := events.Event{Version: "0", ID: events.UUID(w.IDs.NewID()), DetailType: "Scheduled Event", Source: "aws.events",
			Account: w.Scope.AccountID, Time: events.FormatTime(due), Region: w.Scope.Region, Resources: []string{r.arn}, Detail: json.RawMessage(`{}`)}
		eb, _ := json.Marshal(e)
		ob, err := state.Encode(state.OutboxEvent{Bus: r.rec.Bus, Event: eb, Rule: r.rec.Name})
		if err != nil {
			return next, err
		}
		cond := store.MustNotExist(markKey)
		if markRev != 0 {
			cond = store.MustBeAt(markKey, markRev)
		}
		_, err = w.Store.Txn(ctx, []store.Cond{cond}, []store.Op{store.Put(markKey, mark), store.Put(state.OutboxKey(w.Seq.Next()), ob)})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return next, err
		}
		if n, ok := w.nextFiring(r, from, due); ok && n.Before(next) {
			next = n
		}
	}
	return next, nil
}

// nextFiring is the rule's first firing after t; rate() periods are
// divided by ScheduleScale.
func (w *Worker) nextFiring(r *rule, from, t time.Time) (time.Time, bool) {
	if rt, ok := r.sched.(schedule.Rate); ok && w.ScheduleScale != 1 {
		rt.Every = time.Duration(float64(rt.Every) / w.ScheduleScale)
		if rt.Every <= 0 {
			rt.Every = time.Millisecond
		}
		return rt.Next(from, t)
	}
	return r.sched.Next(from, t)
}
