package shape

import (
	"errors"
	"strings"
	"testing"
)

func asVE(t *testing.T, err error) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	return ve
}

func TestStringCheck(t *testing.T) {
	name := &String{Min: 1, Max: 5, Pattern: NewPattern(`[a-zé]+`, `^(?:[a-zé]+)$`)}
	for _, tc := range []struct {
		v, reason string // reason "" means valid
	}{
		{"abc", ""},
		{"ééééé", ""}, // 5 characters, 10 bytes: lengths count characters
		{"abcdef", "must have length less than or equal to 5"},
		{"éééééé", "must have length less than or equal to 5"},
		{"", "must have length greater than or equal to 1"},
		{"aB", "must satisfy regular expression pattern: [a-zé]+"},
		// The pattern matches whole values, as AWS does.
		{"a-b", "must satisfy regular expression pattern: [a-zé]+"},
		// Length before pattern: an oversized value never reaches the regexp.
		{"ABCDEFG", "must have length less than or equal to 5"},
	} {
		err := name.Check(tc.v)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("Check(%q) = %v", tc.v, err)
			}
			continue
		}
		if ve := asVE(t, err); ve.Reason != tc.reason || ve.Constraint != "Member "+tc.reason || ve.Path != "" {
			t.Errorf("Check(%q) = %#v, want reason %q", tc.v, ve, tc.reason)
		}
	}
	if err := name.CheckMember(""); err != nil {
		t.Errorf("CheckMember(\"\") = %v: an empty member is absent", err)
	}
	if err := name.CheckMember("abcdef"); err == nil {
		t.Error("CheckMember of a long value passed")
	}
	unbounded := &String{Max: -1}
	if err := unbounded.Check(strings.Repeat("x", 1<<20)); err != nil {
		t.Errorf("no bounds: %v", err)
	}
}

// TestStringCheckNeverCompilesForOversized shows the order: a pattern that
// cannot compile would panic on first use, so a value over the maximum
// must be refused without touching it.
func TestStringCheckNeverCompilesForOversized(t *testing.T) {
	r := &String{Max: 3, Pattern: NewPattern("(", "(")}
	if ve := asVE(t, r.Check("abcd")); !strings.Contains(ve.Reason, "length") {
		t.Fatalf("got %v", ve)
	}
}

func TestValuesAreTruncatedOrWithheld(t *testing.T) {
	huge := strings.Repeat("a", 9<<20)
	ve := asVE(t, (&String{Max: 1024}).Check(huge))
	if len(ve.Value) > maxQuoted+5 || !strings.HasSuffix(ve.Value, "...'") {
		t.Errorf("quoted %d bytes: %.40q", len(ve.Value), ve.Value)
	}
	if msg := ve.Message(); len(msg) > 300 {
		t.Errorf("message of %d bytes", len(msg))
	}
	ve = asVE(t, (&String{Max: 3, Sensitive: true}).Check("hunter2"))
	if ve.Value != "" || strings.Contains(ve.Message(), "hunter2") {
		t.Errorf("sensitive value quoted: %q", ve.Message())
	}
	ve = InvalidEnum("t", strings.Repeat("é", 5000), []string{"a"})
	if len(ve.Reason) > 300 || len(ve.Value) > 300 {
		t.Errorf("enum error quotes %d/%d bytes", len(ve.Reason), len(ve.Value))
	}
	if got := truncate(strings.Repeat("é", maxQuoted)); got != strings.Repeat("é", maxQuoted) {
		t.Errorf("truncate cut a value of exactly the limit")
	}
}

func TestCountsAndRanges(t *testing.T) {
	for _, tc := range []struct {
		err  *ValidationError
		want string
	}{
		{TooFew("logStreamNames", 1), "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{TooMany("Tags", 50), "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{TooSmall("maxResults", int32(0), 1), "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{TooLarge("limit", int64(10001), 10000), "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		{TooLarge("percent", 100.5, 100), "1 validation error detected: Value '100.5' at 'percent' failed to satisfy constraint: Member must have value less than or equal to 100"},
	} {
		if got := tc.err.Message(); got != tc.want {
			t.Errorf("Message() = %q\nwant        %q", got, tc.want)
		}
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{Prefix(Required("name"), Index("containerDefinitions", 0)),
			"1 validation error detected: Value null at 'containerDefinitions.1.member.name' failed to satisfy constraint: Member must not be null"},
		{InvalidEnum("Type", "Int", []string{"String", "SecureString"}),
			"1 validation error detected: Value 'Int' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [String, SecureString]"},
		{Prefix((&String{Max: 4}).Check("abcde"), "AllowedPattern"),
			"1 validation error detected: Value 'abcde' at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 4"},
		{Prefix(Prefix((&String{Min: 1, Max: -1}).Check(""), Key("", "env")), "Tags"),
			"1 validation error detected: Value '' at 'tags.env' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{&ValidationError{Path: "x", Reason: "is odd"}, "x: is odd"},
	} {
		if got := asVE(t, tc.err).Message(); got != tc.want {
			t.Errorf("Message() = %q\nwant        %q", got, tc.want)
		}
	}
}

func TestAWSPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"family":                            "family",
		"SecretId":                          "secretId",
		"containerDefinitions[0].name":      "containerDefinitions.1.member.name",
		"Tags[1].Value":                     "tags.2.member.value",
		"m[k][2]":                           "m.k.3.member",
		"logConfiguration.options[Key].x":   "logConfiguration.options.Key.x",
		"broken[":                           "broken[",
		"DefaultActions[0].ForwardConfig.A": "defaultActions.1.member.forwardConfig.a",
	} {
		if got := awsPath(in); got != want {
			t.Errorf("awsPath(%q) = %q, want %q", in, got, want)
		}
	}
}
