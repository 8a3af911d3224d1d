package delivery

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/events/transform"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
	ev "github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// DeadLetterGroup is the log group of dead-lettered events whose target
// names no log group as its DeadLetterConfig.
const DeadLetterGroup = "/minato/events/dead-letter"

// Default RetryPolicy, as AWS's.
const (
	defaultRetries = 185
	defaultMaxAge  = 24 * time.Hour
)

// permanent marks an error a retry cannot fix (it dead-letters at once).
type permanent struct{ error }

// throttled marks a delivery held back by its destination's rate limit:
// not an attempt.
type throttled struct{ until time.Time }

func (t throttled) Error() string { return "rate limited" }

// workers bounds the deliveries sent at once.
const workers = 16

type job struct {
	key string
	rev int64
	d   state.Delivery
}

type result struct {
	job
	err error
}

// deliverDue sends the deliveries that are due, and records the outcome
// in one Txn. It returns when the next retry is due.
func (w *Worker) deliverDue(ctx context.Context) (time.Time, error) {
	now := w.Clock.Now()
	next := now.Add(time.Hour)
	kvs, _, err := w.Store.List(ctx, state.DeliveriesPrefix(), store.ListOptions{})
	if err != nil {
		return next, err
	}
	var due []job
	for _, kv := range kvs {
		var d state.Delivery
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			continue
		}
		if d.NextAt.After(now) {
			if d.NextAt.Before(next) {
				next = d.NextAt
			}
			continue
		}
		due = append(due, job{key: kv.Key, rev: kv.ModRevision, d: d})
	}
	if len(due) == 0 {
		return next, nil
	}
	results := w.send(ctx, due)
	var ops []store.Op
	var delivered, failed, dead int64
	for _, r := range results {
		if r.err == nil {
			ops = append(ops, store.Delete(r.key))
			delivered++
			continue
		}
		d := r.d
		var th throttled
		if errors.As(r.err, &th) {
			d.NextAt = th.until
		} else {
			failed++
			d.Attempts++
			d.LastError = r.err.Error()
			if w.givesUp(d, r.err, now) {
				if err := w.deadLetter(d); err != nil {
					w.Logger.Warn("dead-letter write failed; the delivery stays", "rule", d.Rule, "target", d.Target.Id, "err", err)
				} else {
					ops = append(ops, store.Delete(r.key))
					dead++
					continue
				}
			}
			d.NextAt = now.Add(w.backoff(d.Attempts))
		}
		if d.NextAt.Before(next) {
			next = d.NextAt
		}
		b, err := state.Encode(d)
		if err != nil {
			return next, err
		}
		ops = append(ops, store.Put(r.key, b))
	}
	if len(ops) > 0 {
		if _, err := w.Store.Txn(ctx, nil, ops); err != nil {
			return next, err
		}
	}
	w.mu.Lock()
	w.metrics.Delivered += delivered
	w.metrics.Failed += failed
	w.metrics.DeadLettered += dead
	w.mu.Unlock()
	return next, nil
}

func (w *Worker) backoff(attempts int) time.Duration {
	d := time.Second
	for i := 1; i < attempts && d < w.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, w.MaxBackoff)
}

func (w *Worker) givesUp(d state.Delivery, err error, now time.Time) bool {
	var p permanent
	if errors.As(err, &p) {
		return true
	}
	retries, maxAge := defaultRetries, defaultMaxAge
	if rp := d.Target.RetryPolicy; rp != nil {
		retries = int(rp.MaximumRetryAttempts)
		if rp.MaximumEventAgeInSeconds > 0 {
			maxAge = time.Duration(rp.MaximumEventAgeInSeconds) * time.Second
		}
	}
	return d.Attempts > retries || now.Sub(d.Created) >= maxAge
}

// deadLetter writes a delivery given up into its dead-letter log group.
func (w *Worker) deadLetter(d state.Delivery) error {
	if w.Logs == nil {
		return nil
	}
	group := DeadLetterGroup
	if dl := d.Target.DeadLetterConfig; dl != nil && dl.Arn != "" {
		if g, ok := logGroupOf(dl.Arn); ok {
			group = g
		}
	}
	rec := map[string]any{"rule": d.RuleARN, "targetId": d.Target.Id, "targetArn": d.Target.Arn, "attempts": d.Attempts,
		"error": d.LastError, "event": d.Event}
	if dl := d.Target.DeadLetterConfig; dl != nil {
		rec["deadLetterArn"] = dl.Arn
	}
	b, _ := json.Marshal(rec)
	stream := d.Bus + "." + d.Rule
	if err := w.Logs.EnsureStream(group, stream, true); err != nil {
		return err
	}
	_, err := w.Logs.Append(group, stream, []logstore.Event{{Timestamp: w.Clock.Now().UnixMilli(), Message: string(b)}})
	return err
}

// send delivers the jobs, several at once, log group targets in batches.
func (w *Worker) send(ctx context.Context, jobs []job) []result {
	out := make([]result, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = result{job: jobs[i], err: w.deliver(ctx, jobs[i].d)}
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// deliver sends one event to one target.
func (w *Worker) deliver(ctx context.Context, d state.Delivery) error {
	t := d.Target
	in := transform.Input{Input: t.Input, InputPath: t.InputPath}
	if t.InputTransformer != nil {
		in.HasTemplate, in.Paths, in.Template = true, t.InputTransformer.InputPathsMap, t.InputTransformer.InputTemplate
	}
	body, err := in.Apply(d.Event, transform.Context{RuleARN: d.RuleARN, RuleName: d.Rule, IngestionTime: d.Created.UTC().Format(time.RFC3339)})
	if err != nil {
		return permanent{err}
	}
	p, err := arn.Parse(t.Arn)
	if err != nil {
		return permanent{err}
	}
	switch {
	case p.Service == "logs":
		return w.toLogs(t.Arn, d, body)
	case p.Service == "ecs":
		return w.toECS(ctx, d, body)
	case p.Service == "events" && strings.HasPrefix(p.Resource, "api-destination/"):
		return w.toHTTP(ctx, d, body)
	case p.Service == "events" && strings.HasPrefix(p.Resource, "event-bus/"):
		return w.toBus(ctx, strings.TrimPrefix(p.Resource, "event-bus/"), d)
	}
	return permanent{fmt.Errorf("minato does not deliver to %s", t.Arn)}
}

func logGroupOf(a string) (string, bool) {
	p, err := arn.Parse(a)
	if err != nil || p.Service != "logs" {
		return "", false
	}
	g, ok := strings.CutPrefix(p.Resource, "log-group:")
	g = strings.TrimSuffix(g, ":*")
	return g, ok && g != ""
}

// toLogs appends the event to its log group, in a stream named after the
// event's ID (as AWS names them).
func (w *Worker) toLogs(target string, d state.Delivery, body []byte) error {
	if w.Logs == nil {
		return permanent{errors.New("no log store")}
	}
	group, ok := logGroupOf(target)
	if !ok {
		return permanent{fmt.Errorf("not a log group ARN: %s", target)}
	}
	var e events.Event
	json.Unmarshal(d.Event, &e)
	stream := e.ID
	if stream == "" {
		stream = "events"
	}
	if err := w.Logs.EnsureStream(group, stream, false); err != nil {
		return err // a group that does not exist (yet): retried
	}
	ts := w.Clock.Now()
	if t, err := time.Parse(events.TimeFormat, e.Time); err == nil {
		ts = t
	}
	_, err := w.Logs.Append(group, stream, []logstore.Event{{Timestamp: ts.UnixMilli(), Message: string(body)}})
	return err
}

// toECS runs the target's tasks. The input, when the target sets one, is
// the task's overrides (containerOverrides, cpu, memory, ...).
func (w *Worker) toECS(ctx context.Context, d state.Delivery, body []byte) error {
	if w.RunTask == nil {
		return permanent{errors.New("no ECS")}
	}
	p := d.Target.EcsParameters
	if p == nil {
		return permanent{errors.New("the target has no EcsParameters")}
	}
	count := p.TaskCount
	if count == 0 {
		count = 1
	}
	req := &ecstypes.RunTaskRequest{Cluster: d.Target.Arn, TaskDefinition: p.TaskDefinitionArn, Count: &count,
		LaunchType: ecstypes.LaunchType(p.LaunchType), PlatformVersion: p.PlatformVersion, Group: p.Group,
		StartedBy: "events-rule/" + d.Rule, EnableExecuteCommand: p.EnableExecuteCommand}
	if nc := p.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		req.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: nc.AwsvpcConfiguration.Subnets, SecurityGroups: nc.AwsvpcConfiguration.SecurityGroups,
			AssignPublicIp: ecstypes.AssignPublicIp(nc.AwsvpcConfiguration.AssignPublicIp)}}
	}
	for _, cp := range p.CapacityProviderStrategy {
		req.CapacityProviderStrategy = append(req.CapacityProviderStrategy, ecstypes.CapacityProviderStrategyItem{
			CapacityProvider: cp.CapacityProvider, Weight: cp.Weight, Base: cp.Base})
	}
	for _, t := range p.Tags {
		req.Tags = append(req.Tags, ecstypes.Tag{Key: t.Key, Value: t.Value})
	}
	if d.Target.Input != "" || d.Target.InputPath != "" || d.Target.InputTransformer != nil {
		var o ecstypes.TaskOverride
		if err := json.Unmarshal(body, &o); err != nil {
			return permanent{fmt.Errorf("the input is not a task override: %v", err)}
		}
		req.Overrides = &o
	}
	out, err := w.RunTask(ctx, req)
	if err != nil {
		return err
	}
	if len(out.Failures) > 0 && len(out.Tasks) == 0 {
		return fmt.Errorf("RunTask: %s", out.Failures[0].Reason)
	}
	return nil
}

// toBus puts the event on another bus (it keeps its ID, as on AWS).
func (w *Worker) toBus(ctx context.Context, bus string, d state.Delivery) error {
	if bus != outbox.DefaultBus {
		if _, err := w.Store.Get(ctx, state.EventBusKey(bus)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("event bus %s does not exist", bus)
			}
			return err
		}
	}
	var e events.Event
	if err := json.Unmarshal(d.Event, &e); err != nil {
		return permanent{err}
	}
	return outbox.Put(ctx, w.Store, w.Seq, bus, []events.Event{e})
}

// toHTTP calls the API destination.
func (w *Worker) toHTTP(ctx context.Context, d state.Delivery, body []byte) error {
	name := strings.TrimPrefix(d.Target.Arn[strings.Index(d.Target.Arn, "api-destination/"):], "api-destination/")
	name, _, _ = strings.Cut(name, "/")
	dest, err := state.Get[state.APIDestination](ctx, w.Store, state.APIDestinationKey(name))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("API destination %s does not exist", name)
		}
		return err
	}
	conn, err := state.Get[state.Connection](ctx, w.Store, state.ConnectionKey(dest.Value.Connection))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("connection %s does not exist", dest.Value.Connection)
		}
		return err
	}
	if until, ok := w.take(name, dest.Value.RateLimitPerSecond); !ok {
		return throttled{until: until}
	}
	endpoint := dest.Value.Endpoint
	var hp *ev.HttpParameters = d.Target.HttpParameters
	if hp != nil {
		for _, v := range hp.PathParameterValues {
			endpoint = strings.Replace(endpoint, "*", url.PathEscape(v), 1)
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return permanent{err}
	}
	q := u.Query()
	req, err := http.NewRequestWithContext(ctx, dest.Value.Method, "", bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Amazon/EventBridge/ApiDestinations")
	c := conn.Value
	if p := c.HTTPParameters; p != nil {
		for _, h := range p.HeaderParameters {
			req.Header.Set(h.Key, h.Value)
		}
		for _, k := range p.QueryStringParameters {
			q.Set(k.Key, k.Value)
		}
	}
	if hp != nil {
		for k, v := range hp.HeaderParameters {
			req.Header.Set(k, v)
		}
		for k, v := range hp.QueryStringParameters {
			q.Set(k, v)
		}
	}
	switch c.AuthorizationType {
	case string(ev.ConnectionAuthorizationTypeBasic):
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.BasicUsername+":"+c.BasicPassword)))
	case string(ev.ConnectionAuthorizationTypeApiKey):
		req.Header.Set(c.APIKeyName, c.APIKeyValue)
	}
	u.RawQuery = q.Encode()
	req.URL = u
	req.Host = u.Host
	resp, err := w.HTTP.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Errorf("%s answered %s", dest.Value.Endpoint, resp.Status)
	}
	return permanent{fmt.Errorf("%s answered %s", dest.Value.Endpoint, resp.Status)}
}

// bucket is a token bucket of one API destination.
type bucket struct {
	tokens float64
	at     time.Time
}

// take takes a token of destination name's bucket (rate per second; 0:
// AWS's default of 300); when there is none it says when there will be.
func (w *Worker) take(name string, rate int32) (time.Time, bool) {
	if rate <= 0 {
		rate = 300
	}
	now := w.Clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.limits[name]
	if b == nil {
		b = &bucket{tokens: float64(rate), at: now}
		w.limits[name] = b
	}
	b.tokens = min(float64(rate), b.tokens+now.Sub(b.at).Seconds()*float64(rate))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return now, true
	}
	return now.Add(time.Duration((1 - b.tokens) / float64(rate) * float64(time.Second))), false
}
