package agentserver

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// report applies an agent's reports to its task records.
func (s *Server) report(_ http.ResponseWriter, r *http.Request) (any, error) {
	var rep agentproto.Report
	if err := decode(r, &rep); err != nil {
		return nil, err
	}
	s.cfg.Agents.Touch(rep.InstanceID)
	for _, tr := range rep.Tasks {
		if err := s.applyReport(r.Context(), rep.InstanceID, tr); err != nil {
			return nil, err
		}
	}
	return struct{}{}, nil
}

// applyReport merges one task report into the task record. When the task
// reaches STOPPED, what it held on the instance is given back and the task
// leaves the instance's index, in the same transaction.
func (s *Server) applyReport(ctx context.Context, instanceID string, tr agentproto.TaskReport) error {
	return retry(ctx, func() error {
		t, cluster, err := s.findTask(ctx, instanceID, tr.TaskID)
		if err != nil || t.ModRevision == 0 {
			return err
		}
		task := t.Value
		if !Apply(&task, tr, s.cfg.Clock.Now()) {
			return nil
		}
		key := state.TaskKey(cluster, task.ID)
		conds := []store.Cond{{Key: key, ModRevision: t.ModRevision}}
		var ops []store.Op
		if task.Task.LastStatus == "STOPPED" && !task.Released {
			inst, err := state.Get[state.ContainerInstance](ctx, s.cfg.Store, state.ContainerInstanceKey(cluster, instanceID))
			if err != nil && !state.IsNotFound(err) {
				return err
			}
			if err == nil {
				in := inst.Value
				in.Used = Release(in.Used, task.Holds)
				in.Version++
				b, err := state.Encode(in)
				if err != nil {
					return err
				}
				conds = append(conds, store.Cond{Key: inst.Key, ModRevision: inst.ModRevision})
				ops = append(ops, store.Put(inst.Key, b))
			}
			task.Released = true
			ops = append(ops, store.Delete(state.InstanceTaskKey(instanceID, task.ID)))
		}
		b, err := state.Encode(task)
		if err != nil {
			return err
		}
		ops = append(ops, store.Put(key, b))
		_, err = s.cfg.Store.Txn(ctx, conds, ops)
		return err
	})
}

// findTask finds a task of the instance through the instance's index (the
// index entry holds the cluster name). A task that is not on the instance
// any more yields a zero item and no error: the report is stale.
func (s *Server) findTask(ctx context.Context, instanceID, taskID string) (state.Item[state.Task], string, error) {
	idx, err := state.Get[state.IndexEntry](ctx, s.cfg.Store, state.InstanceTaskKey(instanceID, taskID))
	if state.IsNotFound(err) {
		return state.Item[state.Task]{}, "", nil
	}
	if err != nil {
		return state.Item[state.Task]{}, "", err
	}
	t, err := state.Get[state.Task](ctx, s.cfg.Store, state.TaskKey(idx.Value.Cluster, taskID))
	if state.IsNotFound(err) || (err == nil && t.Value.InstanceID != instanceID) {
		return state.Item[state.Task]{}, "", nil
	}
	return t, idx.Value.Cluster, err
}

// Release returns used minus what a task held.
func Release(used, holds state.Resources) state.Resources {
	out := state.Resources{
		CPU:       max(0, used.CPU-holds.CPU),
		MemoryMiB: max(0, used.MemoryMiB-holds.MemoryMiB),
	}
	out.Ports = removeAll(used.Ports, holds.Ports)
	out.PortsUDP = removeAll(used.PortsUDP, holds.PortsUDP)
	return out
}

func removeAll(from, drop []int) []int {
	out := make([]int, 0, len(from))
	for _, p := range from {
		if i := slices.Index(drop, p); i >= 0 {
			drop = slices.Delete(slices.Clone(drop), i, i+1)
			continue
		}
		out = append(out, p)
	}
	return out
}

// Apply merges a report into a task and reports whether anything changed.
// Statuses only move forward along the lifecycle; a report that would move
// a task back is ignored, so repeated or reordered reports are harmless.
func Apply(t *state.Task, tr agentproto.TaskReport, now time.Time) bool {
	have, got := agentproto.StatusRank(t.Task.LastStatus), agentproto.StatusRank(tr.LastStatus)
	if got < 0 || got < have || have == agentproto.StatusRank("STOPPED") {
		return false
	}
	before, _ := state.Encode(t.Task)
	task := &t.Task
	task.LastStatus = tr.LastStatus
	ts := func(dst *shape.Timestamp, v time.Time) {
		if dst.IsZero() && !v.IsZero() {
			*dst = shape.NewTimestamp(v)
		}
	}
	ts(&task.PullStartedAt, tr.PullStartedAt)
	ts(&task.PullStoppedAt, tr.PullStoppedAt)
	if got >= agentproto.StatusRank("RUNNING") {
		ts(&task.StartedAt, tr.StartedAt)
		if task.Connectivity == "" {
			task.Connectivity = ecstypes.ConnectivityConnected
			task.ConnectivityAt = shape.NewTimestamp(now)
		}
	}
	if tr.StopCode != "" && task.StopCode == "" {
		task.StopCode, task.StoppedReason = tr.StopCode, tr.StoppedReason
	}
	if got >= agentproto.StatusRank("DEACTIVATING") || tr.StopCode != "" {
		if task.DesiredStatus != "STOPPED" {
			task.DesiredStatus = "STOPPED"
		}
		ts(&task.StoppingAt, now)
	}
	if tr.LastStatus == "STOPPED" {
		ts(&task.ExecutionStoppedAt, tr.ExecutionStoppedAt)
		ts(&task.ExecutionStoppedAt, now)
		ts(&task.StoppedAt, now)
	}
	if tr.HealthStatus != "" {
		task.HealthStatus = tr.HealthStatus
	}
	for _, cr := range tr.Containers {
		for i := range task.Containers {
			c := &task.Containers[i]
			if c.Name != cr.Name {
				continue
			}
			if agentproto.StatusRank(c.LastStatus) > agentproto.StatusRank(cr.LastStatus) && c.LastStatus == "STOPPED" {
				continue
			}
			c.LastStatus = cr.LastStatus
			c.RuntimeId = orKeep(cr.RuntimeID, c.RuntimeId)
			c.ImageDigest = orKeep(cr.ImageDigest, c.ImageDigest)
			if cr.ExitCode != nil {
				c.ExitCode = cr.ExitCode
			}
			c.Reason = orKeep(cr.Reason, c.Reason)
			if cr.HealthStatus != "" {
				c.HealthStatus = cr.HealthStatus
			}
			if cr.NetworkBindings != nil {
				c.NetworkBindings = cr.NetworkBindings
			}
		}
	}
	if tr.PrivateIPv4 != "" {
		setENIDetails(t, tr)
	}
	after, _ := state.Encode(t.Task)
	if string(before) == string(after) {
		return false
	}
	task.Version++
	return true
}

func orKeep(v, old string) string {
	if v != "" {
		return v
	}
	return old
}

// attachmentID is the ID of an awsvpc task's network interface attachment.
func attachmentID(t *state.Task) string {
	for _, a := range t.Task.Attachments {
		if a.Type == "ElasticNetworkInterface" {
			return a.Id
		}
	}
	return ""
}

// setENIDetails fills the awsvpc attachment and the containers' network
// interfaces as ECS reports them.
func setENIDetails(t *state.Task, tr agentproto.TaskReport) {
	for i := range t.Task.Containers {
		t.Task.Containers[i].NetworkInterfaces = []ecstypes.NetworkInterface{{AttachmentId: attachmentID(t), PrivateIpv4Address: tr.PrivateIPv4}}
	}
	for i := range t.Task.Attachments {
		a := &t.Task.Attachments[i]
		if a.Type != "ElasticNetworkInterface" {
			continue
		}
		set := func(name, value string) {
			if value == "" {
				return
			}
			for j := range a.Details {
				if a.Details[j].Name == name {
					a.Details[j].Value = value
					return
				}
			}
			a.Details = append(a.Details, ecstypes.KeyValuePair{Name: name, Value: value})
		}
		set("privateIPv4Address", tr.PrivateIPv4)
		set("macAddress", tr.MACAddress)
		set("subnetId", tr.SubnetCIDR)
		a.Status = "ATTACHED"
	}
}
