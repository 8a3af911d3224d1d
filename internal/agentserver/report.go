package agentserver

import (
	"net/http"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/tasks"
)

// report hands an agent's reports to the task domain.
func (s *Server) report(_ http.ResponseWriter, r *http.Request) (any, error) {
	var rep agentproto.Report
	if err := decode(r, &rep); err != nil {
		return nil, err
	}
	s.cfg.Agents.Touch(rep.InstanceID)
	if err := s.cfg.Tasks.ApplyReports(r.Context(), rep.InstanceID, rep.Cluster, reportsOf(rep.Tasks)); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// reportsOf converts the protocol's task reports into the domain's.
func reportsOf(in []agentproto.TaskReport) []tasks.Report {
	out := make([]tasks.Report, len(in))
	for i, tr := range in {
		r := tasks.Report{
			TaskID: tr.TaskID, Cluster: tr.Cluster, LastStatus: tr.LastStatus, HealthStatus: tr.HealthStatus,
			PullStartedAt: tr.PullStartedAt, PullStoppedAt: tr.PullStoppedAt, StartedAt: tr.StartedAt, ExecutionStoppedAt: tr.ExecutionStoppedAt,
			StopCode: tr.StopCode, StoppedReason: tr.StoppedReason,
			PrivateIPv4: tr.PrivateIPv4, MACAddress: tr.MACAddress, SubnetCIDR: tr.SubnetCIDR,
		}
		if tr.Containers != nil {
			r.Containers = make([]tasks.ContainerReport, len(tr.Containers))
		}
		for j, cr := range tr.Containers {
			r.Containers[j] = tasks.ContainerReport{
				Name: cr.Name, RuntimeID: cr.RuntimeID, ImageDigest: cr.ImageDigest, LastStatus: cr.LastStatus,
				ExitCode: cr.ExitCode, Reason: cr.Reason, HealthStatus: cr.HealthStatus, NetworkBindings: cr.NetworkBindings,
			}
		}
		out[i] = r
	}
	return out
}
