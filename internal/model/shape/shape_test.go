package shape

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2023, 11, 14, 22, 13, 20, 123_000_000, time.UTC) // 1700000000.123

func TestTimestampMarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{t0, "1700000000.123"},
		{time.Unix(1700000000, 0), "1700000000.000"},
		{time.Unix(1700000000, 999_999_999), "1700000000.999"}, // truncated to ms
		{time.Unix(0, 0), "0.000"},
		{time.Unix(-2, 500_000_000), "-1.500"},
		{time.Time{}, "null"},
	} {
		b, err := json.Marshal(NewTimestamp(tc.in))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
	}
}

func TestTimestampUnmarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1700000000.123", t0},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1.700000000123E9", t0},
		{"1.7e9", time.Unix(1700000000, 0)},
		{"1700000000.123456789", time.Unix(1700000000, 123456789)},
		{"-1.5", time.Unix(-2, 500_000_000)},
		{`"2023-11-14T22:13:20.123Z"`, t0},
		{`"2023-11-14T22:13:20Z"`, t0.Truncate(time.Second)},
		{`"2023-11-15T00:13:20.123+02:00"`, t0},
		{`"2023-11-14T22:13:20.123"`, t0},
		{`"1700000000.123"`, t0},
		{"null", time.Time{}},
	} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(tc.in), &ts); err != nil {
			t.Errorf("Unmarshal(%s): %v", tc.in, err)
			continue
		}
		if !ts.Time().Equal(tc.want) {
			t.Errorf("Unmarshal(%s) = %v, want %v", tc.in, ts.Time(), tc.want)
		}
	}
	for _, bad := range []string{`"yesterday"`, "1.2.3", "true", `"2023-13-45T00:00:00Z"`, "1e400"} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, ts)
		}
	}
}

func TestTimestampJSONRoundTripAndOmitzero(t *testing.T) {
	type doc struct {
		CreatedAt Timestamp `json:"createdAt,omitzero"`
		StoppedAt Timestamp `json:"stoppedAt,omitzero"`
	}
	b, err := json.Marshal(doc{CreatedAt: NewTimestamp(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"createdAt":1700000000.123}` {
		t.Fatalf("got %s", b)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.CreatedAt.Equal(NewTimestamp(t0)) || !back.StoppedAt.IsZero() {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestTimestampText(t *testing.T) {
	b, err := NewTimestamp(t0.In(time.FixedZone("x", 3600))).MarshalText()
	if err != nil || string(b) != "2023-11-14T22:13:20.123Z" {
		t.Fatalf("MarshalText = %s, %v", b, err)
	}
	var ts Timestamp
	if err := ts.UnmarshalText(b); err != nil || !ts.Time().Equal(t0) {
		t.Fatalf("UnmarshalText(%s) = %v, %v", b, ts, err)
	}
	if ts.Time().Location() != time.UTC {
		t.Errorf("parsed time not in UTC: %v", ts.Time().Location())
	}
	if b, _ := (Timestamp{}).MarshalText(); len(b) != 0 {
		t.Errorf("zero MarshalText = %q", b)
	}
	if err := ts.UnmarshalText(nil); err != nil || !ts.IsZero() {
		t.Errorf("empty UnmarshalText = %v, %v", ts, err)
	}
	if err := ts.UnmarshalText([]byte("not a time")); err == nil {
		t.Error("UnmarshalText accepted garbage")
	}
}

func TestTimestampXML(t *testing.T) {
	type creds struct {
		XMLName    xml.Name  `xml:"Credentials"`
		Expiration Timestamp `xml:"Expiration,omitempty"`
		Issued     Timestamp `xml:"Issued,omitempty"`
		At         Timestamp `xml:"at,attr,omitempty"`
	}
	b, err := xml.Marshal(creds{Expiration: NewTimestamp(t0)})
	if err != nil {
		t.Fatal(err)
	}
	want := `<Credentials><Expiration>2023-11-14T22:13:20.123Z</Expiration></Credentials>`
	if string(b) != want {
		t.Fatalf("xml = %s\nwant  %s", b, want)
	}
	var back creds
	if err := xml.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Expiration.Time().Equal(t0) || !back.Issued.IsZero() {
		t.Fatalf("xml round trip: %+v", back)
	}
}

func TestValidationErrors(t *testing.T) {
	err := Prefix(Required("name"), Index("containerDefinitions", 0))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Path != "containerDefinitions[0].name" || ve.Reason != "is required" {
		t.Fatalf("got %#v", err)
	}
	if err.Error() != "containerDefinitions[0].name: is required" {
		t.Errorf("Error() = %q", err.Error())
	}
	err = Prefix(Prefix(InvalidEnum("", "x", []string{"a", "b"}), Index("", 2)), Key("m", "k"))
	if !errors.As(err, &ve) || ve.Path != "m[k][2]" || ve.Reason != `value "x" is not one of [a, b]` {
		t.Fatalf("got %#v", err)
	}
	other := errors.New("boom")
	if Prefix(other, "x") != other {
		t.Error("Prefix changed a non-validation error")
	}
}

func TestXMLMap(t *testing.T) {
	type action struct {
		Params XMLMap[string, string] `xml:"Params,omitempty"`
		Empty  XMLMap[string, string] `xml:"Empty,omitempty"`
	}
	b, err := xml.Marshal(action{Params: XMLMap[string, string]{"b": "2", "a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `<action><Params><entry><key>a</key><value>1</value></entry><entry><key>b</key><value>2</value></entry></Params></action>`
	if string(b) != want {
		t.Fatalf("xml = %s\nwant  %s", b, want)
	}
	var back action
	if err := xml.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Params) != 2 || back.Params["a"] != "1" || back.Params["b"] != "2" || back.Empty != nil {
		t.Fatalf("round trip: %+v", back)
	}
	j, _ := json.Marshal(back.Params)
	if !strings.Contains(string(j), `"a":"1"`) {
		t.Errorf("json = %s", j)
	}
}
