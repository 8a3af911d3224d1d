// Package lb is minato's layer-7 load balancer: the data plane behind the
// ELBv2 API. It binds each listener's port, routes requests by the
// listener's rules, forwards them to the healthy targets of target groups,
// checks the targets' health actively, and drains deregistered targets.
//
// The plane is driven by immutable snapshots (Config). Whoever owns the
// configuration (the ELBv2 records in the store) builds a new Config on
// every change and hands it to Plane.Update; requests in flight keep the
// snapshot they started with, and no lock serialises the request path.
package lb

import "time"

// Config is one immutable snapshot of everything the plane serves. A
// Config handed to Update must not be modified afterwards.
type Config struct {
	Listeners    []Listener
	TargetGroups map[string]*TargetGroup // by ARN
}

// Listener is one bound port of a load balancer.
type Listener struct {
	ARN             string
	LoadBalancerARN string
	// Addr is the host:port to bind, e.g. "127.0.0.1:8080".
	Addr     string
	Protocol string // "HTTP"
	// Rules in evaluation order: ascending priority, the default rule
	// (IsDefault) last. The first rule whose conditions all match serves.
	Rules []Rule
}

// Rule is a listener rule: conditions and the actions taken when they all
// match.
type Rule struct {
	ARN        string
	Priority   int // 0 for the default rule
	IsDefault  bool
	Conditions []Condition
	// Actions in order; the last one is the terminal action (forward,
	// fixed-response or redirect).
	Actions []Action
}

// Condition field names, as ELBv2 spells them.
const (
	FieldPathPattern       = "path-pattern"
	FieldHostHeader        = "host-header"
	FieldHTTPHeader        = "http-header"
	FieldHTTPRequestMethod = "http-request-method"
	FieldQueryString       = "query-string"
	FieldSourceIP          = "source-ip"
)

// Condition is one rule condition. Values match as ALB matches them: path
// and host patterns with * and ? wildcards (host case-insensitive, path
// case-sensitive), methods exactly, any one value matching is enough.
type Condition struct {
	Field      string
	Values     []string   // path-pattern, host-header, http-header, http-request-method, source-ip
	HeaderName string     // http-header
	Query      []KeyValue // query-string: Key may be empty (match any key)
}

// KeyValue is a query-string condition's pair; either may hold wildcards.
type KeyValue struct{ Key, Value string }

// Action types, as ELBv2 spells them.
const (
	ActionForward       = "forward"
	ActionFixedResponse = "fixed-response"
	ActionRedirect      = "redirect"
)

// Action is one rule action.
type Action struct {
	Type          string
	Forward       *Forward
	FixedResponse *FixedResponse
	Redirect      *Redirect
}

// Forward sends the request to one of its target groups, chosen by weight.
type Forward struct {
	TargetGroups []WeightedTargetGroup
	// Stickiness of the target group chosen (group-level stickiness,
	// ForwardConfig.TargetGroupStickinessConfig).
	GroupStickiness time.Duration // 0: off
}

// WeightedTargetGroup is a target group of a forward action and its weight
// (0–999; a lone target group's weight is 1).
type WeightedTargetGroup struct {
	ARN    string
	Weight int
}

// FixedResponse answers without a target.
type FixedResponse struct {
	StatusCode  int
	ContentType string
	Body        string
}

// Redirect answers with a redirect. Each part may hold #{protocol},
// #{host}, #{port}, #{path} and #{query}, which stand for the request's own.
type Redirect struct {
	Protocol, Host, Port, Path, Query string
	StatusCode                        int // 301 or 302
}

// TargetGroup is a set of targets, how to check them and how to spread
// requests over them.
type TargetGroup struct {
	ARN        string
	Name       string
	Protocol   string // "HTTP"
	Port       int
	TargetType string // "instance" or "ip"
	// InUse says a listener rule forwards to it; targets of an unused
	// group are "unused" (Target.NotInUse) and are not checked.
	InUse               bool
	HealthCheck         HealthCheck
	Algorithm           string // "round_robin" (default) or "least_outstanding_requests"
	Stickiness          Stickiness
	DeregistrationDelay time.Duration
	// SlowStart is accepted and ignored for now.
	SlowStart time.Duration
	Targets   []Target
}

// Algorithm names, as the target group attribute spells them.
const (
	AlgorithmRoundRobin        = "round_robin"
	AlgorithmLeastOutstanding  = "least_outstanding_requests"
	StickinessTypeLBCookie     = "lb_cookie"
	HealthCheckPortTrafficPort = "traffic-port"
)

// HealthCheck is a target group's active health check.
type HealthCheck struct {
	Enabled  bool
	Protocol string // "HTTP"
	// Port is "traffic-port" (the target's own port) or a port number.
	Port               string
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// Matcher is ALB's HttpCode: "200", "200,202" or "200-299".
	Matcher string
}

// Stickiness is a target group's lb_cookie stickiness.
type Stickiness struct {
	Enabled  bool
	Type     string // "lb_cookie"
	Duration time.Duration
}

// Target is one registered target: the pair (ID, Port) names it, so that
// several tasks on one host on dynamic ports are distinct targets.
type Target struct {
	ID   string // instance ID (targetType instance) or IP (targetType ip)
	Port int
	// Addr is host:port to dial; for an instance target the builder of
	// the Config resolves the instance's address.
	Addr             string
	AvailabilityZone string
	// RegisteredAt is when it was registered (the health check starts
	// from "initial").
	RegisteredAt time.Time
	// Draining marks a target deregistered at DeregisteredAt: it gets no
	// new requests and is "draining" until it has none in flight or the
	// group's DeregistrationDelay has passed since DeregisteredAt.
	Draining       bool
	DeregisteredAt time.Time
}

// Key names a target within its group.
type Key struct {
	ID   string
	Port int
}

// Target health states and reasons, as DescribeTargetHealth reports them.
const (
	StateInitial     = "initial"
	StateHealthy     = "healthy"
	StateUnhealthy   = "unhealthy"
	StateUnused      = "unused"
	StateDraining    = "draining"
	StateUnavailable = "unavailable"

	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonNotRegistered            = "Target.NotRegistered"
	ReasonNotInUse                 = "Target.NotInUse"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonInvalidState             = "Target.InvalidState"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
	ReasonInternalError            = "Elb.InternalError"
)

// TargetStatus is what the plane knows of one target's health.
type TargetStatus struct {
	Key
	State       string
	Reason      string // empty when healthy
	Description string
	// Drained is set on a draining target once deregistration is
	// complete: nothing in flight, or the delay has passed. Its record
	// may then be deleted.
	Drained bool
	// HealthPort is the port the health check probes.
	HealthPort string
}
