// Package agent is the host agent: it registers its host with a cluster as
// a container instance, runs the tasks the control plane assigns to it on
// the container runtime, and reports what happens to them. It keeps no
// state of its own beyond its instance ID: after a restart it finds its
// containers by their labels and carries on, and while the control plane is
// away its containers keep running and its reports wait.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
)

// Config says how to run an agent.
type Config struct {
	// Server is the control plane URL, e.g. http://127.0.0.1:7400, or
	// the URLs of several servers separated by commas: the agent talks to
	// one and moves to the next when it does not answer.
	Server  string
	Token   string // join token
	CAFile  string // CA certificate for an https control plane
	Cluster string
	// DataDir keeps the instance ID across restarts.
	DataDir string
	Runtime rt.Runtime
	// AvailabilityZone is reported as ecs.availability-zone.
	AvailabilityZone string
	// Attributes are custom attributes (--attribute k=v).
	Attributes map[string]string
	// ReservedPorts are host ports no task may take (minato's own among them).
	ReservedPorts []int
	// DynamicPorts is the host port range placement chooses dynamic host
	// ports from. Zero: the ports outside the kernel's ephemeral port
	// range (ports.go).
	DynamicPorts [2]int
	// Fargate offers the host's capacity to the Fargate pool: it then
	// runs the FARGATE tasks of every cluster as well as its own
	// cluster's EC2 tasks.
	Fargate bool
	// ReservedMemoryMiB is kept back from the host's memory.
	ReservedMemoryMiB int64
	// Address is where this host's tasks are reached; default: the
	// address used to reach the control plane.
	Address string
	// StopTimeout is the default time between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// CleanupWait is how long stopped containers are kept.
	CleanupWait time.Duration
	// ImageCleanupInterval is how often unused images are removed (0: never).
	ImageCleanupInterval time.Duration
	// ResendInterval is how often the agent sends the state of all its
	// tasks again although nothing changed, so that a report the control
	// plane lost heals; 0 means DefaultResendInterval, negative never.
	// Between those, a task is reported only when its report changes, and
	// on every task after a reconnect or when the control plane asks.
	ResendInterval time.Duration
	Clock          core.Clock
	Logger         *slog.Logger
	// Ready is called with the instance ID once registered.
	Ready func(instanceID string)

	// MetricsInterval is how often the running tasks' CPU and memory use
	// is sampled and reported (metrics.go); 0 means
	// DefaultMetricsInterval, negative never.
	MetricsInterval time.Duration
}

func (c *Config) defaults() {
	if c.Cluster == "" {
		c.Cluster = "default"
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.CleanupWait == 0 {
		c.CleanupWait = 10 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = core.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ResendInterval == 0 {
		c.ResendInterval = DefaultResendInterval
	}
}

// DefaultResendInterval is Config.ResendInterval's default.
const DefaultResendInterval = 60 * time.Second

// DefaultReservedPorts are the ports ECS reserves on every instance.
var DefaultReservedPorts = []int{22, 2375, 2376, 51678, 51679}

// Agent is a running host agent.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	client   *client
	instance string

	mu      sync.Mutex
	runners map[string]*runner // by task ID
	// sent is the newest report of each task handed to the reporter: a
	// report equal to it is not sent again. pending are those the control
	// plane has not accepted yet.
	sent    map[string]agentproto.TaskReport
	pending map[string]agentproto.TaskReport
	kick    chan struct{} // wakes the reporter
	logs    *logShipper   // awslogs containers' output (logs.go)
	// registryHost is the host[:port] of cfg.Server: minato's registry is
	// served there, and images of it are pulled from there.
	registryHost string
	// endpoints serve the task metadata and credentials (endpoints.go);
	// nil when tasks run without them.
	endpoints *taskEndpoints
}

// ErrTokenRefused is Run's error when the control plane refuses the
// agent's token: no retry can help.
var ErrTokenRefused = errors.New("the server refused the agent token: check --token / MINATO_AGENT_TOKEN; " +
	"the token is in <data-dir>/agent-token on the server")

// Run runs the agent until ctx ends, or until the control plane refuses
// its token (ErrTokenRefused). It waits for a control plane that does not
// answer and for a cluster that does not exist yet.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	kernel, err := os.ReadFile(ephemeralPortsFile)
	ports := chooseDynamicPorts(cfg.DynamicPorts, string(kernel), err)
	cfg.DynamicPorts = ports.r
	cfg.Logger.Log(ctx, ports.level, ports.msg)
	c, err := newClient(cfg.Server, cfg.Token, cfg.CAFile, cfg.Logger)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.refused = func() { cancel(ErrTokenRefused) }
	a := &Agent{cfg: cfg, log: cfg.Logger, client: c, runners: map[string]*runner{},
		sent: map[string]agentproto.TaskReport{}, pending: map[string]agentproto.TaskReport{}, kick: make(chan struct{}, 1)}
	a.logs = newLogShipper(a)
	if u, err := url.Parse(c.bases[0]); err == nil {
		a.registryHost = u.Host
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := a.register(ctx); err != nil {
		return refusedOr(ctx, err)
	}
	a.startEndpoints(ctx)
	if cfg.Ready != nil {
		cfg.Ready(a.instance)
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.reportLoop(ctx) })
	wg.Go(func() { a.eventLoop(ctx) })
	wg.Go(func() { a.execLoop(ctx) })
	wg.Go(func() { a.metricsLoop(ctx) })
	if cfg.ResendInterval > 0 {
		wg.Go(func() { a.resendLoop(ctx) })
	}
	if cfg.ImageCleanupInterval > 0 {
		wg.Go(func() { a.imageCleanupLoop(ctx) })
	}
	err = a.pollLoop(ctx)
	wg.Wait()
	a.waitRunners()
	return refusedOr(ctx, err)
}

// refusedOr returns ErrTokenRefused when that is what ended ctx, else err.
func refusedOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrTokenRefused) {
		return cause
	}
	return err
}

type savedState struct {
	InstanceID string `json:"instanceId"`
	Cluster    string `json:"cluster"`
}

func (a *Agent) statePath() string { return filepath.Join(a.cfg.DataDir, "agent-state.json") }

// register registers the host, retrying until the control plane answers,
// and waiting while the cluster does not exist.
func (a *Agent) register(ctx context.Context) error {
	var saved savedState
	if b, err := os.ReadFile(a.statePath()); err == nil {
		json.Unmarshal(b, &saved)
	}
	if saved.Cluster != a.cfg.Cluster {
		saved.InstanceID = ""
	}
	info, err := a.cfg.Runtime.Info(ctx)
	if err != nil {
		return fmt.Errorf("container runtime: %w", err)
	}
	req := agentproto.RegisterRequest{
		Cluster:       a.cfg.Cluster,
		InstanceID:    saved.InstanceID,
		Hostname:      hostname(),
		Address:       a.cfg.Address,
		AgentVersion:  agentVersion(),
		DockerVersion: info.Version,
		Resources: agentproto.Resources{
			CPU:       info.CPUs * 1024,
			MemoryMiB: int(max(0, info.MemoryMiB-a.cfg.ReservedMemoryMiB)),
			Ports:     append(append([]int(nil), DefaultReservedPorts...), a.cfg.ReservedPorts...),
			PortsUDP:  []int{},
		},
		DynamicPorts: a.cfg.DynamicPorts,
		Fargate:      a.cfg.Fargate,
		Attributes:   attributes(info, a.cfg),
	}
	if req.Address == "" {
		req.Address = localAddressFor(a.client.bases[0])
	}
	waiting := false // for the cluster to be created
	for attempt := 0; ; attempt++ {
		resp, err := a.client.register(ctx, req)
		if err == nil {
			a.instance = resp.InstanceID
			b, _ := json.Marshal(savedState{InstanceID: resp.InstanceID, Cluster: a.cfg.Cluster})
			if err := os.WriteFile(a.statePath(), b, 0o600); err != nil {
				return err
			}
			a.log.Info("registered", "cluster", a.cfg.Cluster, "instance", resp.InstanceID)
			return nil
		}
		var se *statusError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &se) && se.code == http.StatusNotFound:
			if !waiting {
				a.log.Info("waiting for cluster " + a.cfg.Cluster + " to be created")
				waiting = true
			}
		case errors.As(err, &se) && se.code < 500:
			return fmt.Errorf("register: %w", err)
		default:
			a.log.Warn("register failed; retrying", "err", err)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

func attributes(info rt.HostInfo, cfg Config) []ecstypes.Attribute {
	attrs := map[string]string{
		"ecs.os-type":          info.OS,
		"ecs.os-family":        "LINUX",
		"ecs.cpu-architecture": info.Arch,
	}
	if cfg.AvailabilityZone != "" {
		attrs["ecs.availability-zone"] = cfg.AvailabilityZone
	}
	for k, v := range cfg.Attributes {
		attrs[k] = v
	}
	var out []ecstypes.Attribute
	for k, v := range attrs {
		out = append(out, ecstypes.Attribute{Name: k, Value: v})
	}
	for _, c := range capabilities {
		out = append(out, ecstypes.Attribute{Name: c})
	}
	return out
}

// capabilities are the ECS agent capabilities minato's agent offers, so
// that task definitions' requiresAttributes are met.
var capabilities = []string{
	"com.amazonaws.ecs.capability.docker-remote-api.1.17",
	"com.amazonaws.ecs.capability.docker-remote-api.1.18",
	"com.amazonaws.ecs.capability.docker-remote-api.1.19",
	"com.amazonaws.ecs.capability.docker-remote-api.1.21",
	"com.amazonaws.ecs.capability.docker-remote-api.1.24",
	"com.amazonaws.ecs.capability.docker-remote-api.1.29",
	"com.amazonaws.ecs.capability.docker-remote-api.1.41",
	"com.amazonaws.ecs.capability.logging-driver.awslogs",
	"com.amazonaws.ecs.capability.logging-driver.json-file",
	"com.amazonaws.ecs.capability.logging-driver.none",
	"com.amazonaws.ecs.capability.logging-driver.syslog",
	"com.amazonaws.ecs.capability.logging-driver.journald",
	"com.amazonaws.ecs.capability.logging-driver.fluentd",
	"com.amazonaws.ecs.capability.logging-driver.gelf",
	"com.amazonaws.ecs.capability.task-iam-role",
	"com.amazonaws.ecs.capability.task-iam-role-network-host",
	"com.amazonaws.ecs.capability.ecr-auth",
	"com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager",
	"ecs.capability.execution-role-awslogs",
	"ecs.capability.execution-role-ecr-pull",
	"ecs.capability.task-eni",
	"ecs.capability.container-health-check",
	"ecs.capability.container-ordering",
	"ecs.capability.secrets.asm.environment-variables",
	"ecs.capability.secrets.ssm.environment-variables",
	"ecs.capability.docker-plugin.local",
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// localAddressFor returns the local address this host uses to reach server.
func localAddressFor(server string) string {
	host := server
	if u, err := urlHost(server); err == nil {
		host = u
	}
	conn, err := net.Dial("udp", net.JoinHostPort(host, "9"))
	if err != nil {
		return "127.0.0.1"
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String()
}

// pollLoop long-polls for assignments and hands them to task runners. The
// long poll is also the agent's heartbeat: the control plane counts an
// agent connected while it polls, so reports are only sent when there is
// something to tell.
func (a *Agent) pollLoop(ctx context.Context) error {
	var since int64
	first := true
	// reconnected: the last poll failed, so the control plane may have
	// restarted (or lost what was said while it was unreachable); its
	// next answer is followed by the state of every task.
	reconnected := false
	for attempt := 0; ctx.Err() == nil; {
		resp, err := a.client.poll(ctx, a.cfg.Cluster, a.instance, since)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var se *statusError
			if errors.As(err, &se) && se.code == 404 {
				a.log.Warn("control plane no longer knows this instance; registering again")
				if err := a.register(ctx); err != nil {
					return err
				}
				since, reconnected = 0, true
				continue
			}
			reconnected = true
			a.log.Warn("poll failed; retrying", "err", err)
			sleep(ctx, backoff(attempt))
			attempt++
			continue
		}
		attempt = 0
		since = resp.Revision
		if resp.InstanceStatus == "INACTIVE" {
			a.log.Warn("container instance was deregistered; the agent stops")
			return nil
		}
		a.apply(ctx, resp.Tasks)
		if reconnected || resp.Resend {
			reconnected = false
			a.resendAll()
		}
		if first {
			first = false
			go a.removeOrphans(ctx, resp.Tasks)
		}
	}
	return nil
}

// apply starts a runner for each new assignment and passes changes on.
// tasks is the whole desired state: a runner whose task it no longer holds
// was given up by the control plane (it stopped the task while this agent
// could not be reached: a host of the Fargate pool counted lost, say), so
// the runner takes its containers down.
func (a *Agent) apply(ctx context.Context, tasks []agentproto.Assignment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	assigned := make(map[string]bool, len(tasks))
	for _, asg := range tasks {
		assigned[asg.TaskID] = true
	}
	for id, r := range a.runners {
		if asg := r.assignment(); !assigned[id] && asg.DesiredStatus != core.TaskStopped {
			a.log.Info("the control plane no longer assigns a task to this instance; stopping it", "task", id)
			asg.DesiredStatus = core.TaskStopped
			asg.StoppedReason = "The task is no longer assigned to this container instance"
			r.update(asg)
		}
	}
	for _, asg := range tasks {
		if r, ok := a.runners[asg.TaskID]; ok {
			r.update(asg)
			continue
		}
		r := newRunner(a, asg)
		a.runners[asg.TaskID] = r
		go func() {
			r.run(ctx)
			a.mu.Lock()
			if a.runners[asg.TaskID] == r {
				delete(a.runners, asg.TaskID)
				// Its last report stays pending until accepted; it is
				// not resent after that.
				delete(a.sent, asg.TaskID)
			}
			a.mu.Unlock()
		}()
	}
}

func (a *Agent) waitRunners() {
	for {
		a.mu.Lock()
		n := len(a.runners)
		a.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// submit queues a task report unless it equals the last one queued for the
// task; the newest report of a task replaces older ones not sent yet. A
// queued report is sent until the control plane accepts it.
func (a *Agent) submit(tr agentproto.TaskReport) {
	a.mu.Lock()
	if last, ok := a.sent[tr.TaskID]; ok && reportEqual(last, tr) {
		a.mu.Unlock()
		return
	}
	a.sent[tr.TaskID] = tr
	a.pending[tr.TaskID] = tr
	a.mu.Unlock()
	a.kickReporter()
}

func (a *Agent) kickReporter() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// resendAll queues the newest report of every task again.
func (a *Agent) resendAll() {
	a.mu.Lock()
	n := len(a.sent)
	for id, tr := range a.sent {
		a.pending[id] = tr
	}
	a.mu.Unlock()
	if n > 0 {
		a.kickReporter()
	}
}

// resendLoop sends the state of every task again every ResendInterval,
// starting at a random point of the first interval so that a fleet
// started at once does not resend at once.
func (a *Agent) resendLoop(ctx context.Context) {
	d := a.cfg.ResendInterval
	if err := sleep(ctx, time.Duration(rand.Int64N(int64(d)))+1); err != nil {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		a.resendAll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reportLoop sends queued reports until they are accepted.
func (a *Agent) reportLoop(ctx context.Context) {
	for attempt := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		for {
			a.mu.Lock()
			batch := make([]agentproto.TaskReport, 0, len(a.pending))
			for _, tr := range a.pending {
				batch = append(batch, tr)
			}
			a.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			err := a.client.report(ctx, agentproto.Report{InstanceID: a.instance, Cluster: a.cfg.Cluster, Tasks: batch})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.log.Warn("report failed; retrying", "err", err)
				sleep(ctx, backoff(attempt))
				attempt++
				continue
			}
			attempt = 0
			a.mu.Lock()
			for _, tr := range batch {
				if cur, ok := a.pending[tr.TaskID]; ok && reportEqual(cur, tr) {
					delete(a.pending, tr.TaskID)
				}
			}
			a.mu.Unlock()
		}
	}
}

// reportEqual reports whether two reports say the same. Reports of one
// runner share their timestamps' values, so a deep comparison suffices.
func reportEqual(x, y agentproto.TaskReport) bool { return reflect.DeepEqual(x, y) }

// eventLoop routes runtime events to the runners of their tasks.
func (a *Agent) eventLoop(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		evs, errs := a.cfg.Runtime.Events(ctx)
		a.wakeAll() // whatever happened while not subscribed is seen now
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-evs:
				if !ok {
					break loop
				}
				attempt = 0
				if ev.Labels[rt.LabelInstance] != a.instance {
					continue
				}
				a.mu.Lock()
				r := a.runners[ev.Labels[rt.LabelTask]]
				a.mu.Unlock()
				if r != nil {
					r.wakeUp()
				}
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					a.log.Warn("runtime events ended; subscribing again", "err", err)
				}
				break loop
			}
		}
		sleep(ctx, backoff(attempt))
	}
}

func (a *Agent) wakeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.runners {
		r.wakeUp()
	}
}

// removeOrphans removes containers of this instance whose task the control
// plane no longer assigns (stopped while the agent was away, or forgotten).
func (a *Agent) removeOrphans(ctx context.Context, assigned []agentproto.Assignment) {
	known := map[string]bool{}
	for _, t := range assigned {
		known[t.TaskID] = true
	}
	cs, err := a.cfg.Runtime.List(ctx, map[string]string{rt.LabelManaged: "true", rt.LabelInstance: a.instance})
	if err != nil {
		a.log.Warn("listing containers for orphan cleanup", "err", err)
		return
	}
	for _, c := range cs {
		if known[c.Labels[rt.LabelTask]] {
			continue
		}
		if c.Running {
			a.log.Info("stopping a container of a task this instance no longer runs", "task", c.Labels[rt.LabelTask], "container", c.Name)
			a.cfg.Runtime.StopContainer(ctx, c.ID, a.cfg.StopTimeout)
		}
		if err := a.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil {
			a.log.Warn("removing orphan container", "container", c.Name, "err", err)
		}
	}
}

func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt, 5)
	return min(d, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
