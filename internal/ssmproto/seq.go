package ssmproto

import (
	"time"
)

// Outbox numbers the stream messages one side sends and keeps each until it
// is acknowledged, to send it again when no acknowledgement came in time
// (the plugin resends its oldest unacknowledged message every
// retransmission timeout; this side does the same). It is not safe for
// concurrent use.
type Outbox struct {
	next    int64
	pending []sent
	// Timeout is how long a message waits for its acknowledgement before
	// Due returns it again; default 1s (the plugin's maximum).
	Timeout time.Duration
	// Limit bounds the unacknowledged messages; Full reports it.
	Limit int
}

type sent struct {
	seq  int64
	wire []byte
	at   time.Time
}

// DefaultOutboxLimit bounds the unacknowledged messages of an Outbox
// whose Limit is zero.
const DefaultOutboxLimit = 1000

// Next returns the sequence number the next message gets.
func (o *Outbox) Next() int64 { return o.next }

// Add records the wire form of the message numbered Next, sent at now, and
// advances Next.
func (o *Outbox) Add(wire []byte, now time.Time) {
	o.pending = append(o.pending, sent{seq: o.next, wire: wire, at: now})
	o.next++
}

// Ack forgets the message numbered seq; it reports whether it was waiting.
func (o *Outbox) Ack(seq int64) bool {
	for i, p := range o.pending {
		if p.seq == seq {
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			return true
		}
	}
	return false
}

// Pending is the number of messages waiting for their acknowledgement.
func (o *Outbox) Pending() int { return len(o.pending) }

// Full reports whether no more messages should be sent until some are
// acknowledged.
func (o *Outbox) Full() bool {
	l := o.Limit
	if l == 0 {
		l = DefaultOutboxLimit
	}
	return len(o.pending) >= l
}

// Due returns the wire forms of the messages whose acknowledgement is late
// at now, oldest first, and counts them as sent again at now.
func (o *Outbox) Due(now time.Time) [][]byte {
	t := o.Timeout
	if t == 0 {
		t = time.Second
	}
	var out [][]byte
	for i := range o.pending {
		if now.Sub(o.pending[i].at) >= t {
			out = append(out, o.pending[i].wire)
			o.pending[i].at = now
		}
	}
	return out
}

// Inbox puts the stream messages one side receives back in order: it
// delivers each sequence number once, in order, holding those that come
// early and dropping repeats. Every stream message received is to be
// acknowledged (the plugin acknowledges early ones too, and a repeat means
// the acknowledgement was lost). It is not safe for concurrent use.
type Inbox struct {
	expected int64
	early    map[int64]Message
	// Limit bounds the early messages held; past it they are dropped
	// unacknowledged (the sender sends them again). Default 10000, the
	// plugin's.
	Limit int
}

// Expected returns the sequence number the next in-order message has.
func (in *Inbox) Expected() int64 { return in.expected }

// Receive takes a stream message and returns the messages now deliverable
// in order (m and any held ones that follow it), and whether m is to be
// acknowledged.
func (in *Inbox) Receive(m Message) (deliver []Message, ack bool) {
	switch {
	case m.SequenceNumber < in.expected:
		return nil, true // a repeat: acknowledge it again
	case m.SequenceNumber > in.expected:
		limit := in.Limit
		if limit == 0 {
			limit = 10000
		}
		if in.early == nil {
			in.early = map[int64]Message{}
		}
		if _, held := in.early[m.SequenceNumber]; !held {
			if len(in.early) >= limit {
				return nil, false
			}
			m.Payload = append([]byte(nil), m.Payload...)
			in.early[m.SequenceNumber] = m
		}
		return nil, true
	}
	deliver = append(deliver, m)
	in.expected++
	for {
		next, ok := in.early[in.expected]
		if !ok {
			break
		}
		delete(in.early, in.expected)
		deliver = append(deliver, next)
		in.expected++
	}
	return deliver, true
}
