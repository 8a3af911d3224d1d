// Package ssmproto is the SSM Session Manager data channel protocol, as the
// AWS session-manager-plugin speaks it over the stream URL of an ECS
// ExecuteCommand (or SSM StartSession) answer: pure encoding and decoding of
// its binary messages (AgentMessage / ClientMessage), its JSON payloads, and
// the sequence and acknowledgement bookkeeping of each direction. It does no
// I/O: internal/execsession runs it over a WebSocket.
//
// A message is one binary WebSocket frame:
//
//	offset size field
//	     0    4 HeaderLength   (uint32, big endian; 116: the offset of PayloadLength)
//	     4   32 MessageType    (ASCII, right-padded with spaces)
//	    36    4 SchemaVersion  (uint32)
//	    40    8 CreatedDate    (uint64, milliseconds since the Unix epoch)
//	    48    8 SequenceNumber (int64)
//	    56    8 Flags          (uint64)
//	    64   16 MessageId      (UUID: its low 8 bytes first, then its high 8)
//	    80   32 PayloadDigest  (SHA-256 of the payload)
//	   112    4 PayloadType    (uint32)
//	   116    4 PayloadLength  (uint32)
//	   120    n Payload
//
// The first frame a client sends is text: the OpenDataChannelInput JSON that
// carries the session's token.
package ssmproto

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message types.
const (
	InputStreamData  = "input_stream_data"
	OutputStreamData = "output_stream_data"
	Acknowledge      = "acknowledge"
	ChannelClosed    = "channel_closed"
	StartPublication = "start_publication"
	PausePublication = "pause_publication"
)

// PayloadType says what a stream message's payload is.
type PayloadType uint32

// Payload types.
const (
	Output               PayloadType = 1 // terminal output, or (client to agent) keyboard input
	Error                PayloadType = 2
	Size                 PayloadType = 3 // SizeData JSON
	Parameter            PayloadType = 4
	HandshakeRequest     PayloadType = 5
	HandshakeResponse    PayloadType = 6
	HandshakeComplete    PayloadType = 7
	EncChallengeRequest  PayloadType = 8
	EncChallengeResponse PayloadType = 9
	Flag                 PayloadType = 10 // a 4-byte PayloadFlag
	StdErr               PayloadType = 11
	ExitCode             PayloadType = 12
)

// PayloadFlag is the payload of a Flag message.
type PayloadFlag uint32

// Flags a client sends.
const (
	DisconnectToPort   PayloadFlag = 1
	TerminateSession   PayloadFlag = 2
	ConnectToPortError PayloadFlag = 3
)

// Field sizes and offsets.
const (
	headerLength       = 116 // the offset of PayloadLength, as the plugin writes it
	messageTypeLength  = 32
	offMessageType     = 4
	offSchemaVersion   = 36
	offCreatedDate     = 40
	offSequenceNumber  = 48
	offFlags           = 56
	offMessageID       = 64
	offPayloadDigest   = 80
	offPayloadType     = 112
	minMessageLength   = headerLength + 4
	ackFlags           = 3 // the plugin's acknowledgements carry flags 3
	streamSchemaVesion = 1
)

// MaxPayload bounds a decoded payload.
const MaxPayload = 16 << 20

// UUID is a message ID.
type UUID [16]byte

// NewUUID returns a random (version 4) UUID.
func NewUUID() UUID {
	var u UUID
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String formats u with hyphens, as the plugin does in acknowledgements.
func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Message is one data channel message.
type Message struct {
	Type           string
	SchemaVersion  uint32
	CreatedDate    time.Time // millisecond precision on the wire
	SequenceNumber int64
	Flags          uint64
	ID             UUID
	PayloadType    PayloadType
	Payload        []byte
}

// Encode returns m's wire form. A zero CreatedDate is written as now and a
// zero ID as a new random one.
func Encode(m Message) ([]byte, error) {
	if len(m.Type) > messageTypeLength {
		return nil, fmt.Errorf("ssmproto: message type %q is longer than %d bytes", m.Type, messageTypeLength)
	}
	if len(m.Payload) > MaxPayload {
		return nil, fmt.Errorf("ssmproto: payload of %d bytes is over %d", len(m.Payload), MaxPayload)
	}
	if m.CreatedDate.IsZero() {
		m.CreatedDate = time.Now()
	}
	if m.ID == (UUID{}) {
		m.ID = NewUUID()
	}
	b := make([]byte, minMessageLength+len(m.Payload))
	be := binary.BigEndian
	be.PutUint32(b[0:], headerLength)
	copy(b[offMessageType:offMessageType+messageTypeLength], bytes.Repeat([]byte{' '}, messageTypeLength))
	copy(b[offMessageType:], m.Type)
	be.PutUint32(b[offSchemaVersion:], m.SchemaVersion)
	be.PutUint64(b[offCreatedDate:], uint64(m.CreatedDate.UnixMilli()))
	be.PutUint64(b[offSequenceNumber:], uint64(m.SequenceNumber))
	be.PutUint64(b[offFlags:], m.Flags)
	copy(b[offMessageID:], m.ID[8:])
	copy(b[offMessageID+8:], m.ID[:8])
	sum := sha256.Sum256(m.Payload)
	copy(b[offPayloadDigest:], sum[:])
	be.PutUint32(b[offPayloadType:], uint32(m.PayloadType))
	be.PutUint32(b[headerLength:], uint32(len(m.Payload)))
	copy(b[minMessageLength:], m.Payload)
	return b, nil
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("ssmproto: malformed message")

// Decode parses a message and checks it as the plugin does (Validate): a
// header length, a message type and a created date, and a payload that
// matches its length and its SHA-256 digest. The payload aliases b.
func Decode(b []byte) (Message, error) {
	if len(b) < minMessageLength {
		return Message{}, fmt.Errorf("%w: %d bytes is shorter than a header", ErrMalformed, len(b))
	}
	be := binary.BigEndian
	hl := be.Uint32(b[0:])
	if hl < headerLength || uint64(hl)+4 > uint64(len(b)) {
		return Message{}, fmt.Errorf("%w: header length %d", ErrMalformed, hl)
	}
	m := Message{
		Type:           strings.TrimSpace(string(bytes.Trim(b[offMessageType:offMessageType+messageTypeLength], "\x00"))),
		SchemaVersion:  be.Uint32(b[offSchemaVersion:]),
		CreatedDate:    time.UnixMilli(int64(be.Uint64(b[offCreatedDate:]))),
		SequenceNumber: int64(be.Uint64(b[offSequenceNumber:])),
		Flags:          be.Uint64(b[offFlags:]),
		PayloadType:    PayloadType(be.Uint32(b[offPayloadType:])),
	}
	copy(m.ID[8:], b[offMessageID:offMessageID+8])
	copy(m.ID[:8], b[offMessageID+8:offMessageID+16])
	n := be.Uint32(b[hl:])
	payload := b[hl+4:]
	if uint64(n) != uint64(len(payload)) {
		return Message{}, fmt.Errorf("%w: payload length %d, %d bytes follow", ErrMalformed, n, len(payload))
	}
	if n > MaxPayload {
		return Message{}, fmt.Errorf("%w: payload of %d bytes", ErrMalformed, n)
	}
	m.Payload = payload
	if m.Type == StartPublication || m.Type == PausePublication {
		return m, nil
	}
	if m.Type == "" {
		return Message{}, fmt.Errorf("%w: no message type", ErrMalformed)
	}
	if be.Uint64(b[offCreatedDate:]) == 0 {
		return Message{}, fmt.Errorf("%w: no created date", ErrMalformed)
	}
	if n > 0 {
		sum := sha256.Sum256(payload)
		if !bytes.Equal(sum[:], b[offPayloadDigest:offPayloadDigest+32]) {
			return Message{}, fmt.Errorf("%w: payload digest does not match", ErrMalformed)
		}
	}
	return m, nil
}

// Stream returns a stream data message (input_stream_data from a client,
// output_stream_data from the agent side) with sequence number seq.
func Stream(typ string, seq int64, pt PayloadType, payload []byte) Message {
	return Message{Type: typ, SchemaVersion: streamSchemaVesion, SequenceNumber: seq, PayloadType: pt, Payload: payload}
}

// Ack returns the acknowledgement of a received stream message.
func Ack(of Message) Message {
	p, _ := jsonMarshal(AcknowledgeContent{
		MessageType: of.Type, MessageID: of.ID.String(), SequenceNumber: of.SequenceNumber, IsSequentialMessage: true,
	})
	return Message{Type: Acknowledge, SchemaVersion: streamSchemaVesion, Flags: ackFlags, Payload: p}
}

// FlagPayload is the payload of a Flag message.
func FlagPayload(f PayloadFlag) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(f))
}

// ParseFlag reads a Flag payload.
func ParseFlag(p []byte) (PayloadFlag, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("%w: a flag payload has %d bytes", ErrMalformed, len(p))
	}
	return PayloadFlag(binary.BigEndian.Uint32(p)), nil
}
