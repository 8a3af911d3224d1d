// Package pattern is EventBridge's event pattern language, pure: Compile
// parses a pattern (the JSON of PutRule's EventPattern) into a Pattern or
// answers why it is not valid, and Pattern.Match says whether an event (a
// decoded JSON object) matches it.
//
// What a pattern says:
//
//   - Every key of an object must match (AND). A key's value is either an
//     object (a pattern for a nested object) or a non-empty array of
//     conditions, of which one must hold (OR).
//   - A condition is a literal (string, number, true, false, null: equal to
//     the event's value; numbers compare as numbers) or an object:
//     prefix, suffix (each optionally {"equals-ignore-case": s}),
//     equals-ignore-case, wildcard, anything-but (a value, a list of
//     values, or {prefix|suffix|equals-ignore-case|wildcard}), numeric
//     ([op, n] or [lower-op, n, upper-op, m]), exists, cidr.
//   - "$or": [p1, p2, ...] at any level: one of the patterns must match
//     the object at that level (with the level's other keys).
//   - An event field that is an array matches when one of its elements
//     does; a nested pattern over an array of objects matches when one
//     element matches all of it.
//   - A field the event lacks matches only {"exists": false}.
package pattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
)

// Error is why a pattern is not valid. Its message is EventBridge's
// reason; the API answers InvalidEventPatternException with
// "Event pattern is not valid. Reason: " + Reason.
type Error struct{ Reason string }

func (e *Error) Error() string { return "Event pattern is not valid. Reason: " + e.Reason }

func invalid(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Pattern is a compiled event pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	root *node
	// Keys are the top-level keys the pattern tests ("source",
	// "detail-type", ...), for indexing rules.
	keys []string
}

type node struct {
	fields []field
	ors    []*node
}

type field struct {
	key   string
	sub   *node       // a nested object pattern, or
	conds []condition // a leaf's alternatives
}

// Compile parses a pattern.
func Compile(src string) (*Pattern, error) {
	if strings.TrimSpace(src) == "" {
		return nil, invalid("Empty pattern")
	}
	v, err := decode([]byte(src))
	if err != nil {
		return nil, invalid("%v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("Filter is not an object")
	}
	if len(obj) == 0 {
		return nil, invalid("Empty objects are not allowed")
	}
	n, err := compileNode(obj, "")
	if err != nil {
		return nil, err
	}
	p := &Pattern{root: n}
	for _, f := range n.fields {
		p.keys = append(p.keys, f.key)
	}
	return p, nil
}

// MustCompile is Compile for patterns known to be valid; it panics
// otherwise.
func MustCompile(src string) *Pattern {
	p, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return p
}

// decode reads JSON keeping numbers as json.Number, and rejects trailing
// data.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// DecodeEvent decodes an event's JSON for Match (numbers kept exact).
func DecodeEvent(b []byte) (map[string]any, error) {
	v, err := decode(b)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("event is not a JSON object")
	}
	return obj, nil
}

func compileNode(obj map[string]any, path string) (*node, error) {
	n := &node{}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok {
				return nil, invalid("Or relationship must be an array of objects")
			}
			if len(alts) < 2 {
				return nil, invalid("Or relationship must have at least two alternatives")
			}
			for _, a := range alts {
				ao, ok := a.(map[string]any)
				if !ok || len(ao) == 0 {
					return nil, invalid("Or relationship must be an array of non-empty objects")
				}
				sub, err := compileNode(ao, path)
				if err != nil {
					return nil, err
				}
				n.ors = append(n.ors, sub)
			}
			continue
		}
		p := k
		if path != "" {
			p = path + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				return nil, invalid("Empty objects are not allowed")
			}
			sub, err := compileNode(v, p)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{key: k, sub: sub})
		case []any:
			if len(v) == 0 {
				return nil, invalid("Empty arrays are not allowed")
			}
			f := field{key: k}
			for _, c := range v {
				cond, err := compileCondition(c, p)
				if err != nil {
					return nil, err
				}
				f.conds = append(f.conds, cond)
			}
			n.fields = append(n.fields, f)
		default:
			return nil, invalid("Match value must be String, number, true, false, or null")
		}
	}
	return n, nil
}

// A condition is one alternative of a leaf.
type condition interface {
	// match reports whether the condition holds for the field's leaf
	// values (none: the field is absent).
	match(vals []any) bool
}

func anyOf(vals []any, f func(v any) bool) bool {
	for _, v := range vals {
		if f(v) {
			return true
		}
	}
	return false
}

type exact struct{ want any } // string, float64, bool, nil

func (c exact) match(vals []any) bool {
	return anyOf(vals, func(v any) bool { return equal(c.want, v) })
}

func equal(want, v any) bool {
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == w
	case float64:
		f, ok := num(v)
		return ok && f == w
	case bool:
		b, ok := v.(bool)
		return ok && b == w
	case nil:
		return v == nil
	}
	return false
}

func num(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		if f, ok := v.(float64); ok {
			return f, true
		}
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

type prefix struct {
	s          string
	ignoreCase bool
}

func (c prefix) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		if c.ignoreCase {
			return len(s) >= len(c.s) && strings.EqualFold(s[:len(c.s)], c.s)
		}
		return strings.HasPrefix(s, c.s)
	})
}

type suffix struct {
	s          string
	ignoreCase bool
}

func (c suffix) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		if c.ignoreCase {
			return len(s) >= len(c.s) && strings.EqualFold(s[len(s)-len(c.s):], c.s)
		}
		return strings.HasSuffix(s, c.s)
	})
}

type ignoreCase struct{ s string }

func (c ignoreCase) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		s, ok := v.(string)
		return ok && strings.EqualFold(s, c.s)
	})
}

type exists struct{ want bool }

func (c exists) match(vals []any) bool { return (len(vals) > 0) == c.want }

type wildcard struct{ parts []string } // literal parts between stars; len >= 1

func compileWildcard(s string) (wildcard, error) {
	var parts []string
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcard{}, invalid("Invalid escape character at pos %d", i)
			}
			i++
			cur.WriteByte(s[i])
			prevStar = false
		case '*':
			if prevStar {
				return wildcard{}, invalid("Consecutive wildcard characters at pos %d", i)
			}
			parts = append(parts, cur.String())
			cur.Reset()
			prevStar = true
		default:
			cur.WriteByte(s[i])
			prevStar = false
		}
	}
	return wildcard{parts: append(parts, cur.String())}, nil
}

func (c wildcard) matchString(s string) bool {
	if len(c.parts) == 1 {
		return s == c.parts[0]
	}
	first, last := c.parts[0], c.parts[len(c.parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, mid := range c.parts[1 : len(c.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

func (c wildcard) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		s, ok := v.(string)
		return ok && c.matchString(s)
	})
}

// numeric is a range: every bound must hold.
type numeric struct {
	ops []string
	ns  []float64
}

// numericLimit is the largest magnitude EventBridge's numeric matching
// takes.
const numericLimit = 5e9

func (c numeric) holds(f float64) bool {
	for i, op := range c.ops {
		n := c.ns[i]
		var ok bool
		switch op {
		case "<":
			ok = f < n
		case "<=":
			ok = f <= n
		case "=":
			ok = f == n
		case ">":
			ok = f > n
		case ">=":
			ok = f >= n
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c numeric) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		f, ok := num(v)
		return ok && c.holds(f)
	})
}

type cidr struct{ p netip.Prefix }

func (c cidr) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(s)
		return err == nil && c.p.Contains(a)
	})
}

// anythingBut holds when a value is present and none of the inner
// conditions holds for it.
type anythingBut struct {
	not []func(v any) bool
}

func (c anythingBut) match(vals []any) bool {
	return anyOf(vals, func(v any) bool {
		for _, f := range c.not {
			if f(v) {
				return false
			}
		}
		return true
	})
}

func compileCondition(c any, path string) (condition, error) {
	switch c := c.(type) {
	case string:
		return exact{want: c}, nil
	case json.Number:
		f, err := c.Float64()
		if err != nil {
			return nil, invalid("Bad number %s", c)
		}
		return exact{want: f}, nil
	case bool:
		return exact{want: c}, nil
	case nil:
		return exact{want: nil}, nil
	case []any:
		return nil, invalid("Match value must be String, number, true, false, or null")
	case map[string]any:
		if len(c) != 1 {
			if len(c) == 0 {
				return nil, invalid("Empty objects are not allowed")
			}
			return nil, invalid("Only one key allowed in match expression")
		}
		for k, v := range c {
			return compileOperator(k, v)
		}
	}
	return nil, invalid("Unrecognized match value")
}

func stringArg(op string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", invalid("%s match pattern must be a string", op)
	}
	return s, nil
}

func compileOperator(op string, v any) (condition, error) {
	switch op {
	case "prefix", "suffix":
		var s string
		var ic bool
		if o, ok := v.(map[string]any); ok {
			if len(o) != 1 {
				return nil, invalid("Only one key allowed in match expression")
			}
			iv, ok := o["equals-ignore-case"]
			if !ok {
				return nil, invalid("Unsupported %s pattern", op)
			}
			var err error
			if s, err = stringArg("equals-ignore-case", iv); err != nil {
				return nil, err
			}
			ic = true
		} else {
			var err error
			if s, err = stringArg(op, v); err != nil {
				return nil, err
			}
		}
		if op == "prefix" {
			return prefix{s: s, ignoreCase: ic}, nil
		}
		return suffix{s: s, ignoreCase: ic}, nil
	case "equals-ignore-case":
		s, err := stringArg(op, v)
		if err != nil {
			return nil, err
		}
		return ignoreCase{s: s}, nil
	case "wildcard":
		s, err := stringArg(op, v)
		if err != nil {
			return nil, err
		}
		return compileWildcard(s)
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return nil, invalid("exists match pattern must be either true or false.")
		}
		return exists{want: b}, nil
	case "numeric":
		return compileNumeric(v)
	case "cidr":
		s, err := stringArg(op, v)
		if err != nil {
			return nil, err
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, invalid("Malformed CIDR, one '/' required")
		}
		return cidr{p: p.Masked()}, nil
	case "anything-but":
		return compileAnythingBut(v)
	}
	return nil, invalid("Unrecognized match type %s", op)
}

func compileNumeric(v any) (condition, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, invalid("Value of numeric must be an array.")
	}
	if len(arr) != 2 && len(arr) != 4 {
		return nil, invalid("Bad numeric range definition")
	}
	var c numeric
	lower, upper := false, false
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok {
			return nil, invalid("Bad numeric range definition")
		}
		n, ok := arr[i+1].(json.Number)
		if !ok {
			return nil, invalid("Value of %s must be numeric", op)
		}
		f, err := n.Float64()
		if err != nil || math.Abs(f) > numericLimit {
			return nil, invalid("Value of %s must be a number between -5.0E9 and 5.0E9 inclusive", op)
		}
		switch op {
		case "=":
			if len(arr) != 2 {
				return nil, invalid("Bad numeric range definition")
			}
		case ">", ">=":
			if lower {
				return nil, invalid("Bad numeric range definition")
			}
			lower = true
		case "<", "<=":
			if upper {
				return nil, invalid("Bad numeric range definition")
			}
			upper = true
		default:
			return nil, invalid("Unrecognized numeric range operator: %s", op)
		}
		c.ops = append(c.ops, op)
		c.ns = append(c.ns, f)
	}
	if len(c.ops) == 2 {
		// lower then upper, as EventBridge requires
		if c.ops[0] == "<" || c.ops[0] == "<=" {
			return nil, invalid("Bad numeric range definition")
		}
		if c.ns[0] >= c.ns[1] {
			return nil, invalid("Bad numeric range definition")
		}
	}
	return c, nil
}

func compileAnythingBut(v any) (condition, error) {
	var c anythingBut
	addLiteral := func(x any) error {
		switch x := x.(type) {
		case string:
			c.not = append(c.not, func(v any) bool { return equal(x, v) })
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return invalid("Bad number %s", x)
			}
			c.not = append(c.not, func(v any) bool { return equal(f, v) })
		default:
			return invalid("Inside anything but list, start|null|boolean is not supported.")
		}
		return nil
	}
	switch v := v.(type) {
	case string, json.Number:
		if err := addLiteral(v); err != nil {
			return nil, err
		}
	case []any:
		if len(v) == 0 {
			return nil, invalid("Empty arrays are not allowed")
		}
		kind := ""
		for _, x := range v {
			k := fmt.Sprintf("%T", x)
			if kind != "" && k != kind {
				return nil, invalid("Inside anything but list, mixed types are not supported.")
			}
			kind = k
			if err := addLiteral(x); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		if len(v) != 1 {
			return nil, invalid("Only one key allowed in match expression")
		}
		for k, x := range v {
			switch k {
			case "prefix", "suffix", "wildcard":
				if _, ok := x.(string); !ok {
					return nil, invalid("%s match pattern must be a string", k)
				}
				inner, err := compileOperator(k, x)
				if err != nil {
					return nil, err
				}
				if k == "prefix" && x.(string) == "" {
					return nil, invalid("Null prefix not allowed")
				}
				c.not = append(c.not, leafFunc(inner))
			case "equals-ignore-case":
				var list []any
				switch x := x.(type) {
				case string:
					list = []any{x}
				case []any:
					if len(x) == 0 {
						return nil, invalid("Empty arrays are not allowed")
					}
					list = x
				default:
					return nil, invalid("equals-ignore-case match pattern must be a string or an array of strings")
				}
				for _, s := range list {
					s, ok := s.(string)
					if !ok {
						return nil, invalid("Inside anything-but/ignore-case list, number|start|null|boolean is not supported.")
					}
					c.not = append(c.not, leafFunc(ignoreCase{s: s}))
				}
			default:
				return nil, invalid("Unsupported anything-but pattern: %s", k)
			}
		}
	default:
		return nil, invalid("Value of anything-but must be an array or single string/number value.")
	}
	return c, nil
}

// leafFunc turns a condition into a test of one value.
func leafFunc(c condition) func(v any) bool {
	return func(v any) bool { return c.match([]any{v}) }
}

// Match reports whether event (as DecodeEvent returns it, or
// encoding/json's map[string]any) matches the pattern.
func (p *Pattern) Match(event map[string]any) bool {
	return p.root.match(event)
}

// MatchJSON decodes event and matches it.
func (p *Pattern) MatchJSON(event []byte) (bool, error) {
	ev, err := DecodeEvent(event)
	if err != nil {
		return false, err
	}
	return p.Match(ev), nil
}

// Keys are the pattern's top-level keys, sorted.
func (p *Pattern) Keys() []string { return p.keys }

// Literals returns the exact string alternatives of a top-level leaf key
// (nil when the key is absent, nested, or has any non-literal condition),
// so that a caller can index rules by, say, "source".
func (p *Pattern) Literals(key string) []string {
	if len(p.root.ors) > 0 {
		return nil
	}
	for _, f := range p.root.fields {
		if f.key != key || f.sub != nil {
			continue
		}
		var out []string
		for _, c := range f.conds {
			e, ok := c.(exact)
			if !ok {
				return nil
			}
			s, ok := e.want.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

func (n *node) match(obj map[string]any) bool {
	for i := range n.fields {
		f := &n.fields[i]
		v, present := obj[f.key]
		if f.sub != nil {
			if !matchSub(f.sub, v, present) {
				return false
			}
			continue
		}
		var vals []any
		if present {
			vals = leaves(v, nil)
		}
		ok := false
		for _, c := range f.conds {
			if c.match(vals) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(n.ors) == 0 {
		return true
	}
	for _, alt := range n.ors {
		if alt.match(obj) {
			return true
		}
	}
	return false
}

// matchSub matches a nested pattern against a field's value: an object,
// or an array holding objects (one must match). A field that holds no
// object is matched as an empty object, so that {"exists": false} below
// it holds.
func matchSub(sub *node, v any, present bool) bool {
	var objs []map[string]any
	if present {
		objs = objects(v, nil)
	}
	if len(objs) == 0 {
		return sub.match(nil)
	}
	for _, o := range objs {
		if sub.match(o) {
			return true
		}
	}
	return false
}

func objects(v any, out []map[string]any) []map[string]any {
	switch v := v.(type) {
	case map[string]any:
		return append(out, v)
	case []any:
		for _, e := range v {
			out = objects(e, out)
		}
	}
	return out
}

// leaves flattens a value into its scalar leaves: arrays contribute their
// elements, objects nothing (a pattern's leaf never matches an object).
func leaves(v any, out []any) []any {
	switch v := v.(type) {
	case map[string]any:
		return out
	case []any:
		for _, e := range v {
			out = leaves(e, out)
		}
		return out
	}
	return append(out, v)
}

// LiteralPaths returns, for each field the pattern requires to hold one
// of a set of exact strings, its path (the keys from the top) and the
// strings. Fields under "$or" are left out. A matching event has one of
// the strings at the path (Values), so a caller can index rules by one
// of them and test only the candidates an event's values name.
func (p *Pattern) LiteralPaths() map[string][]string {
	out := map[string][]string{}
	var walk func(n *node, path []string)
	walk = func(n *node, path []string) {
		for _, f := range n.fields {
			fp := append(append([]string(nil), path...), f.key)
			if f.sub != nil {
				walk(f.sub, fp)
				continue
			}
			var lits []string
			for _, c := range f.conds {
				e, ok := c.(exact)
				if !ok {
					lits = nil
					break
				}
				s, ok := e.want.(string)
				if !ok {
					lits = nil
					break
				}
				lits = append(lits, s)
			}
			if lits != nil {
				out[PathKey(fp)] = lits
			}
		}
	}
	walk(p.root, nil)
	return out
}

// PathKey joins a path's keys into one string (SplitPathKey undoes it).
func PathKey(path []string) string { return strings.Join(path, "\x00") }

// SplitPathKey splits a PathKey.
func SplitPathKey(k string) []string { return strings.Split(k, "\x00") }

// Values returns the string leaves of event at path, looking through
// arrays (of objects on the way, of strings at the end).
func Values(event map[string]any, path []string, out []string) []string {
	var walk func(v any, rest []string)
	walk = func(v any, rest []string) {
		if len(rest) == 0 {
			switch v := v.(type) {
			case string:
				out = append(out, v)
			case []any:
				for _, e := range v {
					if s, ok := e.(string); ok {
						out = append(out, s)
					}
				}
			}
			return
		}
		switch v := v.(type) {
		case map[string]any:
			if x, ok := v[rest[0]]; ok {
				walk(x, rest[1:])
			}
		case []any:
			for _, e := range v {
				walk(e, rest)
			}
		}
	}
	walk(event, path)
	return out
}
