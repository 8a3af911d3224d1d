package state

import "strings"

// Key prefixes of CloudWatch Logs' metadata: log groups and their streams.
// The events themselves stay in each server's log store (internal/logstore),
// which follows these records (internal/logmeta).
const (
	logGroupsPrefix  = "logs/groups/"
	logStreamsPrefix = "logs/streams/"
)

// LogsPrefix is the prefix of every log group and stream record.
func LogsPrefix() string { return "logs/" }

// LogGroupKey is where the log group name is kept.
func LogGroupKey(name string) string { return logGroupsPrefix + name }

// LogGroupsPrefix is the prefix of every log group record.
func LogGroupsPrefix() string { return logGroupsPrefix }

// LogStreamKey is where a group's stream is kept. A group name has no ':'
// (CloudWatch Logs allows [.-_/#A-Za-z0-9]), so the first ':' after the
// prefix ends it.
func LogStreamKey(group, stream string) string { return logStreamsPrefix + group + ":" + stream }

// LogStreamsPrefix is the prefix of the records of a group's streams.
func LogStreamsPrefix(group string) string { return logStreamsPrefix + group + ":" }

// AllLogStreamsPrefix is the prefix of every stream record.
func AllLogStreamsPrefix() string { return logStreamsPrefix }

// ParseLogKey says what a key under LogsPrefix names: a group (stream
// empty, isStream false) or a stream. ok is false for any other key.
func ParseLogKey(key string) (group, stream string, isStream, ok bool) {
	if name, found := strings.CutPrefix(key, logGroupsPrefix); found {
		return name, "", false, name != ""
	}
	if rest, found := strings.CutPrefix(key, logStreamsPrefix); found {
		g, s, cut := strings.Cut(rest, ":")
		return g, s, true, cut && g != "" && s != ""
	}
	return "", "", false, false
}

// LogGroup is a CloudWatch Logs log group's metadata. Created (ms since
// the epoch) also tells one incarnation of a name from the next.
type LogGroup struct {
	Name          string            `json:"name"`
	Created       int64             `json:"created"`
	RetentionDays int32             `json:"retentionDays,omitzero"`
	Tags          map[string]string `json:"tags,omitzero"`
}

// LogStream is a log stream's metadata; its statistics (event times,
// stored bytes) are each server's log store's.
type LogStream struct {
	Group   string `json:"group"`
	Name    string `json:"name"`
	Created int64  `json:"created"`
}
