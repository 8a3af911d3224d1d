package lb

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	cases := []struct {
		pat, s string
		fold   bool
		want   bool
	}{
		{"/api/*", "/api/users", false, true},
		{"/api/*", "/api", false, false},
		{"/api/*", "/API/users", false, false},
		{"*.example.com", "www.example.com", true, true},
		{"*.example.com", "example.com", true, false},
		{"*.EXAMPLE.com", "WWW.example.COM", true, true},
		{"/img/*.png", "/img/a/b.png", false, true},
		{"/img/*.png", "/img/a/b.jpg", false, false},
		{"/v?/x", "/v1/x", false, true},
		{"/v?/x", "/v10/x", false, false},
		{"*", "", false, true},
		{"", "", false, true},
		{"", "x", false, false},
		{"a*b*c", "aXXbYYbZc", false, true},
		{"a*b*c", "aXXbYYbZ", false, false},
		{"**a", "bba", false, true},
		{"exact", "exact", false, true},
		{"exact", "exactly", false, false},
		{"*suffix", "the suffix", false, true},
		{"pre*", "prefix", false, true},
		{"a?c*", "abcdef", false, true},
	}
	for _, c := range cases {
		p := compilePattern(c.pat, c.fold)
		if got := p.match(c.s); got != c.want {
			t.Errorf("%q ~ %q (fold %v): %v, want %v", c.pat, c.s, c.fold, got, c.want)
		}
		if got := globMatch(p.src, strings.ToLower(c.s), c.fold); c.fold && got != c.want {
			t.Errorf("glob %q ~ %q: %v", c.pat, c.s, got)
		}
	}
}

// TestRoutingConditions sends real requests through a listener whose rules
// answer with fixed responses naming the rule that matched.
func TestRoutingConditions(t *testing.T) {
	fixed := func(name string) []Action {
		return []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 200, ContentType: "text/plain", Body: name}}}
	}
	cond := func(field string, values ...string) Condition { return Condition{Field: field, Values: values} }
	rules := []Rule{
		{ARN: "path", Priority: 1, Conditions: []Condition{cond(FieldPathPattern, "/api/v?/*", "/exact")}},
		{ARN: "host", Priority: 2, Conditions: []Condition{cond(FieldHostHeader, "*.example.com")}},
		{ARN: "header", Priority: 3, Conditions: []Condition{{Field: FieldHTTPHeader, HeaderName: "x-ENV", Values: []string{"stag*", "qa"}}}},
		{ARN: "method", Priority: 4, Conditions: []Condition{cond(FieldHTTPRequestMethod, "DELETE", "PATCH")}},
		{ARN: "query", Priority: 5, Conditions: []Condition{{Field: FieldQueryString, Query: []KeyValue{{Key: "version", Value: "v2*"}, {Key: "", Value: "beta"}}}}},
		{ARN: "query-escaped", Priority: 6, Conditions: []Condition{{Field: FieldQueryString, Query: []KeyValue{{Key: "q", Value: "a%20b"}}}}},
		{ARN: "source", Priority: 7, Conditions: []Condition{cond(FieldSourceIP, "10.0.0.0/8", "127.0.0.0/8")} /* matched only with /src */},
		{ARN: "and", Priority: 8, Conditions: []Condition{cond(FieldPathPattern, "/both"), cond(FieldHTTPRequestMethod, "POST")}},
		{ARN: "default", IsDefault: true},
	}
	// source-ip rule only for /src, so that it does not shadow the default.
	rules[6].Conditions = append(rules[6].Conditions, cond(FieldPathPattern, "/src"))
	for i := range rules {
		rules[i].Actions = fixed(rules[i].ARN)
	}
	// One more listener whose source-ip rule never matches loopback.
	p := newPlane(t, Options{})
	cfg := &Config{Listeners: []Listener{
		{ARN: "l1", Addr: "127.0.0.1:0", Rules: rules},
		{ARN: "l2", Addr: "127.0.0.1:0", Rules: []Rule{
			{ARN: "src", Priority: 1, Conditions: []Condition{cond(FieldSourceIP, "192.168.0.0/16", "2001:db8::/32")}, Actions: fixed("src")},
			{ARN: "default", IsDefault: true, Actions: fixed("default")},
		}},
	}}
	mustUpdate(t, p, cfg)
	base := baseURL(t, p, "l1")
	cl := newClient()
	cases := []struct {
		name   string
		method string
		path   string
		host   string
		header [2]string
		want   string
	}{
		{"path wildcard", "GET", "/api/v1/users", "", [2]string{}, "path"},
		{"path ? needs one char", "GET", "/api/v10/users", "", [2]string{}, "default"},
		{"path exact", "GET", "/exact", "", [2]string{}, "path"},
		{"path case-sensitive", "GET", "/EXACT", "", [2]string{}, "default"},
		{"path ignores query", "GET", "/exact?x=1", "", [2]string{}, "path"},
		{"host wildcard", "GET", "/", "shop.example.com", [2]string{}, "host"},
		{"host case-insensitive with port", "GET", "/", "Shop.EXAMPLE.com:8080", [2]string{}, "host"},
		{"host apex not matched", "GET", "/", "example.com", [2]string{}, "default"},
		{"header wildcard, name case-insensitive", "GET", "/", "", [2]string{"X-Env", "Staging"}, "header"},
		{"header second value", "GET", "/", "", [2]string{"x-env", "QA"}, "header"},
		{"header other value", "GET", "/", "", [2]string{"X-Env", "prod"}, "default"},
		{"method", "DELETE", "/", "", [2]string{}, "method"},
		{"method case-sensitive", "delete", "/", "", [2]string{}, "default"},
		{"query key/value wildcard", "GET", "/?version=V2.1", "", [2]string{}, "query"},
		{"query any key", "GET", "/?channel=beta", "", [2]string{}, "query"},
		{"query no match", "GET", "/?version=v1", "", [2]string{}, "default"},
		{"query url-decoded", "GET", "/?q=a+b", "", [2]string{}, "query-escaped"},
		{"query url-decoded %20", "GET", "/?q=a%20b", "", [2]string{}, "query-escaped"},
		{"source ip", "GET", "/src", "", [2]string{}, "source"},
		{"all conditions of a rule", "POST", "/both", "", [2]string{}, "and"},
		{"one condition of a rule fails", "GET", "/both", "", [2]string{}, "default"},
		{"first match by order", "DELETE", "/api/v1/x", "", [2]string{}, "path"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		if c.header[0] != "" {
			req.Header.Set(c.header[0], c.header[1])
		}
		r := do(t, cl, req)
		if r.code != 200 || r.body != c.want {
			t.Errorf("%s: %s %s host %q: got %d %q, want %q", c.name, c.method, c.path, c.host, r.code, r.body, c.want)
		}
	}
	if r := get(t, cl, baseURL(t, p, "l2")+"/"); r.body != "default" {
		t.Errorf("source-ip outside the CIDRs matched: %q", r.body)
	}
}

func TestFixedResponseAndRedirect(t *testing.T) {
	p := newPlane(t, Options{})
	rd := func(path string, r Redirect) Rule {
		return Rule{ARN: path, Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{path + "*"}}},
			Actions: []Action{{Type: ActionRedirect, Redirect: &r}}}
	}
	rules := []Rule{
		rd("/to-https", Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 301}),
		rd("/keep", Redirect{StatusCode: 302}),
		rd("/moved", Redirect{Host: "new.#{host}", Path: "/v2/#{path}", Query: "#{query}&from=old", StatusCode: 301}),
		{ARN: "teapot", Priority: 4, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/teapot"}}},
			Actions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 418, ContentType: "application/json", Body: `{"tea":true}`}}}},
		{ARN: "default", IsDefault: true, Actions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 404, Body: "nothing"}}}},
	}
	mustUpdate(t, p, &Config{Listeners: []Listener{{ARN: "l1", Addr: "127.0.0.1:0", Rules: rules}}})
	base := baseURL(t, p, "l1")
	port := base[strings.LastIndexByte(base, ':')+1:]
	cl := newClient()
	req := func(path string) result {
		r, _ := http.NewRequest("GET", base+path, nil)
		r.Host = "app.example.com:" + port
		return do(t, cl, r)
	}
	cases := []struct {
		path, loc string
		code      int
	}{
		{"/to-https/a?b=c", "https://app.example.com/to-https/a?b=c", 301},
		{"/keep/x", "http://app.example.com:" + port + "/keep/x", 302},
		{"/moved/y?z=1", "http://new.app.example.com:" + port + "/v2/moved/y?z=1&from=old", 301},
	}
	for _, c := range cases {
		r := req(c.path)
		if r.code != c.code || r.header.Get("Location") != c.loc {
			t.Errorf("%s: %d Location %q, want %d %q", c.path, r.code, r.header.Get("Location"), c.code, c.loc)
		}
	}
	if r := req("/teapot"); r.code != 418 || r.body != `{"tea":true}` || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("fixed response: %d %q %q", r.code, r.body, r.header.Get("Content-Type"))
	}
	if r := req("/else"); r.code != 404 || r.body != "nothing" {
		t.Errorf("default fixed response: %d %q", r.code, r.body)
	}
}

// BenchmarkRoute matches requests against 50 rules (path, host and header
// conditions); the request matches the last one before the default.
func BenchmarkRoute(b *testing.B) {
	var rules []Rule
	for i := 0; i < 50; i++ {
		n := strconv.Itoa(i)
		rules = append(rules, Rule{ARN: n, Priority: i + 1, Conditions: []Condition{
			{Field: FieldHostHeader, Values: []string{"svc" + n + ".example.com", "*.svc" + n + ".internal"}},
			{Field: FieldPathPattern, Values: []string{"/api/v?/svc" + n + "/*"}},
			{Field: FieldHTTPHeader, HeaderName: "X-Tenant", Values: []string{"t" + n + "*"}},
		}})
	}
	p := New(Options{})
	defer p.Close()
	compiled := p.compileRules("", rules)
	req, _ := http.NewRequest("GET", "http://x/api/v2/svc49/items?id=7", nil)
	req.Host = "a.svc49.internal"
	req.Header.Set("X-Tenant", "t49-blue")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v := reqView{r: req}
		hit := -1
		for i := range compiled {
			if compiled[i].matches(&v) {
				hit = i
				break
			}
		}
		if hit != 49 {
			b.Fatalf("matched rule %d", hit)
		}
	}
}
