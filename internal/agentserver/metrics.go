package agentserver

import (
	"context"
	"net/http"

	"github.com/minato-project/minato/internal/agentproto"
)

// UsageRecorder keeps what agents report of their tasks' resource use
// (agentproto.PathMetrics). *ecsmetrics.Recorder implements it.
type UsageRecorder interface {
	RecordUsage(ctx context.Context, rep agentproto.MetricsReport) error
}

// MetricsHandler serves agentproto.PathMetrics: it hands each report to
// rec.
func (s *Server) MetricsHandler(rec UsageRecorder) http.Handler {
	return s.auth(func(_ http.ResponseWriter, req *http.Request) (any, error) {
		var in agentproto.MetricsReport
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		if in.Cluster == "" || in.InstanceID == "" {
			return nil, badRequest("cluster and instanceId are required")
		}
		if err := rec.RecordUsage(req.Context(), in); err != nil {
			return nil, httpErrorOf(err)
		}
		return struct{}{}, nil
	})
}
