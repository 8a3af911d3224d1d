package ecs

import (
	"context"
	"strings"
	"unicode"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/execsession"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

// Exec opens ECS Exec sessions (internal/execsession).
type Exec interface {
	Open(r execsession.Request) execsession.Session
}

var _ Exec = (*execsession.Manager)(nil)

// errExecNotEnabled is ECS's answer when a task was not run with
// enableExecuteCommand, or its exec agent is not running.
const errExecNotEnabled = "The execute command failed because execute command was not enabled when the task was run " +
	"or the execute command agent isn’t running. Wait and try again or run a new task with execute command enabled and try again."

// ExecuteCommand opens a session that runs a command in a container of a
// RUNNING task started with enableExecuteCommand. The answer's streamUrl
// and tokenValue are for the session-manager-plugin (or `minato exec`).
func (a *API) ExecuteCommand(ctx context.Context, c *awsproto.Call, in *ecstypes.ExecuteCommandRequest) (*ecstypes.ExecuteCommandResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if a.exec == nil {
		return nil, core.Errorf(core.KindInvalid, ecstypes.ErrCodeTargetNotConnectedException, "ECS Exec is not enabled on this server.")
	}
	if !in.Interactive {
		return nil, invalidParam("Interactive is the only mode supported currently.")
	}
	argv := splitCommand(in.Command)
	if len(argv) == 0 {
		return nil, invalidParam("command must not be empty.")
	}
	refCluster, id, err := taskRef(in.Task)
	if err != nil {
		return nil, err
	}
	clusterRef := in.Cluster
	if clusterRef == "" {
		clusterRef = refCluster
	}
	cluster, err := clusterName(clusterRef)
	if err != nil {
		return nil, err
	}
	if _, err := a.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	it, err := state.Get[state.Task](ctx, a.store, state.TaskKey(cluster, id))
	if state.IsNotFound(err) {
		return nil, invalidParam("The specified task could not be found.")
	}
	if err != nil {
		return nil, err
	}
	t := it.Value
	if !t.Task.EnableExecuteCommand || t.Task.LastStatus != "RUNNING" || t.Task.DesiredStatus != "RUNNING" {
		return nil, invalidParam(errExecNotEnabled)
	}
	scope := scopeOf(c)
	out := renderTask(scope, t)
	ci := -1
	switch {
	case in.Container != "":
		for i, ct := range out.Containers {
			if ct.Name == in.Container {
				ci = i
			}
		}
		if ci < 0 {
			return nil, invalidParam("The container %s does not exist in the task.", in.Container)
		}
	case len(out.Containers) == 1:
		ci = 0
	default:
		return nil, invalidParam("The container name is required when the task has more than one container.")
	}
	ct := out.Containers[ci]
	if ct.LastStatus != "RUNNING" {
		return nil, invalidParam(errExecNotEnabled)
	}
	if !a.agents.Connected(t.InstanceID) {
		return nil, core.Errorf(core.KindInvalid, ecstypes.ErrCodeTargetNotConnectedException,
			"The execute command failed due to an internal error. Try again later.")
	}
	s := a.exec.Open(execsession.Request{Who: c.Principal.ARN + " (" + c.Principal.AccessKeyID + ")", Cluster: cluster, TaskID: t.ID,
		Instance: t.InstanceID, Container: ct.Name, Command: argv})
	scheme := "ws"
	if c.TLS {
		scheme = "wss"
	}
	return &ecstypes.ExecuteCommandResponse{
		ClusterArn: out.ClusterArn, ContainerArn: ct.ContainerArn, ContainerName: ct.Name, Interactive: true, TaskArn: out.TaskArn,
		Session: &ecstypes.Session{SessionId: s.ID, StreamUrl: scheme + "://" + c.Host + execsession.PathStream + s.ID, TokenValue: s.Token},
	}, nil
}

// splitCommand splits a command line into words as a shell would, with
// single and double quotes and backslash escapes, but no expansion (ECS
// Exec runs the command without a shell).
func splitCommand(s string) []string {
	var out []string
	var w strings.Builder
	in, quote, esc := false, rune(0), false
	for _, r := range s {
		switch {
		case esc:
			w.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, in = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case unicode.IsSpace(r):
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

// managedAgents is what a task run with enableExecuteCommand reports of
// its exec agent on each container: minato's agent runs exec itself, so
// the ExecuteCommandAgent follows the container.
func managedAgents(t state.Task, ct ecstypes.Container) []ecstypes.ManagedAgent {
	if !t.Task.EnableExecuteCommand {
		return ct.ManagedAgents
	}
	status := ct.LastStatus
	if status == "" {
		status = "PENDING"
	}
	return []ecstypes.ManagedAgent{{Name: ecstypes.ManagedAgentNameExecuteCommandAgent, LastStatus: status, LastStartedAt: t.Task.StartedAt}}
}
