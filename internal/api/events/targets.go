package events

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/events/transform"
	ev "github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// maxTargets is how many targets a rule may have.
const maxTargets = 5

// TargetKind is what a target ARN names, as the delivery worker sends to
// it; "" for a service minato does not deliver to.
func TargetKind(targetARN string) string {
	p, err := arn.Parse(targetARN)
	if err != nil {
		return ""
	}
	switch {
	case p.Service == "logs" && strings.HasPrefix(p.Resource, "log-group:"):
		return "logs"
	case p.Service == "ecs" && strings.HasPrefix(p.Resource, "cluster/"):
		return "ecs"
	case p.Service == "events" && strings.HasPrefix(p.Resource, "api-destination/"):
		return "api-destination"
	case p.Service == "events" && strings.HasPrefix(p.Resource, "event-bus/"):
		return "event-bus"
	}
	return ""
}

// TargetInput is a target's input settings for transform.
func TargetInput(t ev.Target) transform.Input {
	in := transform.Input{Input: t.Input, InputPath: t.InputPath}
	if t.InputTransformer != nil {
		in.HasTemplate = true
		in.Paths = t.InputTransformer.InputPathsMap
		in.Template = t.InputTransformer.InputTemplate
	}
	return in
}

func checkTarget(t ev.Target) error {
	if !arn.IsARN(t.Arn) {
		return validation("Parameter %s is not valid. Reason: Provided Arn is not in correct format.", t.Arn)
	}
	if _, err := arn.Parse(t.Arn); err != nil {
		return validation("Parameter %s is not valid. Reason: Provided Arn is not in correct format.", t.Arn)
	}
	if err := TargetInput(t).Check(); err != nil {
		return validation("%s", err.Error())
	}
	if t.DeadLetterConfig != nil && t.DeadLetterConfig.Arn != "" {
		if _, err := arn.Parse(t.DeadLetterConfig.Arn); err != nil {
			return validation("Parameter DeadLetterConfig.Arn is not valid. Reason: Provided Arn is not in correct format.")
		}
	}
	if rp := t.RetryPolicy; rp != nil {
		if rp.MaximumRetryAttempts < 0 || rp.MaximumRetryAttempts > 185 {
			return validation("Parameter RetryPolicy.MaximumRetryAttempts is not valid.")
		}
		if rp.MaximumEventAgeInSeconds != 0 && (rp.MaximumEventAgeInSeconds < 60 || rp.MaximumEventAgeInSeconds > 86400) {
			return validation("Parameter RetryPolicy.MaximumEventAgeInSeconds is not valid.")
		}
	}
	if TargetKind(t.Arn) == "ecs" {
		if t.EcsParameters == nil || t.EcsParameters.TaskDefinitionArn == "" {
			return validation("Parameter EcsParameters.TaskDefinitionArn must be specified for an ECS target.")
		}
		if t.EcsParameters.TaskCount < 0 || t.EcsParameters.TaskCount > 10 {
			return validation("Parameter EcsParameters.TaskCount is not valid.")
		}
	}
	return nil
}

// PutTargets adds or replaces targets of a rule.
func (a *API) PutTargets(ctx context.Context, c *awsproto.Call, in *ev.PutTargetsRequest) (*ev.PutTargetsResponse, error) {
	if _, _, err := a.getRule(ctx, in.EventBusName, in.Rule); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, t := range in.Targets {
		if seen[t.Id] {
			return nil, validation("Parameter Targets contains duplicate Ids: %s.", t.Id)
		}
		seen[t.Id] = true
		if err := checkTarget(t); err != nil {
			return nil, err
		}
	}
	bus, _ := busName(in.EventBusName)
	out := &ev.PutTargetsResponse{}
	err := a.updateRule(ctx, state.EventRuleKey(bus, in.Rule), false, func(r *state.EventRule, _ bool) error {
		out.FailedEntries, out.FailedEntryCount = nil, 0
		targets := slices.Clone(r.Targets)
		for _, t := range in.Targets {
			if TargetKind(t.Arn) == "" {
				out.FailedEntries = append(out.FailedEntries, ev.PutTargetsResultEntry{TargetId: t.Id, ErrorCode: ev.ValidationErrorCode,
					ErrorMessage: "minato does not deliver to this kind of target: " + t.Arn})
				continue
			}
			if i := slices.IndexFunc(targets, func(x ev.Target) bool { return x.Id == t.Id }); i >= 0 {
				targets[i] = t
				continue
			}
			targets = append(targets, t)
		}
		if len(targets) > maxTargets {
			return limit("The requested resource exceeds the maximum number allowed.")
		}
		r.Targets = targets
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.FailedEntryCount = int32(len(out.FailedEntries))
	return out, nil
}

// ListTargetsByRule lists a rule's targets.
func (a *API) ListTargetsByRule(ctx context.Context, c *awsproto.Call, in *ev.ListTargetsByRuleRequest) (*ev.ListTargetsByRuleResponse, error) {
	it, _, err := a.getRule(ctx, in.EventBusName, in.Rule)
	if err != nil {
		return nil, err
	}
	targets := slices.Clone(it.Value.Targets)
	sort.SliceStable(targets, func(i, j int) bool { return targets[i].Id < targets[j].Id })
	got, next, err := page(targets, func(t ev.Target) string { return t.Id }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return &ev.ListTargetsByRuleResponse{Targets: got, NextToken: next}, nil
}

// RemoveTargets removes targets of a rule.
func (a *API) RemoveTargets(ctx context.Context, c *awsproto.Call, in *ev.RemoveTargetsRequest) (*ev.RemoveTargetsResponse, error) {
	if _, _, err := a.getRule(ctx, in.EventBusName, in.Rule); err != nil {
		return nil, err
	}
	bus, _ := busName(in.EventBusName)
	err := a.updateRule(ctx, state.EventRuleKey(bus, in.Rule), false, func(r *state.EventRule, _ bool) error {
		r.Targets = slices.DeleteFunc(slices.Clone(r.Targets), func(t ev.Target) bool { return slices.Contains(in.Ids, t.Id) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ev.RemoveTargetsResponse{}, nil
}

// ListRuleNamesByTarget lists the rules of a bus that have a target with
// the ARN.
func (a *API) ListRuleNamesByTarget(ctx context.Context, c *awsproto.Call, in *ev.ListRuleNamesByTargetRequest) (*ev.ListRuleNamesByTargetResponse, error) {
	bus, err := busName(in.EventBusName)
	if err != nil {
		return nil, err
	}
	items, err := state.List[state.EventRule](ctx, a.store, state.EventRulesPrefix(bus), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, it := range items {
		if slices.ContainsFunc(it.Value.Targets, func(t ev.Target) bool { return t.Arn == in.TargetArn }) {
			names = append(names, it.Value.Name)
		}
	}
	got, next, err := page(names, func(s string) string { return s }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return &ev.ListRuleNamesByTargetResponse{RuleNames: got, NextToken: next}, nil
}

// PutEvents writes custom events into the outbox; they are durable once
// it answers.
func (a *API) PutEvents(ctx context.Context, c *awsproto.Call, in *ev.PutEventsRequest) (*ev.PutEventsResponse, error) {
	s := a.scope(c)
	out := &ev.PutEventsResponse{Entries: make([]ev.PutEventsResultEntry, len(in.Entries))}
	type pending struct {
		i   int
		bus string
		e   events.Event
	}
	var ok []pending
	size := 0
	for i, e := range in.Entries {
		fail := func(code, msg string) {
			out.Entries[i] = ev.PutEventsResultEntry{ErrorCode: code, ErrorMessage: msg}
			out.FailedEntryCount++
		}
		size += len(e.Detail) + len(e.DetailType) + len(e.Source)
		for _, r := range e.Resources {
			size += len(r)
		}
		switch {
		case e.Source == "":
			fail("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument.")
			continue
		case e.DetailType == "":
			fail("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument.")
			continue
		case e.Detail == "":
			fail("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument.")
			continue
		case strings.HasPrefix(e.Source, "aws."):
			fail("NotAuthorizedForSourceException", "Not authorized for the source.")
			continue
		}
		var detail map[string]any
		if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil || detail == nil {
			fail("MalformedDetail", "Detail is malformed.")
			continue
		}
		bus, err := busName(e.EventBusName)
		if err == nil {
			_, err = a.checkBus(ctx, bus)
		}
		if err != nil {
			fail("InvalidArgument", err.Error())
			continue
		}
		when := a.now()
		if !e.Time.IsZero() {
			when = e.Time.Time()
		}
		res := e.Resources
		if res == nil {
			res = []string{}
		}
		id := events.UUID(a.ids.NewID())
		ok = append(ok, pending{i: i, bus: bus, e: events.Event{Version: "0", ID: id, DetailType: e.DetailType, Source: e.Source,
			Account: s.AccountID, Time: events.FormatTime(when), Region: s.Region, Resources: res, Detail: json.RawMessage(e.Detail)}})
	}
	if size > 256*1024 {
		return nil, validation("Total size of the entries in the request is over the limit.")
	}
	var ops []store.Op
	for _, p := range ok {
		op, err := outbox.Entry(a.seq, p.bus, p.e)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		out.Entries[p.i] = ev.PutEventsResultEntry{EventId: p.e.ID}
	}
	if len(ops) > 0 {
		if _, err := a.store.Txn(ctx, nil, ops); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Tags.

// taggable resolves a rule or bus ARN to its record key.
func taggable(resARN string) (key string, err error) {
	p, perr := arn.Parse(resARN)
	if perr != nil || p.Service != "events" {
		return "", validation("Parameter ResourceARN is not valid.")
	}
	switch {
	case strings.HasPrefix(p.Resource, "rule/"):
		rest := strings.TrimPrefix(p.Resource, "rule/")
		bus, name, found := strings.Cut(rest, "/")
		if !found {
			bus, name = outbox.DefaultBus, rest
		}
		return state.EventRuleKey(bus, name), nil
	case strings.HasPrefix(p.Resource, "event-bus/"):
		return state.EventBusKey(strings.TrimPrefix(p.Resource, "event-bus/")), nil
	}
	return "", validation("Parameter ResourceARN is not valid.")
}

// tagRecord changes the tags of the record at key.
func (a *API) tagRecord(ctx context.Context, resARN string, change func([]ev.Tag) []ev.Tag) ([]ev.Tag, error) {
	key, err := taggable(resARN)
	if err != nil {
		return nil, err
	}
	var tags []ev.Tag
	err = store.RetryConflicts(ctx, func() error {
		kv, err := a.store.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Resource %s does not exist.", resARN)
		}
		if err != nil {
			return err
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return err
		}
		tags = nil
		if raw, ok := rec["tags"]; ok {
			if err := json.Unmarshal(raw, &tags); err != nil {
				return err
			}
		}
		if change == nil {
			return nil
		}
		tags = change(tags)
		b, err := json.Marshal(tags)
		if err != nil {
			return err
		}
		rec["tags"] = b
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{{Key: key, ModRevision: kv.ModRevision}}, []store.Op{store.Put(key, v)})
		return err
	})
	return tags, err
}

// TagResource tags a rule or bus.
func (a *API) TagResource(ctx context.Context, c *awsproto.Call, in *ev.TagResourceRequest) (*struct{}, error) {
	_, err := a.tagRecord(ctx, in.ResourceARN, func(tags []ev.Tag) []ev.Tag {
		for _, t := range in.Tags {
			if i := slices.IndexFunc(tags, func(x ev.Tag) bool { return x.Key == t.Key }); i >= 0 {
				tags[i] = t
			} else {
				tags = append(tags, t)
			}
		}
		return tags
	})
	return nil, err
}

// UntagResource removes tags of a rule or bus.
func (a *API) UntagResource(ctx context.Context, c *awsproto.Call, in *ev.UntagResourceRequest) (*struct{}, error) {
	_, err := a.tagRecord(ctx, in.ResourceARN, func(tags []ev.Tag) []ev.Tag {
		return slices.DeleteFunc(tags, func(t ev.Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	})
	return nil, err
}

// ListTagsForResource lists the tags of a rule or bus.
func (a *API) ListTagsForResource(ctx context.Context, c *awsproto.Call, in *ev.ListTagsForResourceRequest) (*ev.ListTagsForResourceResponse, error) {
	tags, err := a.tagRecord(ctx, in.ResourceARN, nil)
	if err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []ev.Tag{}
	}
	return &ev.ListTagsForResourceResponse{Tags: tags}, nil
}
