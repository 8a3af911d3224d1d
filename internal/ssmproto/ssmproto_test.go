package ssmproto

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestEncodeLayoutIsThePlugins(t *testing.T) {
	id := UUID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	at := time.UnixMilli(1700000000123)
	b, err := Encode(Message{Type: InputStreamData, SchemaVersion: 1, CreatedDate: at, SequenceNumber: 7, Flags: 0, ID: id, PayloadType: Output, Payload: []byte("ls\r")})
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if len(b) != 120+3 {
		t.Fatalf("length %d", len(b))
	}
	if be.Uint32(b) != 116 {
		t.Errorf("header length %d", be.Uint32(b))
	}
	if got := string(b[4:36]); got != "input_stream_data               " {
		t.Errorf("message type %q", got)
	}
	if be.Uint32(b[36:]) != 1 || be.Uint64(b[40:]) != 1700000000123 || be.Uint64(b[48:]) != 7 {
		t.Error("schema, date or sequence misplaced")
	}
	// The plugin writes a UUID's low half first.
	if !bytes.Equal(b[64:72], id[8:]) || !bytes.Equal(b[72:80], id[:8]) {
		t.Errorf("message id % x", b[64:80])
	}
	sum := sha256.Sum256([]byte("ls\r"))
	if !bytes.Equal(b[80:112], sum[:]) {
		t.Error("digest")
	}
	if be.Uint32(b[112:]) != 1 || be.Uint32(b[116:]) != 3 || string(b[120:]) != "ls\r" {
		t.Error("payload type, length or payload")
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != InputStreamData || m.ID != id || m.SequenceNumber != 7 || !m.CreatedDate.Equal(at) || string(m.Payload) != "ls\r" || m.PayloadType != Output {
		t.Errorf("round trip: %+v", m)
	}
	if id.String() != "00010203-0405-0607-0809-0a0b0c0d0e0f" {
		t.Errorf("uuid %s", id)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := Encode(Stream(OutputStreamData, 0, Output, []byte("hello")))
	tests := []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:50] }},
		{"digest", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"length", func(b []byte) []byte { return b[:len(b)-1] }},
		{"header length", func(b []byte) []byte { binary.BigEndian.PutUint32(b, 4000); return b }},
		{"no type", func(b []byte) []byte { copy(b[4:36], bytes.Repeat([]byte{' '}, 32)); return b }},
		{"no date", func(b []byte) []byte { binary.BigEndian.PutUint64(b[40:], 0); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.mod(append([]byte(nil), good...)))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestAckNamesTheMessage(t *testing.T) {
	m := Stream(OutputStreamData, 12, Output, []byte("x"))
	m.ID = NewUUID()
	b, _ := Encode(Ack(m))
	a, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var c AcknowledgeContent
	if err := json.Unmarshal(a.Payload, &c); err != nil {
		t.Fatal(err)
	}
	if a.Type != Acknowledge || a.Flags != 3 || c.SequenceNumber != 12 || c.MessageID != m.ID.String() || c.MessageType != OutputStreamData || !c.IsSequentialMessage {
		t.Errorf("ack %+v %+v", a, c)
	}
	if string(a.Payload) != `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"`+m.ID.String()+`","AcknowledgedMessageSequenceNumber":12,"IsSequentialMessage":true}` {
		t.Errorf("payload %s", a.Payload)
	}
}

func TestFlag(t *testing.T) {
	f, err := ParseFlag(FlagPayload(TerminateSession))
	if err != nil || f != TerminateSession {
		t.Fatal(f, err)
	}
	if _, err := ParseFlag([]byte{1}); err == nil {
		t.Fatal("short flag accepted")
	}
}

func TestInboxOrders(t *testing.T) {
	var in Inbox
	msg := func(seq int64) Message { return Stream(InputStreamData, seq, Output, []byte{byte('a' + seq)}) }
	var got []byte
	for _, seq := range []int64{0, 2, 3, 2, 1, 0, 4} {
		d, ack := in.Receive(msg(seq))
		if !ack {
			t.Fatalf("seq %d not acknowledged", seq)
		}
		for _, m := range d {
			got = append(got, m.Payload...)
		}
	}
	if string(got) != "abcde" || in.Expected() != 5 {
		t.Fatalf("delivered %q, expected %d", got, in.Expected())
	}
	in.Limit = 1
	if _, ack := in.Receive(msg(7)); !ack {
		t.Fatal("first early message refused")
	}
	if _, ack := in.Receive(msg(8)); ack {
		t.Fatal("early message past the limit acknowledged")
	}
}

func TestOutboxResendsUntilAcknowledged(t *testing.T) {
	o := Outbox{Timeout: time.Second, Limit: 2}
	t0 := time.Unix(100, 0)
	o.Add([]byte("m0"), t0)
	o.Add([]byte("m1"), t0.Add(500*time.Millisecond))
	if !o.Full() || o.Next() != 2 {
		t.Fatal("not full after two")
	}
	if d := o.Due(t0.Add(900 * time.Millisecond)); len(d) != 0 {
		t.Fatalf("due early: %q", d)
	}
	if d := o.Due(t0.Add(time.Second)); len(d) != 1 || string(d[0]) != "m0" {
		t.Fatalf("due %q", d)
	}
	if !o.Ack(0) || o.Ack(0) || o.Pending() != 1 || o.Full() {
		t.Fatal("ack bookkeeping")
	}
	if d := o.Due(t0.Add(2 * time.Second)); len(d) != 1 || string(d[0]) != "m1" {
		t.Fatalf("due %q", d)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(Stream(OutputStreamData, 1, Output, []byte("x")))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if _, err := Encode(m); err != nil && len(m.Type) <= 32 {
			t.Fatal(err)
		}
	})
}
