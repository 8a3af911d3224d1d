package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The model's min, max and pattern traits become checks in Validate:
//
//   - a string shape with any of them becomes a package variable
//     rule<Shape> = &shape.String{...}, checked with its Check method (length
//     first, then the pattern); enum strings are checked against their values
//     instead;
//   - a pattern becomes pattern<Shape> = shape.NewPattern(model, expr),
//     compiled on first use; patterns Go's regexp cannot compile are listed in
//     a comment and not checked;
//   - list, map and blob lengths and number bounds are checked inline.

// patternInfo is a model pattern as the generated code matches it.
type patternInfo struct {
	expr string // anchored Go expression; "" when it does not compile
	err  error  // why it does not compile
	name string // package variable, once one is emitted
}

// translatePattern turns a botocore pattern (Java syntax, matched against the
// whole value) into a Go expression: \uXXXX escapes become \x{XXXX}, and the
// whole is anchored as ^(?:...)$. It fails where Go's RE2 differs: no
// lookarounds, back-references or possessive quantifiers, repeat counts up to
// 1000, and surrogate code points (Java matches UTF-16) are refused.
func translatePattern(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		if p[i+1] == 'u' && i+6 <= len(p) {
			cp, err := strconv.ParseUint(p[i+2:i+6], 16, 32)
			if err != nil {
				return "", fmt.Errorf("bad escape %q", p[i:i+6])
			}
			if cp >= 0xD800 && cp <= 0xDFFF {
				return "", fmt.Errorf("surrogate code point \\u%04X", cp)
			}
			fmt.Fprintf(&b, `\x{%04X}`, cp)
			i += 5
			continue
		}
		b.WriteString(p[i : i+2]) // any other escape, kept whole
		i++
	}
	expr := "^(?:" + b.String() + ")$"
	if _, err := regexp.Compile(expr); err != nil {
		return "", err
	}
	return expr, nil
}

// pattern returns what the generated code matches for sh's pattern.
func (g *generator) pattern(p string) *patternInfo {
	if pi, ok := g.patterns[p]; ok {
		return pi
	}
	pi := &patternInfo{}
	pi.expr, pi.err = translatePattern(p)
	g.patterns[p] = pi
	return pi
}

// lengthBounds returns a shape's min (0 for none) and max (-1 for none) as
// lengths.
func lengthBounds(sh *shapeDef) (lo, hi int) {
	lo, hi = 0, -1
	if f, ok := number(sh.Min); ok && f > 0 {
		lo = int(math.Min(f, math.MaxInt32))
	}
	if f, ok := number(sh.Max); ok && f >= 0 {
		hi = int(math.Min(f, math.MaxInt32))
	}
	return lo, hi
}

func number(n *json.Number) (float64, bool) {
	if n == nil {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// hasStringRule reports whether a string shape has a length or a
// checkable pattern. Enums are checked by value instead.
func (g *generator) hasStringRule(sh *shapeDef) bool {
	if len(sh.Enum) > 0 {
		return false
	}
	lo, hi := lengthBounds(sh)
	return lo > 0 || hi >= 0 || (sh.Pattern != "" && g.pattern(sh.Pattern).err == nil)
}

// hasLength reports whether a list, map or blob shape bounds its length.
func hasLength(sh *shapeDef) bool {
	lo, hi := lengthBounds(sh)
	return lo > 0 || hi >= 0
}

// goRange is the range of each numeric Go type.
var goRange = map[string][2]float64{
	"integer": {math.MinInt32, math.MaxInt32},
	"long":    {math.MinInt64, math.MaxInt64},
	"float":   {-math.MaxFloat32, math.MaxFloat32},
	"double":  {-math.MaxFloat64, math.MaxFloat64},
}

// numberBounds returns the Go literals of a number shape's min and max, ""
// for a bound that is absent or that no value of the Go type can break.
func numberBounds(sh *shapeDef) (lo, hi string) {
	r, ok := goRange[sh.Type]
	if !ok {
		return "", ""
	}
	lit := func(n *json.Number, breakable func(float64) bool) string {
		f, ok := number(n)
		if !ok || !breakable(f) {
			return ""
		}
		if sh.Type == "integer" || sh.Type == "long" {
			if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				return strconv.FormatInt(i, 10)
			}
			if f != math.Trunc(f) {
				return "" // a fractional bound on an integer: leave it to the service
			}
			return strconv.FormatInt(int64(f), 10)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	lo = lit(sh.Min, func(f float64) bool { return f > r[0] && f <= r[1] })
	hi = lit(sh.Max, func(f float64) bool { return f < r[1] && f >= r[0] })
	return lo, hi
}

// constraintChecks writes the checks of the model's min, max and pattern
// on expr, a value of ref's shape and kind k (see checks).
func (g *generator) constraintChecks(w *strings.Builder, expr, path string, ref *shapeRef, k kind, member bool) {
	if !g.limits {
		return
	}
	sh := g.m.Shapes[ref.Shape]
	switch k {
	case kString:
		if !g.hasStringRule(sh) {
			return
		}
		method := "Check"
		if member {
			method = "CheckMember"
		}
		fmt.Fprintf(w, "if err := %s.%s(%s); err != nil {\nreturn shape.Prefix(err, %s)\n}\n", g.ruleVar(ref.Shape), method, expr, path)
	case kList, kMap, kBlob:
		lo, hi := lengthBounds(sh)
		if lo > 0 {
			// nil is an absent member; a present one (even empty) is counted.
			fmt.Fprintf(w, "if %s != nil && len(%s) < %d {\nreturn shape.TooFew(%s, %d)\n}\n", expr, expr, lo, path, lo)
		}
		if hi >= 0 {
			fmt.Fprintf(w, "if len(%s) > %d {\nreturn shape.TooMany(%s, %d)\n}\n", expr, hi, path, hi)
		}
	case kScalar, kPtrScalar:
		lo, hi := numberBounds(sh)
		val, guard := expr, ""
		if k == kPtrScalar {
			val, guard = "*"+expr, expr+" != nil && "
		} else if member && zeroOutside(lo, hi) {
			// An unboxed member cannot be told absent: zero is taken as absent.
			guard = expr + " != 0 && "
		}
		if lo != "" {
			fmt.Fprintf(w, "if %s%s < %s {\nreturn shape.TooSmall(%s, %s, %s)\n}\n", guard, val, lo, path, val, lo)
		}
		if hi != "" {
			fmt.Fprintf(w, "if %s%s > %s {\nreturn shape.TooLarge(%s, %s, %s)\n}\n", guard, val, hi, path, val, hi)
		}
	}
}

// zeroOutside reports whether 0 breaks the bounds lo or hi (Go literals).
func zeroOutside(lo, hi string) bool {
	l, errL := strconv.ParseFloat(lo, 64)
	h, errH := strconv.ParseFloat(hi, 64)
	return (errL == nil && l > 0) || (errH == nil && h < 0)
}

// ruleVar names the package variable holding a string shape's rule,
// claiming it on first use.
func (g *generator) ruleVar(shapeName string) string {
	if v, ok := g.rules[shapeName]; ok {
		return v
	}
	v := g.privIDs.claim("rule" + exportedIdent(shapeName))
	g.rules[shapeName] = v
	return v
}

// writeRules writes the variables the Validate methods use, and the list
// of patterns left unchecked.
func (g *generator) writeRules() {
	shapes := make([]string, 0, len(g.rules))
	for s := range g.rules {
		shapes = append(shapes, s)
	}
	sort.Slice(shapes, func(i, j int) bool { return g.rules[shapes[i]] < g.rules[shapes[j]] })
	var patterns []string
	for _, s := range shapes {
		if p := g.m.Shapes[s].Pattern; p != "" {
			if pi := g.pattern(p); pi.err == nil && pi.name == "" {
				pi.name = g.privIDs.claim("pattern" + exportedIdent(s))
				patterns = append(patterns, p)
			}
		}
	}
	if len(patterns) > 0 {
		g.p("// The model's patterns, matched against whole values and compiled on first use.\nvar (\n")
		for _, p := range patterns {
			pi := g.patterns[p]
			g.p("\t%s = shape.NewPattern(%s, %s)\n", pi.name, goString(p), goString(pi.expr))
		}
		g.p(")\n\n")
	}
	if len(shapes) > 0 {
		g.p("// The constraints of the model's string shapes: length in characters, then pattern.\nvar (\n")
		for _, s := range shapes {
			sh := g.m.Shapes[s]
			lo, hi := lengthBounds(sh)
			f := []string{"Min: " + strconv.Itoa(lo), "Max: " + strconv.Itoa(hi)}
			if sh.Pattern != "" {
				if pi := g.pattern(sh.Pattern); pi.err == nil {
					f = append(f, "Pattern: "+pi.name)
				}
			}
			if sh.Sensitive {
				f = append(f, "Sensitive: true")
			}
			g.p("\t%s = &shape.String{%s}\n", g.rules[s], strings.Join(f, ", "))
		}
		g.p(")\n\n")
	}
	g.writeSkipped()
}

// writeSkipped lists, in a comment, the string shapes whose pattern Go
// cannot compile and Validate therefore does not check.
func (g *generator) writeSkipped() {
	var lines []string
	for _, name := range g.sortedShapes() {
		sh := g.m.Shapes[name]
		if sh.Type != "string" || sh.Pattern == "" || len(sh.Enum) > 0 {
			continue
		}
		if pi := g.pattern(sh.Pattern); pi.err != nil {
			lines = append(lines, fmt.Sprintf("//   - %s: %s (%s)", name, oneLine(sh.Pattern), oneLine(pi.err.Error())))
		}
	}
	if len(lines) == 0 {
		return
	}
	g.p("// Patterns of the model that Validate does not check, because Go's regexp\n")
	g.p("// (RE2) cannot compile them; their lengths are still checked:\n//\n")
	g.p("%s\n\n", strings.Join(lines, "\n"))
}

// oneLine keeps a comment on one line and valid UTF-8.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
}

// goString quotes s as a Go string literal, raw when it can be.
func goString(s string) string {
	if !strings.ContainsAny(s, "`\r") && utf8.ValidString(s) && !strings.ContainsRune(s, '\n') {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}
