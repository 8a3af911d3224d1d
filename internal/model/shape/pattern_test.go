package shape

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestClassRunMatchesLikeRegexp checks the fast path for runs of one
// character class against Go's regexp on random strings, for patterns of
// the AWS models (anchored as the generator anchors them).
func TestClassRunMatchesLikeRegexp(t *testing.T) {
	fast := []string{
		`[\w+=,.@-]*`, `[^:*]*`, `[\.\-_/#A-Za-z0-9]+`, `([\p{L}\p{Z}\p{N}_.:/=+\-@]*)`,
		`^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$`, `[\x{0009}\x{000A}\x{000D}\x{0020}-\x{00FF}]+`, `[\d]*`,
		`[\x{0009}\x{000A}\x{000D}\x{0020}-\x{007E}\x{0085}\x{00A0}-\x{D7FF}\x{E000}-\x{FFFD}\x{1000}0-\x{10FF}FF]+`,
		`[\w-_]*`, `(?i)[a-f]+`, `\S*`, `[^a-z]+`,
	}
	slow := []string{`[a-z][a-z0-9-]*`, `^(ab|cd)$`, `.*`, `(?i)all|[0-9]{12}`, `[0-9]+h`, `\w{16,128}`}
	alphabet := []string{"a", "Z", "0", "_", "-", ".", ":", "*", "@", "/", " ", "\t", "\n", "é", "日", "\u00a0",
		"\u2028", "\U0001F600", "\xff", "\uFFFD", "\x00", "+", "=", "#", "x", "F"}
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := []string{""}
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, p := range append(fast, slow...) {
		expr := "^(?:" + p + ")$"
		m, ok := classRun(expr)
		if want := !strings.Contains(strings.Join(slow, "\x00"), p); ok != want {
			t.Errorf("classRun(%q) took the fast path: %v, want %v", p, ok, want)
			continue
		}
		if !ok {
			continue
		}
		re := regexp.MustCompile(expr)
		for _, in := range inputs {
			if got, want := m(in), re.MatchString(in); got != want {
				t.Errorf("pattern %q on %q: fast %v, regexp %v", p, in, got, want)
			}
		}
	}
}

func TestPatternIsLazy(t *testing.T) {
	p := NewPattern("(", "(") // does not compile: would panic if compiled
	if p.Model != "(" {
		t.Fatal(p.Model)
	}
	defer func() {
		if recover() == nil {
			t.Error("a pattern that does not compile matched")
		}
	}()
	p.MatchString("x")
}
