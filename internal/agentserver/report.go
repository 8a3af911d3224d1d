package agentserver

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
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
	if s.cfg.View != nil {
		if err := s.applyReports(r.Context(), rep); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
	for _, tr := range rep.Tasks {
		if err := s.applyReport(r.Context(), rep.InstanceID, tr); err != nil {
			return nil, err
		}
	}
	return struct{}{}, nil
}

// applyReports merges an agent's task reports into the task records, read
// from the cluster view (decoded already), and commits every record that
// changed in one transaction, conditioned on the ModRevision of each record
// it read: a concurrent write makes it read again and retry, never lose
// that write. The view is synced first, so it holds every write committed
// before: a report is compared with the newest record, and one that
// changes nothing writes nothing. When a task reaches STOPPED, what it held
// on the instance is given back and it leaves the instance's index in the
// same transaction.
func (s *Server) applyReports(ctx context.Context, rep agentproto.Report) error {
	now := s.cfg.Clock.Now()
	// The instance's cluster, by cluster name: an older agent does not
	// say, and the index entry of each task tells then.
	clusterOf := func(taskID string) (string, bool, error) {
		if rep.Cluster != "" {
			return rep.Cluster, true, nil
		}
		idx, err := state.Get[state.IndexEntry](ctx, s.cfg.Store, state.InstanceTaskKey(rep.InstanceID, taskID))
		if state.IsNotFound(err) {
			return "", false, nil
		}
		return idx.Value.Cluster, err == nil, err
	}
	type release struct {
		key  string
		rev  int64
		inst state.ContainerInstance
	}
	var changes []taskChange // logged once committed
	err := store.RetryConflicts(ctx, func() error {
		changes = changes[:0]
		if err := s.cfg.View.Sync(ctx); err != nil {
			return err
		}
		var conds []store.Cond
		var ops []store.Op
		releases := map[string]*release{} // by cluster; nil: no record
		for _, tr := range rep.Tasks {
			cluster, ok, err := clusterOf(tr.TaskID)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			it, ok := s.cfg.View.Task(cluster, tr.TaskID)
			if !ok {
				// The view may hold the newest revision only in part
				// (a large transaction being delivered): ask the store.
				var err error
				if it, cluster, err = s.findTask(ctx, rep.InstanceID, tr.TaskID); err != nil {
					return err
				}
				ok = it.ModRevision != 0
			}
			if !ok || it.Value.InstanceID != rep.InstanceID {
				continue // not on this instance (any more): a stale report
			}
			task := it.Value
			if !Apply(&task, tr, now) {
				continue
			}
			changes = append(changes, taskChange{from: it.Value.Task.LastStatus, task: task})
			conds = append(conds, store.Cond{Key: it.Key, ModRevision: it.ModRevision})
			if task.Task.LastStatus == "STOPPED" && !task.Released {
				rel, seen := releases[cluster]
				if !seen {
					if in, ok := s.cfg.View.Instance(cluster, rep.InstanceID); ok {
						rel = &release{key: in.Key, rev: in.ModRevision, inst: in.Record}
					} else {
						in, err := state.Get[state.ContainerInstance](ctx, s.cfg.Store, state.ContainerInstanceKey(cluster, rep.InstanceID))
						if err != nil && !state.IsNotFound(err) {
							return err
						}
						if err == nil {
							rel = &release{key: in.Key, rev: in.ModRevision, inst: in.Value}
						}
					}
					releases[cluster] = rel
				}
				if rel != nil {
					rel.inst.Used = Release(rel.inst.Used, task.Holds)
				}
				task.Released = true
				ops = append(ops, store.Delete(state.InstanceTaskKey(rep.InstanceID, task.ID)))
			}
			b, err := state.Encode(task)
			if err != nil {
				return err
			}
			ops = append(ops, store.Put(it.Key, b))
		}
		for _, rel := range releases {
			if rel == nil {
				continue
			}
			rel.inst.Version++
			b, err := state.Encode(rel.inst)
			if err != nil {
				return err
			}
			conds = append(conds, store.Cond{Key: rel.key, ModRevision: rel.rev})
			ops = append(ops, store.Put(rel.key, b))
		}
		if len(ops) == 0 {
			return nil
		}
		_, err := s.cfg.Store.Txn(ctx, conds, ops)
		return err
	})
	if err == nil {
		s.logTaskChanges(changes)
	}
	return err
}

// applyReport merges one task report into the task record. When the task
// reaches STOPPED, what it held on the instance is given back and the task
// leaves the instance's index, in the same transaction.
func (s *Server) applyReport(ctx context.Context, instanceID string, tr agentproto.TaskReport) error {
	var change []taskChange // logged once committed
	err := store.RetryConflicts(ctx, func() error {
		change = nil
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
		change = []taskChange{{from: t.Value.Task.LastStatus, task: task}}
		return err
	})
	if err == nil {
		s.logTaskChanges(change)
	}
	return err
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
//
// Apply never writes into the slices the task shares (a task read from the
// cluster view shares them with the view): it replaces the containers and
// attachments it changes with copies.
func Apply(t *state.Task, tr agentproto.TaskReport, now time.Time) bool {
	have, got := core.ParseTaskStatus(t.Task.LastStatus), tr.LastStatus
	if !have.MayBecome(got) {
		return false
	}
	changed := false
	task := &t.Task
	setString := func(dst *string, v string) {
		if *dst != v {
			*dst, changed = v, true
		}
	}
	ts := func(dst *shape.Timestamp, v time.Time) {
		if dst.IsZero() && !v.IsZero() {
			*dst, changed = shape.NewTimestamp(v), true
		}
	}
	setString(&task.LastStatus, got.String())
	ts(&task.PullStartedAt, tr.PullStartedAt)
	ts(&task.PullStoppedAt, tr.PullStoppedAt)
	if got >= core.TaskRunning {
		ts(&task.StartedAt, tr.StartedAt)
		if task.Connectivity == "" {
			task.Connectivity, changed = ecstypes.ConnectivityConnected, true
			task.ConnectivityAt = shape.NewTimestamp(now)
		}
	}
	if tr.StopCode != "" && task.StopCode == "" {
		task.StopCode, task.StoppedReason, changed = tr.StopCode, tr.StoppedReason, true
	}
	if got.Stopping() || tr.StopCode != "" {
		setString(&task.DesiredStatus, core.TaskStopped.String())
		ts(&task.StoppingAt, now)
	}
	if got.Terminal() {
		ts(&task.ExecutionStoppedAt, tr.ExecutionStoppedAt)
		ts(&task.ExecutionStoppedAt, now)
		ts(&task.StoppedAt, now)
	}
	if tr.HealthStatus != "" && task.HealthStatus != tr.HealthStatus {
		task.HealthStatus, changed = tr.HealthStatus, true
	}
	copied := false // task.Containers is a copy of its own
	for _, cr := range tr.Containers {
		for i := range task.Containers {
			c := task.Containers[i]
			if c.Name != cr.Name {
				continue
			}
			// A container's report may move it back (it restarts)
			// but not out of STOPPED.
			if core.ParseTaskStatus(c.LastStatus).Terminal() && !cr.LastStatus.Terminal() {
				continue
			}
			if !mergeContainer(&c, cr) {
				continue
			}
			if !copied {
				task.Containers, copied = slices.Clone(task.Containers), true
			}
			task.Containers[i], changed = c, true
		}
	}
	if tr.PrivateIPv4 != "" && setENIDetails(t, tr) {
		changed = true
	}
	if !changed {
		return false
	}
	task.Version++
	return true
}

// mergeContainer merges a container report into c and reports whether it
// changed. Slices are replaced, never written into.
func mergeContainer(c *ecstypes.Container, cr agentproto.ContainerReport) bool {
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	if c.LastStatus != cr.LastStatus.String() {
		c.LastStatus, changed = cr.LastStatus.String(), true
	}
	set(&c.RuntimeId, cr.RuntimeID)
	set(&c.ImageDigest, cr.ImageDigest)
	if cr.ExitCode != nil && (c.ExitCode == nil || *c.ExitCode != *cr.ExitCode) {
		c.ExitCode, changed = new(*cr.ExitCode), true
	}
	set(&c.Reason, cr.Reason)
	if cr.HealthStatus != "" && c.HealthStatus != cr.HealthStatus {
		c.HealthStatus, changed = cr.HealthStatus, true
	}
	if cr.NetworkBindings != nil && !slices.EqualFunc(c.NetworkBindings, cr.NetworkBindings, bindingEqual) {
		c.NetworkBindings, changed = cr.NetworkBindings, true
	}
	return changed
}

func bindingEqual(a, b ecstypes.NetworkBinding) bool {
	return a.BindIP == b.BindIP && ptrEqual(a.ContainerPort, b.ContainerPort) && ptrEqual(a.HostPort, b.HostPort) &&
		a.Protocol == b.Protocol && a.ContainerPortRange == b.ContainerPortRange && a.HostPortRange == b.HostPortRange
}

func ptrEqual[T comparable](a, b *T) bool {
	return a == b || (a != nil && b != nil && *a == *b)
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
// interfaces as ECS reports them, and reports whether anything changed. It
// replaces the slices it changes with copies.
func setENIDetails(t *state.Task, tr agentproto.TaskReport) bool {
	changed := false
	ni := []ecstypes.NetworkInterface{{AttachmentId: attachmentID(t), PrivateIpv4Address: tr.PrivateIPv4}}
	for i := range t.Task.Containers {
		if !slices.Equal(t.Task.Containers[i].NetworkInterfaces, ni) {
			if !changed {
				t.Task.Containers = slices.Clone(t.Task.Containers)
			}
			t.Task.Containers[i].NetworkInterfaces, changed = ni, true
		}
	}
	attsCopied := false
	for i := range t.Task.Attachments {
		a := t.Task.Attachments[i]
		if a.Type != "ElasticNetworkInterface" {
			continue
		}
		aChanged := false
		set := func(name, value string) {
			if value == "" {
				return
			}
			for j := range a.Details {
				if a.Details[j].Name == name {
					if a.Details[j].Value != value {
						if !aChanged {
							a.Details = slices.Clone(a.Details)
						}
						a.Details[j].Value, aChanged = value, true
					}
					return
				}
			}
			if !aChanged {
				a.Details = slices.Clone(a.Details)
			}
			a.Details, aChanged = append(a.Details, ecstypes.KeyValuePair{Name: name, Value: value}), true
		}
		set("privateIPv4Address", tr.PrivateIPv4)
		set("macAddress", tr.MACAddress)
		set("subnetId", tr.SubnetCIDR)
		if a.Status != "ATTACHED" {
			a.Status, aChanged = "ATTACHED", true
		}
		if aChanged {
			if !attsCopied {
				t.Task.Attachments, attsCopied = slices.Clone(t.Task.Attachments), true
			}
			t.Task.Attachments[i], changed = a, true
		}
	}
	return changed
}
