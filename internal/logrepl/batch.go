// Package logrepl replicates log events between minato servers that share
// an etcd store: every batch a server accepts is written to the store
// (under Prefix) before it is acknowledged, and every server imports the
// batches of the others into its own logstore by following the store's
// watch. Batch keys are removed once older than the retention window, by
// which time every running server has imported them.
//
// This file is the pure part: keys, chunks and the expiry cut.
package logrepl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/logstore"
)

// Prefix is where batches live in the shared store.
const Prefix = "logbatches/"

// MaxChunkBytes bounds one stored chunk's messages (etcd takes requests up
// to 1.5 MiB by default; a CloudWatch batch may reach 1 MiB).
const MaxChunkBytes = 512 << 10

// Batch is one stored chunk of a batch of events.
type Batch struct {
	Origin string           `json:"o"`
	Group  string           `json:"g"`
	Stream string           `json:"s"`
	Events []logstore.Event `json:"e"`
}

// Key names a chunk: the time (ms) first, so that keys sort by age and the
// expiry walks only the oldest, then the origin server and its counter,
// which make the key the batch's id, then the chunk's index.
func Key(ms int64, origin string, n uint64, chunk int) string {
	return fmt.Sprintf("%s%013d/%s/%d/%d", Prefix, ms, origin, n, chunk)
}

// KeyTime returns the time (ms) in a chunk's key.
func KeyTime(key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return 0, false
	}
	ts, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	return ms, err == nil
}

// Chunks splits events into runs whose messages hold at most max bytes
// each (a single larger event gets a run of its own), in order.
func Chunks(evs []logstore.Event, max int) [][]logstore.Event {
	var out [][]logstore.Event
	start, size := 0, 0
	for i, e := range evs {
		if i > start && size+len(e.Message) > max {
			out = append(out, evs[start:i])
			start, size = i, 0
		}
		size += len(e.Message)
	}
	if start < len(evs) {
		out = append(out, evs[start:])
	}
	return out
}

// Expired reports whether a chunk's key is past the retention at now.
func Expired(key string, now time.Time, retention time.Duration) bool {
	ms, ok := KeyTime(key)
	return ok && ms < now.Add(-retention).UnixMilli()
}

func encode(b Batch) ([]byte, error) { return json.Marshal(b) }

func decode(v []byte) (Batch, error) {
	var b Batch
	err := json.Unmarshal(v, &b)
	return b, err
}
