// Package events serves the Amazon EventBridge API (JSON 1.1, target
// prefix AWSEvents): the default and custom event buses, rules with event
// patterns (internal/events/pattern) or schedules
// (internal/events/schedule), targets, PutEvents, TestEventPattern, tags,
// and the connections and API destinations that HTTP targets use.
//
// Records live in the state store (internal/state, events/...). PutEvents
// writes its events into the outbox (internal/events/outbox) before it
// answers; the delivery worker (internal/events/delivery) does the rest.
package events

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/events/outbox"
	ev "github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// API is the EventBridge service.
type API struct {
	store   store.Store
	clock   core.Clock
	ids     core.IDs
	log     *slog.Logger
	seq     *outbox.Sequencer
	region  string
	account string
}

// Config is what the API needs.
type Config struct {
	Store  store.Store
	Clock  core.Clock
	IDs    core.IDs
	Logger *slog.Logger
	// Seq numbers outbox entries; share the node's (outbox.Store.Seq) so
	// that PutEvents and ECS events are numbered by one sequencer.
	Seq       *outbox.Sequencer
	Region    string
	AccountID string
}

// New returns the API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, clock: cfg.Clock, ids: cfg.IDs, log: cfg.Logger, seq: cfg.Seq, region: cfg.Region, account: cfg.AccountID}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.ids == nil {
		a.ids = core.RandomIDs{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.seq == nil {
		a.seq = &outbox.Sequencer{Clock: a.clock}
	}
	if a.region == "" {
		a.region = "us-east-1"
	}
	if a.account == "" {
		a.account = "000000000000"
	}
	return a
}

// Service returns the JSON 1.1 service to register.
func (a *API) Service() awsproto.JSONService {
	return awsproto.JSONService{
		SigningName:       ev.SigningName,
		TargetPrefix:      ev.TargetPrefix,
		InternalErrorCode: ev.ErrCodeInternalException,
		Ops: map[string]awsproto.JSONHandler{
			"CreateEventBus":         awsproto.Op(a.CreateEventBus),
			"DeleteEventBus":         awsproto.Op(a.DeleteEventBus),
			"DescribeEventBus":       awsproto.Op(a.DescribeEventBus),
			"ListEventBuses":         awsproto.Op(a.ListEventBuses),
			"PutRule":                awsproto.Op(a.PutRule),
			"DescribeRule":           awsproto.Op(a.DescribeRule),
			"ListRules":              awsproto.Op(a.ListRules),
			"EnableRule":             awsproto.Op(a.EnableRule),
			"DisableRule":            awsproto.Op(a.DisableRule),
			"DeleteRule":             awsproto.Op(a.DeleteRule),
			"PutTargets":             awsproto.Op(a.PutTargets),
			"ListTargetsByRule":      awsproto.Op(a.ListTargetsByRule),
			"RemoveTargets":          awsproto.Op(a.RemoveTargets),
			"ListRuleNamesByTarget":  awsproto.Op(a.ListRuleNamesByTarget),
			"PutEvents":              awsproto.Op(a.PutEvents),
			"TestEventPattern":       awsproto.Op(a.TestEventPattern),
			"TagResource":            awsproto.Op(a.TagResource),
			"UntagResource":          awsproto.Op(a.UntagResource),
			"ListTagsForResource":    awsproto.Op(a.ListTagsForResource),
			"CreateConnection":       awsproto.Op(a.CreateConnection),
			"DescribeConnection":     awsproto.Op(a.DescribeConnection),
			"ListConnections":        awsproto.Op(a.ListConnections),
			"DeleteConnection":       awsproto.Op(a.DeleteConnection),
			"CreateApiDestination":   awsproto.Op(a.CreateApiDestination),
			"DescribeApiDestination": awsproto.Op(a.DescribeApiDestination),
			"ListApiDestinations":    awsproto.Op(a.ListApiDestinations),
			"DeleteApiDestination":   awsproto.Op(a.DeleteApiDestination),
		},
	}
}

// Implemented lists the operations this package serves, for the
// compatibility matrix.
func (a *API) Implemented() []string {
	svc := a.Service()
	out := make([]string, 0, len(svc.Ops))
	for name := range svc.Ops {
		out = append(out, name)
	}
	return out
}

// Notes are shown beside each operation in docs/compatibility.md.
var Notes = map[string]string{
	"PutRule":              "EventPattern: the whole pattern language (exact, prefix, suffix, anything-but, numeric, exists, wildcard, cidr, equals-ignore-case, $or, nested fields and arrays). ScheduleExpression rate() and cron(), default bus only. RoleArn is kept, not checked.",
	"PutTargets":           "Delivers to CloudWatch Logs log groups, ECS RunTask (EcsParameters), API destinations (HTTP) and event buses; other target services are refused in FailedEntries. Input, InputPath, InputTransformer, RetryPolicy, DeadLetterConfig.",
	"PutEvents":            "Durable before the reply; at most 10 entries of 256 KiB. Events go through the same outbox as ECS's own events.",
	"CreateConnection":     "BASIC and API_KEY authorization (OAUTH_CLIENT_CREDENTIALS is refused). The credentials are kept in the state store, not in a Secrets Manager secret.",
	"CreateApiDestination": "InvocationRateLimitPerSecond is enforced per destination.",
	"TestEventPattern":     "The same matcher the rules use.",
	"CreateEventBus":       "EventSourceName (partner buses), KmsKeyIdentifier, DeadLetterConfig and LogConfig are not supported.",
}

func (a *API) now() time.Time { return a.clock.Now() }

func (a *API) scope(c *awsproto.Call) arn.Scope {
	s := arn.Scope{Region: a.region, AccountID: a.account}
	if c != nil && c.Region != "" {
		s.Region = c.Region
	}
	if c != nil && c.Principal.AccountID != "" {
		s.AccountID = c.Principal.AccountID
	}
	return s
}

// busName resolves an EventBusName (a name or an ARN; "" is default).
func busName(nameOrARN string) (string, error) {
	if nameOrARN == "" {
		return outbox.DefaultBus, nil
	}
	if arn.IsARN(nameOrARN) {
		p, err := arn.Parse(nameOrARN)
		name, ok := strings.CutPrefix(p.Resource, "event-bus/")
		if err != nil || p.Service != "events" || !ok || name == "" {
			return "", validation("Parameter EventBusName is not valid.")
		}
		return name, nil
	}
	return nameOrARN, nil
}

// checkBus returns ResourceNotFoundException for a bus that does not
// exist.
func (a *API) checkBus(ctx context.Context, name string) (state.Item[state.EventBus], error) {
	if name == outbox.DefaultBus {
		return state.Item[state.EventBus]{Value: state.EventBus{Name: name}}, nil
	}
	it, err := state.Get[state.EventBus](ctx, a.store, state.EventBusKey(name))
	if state.IsNotFound(err) {
		return it, notFound("Event bus %s does not exist.", name)
	}
	return it, err
}

func busARN(s arn.Scope, name string) string { return s.New("events", "event-bus/"+name) }

// RuleARN is the ARN of rule name on bus.
func RuleARN(s arn.Scope, bus, name string) string {
	if bus == outbox.DefaultBus {
		return s.New("events", "rule/"+name)
	}
	return s.New("events", "rule/"+bus+"/"+name)
}

func validation(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ev.ValidationErrorCode, format, args...)
}

func notFound(format string, args ...any) error {
	return core.Errorf(core.KindNotFound, ev.ErrCodeResourceNotFoundException, format, args...)
}

func exists(format string, args ...any) error {
	return core.Errorf(core.KindConflict, ev.ErrCodeResourceAlreadyExistsException, format, args...)
}

func limit(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ev.ErrCodeLimitExceededException, format, args...)
}

// page returns the slice of names after token, at most n (0: 100).
func page[T any](items []T, name func(T) string, token string, n int32) ([]T, string, error) {
	start := 0
	if token != "" {
		start = -1
		for i, it := range items {
			if name(it) > token {
				start = i
				break
			}
		}
		if start < 0 {
			start = len(items)
		}
	}
	if n <= 0 {
		n = 100
	}
	if n > 100 {
		return nil, "", validation("Parameter Limit is not valid.")
	}
	end := start + int(n)
	if end >= len(items) {
		return items[start:], "", nil
	}
	return items[start:end], name(items[end-1]), nil
}

func coreErrorf(code, format string, args ...any) error {
	return core.Errorf(core.KindInvalid, code, format, args...)
}
