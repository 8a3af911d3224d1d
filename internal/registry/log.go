package registry

import (
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// distribution logs through logrus's standard logger, at Info for every
// request. minato logs with slog: quietLogrus drops what is below Warn
// (a request log line would cost more than serving a small request) and
// passes the rest to the logger of the newest Registry at Debug, because
// distribution reports a client's mistakes (an unknown blob, a bad digest)
// as errors; what matters to an operator minato logs itself.
var logSink atomic.Pointer[slog.Logger]

func quietLogrus() {
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.WarnLevel)
	logrus.AddHook(forward{})
}

type forward struct{}

func (forward) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (forward) Fire(e *logrus.Entry) error {
	l := logSink.Load()
	if l == nil {
		return nil
	}
	args := make([]any, 0, 2*len(e.Data)+2)
	args = append(args, "level", e.Level.String())
	for k, v := range e.Data {
		args = append(args, k, v)
	}
	l.Debug("distribution: "+e.Message, args...)
	return nil
}
