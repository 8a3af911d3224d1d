// Package logstore keeps CloudWatch-Logs-style log groups on disk: for each
// group an append-only, segmented log of events, indexed by time, from
// which queries read by stream, time range and cursor.
//
// # Layout
//
//	<dir>/groups/<hash of the name>/meta.json        name, creation, retention, tags
//	                               /streams.journal  streams created and deleted
//	                               /0000000001.seg   events, oldest segment first
//
// Each segment is a sequence of checksummed records (record.go). Appends
// to a group are serialized; each batch is written at the end of the
// newest segment and fsynced before Append returns and before readers can
// see it, so an acknowledged event survives a crash, and a torn tail left
// by one is cut when the group is opened. A segment is closed to appends
// when it reaches Options.SegmentBytes or Options.SegmentAge; retention
// (Store.Sweep, every minute) removes whole segments whose newest event is
// older than the group's retention, and queries hide the expired events of
// the segments that remain.
//
// # The time index
//
// Each group keeps in memory a list of blocks: runs of about
// Options.BlockBytes of one segment with the span of their event
// timestamps and the streams in them. A query picks the blocks whose span
// and streams can match, visits them nearest first (by first timestamp,
// or by last for a backward query) and stops once no further block can
// hold an event before the page's last one. Container logs arrive in time
// order, so a query of recent events (aws logs tail) reads only the last
// blocks. Queries hold the group's lock only to copy the index; file reads
// run beside appends, which never wait for readers.
//
// The index and the streams' statistics (first and last event time,
// stored bytes, the highest producer sequence number) are rebuilt by
// scanning the segments when the store opens.
//
// # Metadata: decided in the state store, kept here too
//
// A stream's statistics change with every append, so they stay here,
// derived from the segments themselves (they cannot disagree with the
// events), rather than cost a second durable write per batch. The rarely
// changing parts (a group's creation, retention and tags, the stream list)
// are decided for the whole cluster in the state store when a Meta is set
// (SetMeta; internal/logmeta): CreateGroup, SetRetention, TagGroup,
// CreateStream, DeleteGroup and the like ask it first and then apply its
// answer here, and the Apply and Remove methods let internal/logmeta apply
// what other servers decided. Here they are kept as small files written
// atomically (meta.json) or appended with fsync (streams.journal), so
// that reads never go to the state store. Without a Meta (tests) the store
// decides alone.
//
// # Exactly once
//
// An Event may carry a producer sequence number (Event.Seq). The store
// keeps the highest one per stream, durably in the records, and drops an
// event that is not above it: a producer that resends a batch whose
// acknowledgement it lost (the host agent, after a restart of either side)
// stores nothing twice.
package logstore
