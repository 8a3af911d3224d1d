package shape

import (
	"bytes"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

func TestTimestampCBOR(t *testing.T) {
	whole := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	b, err := cbor.Marshal(NewTimestamp(whole))
	if err != nil {
		t.Fatal(err)
	}
	// tag 1 (0xc1) around the uint32 1796644800 (0x1a ...).
	if want := []byte{0xc1, 0x1a, 0x6b, 0x16, 0x9f, 0xc0}; !bytes.Equal(b, want) {
		t.Errorf("whole seconds: % x; want % x", b, want)
	}
	frac := whole.Add(250 * time.Millisecond)
	b, _ = cbor.Marshal(NewTimestamp(frac))
	if b[0] != 0xc1 || b[1] != 0xfb {
		t.Errorf("fraction: % x; want tag 1 around a float64", b)
	}
	for _, in := range []time.Time{whole, frac} {
		enc, _ := cbor.Marshal(NewTimestamp(in))
		var back Timestamp
		if err := cbor.Unmarshal(enc, &back); err != nil || !back.Time().Equal(in) {
			t.Errorf("round trip of %v: %v %v", in, back.Time(), err)
		}
	}
	// Untagged numbers and null are accepted; other tags and strings not.
	var ts Timestamp
	if err := cbor.Unmarshal([]byte{0x1a, 0x6b, 0x16, 0x9f, 0xc0}, &ts); err != nil || !ts.Time().Equal(whole) {
		t.Errorf("untagged: %v %v", ts.Time(), err)
	}
	if err := cbor.Unmarshal([]byte{0xf6}, &ts); err != nil || !ts.IsZero() {
		t.Errorf("null: %v %v", ts, err)
	}
	if err := cbor.Unmarshal([]byte{0xc0, 0x61, 0x78}, &ts); err == nil {
		t.Error("tag 0 accepted")
	}
	if err := cbor.Unmarshal([]byte{0x61, 0x78}, &ts); err == nil {
		t.Error("a string accepted")
	}
}
