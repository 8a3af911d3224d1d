// Package cql parses and evaluates the Amazon ECS cluster query language,
// the expressions of memberOf placement constraints and of
// ListContainerInstances filters:
//
//	attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d
//	not(task:group == database)
//	ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']
//
// Parse turns text into a Query; Query.Eval decides whether one container
// instance, described by a plain Target value, satisfies it. The package is
// pure: no I/O, no clock.
//
// Grammar (keywords and word operators are case-insensitive):
//
//	expr      = and { ("or" | "||") and }
//	and       = unary { ("and" | "&&") unary }
//	unary     = ("not" | "!") unary | "(" expr ")" | predicate
//	predicate = subject operator [argument]
//	argument  = value | "[" value { "," value } "]"
//	value     = bare word | 'single quoted' | "double quoted"
//
// Subjects are agentConnected, agentVersion, attribute:NAME, ec2InstanceId,
// registeredAt, runningTasksCount and task:group, as in the ECS developer
// guide, plus instanceType, which minato accepts as a short form of
// attribute:ecs.instance-type. Each subject accepts the operators the guide
// lists for it; a wrong one is a parse error, not a silent false.
package cql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxLength is the longest expression ECS accepts (PlacementConstraint.expression).
const MaxLength = 2000

// Error is a syntax or validation error in an expression. Callers report it
// as an InvalidParameterException.
type Error struct {
	Expr string // the whole expression
	Pos  int    // byte offset where the problem was found
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid cluster query expression %q: %s (at character %d)", e.Expr, e.Msg, e.Pos+1)
}

// Query is a parsed expression. It is immutable and safe for concurrent use.
type Query struct {
	src  string
	root node
}

// String returns the expression as it was written.
func (q *Query) String() string { return q.src }

// Parse parses an expression.
func Parse(s string) (*Query, error) {
	if len(s) > MaxLength {
		return nil, &Error{Expr: s, Pos: MaxLength, Msg: fmt.Sprintf("longer than %d characters", MaxLength)}
	}
	p := &parser{src: s}
	p.skipSpace()
	if p.eof() {
		return nil, p.errf("empty expression")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		return nil, p.errf("unexpected %q", p.rest(12))
	}
	return &Query{src: s, root: root}, nil
}

// MustParse is Parse for expressions known to be valid; it panics otherwise.
func MustParse(s string) *Query {
	q, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return q
}

type subject int

const (
	subjAgentConnected subject = iota
	subjAgentVersion
	subjAttribute
	subjEC2InstanceID
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
)

type op int

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatches
	opNotMatches
)

var opNames = map[string]op{
	"==": opEq, "equals": opEq,
	"!=": opNe, "not_equals": opNe,
	">": opGt, "greater_than": opGt,
	">=": opGe, "greater_than_equal": opGe,
	"<": opLt, "less_than": opLt,
	"<=": opLe, "less_than_equal": opLe,
	"exists":  opExists,
	"!exists": opNotExists, "not_exists": opNotExists,
	"in":  opIn,
	"!in": opNotIn, "not_in": opNotIn,
	"=~": opMatches, "matches": opMatches,
	"!~": opNotMatches, "not_matches": opNotMatches,
}

// allowed lists the operators the ECS developer guide gives for a subject.
// attribute:* and task:group take all of them.
func allowed(s subject, o op) bool {
	switch s {
	case subjAgentConnected, subjEC2InstanceID:
		return o == opEq || o == opNe || o == opIn || o == opNotIn || o == opMatches || o == opNotMatches
	case subjAgentVersion, subjRegisteredAt, subjRunningTasksCount:
		return o <= opLe
	}
	return true
}

type parser struct {
	src string
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) errf(format string, args ...any) error {
	return &Error{Expr: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) rest(n int) string {
	r := p.src[p.pos:]
	if len(r) > n {
		r = r[:n] + "..."
	}
	return r
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// keyword consumes kw (case-insensitively) when it is followed by a space,
// a parenthesis or the end of input.
func (p *parser) keyword(kw string) bool {
	end := p.pos + len(kw)
	if end > len(p.src) || !strings.EqualFold(p.src[p.pos:end], kw) {
		return false
	}
	if end < len(p.src) && !isSpace(p.src[end]) && p.src[end] != '(' {
		return false
	}
	p.pos = end
	return true
}

func (p *parser) symbol(sym string) bool {
	if strings.HasPrefix(p.src[p.pos:], sym) {
		p.pos += len(sym)
		return true
	}
	return false
}

func (p *parser) parseOr() (node, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.symbol("||") && !p.keyword("or") {
			return left, nil
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
}

func (p *parser) parseAnd() (node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.symbol("&&") && !p.keyword("and") {
			return left, nil
		}
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.errf("expected an expression")
	}
	if p.symbol("!") || p.keyword("not") {
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	if p.symbol("(") {
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.symbol(")") {
			return nil, p.errf("expected \")\"")
		}
		return x, nil
	}
	return p.parsePredicate()
}

func (p *parser) parsePredicate() (node, error) {
	start := p.pos
	for !p.eof() && !isSpace(p.src[p.pos]) && !strings.ContainsRune("=!<>()[],&|", rune(p.src[p.pos])) {
		p.pos++
	}
	word := p.src[start:p.pos]
	if word == "" {
		return nil, p.errf("expected a subject, found %q", p.rest(12))
	}
	pr := &predicate{}
	switch {
	case strings.HasPrefix(word, "attribute:"):
		pr.subj, pr.attr = subjAttribute, strings.TrimPrefix(word, "attribute:")
		if pr.attr == "" {
			p.pos = start
			return nil, p.errf("attribute: needs an attribute name")
		}
	case word == "instanceType":
		pr.subj, pr.attr = subjAttribute, "ecs.instance-type"
	case word == "agentConnected":
		pr.subj = subjAgentConnected
	case word == "agentVersion":
		pr.subj = subjAgentVersion
	case word == "ec2InstanceId":
		pr.subj = subjEC2InstanceID
	case word == "registeredAt":
		pr.subj = subjRegisteredAt
	case word == "runningTasksCount":
		pr.subj = subjRunningTasksCount
	case word == "task:group":
		pr.subj = subjTaskGroup
	default:
		p.pos = start
		return nil, p.errf("unknown subject %q (want agentConnected, agentVersion, attribute:NAME, ec2InstanceId, registeredAt, runningTasksCount or task:group)", word)
	}

	p.skipSpace()
	opPos := p.pos
	o, ok := p.readOp()
	if !ok {
		return nil, p.errf("expected an operator after %q", word)
	}
	pr.op = o
	if !allowed(pr.subj, o) {
		p.pos = opPos
		return nil, p.errf("operator %q is not valid for %s", p.src[opPos:opPosEnd(p, opPos)], word)
	}

	switch o {
	case opExists, opNotExists:
		return pr, nil
	case opIn, opNotIn:
		list, err := p.readList()
		if err != nil {
			return nil, err
		}
		pr.args = list
	default:
		p.skipSpace()
		v, err := p.readValue(false)
		if err != nil {
			return nil, err
		}
		pr.args = []string{v}
	}
	if err := pr.compile(); err != nil {
		p.pos = opPos
		return nil, p.errf("%v", err)
	}
	return pr, nil
}

// opPosEnd finds the end of the operator that starts at from, for messages.
func opPosEnd(p *parser, from int) int {
	i := from
	for i < len(p.src) && !isSpace(p.src[i]) {
		i++
	}
	return i
}

func (p *parser) readOp() (op, bool) {
	if p.eof() {
		return 0, false
	}
	for _, sym := range []string{"!exists", "!in", "==", "!=", ">=", "<=", "=~", "!~", ">", "<"} {
		if strings.HasPrefix(p.src[p.pos:], sym) {
			// "!in" and "!exists" are words: they must end there.
			if sym[0] == '!' && len(sym) > 2 {
				end := p.pos + len(sym)
				if end < len(p.src) && !isSpace(p.src[end]) && p.src[end] != '[' {
					continue
				}
			}
			p.pos += len(sym)
			return opNames[sym], true
		}
	}
	start := p.pos
	for !p.eof() && (isLetter(p.src[p.pos]) || p.src[p.pos] == '_') {
		p.pos++
	}
	o, ok := opNames[strings.ToLower(p.src[start:p.pos])]
	if !ok {
		p.pos = start
	}
	return o, ok
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (p *parser) readList() ([]string, error) {
	p.skipSpace()
	if !p.symbol("[") {
		return nil, p.errf("expected \"[\" to start an argument list")
	}
	var out []string
	for {
		p.skipSpace()
		v, err := p.readValue(true)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		if p.symbol("]") {
			return out, nil
		}
		if !p.symbol(",") {
			return nil, p.errf("expected \",\" or \"]\" in argument list")
		}
	}
}

// readValue reads a literal: quoted, or a bare word that ends at a space,
// at "&&" or "||", at a ")" that closes an outer parenthesis, and, inside a
// list, at "," or "]". Parentheses inside a bare word (a regular
// expression such as (t2|m5).*) are kept when they balance.
func (p *parser) readValue(inList bool) (string, error) {
	if p.eof() {
		return "", p.errf("expected a value")
	}
	if q := p.src[p.pos]; q == '\'' || q == '"' {
		end := strings.IndexByte(p.src[p.pos+1:], q)
		if end < 0 {
			return "", p.errf("unterminated quoted value")
		}
		v := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return v, nil
	}
	start, depth := p.pos, 0
loop:
	for !p.eof() {
		c := p.src[p.pos]
		switch {
		case isSpace(c):
			break loop
		case strings.HasPrefix(p.src[p.pos:], "&&"), strings.HasPrefix(p.src[p.pos:], "||"):
			break loop
		case inList && (c == ',' || c == ']'):
			break loop
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				break loop
			}
			depth--
		}
		p.pos++
	}
	if p.pos == start {
		return "", p.errf("expected a value, found %q", p.rest(12))
	}
	return p.src[start:p.pos], nil
}

// compile checks and pre-parses the arguments of a predicate.
func (pr *predicate) compile() error {
	switch pr.subj {
	case subjRunningTasksCount:
		for _, a := range pr.args {
			n, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return fmt.Errorf("runningTasksCount needs a whole number, not %q", a)
			}
			pr.nums = append(pr.nums, n)
		}
	case subjRegisteredAt:
		for _, a := range pr.args {
			t, day, ok := parseDate(a)
			if !ok {
				return fmt.Errorf("registeredAt needs a date like 2018-06-18 or 2018-06-18T22:28:28Z, not %q", a)
			}
			pr.times = append(pr.times, dateArg{t, day})
		}
	case subjAgentConnected:
		for i, a := range pr.args {
			if pr.op != opMatches && pr.op != opNotMatches {
				l := strings.ToLower(a)
				if l != "true" && l != "false" {
					return fmt.Errorf("agentConnected is true or false, not %q", a)
				}
				pr.args[i] = l
			}
		}
	}
	if pr.op == opMatches || pr.op == opNotMatches {
		// ECS uses Java's Pattern.matches: the whole value must match.
		re, err := regexp.Compile(`^(?:` + pr.args[0] + `)$`)
		if err != nil {
			return fmt.Errorf("bad pattern %q: %v", pr.args[0], err)
		}
		pr.re = re
	}
	return nil
}

type dateArg struct {
	t   time.Time
	day bool // a date without a time: the whole UTC day
}

// parseDate reads the formats the ECS guide lists for registeredAt:
// 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28
// (UTC) and 2018-06-18 (the day, UTC).
func parseDate(s string) (time.Time, bool, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC); err == nil {
		return t, false, true
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t, true, true
	}
	return time.Time{}, false, false
}
