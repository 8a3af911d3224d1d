package state

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/store"
)

// ELBv2 records. Every record lives under "elbv2/":
//
//	elbv2/loadbalancers/<lbID>                     LoadBalancer
//	elbv2/listeners/<lbID>/<listenerID>            Listener
//	elbv2/rules/<listenerID>/<ruleID>              Rule (not the default rule)
//	elbv2/targetgroups/<tgID>                      TargetGroup
//	elbv2/targets/<tgID>/<targetID>#<port>         Registration
//	elbv2/names/loadbalancer/<name>                NameIndex (unique names)
//	elbv2/names/targetgroup/<name>                 NameIndex
//	elbv2/ports/<port>                             PortIndex (one listener per port)
//	elbv2/priorities/<listenerID>/<priority>       PriorityIndex
//
// IDs are the 16 hex digits that end an ELBv2 ARN. Unlike the ECS records,
// ELBv2 records keep their full ARN: a load balancer is created in the
// region of the request that created it, and the data plane and the ECS
// service controller name target groups by ARN.
//
// The index records make uniqueness a store condition: a writer commits a
// new name, port or priority with store.MustNotExist on its index key.
// Writers that add a child (a listener to a load balancer, a rule to a
// listener, a target or a forward to a target group) rewrite the parent
// record under a MustBeAt condition, so that a concurrent delete of the
// parent, which is conditioned on the parent's revision, cannot leave the
// child behind.
const (
	elbv2Prefix         = "elbv2/"
	elbLoadBalancersPfx = "elbv2/loadbalancers/"
	elbListenersPfx     = "elbv2/listeners/"
	elbRulesPfx         = "elbv2/rules/"
	elbTargetGroupsPfx  = "elbv2/targetgroups/"
	elbTargetsPfx       = "elbv2/targets/"
	elbLBNamesPfx       = "elbv2/names/loadbalancer/"
	elbTGNamesPfx       = "elbv2/names/targetgroup/"
	elbPortsPfx         = "elbv2/ports/"
	elbPrioritiesPfx    = "elbv2/priorities/"
	allInstancesPfx     = instancesPrefix
)

// ELBv2Prefix is the prefix of every ELBv2 record.
func ELBv2Prefix() string { return elbv2Prefix }

// AllContainerInstancesPrefix is the prefix of the container instances of
// every cluster (what the load balancer sync resolves instance targets
// from).
func AllContainerInstancesPrefix() string { return allInstancesPfx }

// LoadBalancerKey is where load balancer id is kept.
func LoadBalancerKey(id string) string { return elbLoadBalancersPfx + id }

// LoadBalancersPrefix is the prefix of every load balancer.
func LoadBalancersPrefix() string { return elbLoadBalancersPfx }

// ListenerKey is where listener id of load balancer lbID is kept.
func ListenerKey(lbID, id string) string { return elbListenersPfx + lbID + "/" + id }

// ListenersPrefix is the prefix of the listeners of load balancer lbID.
func ListenersPrefix(lbID string) string { return elbListenersPfx + lbID + "/" }

// AllListenersPrefix is the prefix of every listener.
func AllListenersPrefix() string { return elbListenersPfx }

// RuleKey is where rule id of listener listenerID is kept.
func RuleKey(listenerID, id string) string { return elbRulesPfx + listenerID + "/" + id }

// RulesPrefix is the prefix of the (non-default) rules of a listener.
func RulesPrefix(listenerID string) string { return elbRulesPfx + listenerID + "/" }

// AllRulesPrefix is the prefix of every rule.
func AllRulesPrefix() string { return elbRulesPfx }

// TargetGroupKey is where target group id is kept.
func TargetGroupKey(id string) string { return elbTargetGroupsPfx + id }

// TargetGroupsPrefix is the prefix of every target group.
func TargetGroupsPrefix() string { return elbTargetGroupsPfx }

// RegistrationKey is where the registration of target (targetID, port) in
// target group tgID is kept.
func RegistrationKey(tgID, targetID string, port int) string {
	return RegistrationsPrefix(tgID) + targetID + "#" + strconv.Itoa(port)
}

// RegistrationsPrefix is the prefix of the registrations of target group tgID.
func RegistrationsPrefix(tgID string) string { return elbTargetsPfx + tgID + "/" }

// AllRegistrationsPrefix is the prefix of every registration.
func AllRegistrationsPrefix() string { return elbTargetsPfx }

// LoadBalancerNameKey is the index entry that reserves a load balancer name.
func LoadBalancerNameKey(name string) string { return elbLBNamesPfx + name }

// TargetGroupNameKey is the index entry that reserves a target group name.
func TargetGroupNameKey(name string) string { return elbTGNamesPfx + name }

// ListenerPortKey is the index entry that reserves a listener port. All
// load balancers share one bind address, so a port is taken across them.
func ListenerPortKey(port int) string { return elbPortsPfx + strconv.Itoa(port) }

// RulePriorityKey is the index entry that reserves priority on a listener.
// Priorities are zero padded so that key order is priority order.
func RulePriorityKey(listenerID string, priority int) string {
	return elbPrioritiesPfx + listenerID + "/" + fmt.Sprintf("%05d", priority)
}

// RulePrioritiesPrefix is the prefix of a listener's priority index.
func RulePrioritiesPrefix(listenerID string) string { return elbPrioritiesPfx + listenerID + "/" }

// ELBTag is a resource tag.
type ELBTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LoadBalancer is an application load balancer.
type LoadBalancer struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	ARN            string    `json:"arn"`
	Scheme         string    `json:"scheme"`
	IPAddressType  string    `json:"ipAddressType"`
	VpcID          string    `json:"vpcId"`
	Subnets        []ELBZone `json:"subnets,omitzero"`
	SecurityGroups []string  `json:"securityGroups,omitzero"`
	CreatedAt      time.Time `json:"createdAt"`
	// Attributes holds every attribute with its value (defaults filled in).
	Attributes map[string]string `json:"attributes,omitzero"`
	Tags       []ELBTag          `json:"tags,omitzero"`
}

// ELBZone is a subnet of a load balancer and its availability zone.
type ELBZone struct {
	SubnetID string `json:"subnetId"`
	Zone     string `json:"zone"`
}

// Listener is a listener of a load balancer. Its default rule is not a
// record of its own: DefaultRuleID names it, DefaultActions are its
// actions and DefaultRuleTags its tags.
type Listener struct {
	ID              string              `json:"id"`
	ARN             string              `json:"arn"`
	LoadBalancerID  string              `json:"loadBalancerId"`
	LoadBalancerARN string              `json:"loadBalancerArn"`
	Port            int                 `json:"port"`
	Protocol        string              `json:"protocol"`
	DefaultActions  []elbv2types.Action `json:"defaultActions"`
	DefaultRuleID   string              `json:"defaultRuleId"`
	DefaultRuleARN  string              `json:"defaultRuleArn"`
	Tags            []ELBTag            `json:"tags,omitzero"`
	DefaultRuleTags []ELBTag            `json:"defaultRuleTags,omitzero"`
	CreatedAt       time.Time           `json:"createdAt"`
}

// Rule is a listener rule other than the default rule. Conditions and
// Actions are kept in their wire form with ALB's defaults filled in.
type Rule struct {
	ID          string                     `json:"id"`
	ARN         string                     `json:"arn"`
	ListenerID  string                     `json:"listenerId"`
	ListenerARN string                     `json:"listenerArn"`
	Priority    int                        `json:"priority"`
	Conditions  []elbv2types.RuleCondition `json:"conditions"`
	Actions     []elbv2types.Action        `json:"actions"`
	Tags        []ELBTag                   `json:"tags,omitzero"`
}

// TargetGroup is a target group.
type TargetGroup struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	ARN             string    `json:"arn"`
	Protocol        string    `json:"protocol"`
	ProtocolVersion string    `json:"protocolVersion"`
	Port            int       `json:"port"`
	VpcID           string    `json:"vpcId"`
	TargetType      string    `json:"targetType"`
	IPAddressType   string    `json:"ipAddressType"`
	HealthCheck     ELBHealth `json:"healthCheck"`
	// Attributes holds every attribute with its value (defaults filled in).
	Attributes map[string]string `json:"attributes,omitzero"`
	Tags       []ELBTag          `json:"tags,omitzero"`
	CreatedAt  time.Time         `json:"createdAt"`
}

// ELBHealth is a target group's health check settings.
type ELBHealth struct {
	Enabled            bool   `json:"enabled"`
	Protocol           string `json:"protocol"`
	Port               string `json:"port"` // "traffic-port" or a number
	Path               string `json:"path"`
	IntervalSeconds    int    `json:"intervalSeconds"`
	TimeoutSeconds     int    `json:"timeoutSeconds"`
	HealthyThreshold   int    `json:"healthyThreshold"`
	UnhealthyThreshold int    `json:"unhealthyThreshold"`
	Matcher            string `json:"matcher"` // HttpCode
}

// Registration is one target registered with a target group: the pair
// (TargetID, Port) names it. Once deregistered it is Draining until the
// load balancer reports it drained, then the record is deleted.
type Registration struct {
	TargetGroupID    string    `json:"targetGroupId"`
	TargetID         string    `json:"targetId"`
	Port             int       `json:"port"`
	AvailabilityZone string    `json:"availabilityZone,omitzero"`
	RegisteredAt     time.Time `json:"registeredAt"`
	Draining         bool      `json:"draining,omitzero"`
	DeregisteredAt   time.Time `json:"deregisteredAt,omitzero"`
}

// NameIndex is the value of a name index entry: the ID holding the name.
type NameIndex struct {
	ID string `json:"id"`
}

// PortIndex is the value of a listener port index entry.
type PortIndex struct {
	ListenerID      string `json:"listenerId"`
	ListenerARN     string `json:"listenerArn"`
	LoadBalancerARN string `json:"loadBalancerArn"`
}

// PriorityIndex is the value of a rule priority index entry.
type PriorityIndex struct {
	RuleID string `json:"ruleId"`
}

// ELBv2Snapshot is every ELBv2 record and container instance at once:
// what the load balancer's configuration is built from.
type ELBv2Snapshot struct {
	LoadBalancers []LoadBalancer
	Listeners     []Listener
	Rules         []Rule
	TargetGroups  []TargetGroup
	Registrations []Registration
	Instances     []ContainerInstance
}

// LoadELBv2Snapshot reads an ELBv2Snapshot. The lists are read one after
// another, not at one revision; callers that need a consistent picture
// reload on the next change, as a watcher does.
func LoadELBv2Snapshot(ctx context.Context, s store.Store) (ELBv2Snapshot, error) {
	var snap ELBv2Snapshot
	var err error
	if snap.LoadBalancers, err = values[LoadBalancer](ctx, s, LoadBalancersPrefix()); err != nil {
		return snap, err
	}
	if snap.Listeners, err = values[Listener](ctx, s, AllListenersPrefix()); err != nil {
		return snap, err
	}
	if snap.Rules, err = values[Rule](ctx, s, AllRulesPrefix()); err != nil {
		return snap, err
	}
	if snap.TargetGroups, err = values[TargetGroup](ctx, s, TargetGroupsPrefix()); err != nil {
		return snap, err
	}
	if snap.Registrations, err = values[Registration](ctx, s, AllRegistrationsPrefix()); err != nil {
		return snap, err
	}
	if snap.Instances, err = values[ContainerInstance](ctx, s, AllContainerInstancesPrefix()); err != nil {
		return snap, err
	}
	return snap, nil
}

// IsELBv2ConfigKey reports whether a change to key can change what the
// load balancer serves: an ELBv2 record other than the indexes, or a
// container instance (its address resolves instance targets).
func IsELBv2ConfigKey(key string) bool {
	switch {
	case strings.HasPrefix(key, allInstancesPfx):
		return true
	case strings.HasPrefix(key, elbLBNamesPfx), strings.HasPrefix(key, elbTGNamesPfx),
		strings.HasPrefix(key, elbPortsPfx), strings.HasPrefix(key, elbPrioritiesPfx):
		return false
	}
	return strings.HasPrefix(key, elbv2Prefix)
}

func values[T any](ctx context.Context, s store.Store, prefix string) ([]T, error) {
	items, err := List[T](ctx, s, prefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out, nil
}
