package shape

import (
	"regexp"
	"regexp/syntax"
	"sync"
	"unicode/utf8"
)

// Pattern is a model's pattern trait, compiled on first use: a service's
// hundred patterns cost nothing until a request needs one (compiling them
// all would add about 15 ms to every start).
type Pattern struct {
	// Model is the pattern as the model writes it, quoted in messages.
	Model string
	match func() func(string) bool
}

// NewPattern returns the pattern model, matched as expr: the model's
// pattern anchored to the whole value (AWS matches the whole string) and
// translated to Go's syntax. The generator has compiled expr already; a
// failure here is a generator bug, hence the panic.
func NewPattern(model, expr string) *Pattern {
	return &Pattern{Model: model, match: sync.OnceValue(func() func(string) bool {
		if m, ok := classRun(expr); ok {
			return m
		}
		return regexp.MustCompile(expr).MatchString
	})}
}

// MatchString reports whether v matches the whole pattern.
func (p *Pattern) MatchString(v string) bool { return p.match()(v) }

// classRun returns a matcher for the commonest shape of AWS pattern, a run
// of one character class: ^(?:[...]*)$ or ^(?:[...]+)$, optionally in a
// capture group. It matches as the regexp would, about ten times faster,
// since such patterns are checked on most requests (tag keys and values,
// names, ARNs).
func classRun(expr string) (func(string) bool, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat {
		return nil, false
	}
	// ^...$ once or more (a model's own anchors inside the generator's).
	sub := re.Sub
	begins, ends := 0, 0
	for len(sub) > 0 && sub[0].Op == syntax.OpBeginText {
		sub, begins = sub[1:], begins+1
	}
	for len(sub) > 0 && sub[len(sub)-1].Op == syntax.OpEndText {
		sub, ends = sub[:len(sub)-1], ends+1
	}
	if begins == 0 || ends == 0 || len(sub) != 1 {
		return nil, false
	}
	run := sub[0]
	for run.Op == syntax.OpCapture {
		run = run.Sub[0]
	}
	if (run.Op != syntax.OpStar && run.Op != syntax.OpPlus) || run.Sub[0].Op != syntax.OpCharClass {
		return nil, false
	}
	c := newClass(run.Sub[0].Rune)
	nonEmpty := run.Op == syntax.OpPlus
	return func(v string) bool {
		if nonEmpty && v == "" {
			return false
		}
		for i := 0; i < len(v); {
			r, w := rune(v[i]), 1
			if r >= utf8.RuneSelf {
				r, w = utf8.DecodeRuneInString(v[i:])
			}
			if !c.has(r) {
				return false
			}
			i += w
		}
		return true
	}, true
}

// class is a character class: an ASCII bitmap and the sorted ranges
// [lo, hi, lo, hi, ...] of regexp/syntax for the rest.
type class struct {
	ascii  [2]uint64
	ranges []rune
}

func newClass(ranges []rune) *class {
	c := &class{ranges: ranges}
	for r := rune(0); r < utf8.RuneSelf; r++ {
		if c.inRanges(r) {
			c.ascii[r/64] |= 1 << (r % 64)
		}
	}
	return c
}

func (c *class) has(r rune) bool {
	if r < utf8.RuneSelf {
		return c.ascii[r/64]&(1<<(r%64)) != 0
	}
	return c.inRanges(r)
}

func (c *class) inRanges(r rune) bool {
	lo, hi := 0, len(c.ranges)/2
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < c.ranges[2*m]:
			hi = m
		case r > c.ranges[2*m+1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}
