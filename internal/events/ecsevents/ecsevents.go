// Package ecsevents turns a committed change of an ECS record into the
// events ECS emits for it, in the shapes the ECS documentation gives
// ("Amazon ECS events"): it is pure, old record and new record in, events
// out.
//
//   - a task record: "ECS Task State Change" when the task is new or its
//     version moved (every status change moves it); detail is the task as
//     DescribeTasks renders it, with updatedAt.
//   - a container instance record: "ECS Container Instance State
//     Change" when it is new, its version moved (resources taken or given
//     back) or its status changed.
//   - a service record: "ECS Deployment State Change" when a deployment
//     appears (SERVICE_DEPLOYMENT_IN_PROGRESS) or its rolloutState
//     becomes COMPLETED or FAILED; "ECS Service Action" when the service
//     reaches a steady state (SERVICE_STEADY_STATE), records that it
//     cannot start tasks (SERVICE_TASK_START_IMPAIRED) or that it cannot
//     place one (SERVICE_TASK_PLACEMENT_FAILURE, with the reasons).
package ecsevents

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

// Detail types and the source.
const (
	Source                 = "aws.ecs"
	TaskStateChange        = "ECS Task State Change"
	InstanceStateChange    = "ECS Container Instance State Change"
	DeploymentStateChange  = "ECS Deployment State Change"
	ServiceAction          = "ECS Service Action"
	impairedMessagePattern = "is unable to consistently start tasks successfully"
	unplacedMessagePattern = "was unable to place a task"
)

// Maker makes the events of changes committed at Now.
type Maker struct {
	Scope arn.Scope
	Now   time.Time
	// NewID makes event IDs.
	NewID func() string
}

// Watched reports whether a change of key can make events, so that a
// caller reads the old record only for those keys.
func Watched(key string) bool {
	if _, _, ok := state.ParseTaskKey(key); ok {
		return true
	}
	if _, _, ok := state.ParseContainerInstanceKey(key); ok {
		return true
	}
	_, _, ok := state.ParseServiceKey(key)
	return ok
}

// Changes returns the events of the change of key from old to new (nil:
// absent). Deletions make none: ECS records a task's or instance's end as
// a status before the record goes.
func (m Maker) Changes(key string, old, new []byte) ([]events.Event, error) {
	if new == nil {
		return nil, nil
	}
	if _, _, ok := state.ParseTaskKey(key); ok {
		return m.task(old, new)
	}
	if _, _, ok := state.ParseContainerInstanceKey(key); ok {
		return m.instance(old, new)
	}
	if _, _, ok := state.ParseServiceKey(key); ok {
		return m.service(old, new)
	}
	return nil, nil
}

func (m Maker) envelope(detailType string, resources []string, detail any) (events.Event, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return events.Event{}, err
	}
	return events.Event{Version: "0", ID: events.UUID(m.NewID()), DetailType: detailType, Source: Source,
		Account: m.Scope.AccountID, Time: events.FormatTime(m.Now), Region: m.Scope.Region, Resources: resources, Detail: b}, nil
}

func (m Maker) task(old, new []byte) ([]events.Event, error) {
	var t state.Task
	if err := json.Unmarshal(new, &t); err != nil {
		return nil, err
	}
	if old != nil {
		var o state.Task
		if err := json.Unmarshal(old, &o); err != nil {
			return nil, err
		}
		if o.Task.Version == t.Task.Version && o.Task.LastStatus == t.Task.LastStatus && o.Task.DesiredStatus == t.Task.DesiredStatus {
			return nil, nil
		}
	}
	task := RenderTask(m.Scope, t)
	detail := taskDetail{Task: task, UpdatedAt: isoTime(m.Now),
		ConnectivityAt: isoTS(task.ConnectivityAt), CreatedAt: isoTS(task.CreatedAt), ExecutionStoppedAt: isoTS(task.ExecutionStoppedAt),
		PullStartedAt: isoTS(task.PullStartedAt), PullStoppedAt: isoTS(task.PullStoppedAt), StartedAt: isoTS(task.StartedAt),
		StoppedAt: isoTS(task.StoppedAt), StoppingAt: isoTS(task.StoppingAt)}
	ev, err := m.envelope(TaskStateChange, []string{task.TaskArn}, detail)
	if err != nil {
		return nil, err
	}
	return []events.Event{ev}, nil
}

// taskDetail is a task as its event shows it: the timestamps, which the
// API sends as epoch seconds, as ISO 8601 text (these fields, shallower
// than the embedded task's, take their JSON names).
type taskDetail struct {
	ecstypes.Task
	ConnectivityAt     string `json:"connectivityAt,omitempty"`
	CreatedAt          string `json:"createdAt,omitempty"`
	ExecutionStoppedAt string `json:"executionStoppedAt,omitempty"`
	PullStartedAt      string `json:"pullStartedAt,omitempty"`
	PullStoppedAt      string `json:"pullStoppedAt,omitempty"`
	StartedAt          string `json:"startedAt,omitempty"`
	StoppedAt          string `json:"stoppedAt,omitempty"`
	StoppingAt         string `json:"stoppingAt,omitempty"`
	UpdatedAt          string `json:"updatedAt"`
}

func isoTS(ts shape.Timestamp) string {
	if ts.IsZero() {
		return ""
	}
	return isoTime(ts.Time())
}

// RenderTask fills in the ARNs of a task record, as DescribeTasks
// renders it.
func RenderTask(scope arn.Scope, t state.Task) ecstypes.Task {
	out := t.Task
	out.TaskArn = scope.New("ecs", "task/"+t.Cluster+"/"+t.ID)
	out.ClusterArn = scope.New("ecs", "cluster/"+t.Cluster)
	out.TaskDefinitionArn = scope.New("ecs", "task-definition/"+t.Family+":"+itoa(int64(t.Revision)))
	if t.InstanceID != "" && !t.OnPool() {
		out.ContainerInstanceArn = scope.New("ecs", "container-instance/"+t.Cluster+"/"+t.InstanceID)
	}
	out.Containers = slices.Clone(t.Task.Containers)
	for i := range out.Containers {
		out.Containers[i].TaskArn = out.TaskArn
		if i < len(t.ContainerIDs) {
			out.Containers[i].ContainerArn = scope.New("ecs", "container/"+t.Cluster+"/"+t.ID+"/"+t.ContainerIDs[i])
		}
	}
	return out
}

func (m Maker) instance(old, new []byte) ([]events.Event, error) {
	var ci state.ContainerInstance
	if err := json.Unmarshal(new, &ci); err != nil {
		return nil, err
	}
	if old != nil {
		var o state.ContainerInstance
		if err := json.Unmarshal(old, &o); err != nil {
			return nil, err
		}
		if o.Version == ci.Version && o.Status == ci.Status {
			return nil, nil
		}
	}
	instARN := m.Scope.New("ecs", "container-instance/"+ci.Cluster+"/"+ci.ID)
	detail := map[string]any{
		"agentConnected":       ci.Status != "INACTIVE",
		"attributes":           orEmpty(ci.Attributes),
		"clusterArn":           m.Scope.New("ecs", "cluster/"+ci.Cluster),
		"containerInstanceArn": instARN,
		"ec2InstanceId":        ci.EC2InstanceID,
		"registeredResources":  resources(ci.Registered),
		"remainingResources":   resources(remaining(ci.Registered, ci.Used)),
		"status":               ci.Status,
		"version":              ci.Version,
		"versionInfo":          map[string]string{"agentVersion": ci.AgentVersion, "dockerVersion": ci.DockerVer},
		"updatedAt":            isoTime(m.Now),
	}
	if ci.StatusReason != "" {
		detail["statusReason"] = ci.StatusReason
	}
	ev, err := m.envelope(InstanceStateChange, []string{instARN}, detail)
	if err != nil {
		return nil, err
	}
	return []events.Event{ev}, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func remaining(reg, used state.Resources) state.Resources {
	r := reg
	r.CPU -= used.CPU
	r.MemoryMiB -= used.MemoryMiB
	r.Ports = append(slices.Clone(reg.Ports), used.Ports...)
	r.PortsUDP = append(slices.Clone(reg.PortsUDP), used.PortsUDP...)
	return r
}

// resources renders resources as ECS's Resource list (PORTS lists the
// ports taken, as ECS does in remainingResources).
func resources(r state.Resources) []map[string]any {
	ports := func(ps []int) []string {
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, itoa(int64(p)))
		}
		return out
	}
	return []map[string]any{
		{"name": "CPU", "type": "INTEGER", "integerValue": r.CPU},
		{"name": "MEMORY", "type": "INTEGER", "integerValue": r.MemoryMiB},
		{"name": "PORTS", "type": "STRINGSET", "stringSetValue": ports(r.Ports)},
		{"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": ports(r.PortsUDP)},
	}
}

func (m Maker) service(old, new []byte) ([]events.Event, error) {
	var s state.Service
	if err := json.Unmarshal(new, &s); err != nil {
		return nil, err
	}
	var o state.Service
	if old != nil {
		if err := json.Unmarshal(old, &o); err != nil {
			return nil, err
		}
	}
	svcARN := m.Scope.New("ecs", "service/"+s.Cluster+"/"+s.Name)
	clusterARN := m.Scope.New("ecs", "cluster/"+s.Cluster)
	var out []events.Event
	add := func(detailType string, detail map[string]any) error {
		ev, err := m.envelope(detailType, []string{svcARN}, detail)
		if err == nil {
			out = append(out, ev)
		}
		return err
	}
	prev := map[string]ecstypes.DeploymentRolloutState{}
	for _, d := range o.Service.Deployments {
		prev[d.Id] = d.RolloutState
	}
	for _, d := range s.Service.Deployments {
		was, seen := prev[d.Id]
		if seen && was == d.RolloutState {
			continue
		}
		var name, typ, reason string
		switch {
		case !seen && (d.RolloutState == ecstypes.DeploymentRolloutStateInProgress || d.RolloutState == ""):
			name, typ, reason = "SERVICE_DEPLOYMENT_IN_PROGRESS", "INFO", "ECS deployment "+d.Id+" in progress."
		case d.RolloutState == ecstypes.DeploymentRolloutStateCompleted:
			name, typ, reason = "SERVICE_DEPLOYMENT_COMPLETED", "INFO", "ECS deployment "+d.Id+" completed."
		case d.RolloutState == ecstypes.DeploymentRolloutStateFailed:
			name, typ, reason = "SERVICE_DEPLOYMENT_FAILED", "ERROR", d.RolloutStateReason
			if reason == "" {
				reason = "ECS deployment " + d.Id + " failed."
			}
		default:
			continue
		}
		if err := add(DeploymentStateChange, map[string]any{"eventType": typ, "eventName": name, "deploymentId": d.Id,
			"updatedAt": isoTime(m.Now), "reason": reason}); err != nil {
			return nil, err
		}
	}
	if s.Steady && !o.Steady {
		if err := add(ServiceAction, map[string]any{"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE",
			"clusterArn": clusterARN, "createdAt": isoTime(m.Now)}); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, e := range o.Service.Events {
		seen[e.Id] = true
	}
	for _, e := range s.Service.Events {
		if seen[e.Id] || !strings.Contains(e.Message, impairedMessagePattern) {
			continue
		}
		if err := add(ServiceAction, map[string]any{"eventType": "WARN", "eventName": "SERVICE_TASK_START_IMPAIRED",
			"clusterArn": clusterARN, "createdAt": isoTime(m.Now)}); err != nil {
			return nil, err
		}
	}
	for _, e := range s.Service.Events {
		if seen[e.Id] || !strings.Contains(e.Message, unplacedMessagePattern) {
			continue
		}
		if err := add(ServiceAction, map[string]any{"eventType": "ERROR", "eventName": "SERVICE_TASK_PLACEMENT_FAILURE",
			"clusterArn": clusterARN, "reasons": scheduler.EventReasons(e.Message), "createdAt": isoTime(m.Now)}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
