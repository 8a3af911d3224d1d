package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/minato-project/minato/internal/model/eventstypes"
)

// Key prefixes of the EventBridge records (internal/api/events, the
// outbox and the delivery worker in internal/events).
const (
	eventBusesPrefix   = "events/buses/"
	eventRulesPrefix   = "events/rules/"
	connectionsPrefix  = "events/connections/"
	apiDestsPrefix     = "events/apidestinations/"
	eventOutboxPrefix  = "events/outbox/"
	deliveriesPrefix   = "events/deliveries/"
	scheduleMarkPrefix = "events/schedules/"
)

// EventBusKey is where custom event bus name is kept (the default bus
// has no record: it always exists).
func EventBusKey(name string) string { return eventBusesPrefix + name }

// EventBusesPrefix is the prefix of every custom bus.
func EventBusesPrefix() string { return eventBusesPrefix }

// EventRuleKey is where rule name of bus is kept.
func EventRuleKey(bus, name string) string { return eventRulesPrefix + bus + "/" + name }

// EventRulesPrefix is the prefix of the rules of bus ("": of every bus).
func EventRulesPrefix(bus string) string {
	if bus == "" {
		return eventRulesPrefix
	}
	return eventRulesPrefix + bus + "/"
}

// ConnectionKey is where connection name is kept.
func ConnectionKey(name string) string { return connectionsPrefix + name }

// ConnectionsPrefix is the prefix of every connection.
func ConnectionsPrefix() string { return connectionsPrefix }

// APIDestinationKey is where API destination name is kept.
func APIDestinationKey(name string) string { return apiDestsPrefix + name }

// APIDestinationsPrefix is the prefix of every API destination.
func APIDestinationsPrefix() string { return apiDestsPrefix }

// OutboxKey is where the event with sequence number seq waits to be
// matched against the rules of its bus. Keys sort in sequence order.
func OutboxKey(seq uint64) string { return fmt.Sprintf("%s%020d", eventOutboxPrefix, seq) }

// OutboxPrefix is the prefix of every outbox entry.
func OutboxPrefix() string { return eventOutboxPrefix }

// DeliveryKey is where the delivery of outbox event seq to one target of
// one rule waits until it succeeds or is given up.
func DeliveryKey(seq uint64, bus, rule, target string) string {
	return fmt.Sprintf("%s%020d/%s/%s/%s", deliveriesPrefix, seq, bus, rule, target)
}

// DeliveriesPrefix is the prefix of every pending delivery.
func DeliveriesPrefix() string { return deliveriesPrefix }

// ScheduleMarkKey is where the last firing time of a schedule rule is
// kept.
func ScheduleMarkKey(bus, rule string) string { return scheduleMarkPrefix + bus + "/" + rule }

// EventBus is a custom event bus.
type EventBus struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitzero"`
	Tags        []eventstypes.Tag `json:"tags,omitzero"`
	CreatedAt   time.Time         `json:"createdAt"`
	ModifiedAt  time.Time         `json:"modifiedAt"`
}

// EventRule is a rule with its targets.
type EventRule struct {
	Name               string               `json:"name"`
	Bus                string               `json:"bus"`
	EventPattern       string               `json:"eventPattern,omitzero"`
	ScheduleExpression string               `json:"scheduleExpression,omitzero"`
	State              string               `json:"state"` // ENABLED, DISABLED
	Description        string               `json:"description,omitzero"`
	RoleArn            string               `json:"roleArn,omitzero"`
	Tags               []eventstypes.Tag    `json:"tags,omitzero"`
	Targets            []eventstypes.Target `json:"targets,omitzero"`
	CreatedAt          time.Time            `json:"createdAt"`
	// EnabledAt is when a schedule's rate starts counting: creation, or
	// the last change of the expression or of the state to ENABLED.
	EnabledAt time.Time `json:"enabledAt"`
}

// Connection is an EventBridge connection: how an API destination
// authorizes. Its secrets are kept in the record (see
// docs/differences.md).
type Connection struct {
	ID                string                                `json:"id"` // the UUID in its ARN
	Name              string                                `json:"name"`
	Description       string                                `json:"description,omitzero"`
	AuthorizationType string                                `json:"authorizationType"`
	BasicUsername     string                                `json:"basicUsername,omitzero"`
	BasicPassword     string                                `json:"basicPassword,omitzero"`
	APIKeyName        string                                `json:"apiKeyName,omitzero"`
	APIKeyValue       string                                `json:"apiKeyValue,omitzero"`
	HTTPParameters    *eventstypes.ConnectionHttpParameters `json:"httpParameters,omitzero"`
	CreatedAt         time.Time                             `json:"createdAt"`
	ModifiedAt        time.Time                             `json:"modifiedAt"`
}

// APIDestination is an HTTP endpoint with a connection and a rate limit.
type APIDestination struct {
	ID                 string    `json:"id"` // the UUID in its ARN
	Name               string    `json:"name"`
	Description        string    `json:"description,omitzero"`
	Connection         string    `json:"connection"` // the connection's name
	Endpoint           string    `json:"endpoint"`
	Method             string    `json:"method"`
	RateLimitPerSecond int32     `json:"rateLimitPerSecond,omitzero"`
	CreatedAt          time.Time `json:"createdAt"`
	ModifiedAt         time.Time `json:"modifiedAt"`
}

// OutboxEvent is an event waiting to be matched: an ECS change written in
// the same transaction as the change, or a PutEvents entry. Event is the
// EventBridge envelope's JSON.
type OutboxEvent struct {
	Bus   string          `json:"bus"`
	Event json.RawMessage `json:"event"`
	// Rule, when set, sends the event to this rule's targets only (a
	// schedule's firing) rather than matching every rule of the bus.
	Rule string `json:"rule,omitzero"`
}

// Delivery is one event on its way to one target. The target is copied
// in, so that a later PutTargets or DeleteRule does not change a delivery
// under way.
type Delivery struct {
	Bus       string             `json:"bus"`
	Rule      string             `json:"rule"`
	RuleARN   string             `json:"ruleArn"`
	Target    eventstypes.Target `json:"target"`
	Event     json.RawMessage    `json:"event"`
	Created   time.Time          `json:"created"`
	Attempts  int                `json:"attempts,omitzero"`
	NextAt    time.Time          `json:"nextAt,omitzero"`
	LastError string             `json:"lastError,omitzero"`
}
