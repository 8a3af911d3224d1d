package filterpattern

import "testing"

// The cases follow the examples of CloudWatch Logs' "Filter pattern
// syntax" documentation.
func TestMatch(t *testing.T) {
	const (
		errArgs  = `[ERROR 400] BAD REQUEST: invalid ARGUMENTS`
		errOnly  = `[ERROR 500] INTERNAL SERVER ERROR`
		warn     = `[WARN] slow response`
		info     = `[INFO] GET /health 200`
		exiting  = `ERROR: Exiting with code 1`
		jsonErr  = `{"level":"error","latency":250,"user":{"id":7,"name":"ann"},"tags":["api","v2"],"ok":false,"gone":null,"code":"404"}`
		jsonInfo = `{"level":"info","latency":12,"user":{"id":8},"tags":["web"],"ok":true}`
		access   = `127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326`
		access2  = `10.0.0.2 - bob [10/Oct/2000:13:25:16 -0700] "GET /index.html HTTP/1.0" 200 1500`
	)
	all := []string{errArgs, errOnly, warn, info, exiting, jsonErr, jsonInfo, access, access2}
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"empty matches all", "", all},
		{"blank matches all", "   ", all},
		{"one term", "ERROR", []string{errArgs, errOnly, exiting}},
		{"terms are case sensitive", "ERROR:", []string{exiting}},
		{"lower case term", "error", []string{jsonErr}},
		{"all terms", "ERROR ARGUMENTS", []string{errArgs}},
		{"quoted phrase", `"INTERNAL SERVER ERROR"`, []string{errOnly}},
		{"phrase is not a set of terms", `"SERVER INTERNAL"`, nil},
		{"alternatives", "?ERROR ?WARN", []string{errArgs, errOnly, warn, exiting}},
		{"quoted alternatives", `?"slow response" ?"GET /health"`, []string{warn, info}},
		{"exclusion", "ERROR -Exiting", []string{errArgs, errOnly}},
		{"quoted exclusion", `ERROR -"BAD REQUEST"`, []string{errOnly, exiting}},
		{"term with punctuation", `"[INFO]"`, []string{info}},
		{"regex", `%ERROR [45]00%`, []string{errArgs, errOnly}},
		{"json string equality", `{ $.level = "error" }`, []string{jsonErr}},
		{"json no spaces", `{$.level="info"}`, []string{jsonInfo}},
		{"json inequality", `{ $.level != "error" }`, []string{jsonInfo}},
		{"json wildcard", `{ $.level = "err*" }`, []string{jsonErr}},
		{"json number greater", `{ $.latency > 100 }`, []string{jsonErr}},
		{"json number less or equal", `{ $.latency <= 12 }`, []string{jsonInfo}},
		{"json nested", `{ $.user.id = 7 }`, []string{jsonErr}},
		{"json array index", `{ $.tags[1] = "v2" }`, []string{jsonErr}},
		{"json array any element", `{ $.tags = "web" }`, []string{jsonInfo}},
		{"json and", `{ $.level = "error" && $.latency > 100 }`, []string{jsonErr}},
		{"json and false", `{ $.level = "error" && $.latency < 100 }`, nil},
		{"json or", `{ $.level = "info" || $.latency > 200 }`, []string{jsonErr, jsonInfo}},
		{"json parentheses", `{ ($.level = "info" || $.level = "error") && $.user.id = 8 }`, []string{jsonInfo}},
		{"json is null", `{ $.gone IS NULL }`, []string{jsonErr}},
		{"json not exists", `{ $.gone NOT EXISTS }`, []string{jsonInfo}},
		{"json is true", `{ $.ok IS TRUE }`, []string{jsonInfo}},
		{"json is false", `{ $.ok IS FALSE }`, []string{jsonErr}},
		{"json numeric string", `{ $.code = 404 }`, []string{jsonErr}},
		{"json bare string value", `{ $.user.name = ann }`, []string{jsonErr}},
		{"json missing field", `{ $.nothing = "x" }`, nil},
		{"space-delimited all fields", `[ip, id, user, timestamp, request, status_code, bytes]`, []string{access, access2}},
		{"space-delimited condition", `[ip, id, user, timestamp, request, status_code = 404, bytes]`, []string{access}},
		{"space-delimited wildcard", `[ip, id, user, timestamp, request, status_code = 4*, bytes]`, []string{access}},
		{"space-delimited numeric", `[ip, id, user, timestamp, request, status_code, bytes > 2000]`, []string{access}},
		{"space-delimited ellipsis", `[..., status_code = 200, bytes]`, []string{access2}},
		{"space-delimited compound", `[ip, ..., status_code >= 200 && status_code < 300, bytes]`, []string{access2}},
		{"space-delimited quoted value", `[ip, id, user = "frank", ...]`, []string{access}},
		{"space-delimited field count", `[a, b]`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.pattern)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.pattern, err)
			}
			var got []string
			for _, m := range all {
				if p.Match(m) {
					got = append(got, m)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Parse(%q) matched %q, want %q", tc.pattern, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("Parse(%q) matched %q, want %q", tc.pattern, got, tc.want)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, p := range []string{
		`"unterminated`,
		`{ $.level = "error" `,
		`{ level = "error" }`,
		`{ $.level }`,
		`{ $.latency > "abc" }`,
		`{ $.a = 1 } extra`,
		`{ $.a[x] = 1 }`,
		`[a, b`,
		`[a = ]`,
		`%(unclosed%`,
	} {
		if _, err := Parse(p); err == nil {
			t.Errorf("Parse(%q) succeeded; want an error", p)
		}
	}
}
