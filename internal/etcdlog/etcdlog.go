// Package etcdlog is the zap logger of minato's embedded etcd members
// and test servers: etcd logs through zap, and some of its normal
// operation as errors.
package etcdlog

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// noise are messages etcd logs as errors in normal operation: its
// listeners reporting that they were closed when the member stops, and the
// storage-version monitor of a new cluster. They are dropped.
var noise = []string{
	"setting up serving from embedded etcd failed.",
	"failed to update storage version",
}

// New returns the zap logger for an embedded member or an etcd client:
// JSON lines to stderr at level and above, without etcd's shutdown noise.
func New(level zapcore.Level) *zap.Logger {
	c := zap.NewProductionConfig()
	c.Level = zap.NewAtomicLevelAt(level)
	c.Sampling = nil
	c.OutputPaths, c.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	lg, err := c.Build(zap.WrapCore(func(core zapcore.Core) zapcore.Core { return quiet{core} }))
	if err != nil {
		return zap.NewNop()
	}
	return lg
}

// quiet is a zapcore.Core that drops the noise.
type quiet struct{ zapcore.Core }

func (q quiet) With(fields []zapcore.Field) zapcore.Core { return quiet{q.Core.With(fields)} }

func (q quiet) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	for _, n := range noise {
		if strings.HasPrefix(e.Message, n) {
			return ce
		}
	}
	return q.Core.Check(e, ce)
}
