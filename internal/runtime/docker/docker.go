// Package docker is the Runtime on Docker Engine, through the official
// Docker Go client with API version negotiation (it works down to API 1.41,
// Docker 20.10). It maps ECS container definitions to Docker's create
// request (config.go), runs awsvpc tasks in a pause container on minato's
// own bridge network (network.go) whose image it synthesizes without a
// registry (pause.go), and maps Docker's state and events back.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/minato-project/minato/internal/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Defaults for the awsvpc task network and the pause image.
const (
	DefaultTaskNetwork = "minato-tasks"
	DefaultPauseImage  = "minato/pause:1"
)

// Runtime runs containers on Docker Engine. It is safe for concurrent use.
type Runtime struct {
	cli        *client.Client
	ownClient  bool
	log        *slog.Logger
	netName    string
	netSubnet  string
	pauseImage string

	mu       sync.Mutex
	hostCPUs int                 // 0 until Info answered
	used     map[string]struct{} // image IDs EnsureImage made available
	epNet    string              // the task endpoint network, once made (endpoints.go)
}

// Option configures New.
type Option func(*Runtime)

// WithClient uses cli instead of a client from the environment (DOCKER_HOST
// and friends). The caller keeps ownership: Close leaves it open.
func WithClient(cli *client.Client) Option {
	return func(r *Runtime) { r.cli, r.ownClient = cli, false }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(r *Runtime) { r.log = l } }

// WithTaskNetwork names the bridge network for awsvpc tasks (default
// DefaultTaskNetwork) and, if subnet is not "", its CIDR; otherwise Docker
// picks a free one.
func WithTaskNetwork(name, subnet string) Option {
	return func(r *Runtime) { r.netName, r.netSubnet = name, subnet }
}

// WithPauseImage sets the reference under which the pause image is built
// (default DefaultPauseImage).
func WithPauseImage(ref string) Option { return func(r *Runtime) { r.pauseImage = ref } }

// New returns a Runtime. Without WithClient it connects as the docker CLI
// does (DOCKER_HOST, DOCKER_CERT_PATH, ...). It negotiates the API version
// with the engine (down to 1.41, Docker 20.10) before returning.
func New(opts ...Option) (*Runtime, error) {
	r := &Runtime{
		log:        slog.New(slog.DiscardHandler),
		netName:    DefaultTaskNetwork,
		pauseImage: DefaultPauseImage,
		used:       map[string]struct{}{},
	}
	for _, o := range opts {
		o(r)
	}
	if r.cli == nil {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, fmt.Errorf("docker client: %w", err)
		}
		r.cli, r.ownClient = cli, true
	}
	// Negotiate the API version now: the client negotiates lazily on first
	// use otherwise, and that races with concurrent requests. An engine
	// that is down is not an error here; the client tries again later.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.cli.NegotiateAPIVersion(ctx)
	return r, nil
}

// Client returns the Docker client, for what the Runtime interface does not
// cover (logs, exec, stats).
func (r *Runtime) Client() *client.Client { return r.cli }

// Close closes the client if New made it.
func (r *Runtime) Close() error {
	if r.ownClient {
		return r.cli.Close()
	}
	return nil
}

// Info describes the engine's host.
func (r *Runtime) Info(ctx context.Context) (runtime.HostInfo, error) {
	info, err := r.cli.Info(ctx)
	if err != nil {
		return runtime.HostInfo{}, fmt.Errorf("docker info: %w", err)
	}
	r.mu.Lock()
	r.hostCPUs = info.NCPU
	r.mu.Unlock()
	return runtime.HostInfo{
		CPUs:      info.NCPU,
		MemoryMiB: info.MemTotal / mib,
		OS:        info.OSType,
		Arch:      info.Architecture,
		Version:   info.ServerVersion,
	}, nil
}

func (r *Runtime) cpus(ctx context.Context) int {
	r.mu.Lock()
	n := r.hostCPUs
	r.mu.Unlock()
	if n == 0 {
		if info, err := r.Info(ctx); err == nil {
			n = info.CPUs
		}
	}
	return n
}

// CreateContainer creates the task volumes the container mounts (if they
// do not exist yet) and the container.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	vols, err := r.resolveVolumes(ctx, spec)
	if err != nil {
		return "", err
	}
	dc, err := buildConfig(spec, vols, r.cpus(ctx))
	if err != nil {
		return "", err
	}
	resp, err := r.cli.ContainerCreate(ctx, dc.config, dc.host, dc.network, nil, spec.Name)
	if err != nil {
		if cerrdefs.IsNotFound(err) && strings.Contains(strings.ToLower(err.Error()), "image") {
			return "", &imageError{msg: err.Error(), err: err}
		}
		return "", fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	for _, w := range resp.Warnings {
		r.log.Warn("docker create warning", "container", spec.Name, "warning", w)
	}
	if spec.NetworkMode == "" || spec.NetworkMode == "bridge" {
		if err := r.connectEndpoints(ctx, resp.ID); err != nil {
			_ = r.cli.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
			return "", err
		}
	}
	return resp.ID, nil
}

// StartContainer starts a created container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		err = containerErr("start", id, err)
		if pe := portInUse(err); pe != nil {
			return pe
		}
		return err
	}
	return nil
}

// portInUseRe matches Docker's two ways of saying that a host port is
// taken: its userland proxy could not bind it ("listen tcp4
// 0.0.0.0:8080: bind: address already in use"), or another container
// holds it ("Bind for 0.0.0.0:8080 failed: port is already allocated").
var portInUseRe = regexp.MustCompile(`listen (tcp|udp)[46]? \S*:(\d+): bind: address already in use|Bind for \S*:(\d+) failed: port is already allocated`)

// portInUse returns a *runtime.PortInUseError for a start error that says
// a host port is taken, or nil.
func portInUse(err error) *runtime.PortInUseError {
	m := portInUseRe.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	pe := &runtime.PortInUseError{Protocol: m[1], Err: err}
	pe.HostPort, _ = strconv.Atoi(m[2] + m[3])
	return pe
}

// StopContainer stops a container: its stop signal, then SIGKILL after
// timeout (rounded up to whole seconds, as Docker counts them).
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(math.Ceil(max(timeout, 0).Seconds()))
	if err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return containerErr("stop", id, err)
	}
	return nil
}

// RemoveContainer force-removes a container with its anonymous volumes,
// then the task-scoped volumes it mounted that no other container uses.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	c, err := r.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return containerErr("remove", id, err)
	}
	err = r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !removing(err) {
		return containerErr("remove", id, err)
	}
	r.removeTaskVolumes(ctx, c.Mounts)
	return nil
}

// Inspect returns a container's state.
func (r *Runtime) Inspect(ctx context.Context, id string) (runtime.ContainerState, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.ContainerState{}, containerErr("inspect", id, err)
	}
	st := stateOf(c)
	if c.HostConfig != nil && c.HostConfig.NetworkMode.IsContainer() {
		if nc, err := r.cli.ContainerInspect(ctx, c.HostConfig.NetworkMode.ConnectedContainer()); err == nil {
			st.IPv4 = ipOf(nc)
		}
	}
	return st, nil
}

// List returns the states of all containers (running or not) that carry
// every given label.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]runtime.ContainerState, 0, len(cs))
	byID := map[string]container.InspectResponse{}
	for _, s := range cs {
		c, err := r.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		byID[c.ID] = c
		out = append(out, stateOf(c))
	}
	// A container in another's network namespace has the address of that
	// one (an awsvpc task's pause container).
	for i, st := range out {
		c := byID[st.ID]
		if c.HostConfig == nil || !c.HostConfig.NetworkMode.IsContainer() {
			continue
		}
		nid := c.HostConfig.NetworkMode.ConnectedContainer()
		nc, ok := byID[nid]
		if !ok {
			if nc, err = r.cli.ContainerInspect(ctx, nid); err != nil {
				continue
			}
			byID[nid] = nc
		}
		out[i].IPv4 = ipOf(nc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// stateOf maps Docker's inspect output to a ContainerState.
func stateOf(c container.InspectResponse) runtime.ContainerState {
	st := runtime.ContainerState{Health: runtime.HealthUnknown}
	if c.ContainerJSONBase != nil {
		st.ID = c.ID
		st.Name = strings.TrimPrefix(c.Name, "/")
		st.ImageID = c.Image
		if s := c.State; s != nil {
			st.Created = s.Status == container.StateCreated
			st.Running = s.Running
			st.OOMKilled = s.OOMKilled
			st.Error = s.Error
			st.StartedAt = dockerTime(s.StartedAt)
			st.FinishedAt = dockerTime(s.FinishedAt)
			if s.Status == container.StateExited || s.Status == container.StateDead {
				code := s.ExitCode
				st.ExitCode = &code
			}
			if s.Health != nil {
				switch s.Health.Status {
				case container.Healthy:
					st.Health = runtime.HealthHealthy
				case container.Unhealthy:
					st.Health = runtime.HealthUnhealthy
				}
			}
		}
	}
	if c.Config != nil {
		st.Image = c.Config.Image
		st.Labels = c.Config.Labels
	}
	if c.NetworkSettings != nil {
		st.Ports = sortedPorts(c.NetworkSettings.Ports)
	}
	st.IPv4 = ipOf(c)
	return st
}

// ipOf is a container's IPv4 address: on the default bridge, else on its
// first network by name.
func ipOf(c container.InspectResponse) string {
	ns := c.NetworkSettings
	if ns == nil {
		return ""
	}
	if ep := ns.Networks["bridge"]; ep != nil && ep.IPAddress != "" {
		return ep.IPAddress
	}
	names := make([]string, 0, len(ns.Networks))
	for n := range ns.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ep := ns.Networks[n]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress
		}
	}
	return ""
}

func dockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// removing reports Docker's refusal to remove a container that another
// caller is removing already: the container is going, as asked.
func removing(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// containerErr wraps a Docker error about a container; "no such container"
// becomes runtime.ErrNotFound.
func containerErr(op, id string, err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s container %q: %w", op, id, runtime.ErrNotFound)
	}
	return fmt.Errorf("%s container %q: %w", op, id, err)
}

// Events streams Docker's events for minato-managed containers. The event
// channel closes when the stream ends; the error channel then carries one
// error (ctx's, when ctx ended).
func (r *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event, 64)
	errc := make(chan error, 1)
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", runtime.LabelManaged+"=true"),
	)
	for _, a := range []events.Action{events.ActionStart, events.ActionDie, events.ActionHealthStatus, events.ActionOOM, events.ActionDestroy} {
		f.Add("event", string(a))
	}
	ctx, cancel := context.WithCancel(ctx)
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: f})
	go func() {
		defer cancel()
		defer close(out)
		for {
			select {
			case m := <-msgs:
				ev, ok := eventOf(m)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			case err := <-errs:
				if err == nil {
					err = errors.New("docker events: stream ended")
				}
				errc <- err
				return
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	return out, errc
}

// eventOf maps a Docker container event. Docker mixes a container's labels
// with its own attributes (name, image, exitCode), so only minato's labels
// are kept.
func eventOf(m events.Message) (runtime.Event, bool) {
	var t runtime.EventType
	switch {
	case m.Action == events.ActionStart:
		t = runtime.EventStart
	case m.Action == events.ActionDie:
		t = runtime.EventDie
	case strings.HasPrefix(string(m.Action), string(events.ActionHealthStatus)):
		t = runtime.EventHealth
	case m.Action == events.ActionOOM:
		t = runtime.EventOOM
	case m.Action == events.ActionDestroy:
		t = runtime.EventRemove
	default:
		return runtime.Event{}, false
	}
	lbl := map[string]string{}
	for k, v := range m.Actor.Attributes {
		if strings.HasPrefix(k, "minato.") {
			lbl[k] = v
		}
	}
	return runtime.Event{Type: t, ContainerID: m.Actor.ID, Labels: lbl, Time: time.Unix(0, m.TimeNano)}, true
}

// subnetOf returns the network prefix of ip/bits, e.g. "172.30.0.0/16".
func subnetOf(ip string, bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || bits <= 0 {
		return ""
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}
