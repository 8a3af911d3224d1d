package lb

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// pattern is a compiled ALB wildcard pattern: * matches any run of
// characters, ? exactly one. Case-insensitive patterns are stored lower
// case and compared with ASCII case folding, so matching allocates nothing.
type pattern struct {
	src  string
	fold bool
	kind uint8 // patExact, patPrefix, patSuffix, patAny, patGlob
	lit  string
}

const (
	patExact  = iota // no wildcard
	patPrefix        // "lit*"
	patSuffix        // "*lit"
	patAny           // "*"
	patGlob          // anything else
)

func compilePattern(s string, fold bool) pattern {
	if fold {
		s = strings.ToLower(s)
	}
	p := pattern{src: s, fold: fold, kind: patGlob}
	n := strings.Count(s, "*")
	switch {
	case strings.ContainsRune(s, '?'):
	case n == 0:
		p.kind, p.lit = patExact, s
	case s == "*" || strings.Trim(s, "*") == "":
		p.kind = patAny
	case n == 1 && strings.HasSuffix(s, "*"):
		p.kind, p.lit = patPrefix, s[:len(s)-1]
	case n == 1 && strings.HasPrefix(s, "*"):
		p.kind, p.lit = patSuffix, s[1:]
	}
	return p
}

func (p *pattern) match(s string) bool {
	switch p.kind {
	case patExact:
		return len(s) == len(p.lit) && p.eq(s, p.lit)
	case patPrefix:
		return len(s) >= len(p.lit) && p.eq(s[:len(p.lit)], p.lit)
	case patSuffix:
		return len(s) >= len(p.lit) && p.eq(s[len(s)-len(p.lit):], p.lit)
	case patAny:
		return true
	}
	return globMatch(p.src, s, p.fold)
}

func (p *pattern) eq(s, lit string) bool {
	if !p.fold {
		return s == lit
	}
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// globMatch matches s against pat (* and ?), byte-wise, in linear time for
// the usual patterns: on a mismatch it resumes after the last star.
func globMatch(pat, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		if p < len(pat) {
			c := pat[p]
			switch {
			case c == '*':
				star, mark = p, i
				p++
				continue
			case c == '?':
				p++
				i++
				continue
			default:
				sc := s[i]
				if fold {
					sc = lower(sc)
				}
				if sc == c {
					p++
					i++
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		p = star + 1
		mark++
		i = mark
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// reqView is what conditions look at, computed lazily once per request.
type reqView struct {
	r       *http.Request
	query   url.Values
	qParsed bool
	src     netip.Addr
	srcOK   bool
	srcDone bool
}

func (v *reqView) queryValues() url.Values {
	if !v.qParsed {
		v.qParsed = true
		v.query, _ = url.ParseQuery(v.r.URL.RawQuery)
	}
	return v.query
}

func (v *reqView) sourceIP() (netip.Addr, bool) {
	if !v.srcDone {
		v.srcDone = true
		if ap, err := netip.ParseAddrPort(v.r.RemoteAddr); err == nil {
			v.src, v.srcOK = ap.Addr().Unmap(), true
		} else if a, err := netip.ParseAddr(v.r.RemoteAddr); err == nil {
			v.src, v.srcOK = a.Unmap(), true
		}
	}
	return v.src, v.srcOK
}

// condition is a compiled rule condition.
type condition struct {
	field    string
	patterns []pattern // path, host, header values
	header   string    // canonical header name
	methods  []string
	query    []queryPair
	prefixes []netip.Prefix
	invalid  bool // never matches (e.g. unknown field, bad CIDRs only)
}

type queryPair struct {
	anyKey bool
	key    pattern
	value  pattern
}

func compileCondition(c Condition) condition {
	cc := condition{field: c.Field}
	switch c.Field {
	case FieldPathPattern:
		for _, v := range c.Values {
			cc.patterns = append(cc.patterns, compilePattern(v, false))
		}
	case FieldHostHeader:
		for _, v := range c.Values {
			cc.patterns = append(cc.patterns, compilePattern(v, true))
		}
	case FieldHTTPHeader:
		cc.header = http.CanonicalHeaderKey(strings.TrimSpace(c.HeaderName))
		for _, v := range c.Values {
			cc.patterns = append(cc.patterns, compilePattern(v, true))
		}
	case FieldHTTPRequestMethod:
		cc.methods = append(cc.methods, c.Values...)
	case FieldQueryString:
		for _, kv := range c.Query {
			qp := queryPair{anyKey: kv.Key == ""}
			qp.key = compilePattern(unescapeQuery(kv.Key), true)
			qp.value = compilePattern(unescapeQuery(kv.Value), true)
			cc.query = append(cc.query, qp)
		}
	case FieldSourceIP:
		for _, v := range c.Values {
			v = strings.TrimSpace(v)
			if pf, err := netip.ParsePrefix(v); err == nil {
				cc.prefixes = append(cc.prefixes, pf.Masked())
			} else if a, err := netip.ParseAddr(v); err == nil {
				cc.prefixes = append(cc.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			}
		}
	default:
		cc.invalid = true
	}
	return cc
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (c *condition) match(v *reqView) bool {
	if c.invalid {
		return false
	}
	r := v.r
	switch c.field {
	case FieldPathPattern:
		path := r.URL.Path
		if path == "" {
			path = "/"
		}
		return anyPattern(c.patterns, path)
	case FieldHostHeader:
		host := r.Host
		if h, ok := stripPort(host); ok {
			if anyPattern(c.patterns, h) {
				return true
			}
		}
		return anyPattern(c.patterns, host)
	case FieldHTTPHeader:
		for _, hv := range r.Header[c.header] {
			if anyPattern(c.patterns, hv) {
				return true
			}
		}
		return false
	case FieldHTTPRequestMethod:
		for _, m := range c.methods {
			if r.Method == m {
				return true
			}
		}
		return false
	case FieldQueryString:
		q := v.queryValues()
		for i := range c.query {
			qp := &c.query[i]
			if qp.anyKey {
				for _, vals := range q {
					for _, val := range vals {
						if qp.value.match(val) {
							return true
						}
					}
				}
				continue
			}
			for k, vals := range q {
				if !qp.key.match(k) {
					continue
				}
				for _, val := range vals {
					if qp.value.match(val) {
						return true
					}
				}
			}
		}
		return false
	case FieldSourceIP:
		a, ok := v.sourceIP()
		if !ok {
			return false
		}
		for _, pf := range c.prefixes {
			if pf.Contains(a) {
				return true
			}
		}
		return false
	}
	return false
}

func anyPattern(ps []pattern, s string) bool {
	for i := range ps {
		if ps[i].match(s) {
			return true
		}
	}
	return false
}

// stripPort returns host without a trailing :port (IPv6 literals keep
// their brackets off).
func stripPort(host string) (string, bool) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return host, false
	}
	if strings.HasPrefix(host, "[") {
		if j := strings.IndexByte(host, ']'); j > 0 && j < i {
			return host[1:j], true
		}
		return host, false
	}
	if strings.IndexByte(host[:i], ':') >= 0 { // bare IPv6
		return host, false
	}
	return host[:i], true
}
