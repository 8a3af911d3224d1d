package cql

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Target is what a query sees of one container instance.
type Target struct {
	AgentConnected bool
	AgentVersion   string // e.g. "1.14.5"
	EC2InstanceID  string
	// Attributes holds the instance's attributes by name; attributes that
	// have no value (most capability attributes) map to "".
	Attributes        map[string]string
	RegisteredAt      time.Time
	RunningTasksCount int
	// TaskGroups are the groups of the tasks on the instance, one entry per
	// task (duplicates are fine).
	TaskGroups []string
}

// Eval reports whether t satisfies q.
//
// Semantics where the guide is silent:
//   - An attribute the instance lacks satisfies only "!exists": the guide's
//     "attribute:stack != prod" lists instances that have stack, unless it
//     is prod, so every other operator needs the attribute.
//   - task:group is a set. ==, in, =~ and the orderings hold when some task
//     on the instance matches; !=, !in and !~ are their negations (an empty
//     instance satisfies task:group != database); exists means the instance
//     runs at least one task.
//   - attribute:* orders numerically when both sides are numbers, else as
//     strings; agentVersion orders by dotted version parts.
//   - registeredAt with a date only (2018-02-13) stands for that UTC day:
//     == is "during the day", < is "before it", > is "after it".
func (q *Query) Eval(t *Target) bool { return q.root.eval(t) }

type node interface{ eval(*Target) bool }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

func (n andNode) eval(t *Target) bool { return n.l.eval(t) && n.r.eval(t) }
func (n orNode) eval(t *Target) bool  { return n.l.eval(t) || n.r.eval(t) }
func (n notNode) eval(t *Target) bool { return !n.x.eval(t) }

type predicate struct {
	subj  subject
	attr  string
	op    op
	args  []string
	nums  []int64
	times []dateArg
	re    *regexp.Regexp
}

func (pr *predicate) eval(t *Target) bool {
	if pr.subj == subjTaskGroup {
		return pr.evalSet(t.TaskGroups)
	}
	var v string
	switch pr.subj {
	case subjAgentConnected:
		v = strconv.FormatBool(t.AgentConnected)
	case subjAgentVersion:
		v = t.AgentVersion
	case subjEC2InstanceID:
		v = t.EC2InstanceID
	case subjAttribute:
		var ok bool
		v, ok = t.Attributes[pr.attr]
		if !ok {
			return pr.op == opNotExists
		}
	case subjRunningTasksCount:
		return pr.evalInt(int64(t.RunningTasksCount))
	case subjRegisteredAt:
		return pr.evalTime(t.RegisteredAt)
	}
	return pr.evalString(v)
}

func (pr *predicate) evalString(v string) bool {
	switch pr.op {
	case opExists:
		return true
	case opNotExists:
		return false
	case opMatches:
		return pr.re.MatchString(v)
	case opNotMatches:
		return !pr.re.MatchString(v)
	case opIn, opNotIn:
		in := false
		for _, a := range pr.args {
			if v == a {
				in = true
				break
			}
		}
		return in == (pr.op == opIn)
	}
	return ordered(pr.op, pr.compare(v, pr.args[0]))
}

func (pr *predicate) compare(v, arg string) int {
	switch pr.subj {
	case subjAgentVersion:
		return compareVersions(v, arg)
	case subjAttribute:
		if a, err := strconv.ParseFloat(v, 64); err == nil {
			if b, err := strconv.ParseFloat(arg, 64); err == nil {
				switch {
				case a < b:
					return -1
				case a > b:
					return 1
				}
				return 0
			}
		}
	}
	return strings.Compare(v, arg)
}

// ordered applies ==, !=, >, >=, <, <= to the result of a comparison.
func ordered(o op, c int) bool {
	switch o {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	}
	return false
}

func (pr *predicate) evalInt(v int64) bool {
	n := pr.nums[0]
	switch {
	case v < n:
		return ordered(pr.op, -1)
	case v > n:
		return ordered(pr.op, 1)
	}
	return ordered(pr.op, 0)
}

func (pr *predicate) evalTime(v time.Time) bool {
	a := pr.times[0]
	if !a.day {
		return ordered(pr.op, v.Compare(a.t))
	}
	end := a.t.Add(24 * time.Hour)
	during := !v.Before(a.t) && v.Before(end)
	switch pr.op {
	case opEq:
		return during
	case opNe:
		return !during
	case opGt:
		return !v.Before(end)
	case opGe:
		return !v.Before(a.t)
	case opLt:
		return v.Before(a.t)
	case opLe:
		return v.Before(end)
	}
	return false
}

func (pr *predicate) evalSet(groups []string) bool {
	switch pr.op {
	case opExists:
		return len(groups) > 0
	case opNotExists:
		return len(groups) == 0
	}
	pos := pr.op
	neg := false
	switch pr.op {
	case opNe:
		pos, neg = opEq, true
	case opNotIn:
		pos, neg = opIn, true
	case opNotMatches:
		pos, neg = opMatches, true
	}
	for _, g := range groups {
		var hit bool
		switch pos {
		case opMatches:
			hit = pr.re.MatchString(g)
		case opIn:
			for _, a := range pr.args {
				if g == a {
					hit = true
					break
				}
			}
		default:
			hit = ordered(pos, strings.Compare(g, pr.args[0]))
		}
		if hit {
			return !neg
		}
	}
	return neg
}

// compareVersions compares dotted versions part by part: numerically where
// both parts are numbers ("1.9" < "1.14"), as strings otherwise. A missing
// part counts as 0 ("1.14" == "1.14.0").
func compareVersions(a, b string) int {
	a, b = strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v")
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, errX := strconv.ParseInt(x, 10, 64)
		yn, errY := strconv.ParseInt(y, 10, 64)
		switch {
		case errX == nil && errY == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

// UsesTaskGroups reports whether q reads Target.TaskGroups: a caller may
// leave them out of its targets when it does not.
func (q *Query) UsesTaskGroups() bool { return usesTaskGroups(q.root) }

func usesTaskGroups(n node) bool {
	switch n := n.(type) {
	case andNode:
		return usesTaskGroups(n.l) || usesTaskGroups(n.r)
	case orNode:
		return usesTaskGroups(n.l) || usesTaskGroups(n.r)
	case notNode:
		return usesTaskGroups(n.x)
	case *predicate:
		return n.subj == subjTaskGroup
	}
	return true // a node kind this does not know: assume it does
}

// AttributesOnly reports whether q reads nothing of a target but its
// Attributes: its answer is then the same for targets with equal
// attributes.
func (q *Query) AttributesOnly() bool { return attributesOnly(q.root) }

func attributesOnly(n node) bool {
	switch n := n.(type) {
	case andNode:
		return attributesOnly(n.l) && attributesOnly(n.r)
	case orNode:
		return attributesOnly(n.l) && attributesOnly(n.r)
	case notNode:
		return attributesOnly(n.x)
	case *predicate:
		return n.subj == subjAttribute
	}
	return false
}
