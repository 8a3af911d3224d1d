// Package filterpattern parses and evaluates CloudWatch Logs filter
// patterns (the filterPattern of FilterLogEvents and aws logs tail
// --filter-pattern), as documented in "Filter pattern syntax for metric
// filters, subscription filters, filter log events, and Live Tail":
//
//   - "" matches every event.
//   - Terms: ERROR matches events that contain ERROR; ERROR ARGUMENTS those
//     that contain both; "INTERNAL SERVER ERROR" the exact phrase. Terms are
//     case sensitive.
//   - ?ERROR ?WARN matches events with either; -ARGUMENTS (or -"a phrase")
//     excludes events that contain it. Plain terms must all match, at least
//     one ?term must, and no -term may.
//   - %regex% matches events the regular expression matches (Go's RE2).
//   - JSON: { $.level = "error" }, { $.latency > 100 }, { $.user.id != 7 },
//     { $.tags[0] = "a*" }, { $.x IS NULL }, { $.x NOT EXISTS },
//     { $.ok IS TRUE }, combined with && and || and parentheses. String
//     values may hold * wildcards; events that are not JSON never match.
//   - Space-delimited: [ip, user, ..., status = 4*, size > 1000] splits the
//     event at spaces ("quoted" and [bracketed] runs are one field) and
//     tests the named fields; ... stands for any number of fields.
//
// It is pure: Parse once, then call Match per event.
package filterpattern

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Pattern is a parsed filter pattern.
type Pattern struct {
	match func(msg string) bool
}

// Match reports whether an event's message matches.
func (p *Pattern) Match(msg string) bool {
	if p == nil || p.match == nil {
		return true
	}
	return p.match(msg)
}

// Parse parses a filter pattern. Its error text is what the API reports
// as InvalidParameterException.
func Parse(s string) (*Pattern, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return &Pattern{}, nil
	case strings.HasPrefix(t, "{"):
		return parseJSON(t)
	case strings.HasPrefix(t, "["):
		return parseSpaced(t)
	case len(t) >= 2 && strings.HasPrefix(t, "%") && strings.HasSuffix(t, "%"):
		re, err := regexp.Compile(t[1 : len(t)-1])
		if err != nil {
			//lint:ignore ST1005 CloudWatch Logs' own message, which the client shows as it is
			return nil, fmt.Errorf("Invalid regex in filter pattern: %v", err)
		}
		return &Pattern{match: re.MatchString}, nil
	}
	return parseTerms(t)
}

//lint:ignore ST1005 CloudWatch Logs' own message, which the client shows as it is
func errInvalid(s string) error { return fmt.Errorf("Invalid filter pattern: %s", s) }

// ---- terms ----

func parseTerms(s string) (*Pattern, error) {
	var all, anyOf, none []string
	for i := 0; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		kind := byte(0)
		if s[i] == '?' || s[i] == '-' {
			kind = s[i]
			i++
		}
		var term string
		if i < len(s) && s[i] == '"' {
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errInvalid("unterminated quoted term")
			}
			term, i = b.String(), j+1
		} else {
			j := i
			for j < len(s) && !isSpace(s[j]) {
				j++
			}
			term, i = s[i:j], j
		}
		if term == "" {
			if kind == 0 {
				continue
			}
			return nil, errInvalid("empty term")
		}
		switch kind {
		case '?':
			anyOf = append(anyOf, term)
		case '-':
			none = append(none, term)
		default:
			all = append(all, term)
		}
	}
	return &Pattern{match: func(msg string) bool {
		for _, t := range all {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range none {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(anyOf) == 0 {
			return true
		}
		for _, t := range anyOf {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}}, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ---- values shared by JSON and space-delimited patterns ----

// value is the right-hand side of a comparison.
type value struct {
	str     string
	num     float64
	isNum   bool
	glob    *regexp.Regexp // for strings with * wildcards, or %regex%
	literal bool           // was quoted
}

func newValue(tok string, quoted bool) value {
	v := value{str: tok, literal: quoted}
	if !quoted {
		if f, err := strconv.ParseFloat(tok, 64); err == nil {
			v.num, v.isNum = f, true
			return v
		}
		if len(tok) >= 2 && tok[0] == '%' && tok[len(tok)-1] == '%' {
			if re, err := regexp.Compile(tok[1 : len(tok)-1]); err == nil {
				v.glob = re
				return v
			}
		}
	}
	if strings.Contains(tok, "*") {
		parts := strings.Split(tok, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		v.glob = regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	}
	return v
}

func (v value) equalString(s string) bool {
	if v.glob != nil {
		return v.glob.MatchString(s)
	}
	return s == v.str
}

// compare applies op to a field's value: a JSON value (any) or, for
// space-delimited patterns, a string.
func compare(op string, field any, v value) bool {
	switch f := field.(type) {
	case float64:
		if !v.isNum {
			if op == "=" || op == "!=" {
				eq := v.equalString(strconv.FormatFloat(f, 'f', -1, 64))
				return eq == (op == "=")
			}
			return false
		}
		return numCompare(op, f, v.num)
	case string:
		if v.isNum {
			if n, err := strconv.ParseFloat(f, 64); err == nil {
				return numCompare(op, n, v.num)
			}
			if op == "!=" {
				return true
			}
			return false
		}
		switch op {
		case "=":
			return v.equalString(f)
		case "!=":
			return !v.equalString(f)
		}
		return false
	case bool:
		if op == "=" || op == "!=" {
			return (strconv.FormatBool(f) == v.str) == (op == "=")
		}
	}
	return false
}

func numCompare(op string, a, b float64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// ---- a small lexer for JSON and space-delimited patterns ----

type lexer struct {
	s string
	i int
}

func (l *lexer) skip() {
	for l.i < len(l.s) && isSpace(l.s[l.i]) {
		l.i++
	}
}

func (l *lexer) peek(tok string) bool {
	l.skip()
	return strings.HasPrefix(l.s[l.i:], tok)
}

func (l *lexer) eat(tok string) bool {
	if l.peek(tok) {
		l.i += len(tok)
		return true
	}
	return false
}

// word reads a bare token up to a space or one of stop.
func (l *lexer) word(stop string) string {
	l.skip()
	j := l.i
	for j < len(l.s) && !isSpace(l.s[j]) && !strings.ContainsRune(stop, rune(l.s[j])) {
		if strings.HasPrefix(l.s[j:], "&&") || strings.HasPrefix(l.s[j:], "||") {
			break
		}
		j++
	}
	w := l.s[l.i:j]
	l.i = j
	return w
}

func (l *lexer) quoted() (string, error) {
	l.skip()
	if l.i >= len(l.s) || l.s[l.i] != '"' {
		return "", errInvalid("expected a quoted string")
	}
	var b strings.Builder
	j := l.i + 1
	for ; j < len(l.s) && l.s[j] != '"'; j++ {
		if l.s[j] == '\\' && j+1 < len(l.s) {
			j++
		}
		b.WriteByte(l.s[j])
	}
	if j >= len(l.s) {
		return "", errInvalid("unterminated quoted string")
	}
	l.i = j + 1
	return b.String(), nil
}

func (l *lexer) op() string {
	l.skip()
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(l.s[l.i:], op) {
			l.i += len(op)
			return op
		}
	}
	return ""
}

func (l *lexer) value(stop string) (value, error) {
	l.skip()
	if l.i < len(l.s) && l.s[l.i] == '"' {
		s, err := l.quoted()
		return newValue(s, true), err
	}
	w := l.word(stop)
	if w == "" {
		return value{}, errInvalid("missing value")
	}
	return newValue(w, false), nil
}

// ---- JSON patterns ----

type cond func(doc any) bool

func parseJSON(s string) (*Pattern, error) {
	l := &lexer{s: s}
	l.eat("{")
	c, err := parseOr(l)
	if err != nil {
		return nil, err
	}
	if !l.eat("}") {
		return nil, errInvalid("expected }")
	}
	l.skip()
	if l.i != len(l.s) {
		return nil, errInvalid("unexpected text after }")
	}
	return &Pattern{match: func(msg string) bool {
		t := strings.TrimSpace(msg)
		if !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
			return false
		}
		var doc any
		if json.Unmarshal([]byte(t), &doc) != nil {
			return false
		}
		return c(doc)
	}}, nil
}

func parseOr(l *lexer) (cond, error) {
	left, err := parseAnd(l)
	if err != nil {
		return nil, err
	}
	for l.eat("||") {
		right, err := parseAnd(l)
		if err != nil {
			return nil, err
		}
		a, b := left, right
		left = func(d any) bool { return a(d) || b(d) }
	}
	return left, nil
}

func parseAnd(l *lexer) (cond, error) {
	left, err := parseUnary(l)
	if err != nil {
		return nil, err
	}
	for l.eat("&&") {
		right, err := parseUnary(l)
		if err != nil {
			return nil, err
		}
		a, b := left, right
		left = func(d any) bool { return a(d) && b(d) }
	}
	return left, nil
}

func parseUnary(l *lexer) (cond, error) {
	if l.eat("(") {
		c, err := parseOr(l)
		if err != nil {
			return nil, err
		}
		if !l.eat(")") {
			return nil, errInvalid("expected )")
		}
		return c, nil
	}
	l.skip()
	if !l.peek("$") {
		return nil, errInvalid("expected a selector starting with $")
	}
	sel, err := parseSelector(l.word("=!<>)}"))
	if err != nil {
		return nil, err
	}
	switch {
	case l.eat("IS NULL"):
		return func(d any) bool { v, ok := sel(d); return ok && v == nil }, nil
	case l.eat("NOT EXISTS"):
		return func(d any) bool { _, ok := sel(d); return !ok }, nil
	case l.eat("IS TRUE"):
		return func(d any) bool { v, ok := sel(d); return ok && v == true }, nil
	case l.eat("IS FALSE"):
		return func(d any) bool { v, ok := sel(d); return ok && v == false }, nil
	}
	op := l.op()
	if op == "" {
		return nil, errInvalid("expected a comparison operator")
	}
	v, err := l.value(")}")
	if err != nil {
		return nil, err
	}
	if !v.isNum && op != "=" && op != "!=" {
		return nil, errInvalid("operator " + op + " needs a number")
	}
	return func(d any) bool {
		f, ok := sel(d)
		if !ok {
			return false
		}
		if arr, isArr := f.([]any); isArr {
			// A comparison with an array tests its elements.
			for _, e := range arr {
				if compare(op, e, v) {
					return true
				}
			}
			return false
		}
		return compare(op, f, v)
	}, nil
}

// parseSelector parses $.a.b[0].c into a lookup.
func parseSelector(s string) (func(any) (any, bool), error) {
	if !strings.HasPrefix(s, "$") {
		return nil, errInvalid("selector must start with $")
	}
	type step struct {
		key   string
		index int // -1: key step
	}
	var steps []step
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			j := 1
			for j < len(rest) && rest[j] != '.' && rest[j] != '[' {
				j++
			}
			if j == 1 {
				return nil, errInvalid("empty selector step in " + s)
			}
			steps = append(steps, step{key: rest[1:j], index: -1})
			rest = rest[j:]
		case '[':
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				return nil, errInvalid("unterminated [ in " + s)
			}
			n, err := strconv.Atoi(rest[1:j])
			if err != nil || n < 0 {
				return nil, errInvalid("bad array index in " + s)
			}
			steps = append(steps, step{index: n})
			rest = rest[j+1:]
		default:
			return nil, errInvalid("bad selector " + s)
		}
	}
	return func(d any) (any, bool) {
		cur := d
		for _, st := range steps {
			if st.index >= 0 {
				arr, ok := cur.([]any)
				if !ok || st.index >= len(arr) {
					return nil, false
				}
				cur = arr[st.index]
				continue
			}
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[st.key]; !ok {
				return nil, false
			}
		}
		return cur, true
	}, nil
}

// ---- space-delimited patterns ----

type field struct {
	ellipsis bool
	test     func(s string) bool // nil: any value
}

func parseSpaced(s string) (*Pattern, error) {
	l := &lexer{s: s}
	l.eat("[")
	var fields []field
	for {
		l.skip()
		if l.eat("]") {
			break
		}
		if l.i >= len(l.s) {
			return nil, errInvalid("expected ]")
		}
		if l.eat("...") {
			fields = append(fields, field{ellipsis: true})
		} else {
			name := l.word(",]=!<>")
			if name == "" {
				return nil, errInvalid("expected a field name")
			}
			f := field{}
			var tests []func(string) bool
			var joins []string
			for {
				op := l.op()
				if op == "" {
					break
				}
				v, err := l.value(",]")
				if err != nil {
					return nil, err
				}
				if !v.isNum && op != "=" && op != "!=" {
					return nil, errInvalid("operator " + op + " needs a number")
				}
				tests = append(tests, func(s string) bool { return compare(op, s, v) })
				switch {
				case l.eat("&&"):
					joins = append(joins, "&&")
				case l.eat("||"):
					joins = append(joins, "||")
				default:
					joins = append(joins, "")
				}
				if joins[len(joins)-1] == "" {
					break
				}
				if l.word(",]=!<>") != name {
					return nil, errInvalid("a compound condition must repeat the field name " + name)
				}
			}
			if len(tests) > 0 {
				f.test = func(s string) bool {
					r := tests[0](s)
					for i := 1; i < len(tests); i++ {
						if joins[i-1] == "&&" {
							r = r && tests[i](s)
						} else {
							r = r || tests[i](s)
						}
					}
					return r
				}
			}
			fields = append(fields, f)
		}
		l.skip()
		if l.eat(",") {
			continue
		}
		if l.eat("]") {
			break
		}
		return nil, errInvalid("expected , or ]")
	}
	l.skip()
	if l.i != len(l.s) {
		return nil, errInvalid("unexpected text after ]")
	}
	return &Pattern{match: func(msg string) bool { return matchFields(fields, splitFields(msg)) }}, nil
}

// splitFields splits an event at spaces; "quoted" and [bracketed] runs
// are single fields (without their quotes or brackets).
func splitFields(msg string) []string {
	var out []string
	for i := 0; i < len(msg); {
		for i < len(msg) && isSpace(msg[i]) {
			i++
		}
		if i >= len(msg) {
			break
		}
		switch msg[i] {
		case '"', '[':
			end := byte('"')
			if msg[i] == '[' {
				end = ']'
			}
			j := strings.IndexByte(msg[i+1:], end)
			if j >= 0 {
				out = append(out, msg[i+1:i+1+j])
				i += j + 2
				continue
			}
		}
		j := i
		for j < len(msg) && !isSpace(msg[j]) {
			j++
		}
		out = append(out, msg[i:j])
		i = j
	}
	return out
}

func matchFields(fs []field, vals []string) bool {
	if len(fs) == 0 {
		return len(vals) == 0
	}
	f := fs[0]
	if f.ellipsis {
		for k := 0; k <= len(vals); k++ {
			if matchFields(fs[1:], vals[k:]) {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 {
		return false
	}
	if f.test != nil && !f.test(vals[0]) {
		return false
	}
	return matchFields(fs[1:], vals[1:])
}
