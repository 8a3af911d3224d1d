package awsproto

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRedactToken(t *testing.T) {
	in := "POST\n/\nX-Amz-Date=1&X-Amz-Security-Token=secret1\nhost:h\nx-amz-security-token:secret2\n"
	out := redactToken(in)
	if strings.Contains(out, "secret1") || strings.Contains(out, "secret2") {
		t.Errorf("token not redacted: %q", out)
	}
}

func TestCheckTimeBoundaries(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		at     time.Time
		ok     bool
		prefix string
	}{
		{"exactly 15 minutes old", now.Add(-15 * time.Minute), true, ""},
		{"15 minutes and a second old", now.Add(-15*time.Minute - time.Second), false, "Signature expired: 20240601T114459Z is now earlier than 20240601T114500Z (20240601T120000Z - 15 min.)"},
		{"exactly 15 minutes ahead", now.Add(15 * time.Minute), true, ""},
		{"too far ahead", now.Add(16 * time.Minute), false, "Signature not yet current: 20240601T121600Z is still later than 20240601T121500Z (20240601T120000Z + 15 min.)"},
	} {
		sr := &sigRequest{amzDate: tc.at, amzDateRaw: tc.at.Format(amzDateFormat)}
		err := checkTime(sr, now, DefaultMaxClockSkew, ProtocolJSON)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if err != nil && err.message != tc.prefix {
			t.Errorf("%s: message %q", tc.name, err.message)
		}
	}
}

func TestPayloadHash(t *testing.T) {
	body := []byte("{}")
	const sum = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	for _, tc := range []struct {
		declared, want string
		ok             bool
	}{
		{"", sum, true},
		{sum, sum, true},
		{strings.ToUpper(sum), strings.ToUpper(sum), true},
		{"UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD", true},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "", false},
	} {
		r, _ := http.NewRequest("POST", "http://x/", nil)
		if tc.declared != "" {
			r.Header.Set("X-Amz-Content-Sha256", tc.declared)
		}
		got, err := payloadHash(r, body, ProtocolJSON)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("declared %q: got %q, %v", tc.declared, got, err)
		}
	}
}

func TestParseAuthHeader(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Date", "20240601T120000Z")
	sr, err := parseAuthHeader("AWS4-HMAC-SHA256 Credential=AKID/20240601/eu-west-1/ecs/aws4_request,SignedHeaders=Host;X-Amz-Date,Signature=abc", h)
	if err != nil {
		t.Fatal(err)
	}
	if sr.accessKeyID != "AKID" || sr.region != "eu-west-1" || sr.service != "ecs" || sr.signature != "abc" ||
		strings.Join(sr.signedHeaders, ";") != "host;x-amz-date" {
		t.Errorf("parsed %+v", sr)
	}
	for _, bad := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20240601/eu-west-1/ecs/aws5_request, SignedHeaders=host, Signature=abc",
		"AWS4-HMAC-SHA256 Credential=AKID/20240601/eu-west-1/ecs/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=abc",
	} {
		if _, err := parseAuthHeader(bad, h); err == nil || err.jsonCode != "IncompleteSignatureException" {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	h.Set("X-Amz-Date", "yesterday")
	if _, err := parseAuthHeader("AWS4-HMAC-SHA256 Credential=AKID/20240601/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=abc", h); err == nil {
		t.Error("bad X-Amz-Date accepted")
	}
}
