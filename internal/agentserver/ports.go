package agentserver

import (
	crand "crypto/rand"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// movePorts gives a container of a task new dynamic host ports in place of
// ones its agent found taken on the host (agentproto.PathPorts). The task's
// host ports and holds and the instance's used ports change in one
// transaction, so placement's accounting stays exact: the ports the
// container will bind are held, the busy ones given back.
func (s *Server) movePorts(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req agentproto.MovePortsRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.InstanceID == "" || req.TaskID == "" || req.Container == "" {
		return nil, badRequest("instanceId, taskId and container are required")
	}
	ctx := r.Context()
	var out agentproto.MovePortsResponse
	err := store.RetryConflicts(ctx, func() error {
		t, cluster, err := s.findTask(ctx, req.InstanceID, req.TaskID)
		if err != nil {
			return err
		}
		if t.ModRevision == 0 {
			return &httpError{http.StatusNotFound, "task " + req.TaskID + " is not assigned to container instance " + req.InstanceID}
		}
		task := t.Value
		if task.Released || task.Task.DesiredStatus == "STOPPED" {
			return &httpError{http.StatusConflict, "task " + req.TaskID + " is stopping"}
		}
		td, err := s.taskDef(ctx, task.Family, task.Revision)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(td.ContainerDefinitions, func(c ecstypes.ContainerDefinition) bool { return c.Name == req.Container })
		if i < 0 {
			return badRequest("task %s has no container %q", req.TaskID, req.Container)
		}
		ms, err := scheduler.MappingsOf(td.ContainerDefinitions[i], td.NetworkMode)
		if err != nil {
			return &httpError{http.StatusConflict, err.Error()}
		}
		inst, err := state.Get[state.ContainerInstance](ctx, s.cfg.Store, state.ContainerInstanceKey(cluster, req.InstanceID))
		if err != nil {
			return err
		}
		in := inst.Value
		mv, err := scheduler.MovePorts(scheduler.Instance{
			UsedTCP:      sortedSet(in.Registered.Ports, in.Used.Ports),
			UsedUDP:      sortedSet(in.Registered.PortsUDP, in.Used.PortsUDP),
			DynamicPorts: scheduler.PortRange{From: in.DynamicPorts[0], To: in.DynamicPorts[1]},
		}, ms, task.HostPorts[req.Container], req.Busy, newRand())
		if err != nil {
			return &httpError{http.StatusConflict, "task " + req.TaskID + " container " + req.Container + ": " + err.Error()}
		}
		task.HostPorts = maps.Clone(task.HostPorts)
		task.HostPorts[req.Container] = mv.HostPorts
		task.Holds = movePorts(task.Holds, mv)
		in.Used = movePorts(in.Used, mv)
		in.Version++
		tb, err := state.Encode(task)
		if err != nil {
			return err
		}
		ib, err := state.Encode(in)
		if err != nil {
			return err
		}
		_, err = s.cfg.Store.Txn(ctx,
			[]store.Cond{{Key: t.Key, ModRevision: t.ModRevision}, {Key: inst.Key, ModRevision: inst.ModRevision}},
			[]store.Op{store.Put(t.Key, tb), store.Put(inst.Key, ib)})
		if err != nil {
			return err
		}
		s.log.Info("task's host ports were taken on its host; moved", "cluster", cluster, "task", req.TaskID,
			"container", req.Container, "freed", slices.Concat(mv.FreedTCP, mv.FreedUDP), "taken", slices.Concat(mv.TakenTCP, mv.TakenUDP))
		out.HostPorts = mv.HostPorts
		return nil
	})
	return out, err
}

// movePorts returns r with a move's freed host ports given back and its
// taken ones added.
func movePorts(r state.Resources, mv scheduler.PortMove) state.Resources {
	r.Ports = append(removeAll(r.Ports, mv.FreedTCP), mv.TakenTCP...)
	r.PortsUDP = append(removeAll(r.PortsUDP, mv.FreedUDP), mv.TakenUDP...)
	return r
}

// sortedSet is the sorted set of the ports of a and b.
func sortedSet(a, b []int) []int {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func newRand() *rand.Rand {
	var b [16]byte
	crand.Read(b[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
}
