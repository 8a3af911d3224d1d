package tasks

import (
	"slices"
	"time"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
)

// Report is what an agent observed of one task: the whole state, not a
// change (the agent server converts it from the agent protocol).
type Report struct {
	TaskID string
	// Cluster is the task's cluster, as its assignment named it: another
	// cluster than the instance's for a task of the Fargate pool. ""
	// (an older agent does not say) means the instance's.
	Cluster            string
	LastStatus         core.TaskStatus
	HealthStatus       ecstypes.HealthStatus
	Containers         []ContainerReport
	PullStartedAt      time.Time
	PullStoppedAt      time.Time
	StartedAt          time.Time
	ExecutionStoppedAt time.Time
	// StopCode and StoppedReason, when the agent stopped the task on its
	// own (an essential container exited, the task failed to start).
	StopCode      ecstypes.TaskStopCode
	StoppedReason string
	// PrivateIPv4, MACAddress and SubnetCIDR describe an awsvpc task's
	// network interface.
	PrivateIPv4 string
	MACAddress  string
	SubnetCIDR  string
}

// ContainerReport is what an agent observed of one container.
type ContainerReport struct {
	Name            string
	RuntimeID       string
	ImageDigest     string
	LastStatus      core.TaskStatus // PENDING, RUNNING or STOPPED
	ExitCode        *int32
	Reason          string
	HealthStatus    ecstypes.HealthStatus
	NetworkBindings []ecstypes.NetworkBinding
}

// Apply merges a report into a task and reports whether anything changed.
// Statuses only move forward along the lifecycle (core.TaskStatus.MayBecome);
// a report that would move a task back, or that names no status, is
// ignored, so repeated or reordered reports are harmless.
//
// Apply never writes into the slices the task shares (a task read from the
// cluster view shares them with the view): it replaces the containers and
// attachments it changes with copies.
func Apply(t *state.Task, tr Report, now time.Time) bool {
	have, got := t.LastStatus(), tr.LastStatus
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
func mergeContainer(c *ecstypes.Container, cr ContainerReport) bool {
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
		if a.Type == eniAttachment {
			return a.Id
		}
	}
	return ""
}

// setENIDetails fills the awsvpc attachment and the containers' network
// interfaces as ECS reports them, and reports whether anything changed. It
// replaces the slices it changes with copies.
func setENIDetails(t *state.Task, tr Report) bool {
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
		if a.Type != eniAttachment {
			continue
		}
		aChanged := false
		// keep is set for a detail the launch wrote and the agent must not
		// overwrite: the subnet the caller named.
		set := func(name, value string, keep bool) {
			if value == "" {
				return
			}
			for j := range a.Details {
				if a.Details[j].Name == name {
					if a.Details[j].Value != value && !keep {
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
		set("privateIPv4Address", tr.PrivateIPv4, false)
		set("macAddress", tr.MACAddress, false)
		// The subnet ID is the caller's (networkConfiguration); the
		// agent's subnet CIDR names it only for a task launched without.
		set("subnetId", tr.SubnetCIDR, true)
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
