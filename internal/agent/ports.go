package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/scheduler"
)

// Host ports. Placement chooses every host port of a bridge task, the
// dynamic ones from the range this agent registers; this agent binds them.
// Two things keep a chosen port from being taken by the time the container
// starts: the range lies outside the kernel's ephemeral port range (the
// source ports of outgoing connections), and a start that still finds a
// port taken (some program listens on it) asks the control plane to move
// the container to other ports and tries again, a few times, before the
// task fails.

// ephemeralPortsFile is where Linux keeps its ephemeral port range.
const ephemeralPortsFile = "/proc/sys/net/ipv4/ip_local_port_range"

// maxPortMoves bounds how often one task's containers move to other host
// ports before the task fails to start.
const maxPortMoves = 5

// portsChoice is the dynamic port range an agent registers and what to log
// about it.
type portsChoice struct {
	r     [2]int
	level slog.Level
	msg   string
}

// chooseDynamicPorts decides the dynamic host port range: given (from
// --dynamic-ports) when set, else the ports outside the kernel's ephemeral
// range, as ip_local_port_range reads (kernel, or readErr when it could
// not be read). A range that overlaps the ephemeral one is a warning:
// the kernel may hand out a port placement chose.
func chooseDynamicPorts(given [2]int, kernel string, readErr error) portsChoice {
	eph, err := parsePortRange(kernel)
	if readErr != nil {
		err = readErr
	}
	if given != [2]int{} {
		r := scheduler.PortRange{From: given[0], To: given[1]}
		if err == nil && r.Overlaps(eph) {
			return portsChoice{given, slog.LevelWarn, fmt.Sprintf("dynamic host ports %s overlap the kernel's ephemeral port range %s "+
				"(net.ipv4.ip_local_port_range): a task may find its port taken and move to another", r, eph)}
		}
		return portsChoice{given, slog.LevelInfo, "dynamic host ports " + r.String()}
	}
	if err != nil {
		r := scheduler.DefaultDynamicPorts
		return portsChoice{[2]int{r.From, r.To}, slog.LevelInfo, fmt.Sprintf("dynamic host ports %s (the kernel's ephemeral port range is unknown: %v)", r, err)}
	}
	r, ok := scheduler.DynamicPortsOutside(eph)
	if !ok {
		return portsChoice{[2]int{r.From, r.To}, slog.LevelWarn, fmt.Sprintf("the kernel's ephemeral port range %s (net.ipv4.ip_local_port_range) leaves fewer than %d ports outside it: "+
			"dynamic host ports are %s, which overlap it, so a task may find its port taken and move to another; "+
			"set --dynamic-ports or narrow net.ipv4.ip_local_port_range", eph, scheduler.MinDynamicPorts, r)}
	}
	return portsChoice{[2]int{r.From, r.To}, slog.LevelInfo, fmt.Sprintf("dynamic host ports %s, outside the kernel's ephemeral port range %s", r, eph)}
}

// parsePortRange reads ip_local_port_range: two port numbers.
func parsePortRange(s string) (scheduler.PortRange, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return scheduler.PortRange{}, fmt.Errorf("ip_local_port_range %q: want two ports", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return scheduler.PortRange{}, fmt.Errorf("ip_local_port_range %q: want two ports, the first not above the second", s)
	}
	return scheduler.PortRange{From: lo, To: hi}, nil
}

// portBindings are the host port bindings of a bridge container: its
// mappings in scheduler.MappingsOf's order, with the host ports placement
// chose (hostPorts, in the same order). A mapping without one keeps its
// static port, or lets the engine pick.
func portBindings(def ecstypes.ContainerDefinition, hostPorts []int) []rt.PortBinding {
	ms, err := scheduler.MappingsOf(def, ecstypes.NetworkModeBridge)
	if err != nil {
		return nil // the task definition was validated; nothing to bind
	}
	out := make([]rt.PortBinding, 0, len(ms))
	for k, m := range ms {
		b := rt.PortBinding{ContainerPort: m.ContainerPort, HostPort: m.HostPort, Protocol: string(m.Protocol)}
		if k < len(hostPorts) {
			b.HostPort = hostPorts[k]
		}
		out = append(out, b)
	}
	return out
}

// busyPorts are the dynamic host ports of container name that a start
// failing with startErr found taken: the one it names, or all of them
// when it names none. None means the ports cannot move (the one taken
// is static).
func (r *runner) busyPorts(name string, startErr error) []int {
	var pe *rt.PortInUseError
	if !errors.As(startErr, &pe) {
		return nil
	}
	ms, err := scheduler.MappingsOf(r.defs[name], r.base.Definition.NetworkMode)
	cur := r.hostPorts[name]
	if err != nil || len(ms) != len(cur) {
		return nil
	}
	var busy []int
	for k, m := range ms {
		if m.HostPort == 0 && (pe.HostPort == 0 || cur[k] == pe.HostPort) {
			busy = append(busy, cur[k])
		}
	}
	return busy
}

// movePorts handles a start of container name that failed with startErr
// because a host port is taken: the control plane moves the container's
// busy dynamic ports to free ones, and the container is created again with
// them. moved is false when the ports cannot move (too many moves, a
// static port, no free port, no answer); reason is then the task's stop
// reason when it is not the start's own error.
func (r *runner) movePorts(ctx context.Context, name string, startErr error) (moved bool, reason string) {
	busy := r.busyPorts(name, startErr)
	if len(busy) == 0 || r.portMoves >= maxPortMoves {
		return false, ""
	}
	r.portMoves++
	log := r.a.log.With("task", r.base.TaskID, "container", name)
	req := agentproto.MovePortsRequest{Cluster: r.base.Cluster, InstanceID: r.a.instance, TaskID: r.base.TaskID, Container: name, Busy: busy}
	var resp agentproto.MovePortsResponse
	for attempt := 0; ; attempt++ {
		err := r.a.client.do(ctx, http.MethodPost, agentproto.PathPorts, req, &resp)
		if err == nil {
			break
		}
		var se *statusError
		if errors.As(err, &se) && se.code < 500 || attempt >= 8 || ctx.Err() != nil {
			log.Warn("host ports taken and not moved", "busy", busy, "err", err)
			return false, ""
		}
		sleep(ctx, backoff(attempt))
	}
	log.Info("host ports taken on this host; the container moves to others", "busy", busy, "hostPorts", resp.HostPorts)
	if err := r.a.cfg.Runtime.RemoveContainer(ctx, r.ids[name]); err != nil {
		return false, "CannotStartContainerError: " + err.Error()
	}
	delete(r.ids, name)
	delete(r.seen, name)
	r.hostPorts[name] = resp.HostPorts
	if reason := r.loadSecrets(ctx); reason != "" {
		return false, reason
	}
	defer func() { r.secrets = nil }()
	id, err := r.a.cfg.Runtime.CreateContainer(ctx, r.spec(name))
	if err != nil {
		return false, "CannotCreateContainerError: " + err.Error()
	}
	r.ids[name] = id
	if reason := r.prepareLogs(ctx, name, id); reason != "" {
		return false, reason
	}
	return true, ""
}
