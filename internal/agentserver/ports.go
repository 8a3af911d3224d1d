package agentserver

import (
	"net/http"

	"github.com/minato-project/minato/internal/agentproto"
)

// movePorts asks the task domain for new dynamic host ports for a
// container of a task in place of ones its agent found taken on the host
// (agentproto.PathPorts): 404 when the task is not the instance's, 409
// when it is stopping or its ports cannot move.
func (s *Server) movePorts(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req agentproto.MovePortsRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.InstanceID == "" || req.TaskID == "" || req.Container == "" {
		return nil, badRequest("instanceId, taskId and container are required")
	}
	ports, err := s.cfg.Tasks.MovePorts(r.Context(), req.InstanceID, req.TaskID, req.Container, req.Busy)
	if err != nil {
		return nil, httpErrorOf(err)
	}
	return agentproto.MovePortsResponse{HostPorts: ports}, nil
}
