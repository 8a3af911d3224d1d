// Package transform makes what a target receives from a matched event,
// as EventBridge does: the whole event, a constant Input, the part an
// InputPath names, or an InputTransformer's template filled from
// InputPathsMap. It is pure.
//
// Paths are the JSONPath subset EventBridge takes: $ then .name, ['name']
// and [index] steps ($.detail.containers[0].exitCode).
//
// An InputTemplate's <name> placeholders are replaced by the values the
// paths name. Inside a JSON string ("<name>") a value goes in as text (a
// string without its quotes, anything else as its JSON); outside one it
// goes in as JSON. A path that names nothing is null (outside strings)
// or empty (inside). The predefined <aws.events.rule-arn>,
// <aws.events.rule-name>, <aws.events.event.ingestion-time> and
// <aws.events.event> (the whole event, outside strings only) are there
// too.
package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Error is why a target's input settings are not valid; the API answers
// ValidationException with it.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// step is one step of a path: a key, or an index when key is "" and
// index >= 0.
type step struct {
	key   string
	index int
}

// Path is a parsed JSONPath.
type Path []step

// ParsePath parses a path; "" and "$" are the whole event.
func ParsePath(s string) (Path, error) {
	if s == "" || s == "$" {
		return Path{}, nil
	}
	if !strings.HasPrefix(s, "$") {
		return nil, invalid("JSONPath %q must start with $", s)
	}
	var p Path
	rest := s[1:]
	for rest != "" {
		switch {
		case rest[0] == '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			key := rest[:end]
			if key == "" || key == "*" {
				return nil, invalid("JSONPath %q is not valid", s)
			}
			p = append(p, step{key: key, index: -1})
			rest = rest[end:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, invalid("JSONPath %q is not valid", s)
			}
			in := rest[1:end]
			rest = rest[end+1:]
			if len(in) >= 2 && (in[0] == '\'' || in[0] == '"') && in[len(in)-1] == in[0] {
				p = append(p, step{key: in[1 : len(in)-1], index: -1})
				continue
			}
			n, err := strconv.Atoi(in)
			if err != nil || n < 0 {
				return nil, invalid("JSONPath %q is not valid", s)
			}
			p = append(p, step{index: n})
		default:
			return nil, invalid("JSONPath %q is not valid", s)
		}
	}
	return p, nil
}

// Get returns the value p names in v (encoding/json's decoded form), and
// whether it exists.
func (p Path) Get(v any) (any, bool) {
	for _, s := range p {
		if s.key != "" || s.index < 0 {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.key]; !ok {
				return nil, false
			}
			continue
		}
		a, ok := v.([]any)
		if !ok || s.index >= len(a) {
			return nil, false
		}
		v = a[s.index]
	}
	return v, true
}

// Input is how a target's input is made. At most one of Input, InputPath
// and Template is set; none: the whole event.
type Input struct {
	Input       string // constant JSON text
	InputPath   string
	Paths       map[string]string // InputTransformer.InputPathsMap
	Template    string            // InputTransformer.InputTemplate
	HasTemplate bool
}

var placeholderName = regexp.MustCompile(`^[A-Za-z0-9_\-]+$`)

// Check validates a target's input settings as PutTargets does.
func (in Input) Check() error {
	set := 0
	if in.Input != "" {
		set++
		if !json.Valid([]byte(in.Input)) {
			return invalid("Input is not valid JSON text.")
		}
	}
	if in.InputPath != "" {
		set++
		if _, err := ParsePath(in.InputPath); err != nil {
			return err
		}
	}
	if in.HasTemplate {
		set++
		if in.Template == "" {
			return invalid("InputTemplate must be provided.")
		}
		if len(in.Paths) > 100 {
			return invalid("InputPathsMap can contain at most 100 entries.")
		}
		for k, v := range in.Paths {
			if !placeholderName.MatchString(k) || strings.HasPrefix(k, "aws.") {
				return invalid("InputPathsMap key %q is not valid.", k)
			}
			if _, err := ParsePath(v); err != nil {
				return err
			}
		}
	}
	if set > 1 {
		return invalid("Only one of Input, InputPath, or InputTransformer must be provided.")
	}
	return nil
}

// Context is what the predefined placeholders name.
type Context struct {
	RuleARN, RuleName string
	IngestionTime     string // RFC 3339
}

// Apply makes the input a target receives for event (its JSON).
func (in Input) Apply(event []byte, ctx Context) ([]byte, error) {
	switch {
	case in.Input != "":
		return []byte(in.Input), nil
	case in.InputPath != "" && in.InputPath != "$":
		v, err := decode(event)
		if err != nil {
			return nil, err
		}
		p, err := ParsePath(in.InputPath)
		if err != nil {
			return nil, err
		}
		got, ok := p.Get(v)
		if !ok {
			return []byte("null"), nil
		}
		return json.Marshal(got)
	case in.HasTemplate:
		v, err := decode(event)
		if err != nil {
			return nil, err
		}
		vals := map[string]any{}
		found := map[string]bool{}
		for k, ps := range in.Paths {
			p, err := ParsePath(ps)
			if err != nil {
				return nil, err
			}
			vals[k], found[k] = p.Get(v)
		}
		return fill(in.Template, vals, found, event, ctx), nil
	}
	return event, nil
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return v, nil
}

// fill replaces the template's placeholders.
func fill(tmpl string, vals map[string]any, found map[string]bool, event []byte, ctx Context) []byte {
	var out bytes.Buffer
	inString := false
	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		if ch == '\\' && inString && i+1 < len(tmpl) {
			out.WriteByte(ch)
			out.WriteByte(tmpl[i+1])
			i++
			continue
		}
		if ch == '"' {
			inString = !inString
			out.WriteByte(ch)
			continue
		}
		if ch == '<' {
			if end := strings.IndexByte(tmpl[i:], '>'); end > 0 {
				name := tmpl[i+1 : i+end]
				if text, ok := value(name, vals, found, event, ctx, inString); ok {
					out.WriteString(text)
					i += end
					continue
				}
			}
		}
		out.WriteByte(ch)
	}
	return out.Bytes()
}

// value is the text a placeholder becomes; ok is false for a name that
// is no placeholder (the text stays as written).
func value(name string, vals map[string]any, found map[string]bool, event []byte, ctx Context, inString bool) (string, bool) {
	var v any
	switch name {
	case "aws.events.rule-arn":
		v = ctx.RuleARN
	case "aws.events.rule-name":
		v = ctx.RuleName
	case "aws.events.event.ingestion-time":
		v = ctx.IngestionTime
	case "aws.events.event", "aws.events.event.json":
		if inString {
			b, _ := json.Marshal(string(event))
			return string(b[1 : len(b)-1]), true
		}
		return string(event), true
	default:
		var ok bool
		if v, ok = vals[name]; !ok {
			return "", false
		}
		if !found[name] {
			if inString {
				return "", true
			}
			return "null", true
		}
	}
	if inString {
		if s, ok := v.(string); ok {
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1]), true
		}
		b, _ := json.Marshal(v)
		sb, _ := json.Marshal(string(b))
		return string(sb[1 : len(sb)-1]), true
	}
	b, _ := json.Marshal(v)
	return string(b), true
}
