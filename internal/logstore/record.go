package logstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A segment file is a sequence of records:
//
//	u32 n        length of what follows the crc (little endian)
//	u32 crc      CRC-32C of those n bytes
//	u8  kind     recEvent
//	uvarint      stream ID (from the group's stream journal)
//	varint       event timestamp, ms since the epoch
//	varint       ingestion time, ms since the epoch
//	uvarint      producer sequence number + 1 (0: none; see Event.Seq)
//	bytes        the message, to the end of the record
//
// A record is written whole or, after a crash, found torn at the end of
// the newest segment, where the scan stops and the file is cut.

const (
	recEvent   = 1
	recHeader  = 8
	maxRecBody = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one decoded event record.
type record struct {
	stream    uint32
	timestamp int64
	ingestion int64
	seq       uint64 // producer sequence number + 1; 0 none
	message   []byte // aliases the buffer it was decoded from
}

// appendRecord appends the encoding of r to b.
func appendRecord(b []byte, r record) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, recEvent)
	b = binary.AppendUvarint(b, uint64(r.stream))
	b = binary.AppendVarint(b, r.timestamp)
	b = binary.AppendVarint(b, r.ingestion)
	b = binary.AppendUvarint(b, r.seq)
	b = append(b, r.message...)
	body := b[start+recHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b
}

var (
	errShort   = errors.New("logstore: short record")
	errCorrupt = errors.New("logstore: corrupt record")
)

// decodeRecord decodes the record at the start of b and returns it with
// its encoded length. errShort means b ends inside the record.
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < recHeader {
		return record{}, 0, errShort
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 1 || n > maxRecBody {
		return record{}, 0, errCorrupt
	}
	if len(b) < recHeader+n {
		return record{}, 0, errShort
	}
	body := b[recHeader : recHeader+n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return record{}, 0, errCorrupt
	}
	if body[0] != recEvent {
		return record{}, 0, errCorrupt
	}
	p := body[1:]
	var r record
	v, k := binary.Uvarint(p)
	if k <= 0 || v > 1<<32-1 {
		return record{}, 0, errCorrupt
	}
	r.stream, p = uint32(v), p[k:]
	if r.timestamp, k = binary.Varint(p); k <= 0 {
		return record{}, 0, errCorrupt
	}
	p = p[k:]
	if r.ingestion, k = binary.Varint(p); k <= 0 {
		return record{}, 0, errCorrupt
	}
	p = p[k:]
	if r.seq, k = binary.Uvarint(p); k <= 0 {
		return record{}, 0, errCorrupt
	}
	r.message = p[k:]
	return r, recHeader + n, nil
}

// block is one entry of a group's time index: a run of records in one
// segment, the span of their event timestamps, and the streams they belong
// to. Queries read only the blocks whose span and streams can match.
type block struct {
	seg      uint32 // segment number
	off, len int64  // byte range in the segment
	minTS    int64
	maxTS    int64
	streams  []uint32 // sorted; nil once more than maxBlockStreams
	any      bool     // streams overflowed: any stream may be in it
}

const maxBlockStreams = 16

func (b *block) add(r record) {
	if r.timestamp < b.minTS {
		b.minTS = r.timestamp
	}
	if r.timestamp > b.maxTS {
		b.maxTS = r.timestamp
	}
	if b.any {
		return
	}
	i := 0
	for i < len(b.streams) && b.streams[i] < r.stream {
		i++
	}
	if i < len(b.streams) && b.streams[i] == r.stream {
		return
	}
	if len(b.streams) >= maxBlockStreams {
		b.streams, b.any = nil, true
		return
	}
	b.streams = append(b.streams, 0)
	copy(b.streams[i+1:], b.streams[i:])
	b.streams[i] = r.stream
}

// hasAny reports whether the block may hold a record of one of the
// streams in want (nil: every stream).
func (b *block) hasAny(want map[uint32]bool) bool {
	if want == nil || b.any {
		return true
	}
	for _, s := range b.streams {
		if want[s] {
			return true
		}
	}
	return false
}

func newBlock(seg uint32, off int64) block {
	return block{seg: seg, off: off, minTS: 1<<63 - 1, maxTS: -1 << 63}
}
