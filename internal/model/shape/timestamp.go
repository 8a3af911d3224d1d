package shape

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// ISO8601 is the layout Timestamp uses for text (XML and query protocols):
// UTC with millisecond precision, as AWS writes it.
const ISO8601 = "2006-01-02T15:04:05.000Z"

// Timestamp is an AWS timestamp shape. In JSON (awsJson1.1) it travels as
// epoch seconds with a millisecond fraction, as a number (1700000000.123); as
// text (query, XML) it is ISO-8601 in UTC. The zero value means "absent":
// IsZero lets `omitzero` drop it and MarshalXML writes nothing for it.
type Timestamp struct {
	t time.Time
}

// NewTimestamp wraps t.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{t: t} }

// Time returns the wrapped time (the zero time.Time for an absent value).
func (ts Timestamp) Time() time.Time { return ts.t }

// IsZero reports whether ts is absent.
func (ts Timestamp) IsZero() bool { return ts.t.IsZero() }

// Equal reports whether both name the same instant (or are both absent).
func (ts Timestamp) Equal(o Timestamp) bool { return ts.t.Equal(o.t) }

// String formats ts as ISO-8601 UTC, or "" when absent.
func (ts Timestamp) String() string {
	if ts.t.IsZero() {
		return ""
	}
	return ts.t.UTC().Format(ISO8601)
}

// MarshalJSON writes epoch seconds with a three-digit millisecond fraction,
// or null for an absent value.
func (ts Timestamp) MarshalJSON() ([]byte, error) {
	if ts.t.IsZero() {
		return []byte("null"), nil
	}
	ms := ts.t.UnixMilli()
	neg := ms < 0
	if neg {
		ms = -ms
	}
	b := make([]byte, 0, 24)
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b, nil
}

// UnmarshalJSON accepts epoch seconds as a JSON number (integral, fractional
// or in exponent form), an ISO-8601 string, or null (absent).
func (ts *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("shape: empty timestamp")
	}
	switch b[0] {
	case 'n':
		if string(b) != "null" {
			return errors.New("shape: invalid timestamp " + string(b))
		}
		*ts = Timestamp{}
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return ts.UnmarshalText([]byte(s))
	}
	t, err := parseEpoch(string(b))
	if err != nil {
		return err
	}
	ts.t = t
	return nil
}

// MarshalText writes ISO-8601 UTC with milliseconds, or nothing when absent.
func (ts Timestamp) MarshalText() ([]byte, error) {
	return []byte(ts.String()), nil
}

// UnmarshalText accepts ISO-8601 (RFC 3339, with or without fraction or
// zone; no zone means UTC) or epoch seconds. Empty text means absent.
func (ts *Timestamp) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*ts = Timestamp{}
		return nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return err
	}
	ts.t = t
	return nil
}

// MarshalXML writes the element as ISO-8601 text, and omits an absent value
// altogether (encoding/xml's omitempty does not look at structs).
func (ts Timestamp) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if ts.t.IsZero() {
		return nil
	}
	return e.EncodeElement(ts.String(), start)
}

// MarshalXMLAttr writes the attribute as ISO-8601 text, omitting it when absent.
func (ts Timestamp) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	if ts.t.IsZero() {
		return xml.Attr{}, nil
	}
	return xml.Attr{Name: name, Value: ts.String()}, nil
}

var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
}

// ParseTime parses an ISO-8601 date-time (or bare epoch seconds) the
// lenient way AWS accepts them. A time without a zone is taken as UTC.
func ParseTime(s string) (time.Time, error) {
	if s != "" && (s[0] >= '0' && s[0] <= '9' || s[0] == '-') && !strings.ContainsAny(s, "T:") && strings.Count(s, "-") <= 1 {
		if t, err := parseEpoch(s); err == nil {
			return t, nil
		}
	}
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("shape: invalid timestamp " + strconv.Quote(s))
}

// parseEpoch parses epoch seconds. Plain decimals are parsed exactly (to the
// nanosecond); exponent forms go through float64 and are rounded to the
// microsecond.
func parseEpoch(s string) (time.Time, error) {
	bad := errors.New("shape: invalid epoch timestamp " + strconv.Quote(s))
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
			return time.Time{}, bad
		}
		us := math.Round(f * 1e6)
		return time.UnixMicro(int64(us)).UTC(), nil
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return time.Time{}, bad
	}
	sec := int64(0)
	if intPart != "" {
		v, err := strconv.ParseUint(intPart, 10, 63)
		if err != nil {
			return time.Time{}, bad
		}
		sec = int64(v)
	}
	nsec := int64(0)
	for i, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, bad
		}
		if i < 9 {
			nsec = nsec*10 + int64(c-'0')
		}
	}
	for i := len(frac); i < 9; i++ {
		nsec *= 10
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// MarshalCBOR writes the time as RPC v2 CBOR does: tag 1 (epoch-based
// date/time) around whole seconds, or seconds with a millisecond fraction
// as a float; null for an absent value.
func (ts Timestamp) MarshalCBOR() ([]byte, error) {
	if ts.t.IsZero() {
		return []byte{0xf6}, nil
	}
	ms := ts.t.UnixMilli()
	if ms%1000 == 0 {
		return cbor.Marshal(cbor.Tag{Number: 1, Content: ms / 1000})
	}
	return cbor.Marshal(cbor.Tag{Number: 1, Content: float64(ms) / 1000})
}

// UnmarshalCBOR accepts tag 1 around an integer or a float (epoch
// seconds), the number alone, or null (absent).
func (ts *Timestamp) UnmarshalCBOR(b []byte) error {
	var v any
	if err := cbor.Unmarshal(b, &v); err != nil {
		return err
	}
	if tag, ok := v.(cbor.Tag); ok {
		if tag.Number != 1 {
			return fmt.Errorf("shape: timestamp in CBOR tag %d, not 1", tag.Number)
		}
		v = tag.Content
	}
	switch n := v.(type) {
	case nil:
		*ts = Timestamp{}
		return nil
	case time.Time: // the decoder may already read tag 1 as a time
		ts.t = n.UTC()
		return nil
	case uint64:
		if n > 1<<53 {
			return errors.New("shape: timestamp out of range")
		}
		ts.t = time.Unix(int64(n), 0).UTC()
		return nil
	case int64:
		ts.t = time.Unix(n, 0).UTC()
		return nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 1<<53 {
			return errors.New("shape: timestamp out of range")
		}
		ts.t = time.UnixMicro(int64(math.Round(n * 1e6))).UTC()
		return nil
	}
	return fmt.Errorf("shape: a timestamp is an epoch number in CBOR, not %T", v)
}
