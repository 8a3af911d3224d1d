package scheduler

import (
	"strings"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler/cql"
)

// Limits ECS puts on placement (RunTask, CreateService).
const (
	MaxStrategies  = 5  // placementStrategy entries
	MaxConstraints = 10 // placementConstraints, task definition's included
)

// RunTaskDefaultStrategies is what minato uses for RunTask without a
// placementStrategy: random. ECS documents no default for standalone
// tasks; Place uses this when given none.
func RunTaskDefaultStrategies() []ecstypes.PlacementStrategy {
	return []ecstypes.PlacementStrategy{{Type: ecstypes.PlacementStrategyTypeRandom}}
}

// ServiceDefaultStrategies is the service scheduler's documented default:
// spread across Availability Zones, then favour the instances with the
// fewest tasks of the service. The service controller passes it when the
// service has no placementStrategy.
func ServiceDefaultStrategies() []ecstypes.PlacementStrategy {
	return []ecstypes.PlacementStrategy{
		{Type: ecstypes.PlacementStrategyTypeSpread, Field: "attribute:" + AttrAvailabilityZone},
		{Type: ecstypes.PlacementStrategyTypeSpread, Field: "instanceId"},
	}
}

type strategyKind int

const (
	stRandom strategyKind = iota
	stSpreadInstance
	stSpreadAttribute
	stBinpackCPU
	stBinpackMemory
)

type strategy struct {
	kind strategyKind
	attr string // stSpreadAttribute
}

type constraintKind int

const (
	ctDistinctInstance constraintKind = iota
	ctMemberOf
)

type constraint struct {
	kind constraintKind
	q    *cql.Query
	// attrs: q reads only attributes, so its answer can be kept per
	// attribute map (the cluster view shares one map among the instances
	// that have the same attributes).
	attrs bool
}

// policy is the checked form of a call's strategies and constraints.
type policy struct {
	strategies  []strategy
	constraints []constraint
	memberOf    bool // some constraint needs cql targets
	taskGroups  bool // some memberOf reads the instances' task groups
	groups      bool // a spread or distinctInstance counts the request's group per instance
}

func invalid(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ecstypes.ErrCodeInvalidParameterException, format, args...)
}

// ValidatePlacement checks placement strategies and constraints the way
// RunTask, CreateService and UpdateService do. Its errors are
// InvalidParameterException *core.Error values. The constraints are all
// those that apply, the task definition's included (see Constraints).
func ValidatePlacement(strategies []ecstypes.PlacementStrategy, constraints []ecstypes.PlacementConstraint) error {
	_, err := compile(strategies, constraints)
	return err
}

func compile(strategies []ecstypes.PlacementStrategy, constraints []ecstypes.PlacementConstraint) (*policy, error) {
	if len(strategies) > MaxStrategies {
		return nil, invalid("You can specify a maximum of %d placement strategies, not %d.", MaxStrategies, len(strategies))
	}
	if len(constraints) > MaxConstraints {
		return nil, invalid("You can specify a maximum of %d placement constraints for a task, including those of the task definition, not %d.", MaxConstraints, len(constraints))
	}
	pol := &policy{}
	for _, s := range strategies {
		st, err := compileStrategy(s)
		if err != nil {
			return nil, err
		}
		pol.strategies = append(pol.strategies, st)
		pol.groups = pol.groups || st.kind == stSpreadInstance || st.kind == stSpreadAttribute
	}
	for _, c := range constraints {
		switch c.Type {
		case ecstypes.PlacementConstraintTypeDistinctInstance:
			if c.Expression != "" {
				return nil, invalid("The distinctInstance placement constraint does not take an expression.")
			}
			pol.constraints = append(pol.constraints, constraint{kind: ctDistinctInstance})
			pol.groups = true
		case ecstypes.PlacementConstraintTypeMemberOf:
			if strings.TrimSpace(c.Expression) == "" {
				return nil, invalid("The memberOf placement constraint needs an expression.")
			}
			q, err := cql.Parse(c.Expression)
			if err != nil {
				return nil, invalid("Invalid memberOf placement constraint: %v.", err)
			}
			pol.constraints = append(pol.constraints, constraint{kind: ctMemberOf, q: q, attrs: q.AttributesOnly()})
			pol.memberOf = true
			pol.taskGroups = pol.taskGroups || q.UsesTaskGroups()
		case "":
			return nil, invalid("A placement constraint needs a type: distinctInstance or memberOf.")
		default:
			return nil, invalid("Invalid placement constraint type %q; valid types are distinctInstance and memberOf.", c.Type)
		}
	}
	return pol, nil
}

func compileStrategy(s ecstypes.PlacementStrategy) (strategy, error) {
	switch s.Type {
	case ecstypes.PlacementStrategyTypeRandom:
		return strategy{kind: stRandom}, nil // ECS ignores the field
	case ecstypes.PlacementStrategyTypeSpread:
		f := s.Field
		switch {
		case strings.EqualFold(f, "instanceId"), strings.EqualFold(f, "host"):
			return strategy{kind: stSpreadInstance}, nil
		case strings.HasPrefix(f, "attribute:") && len(f) > len("attribute:"):
			return strategy{kind: stSpreadAttribute, attr: strings.TrimPrefix(f, "attribute:")}, nil
		case f == "":
			return strategy{}, invalid("The spread placement strategy needs a field: instanceId, host or attribute:<name>.")
		}
		return strategy{}, invalid("Invalid field %q for the spread placement strategy; valid fields are instanceId, host and attribute:<name>.", f)
	case ecstypes.PlacementStrategyTypeBinpack:
		switch {
		case strings.EqualFold(s.Field, "cpu"):
			return strategy{kind: stBinpackCPU}, nil
		case strings.EqualFold(s.Field, "memory"):
			return strategy{kind: stBinpackMemory}, nil
		}
		return strategy{}, invalid("Invalid field %q for the binpack placement strategy; valid fields are cpu and memory.", s.Field)
	case "":
		return strategy{}, invalid("A placement strategy needs a type: random, spread or binpack.")
	}
	return strategy{}, invalid("Invalid placement strategy type %q; valid types are random, spread and binpack.", s.Type)
}

// Constraints returns the constraints that apply to a task: the task
// definition's (memberOf only) followed by those given at run time.
func Constraints(td *ecstypes.TaskDefinition, runtime []ecstypes.PlacementConstraint) []ecstypes.PlacementConstraint {
	var out []ecstypes.PlacementConstraint
	if td != nil {
		for _, c := range td.PlacementConstraints {
			out = append(out, ecstypes.PlacementConstraint{Type: ecstypes.PlacementConstraintType(c.Type), Expression: c.Expression})
		}
	}
	return append(out, runtime...)
}
