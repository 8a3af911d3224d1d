package main

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// exportedIdent turns a model name into an exported Go identifier: the
// first letter upper-cased; characters not allowed in identifiers dropped,
// each following part capitalized; a leading digit prefixed with "X".
func exportedIdent(s string) string {
	var b strings.Builder
	upNext := true
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') || r > unicode.MaxASCII {
			upNext = true
			continue
		}
		if upNext {
			r = unicode.ToUpper(r)
			upNext = false
		}
		b.WriteRune(r)
	}
	id := b.String()
	if id == "" {
		return "X"
	}
	if id[0] >= '0' && id[0] <= '9' {
		id = "X" + id
	}
	return id
}

// enumValueIdent turns an enum value into the suffix of its constant's
// name, the way the AWS SDK for Go v2 does: split on anything but letters
// and digits, each all-caps part title-cased ("FARGATE_SPOT" -> "FargateSpot",
// "EC2" -> "Ec2"), other parts capitalized ("awsvpc" -> "Awsvpc"). It
// returns "" for a value with no letters or digits.
func enumValueIdent(v string) string {
	parts := strings.FieldsFunc(v, func(r rune) bool {
		return r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r))
	})
	var b strings.Builder
	for _, p := range parts {
		if strings.ToUpper(p) == p {
			p = strings.ToLower(p)
		}
		b.WriteString(strings.ToUpper(p[:1]))
		b.WriteString(p[1:])
	}
	return b.String()
}

// namespace hands out unique identifiers within one scope (the package, or
// the fields of one struct).
type namespace map[string]bool

// claim returns want, or want with the smallest numeric suffix (from 2)
// that makes it unused, and marks the result used.
func (ns namespace) claim(want string) string {
	id := want
	for n := 2; ns[id]; n++ {
		id = want + strconv.Itoa(n)
	}
	ns[id] = true
	return id
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// firstSentence returns the first sentence of model documentation, HTML
// tags stripped and entities decoded; "" if there is none.
func firstSentence(doc string) string {
	s := tagRE.ReplaceAllString(doc, " ")
	s = html.UnescapeString(s)
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' && !abbrevBefore(s[:i]) {
			return s[:i+1]
		}
	}
	return s
}

// abbrevBefore reports whether the text before a period ends in an
// abbreviation that does not end a sentence.
func abbrevBefore(s string) bool {
	for _, a := range []string{"e.g", "i.e", "etc", "vs", "Inc", "approx"} {
		if strings.HasSuffix(s, a) {
			return true
		}
	}
	return false
}

// comment renders text as // lines wrapped near 80 columns.
func comment(text string) string {
	var b strings.Builder
	line := "//"
	for w := range strings.FieldsSeq(text) {
		if len(line) > 2 && len(line)+1+len(w) > 80 {
			b.WriteString(line)
			b.WriteByte('\n')
			line = "//"
		}
		line += " " + w
	}
	b.WriteString(line)
	b.WriteByte('\n')
	return b.String()
}
