package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lifecycle"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
)

// runner drives one task through its lifecycle on this host. It is level
// triggered: on every wake-up it inspects the task's containers and acts on
// what it sees, so it can take over a task at any point (after an agent
// restart, say).
type runner struct {
	a    *Agent
	wake chan struct{}

	// base is the assignment as first received: what does not change
	// (task ID, definition). asg, under mu, is the newest one.
	base agentproto.Assignment
	mu   sync.Mutex
	asg  agentproto.Assignment

	order []string // container names, definition order
	// create is the order containers are created in: a volumesFrom
	// source before the containers that mount from it
	// (lifecycle.CreateOrder).
	create []string
	defs   map[string]ecstypes.ContainerDefinition // with overrides applied
	ids    map[string]string                       // runtime container IDs by name
	seen   map[string]rt.ContainerState
	net    *rt.TaskNetwork
	rep    agentproto.TaskReport
	// secrets are the task's secret values by container name, held from
	// just before its containers are created until they are (secrets.go).
	secrets map[string]agentproto.ContainerSecrets
	// images are the images containers run when not their definition's:
	// an image of minato's registry is pulled from the server's host
	// (secrets.go). Guarded by mu: the image cleanup reads it.
	images map[string]string
	// hostPorts are the host ports of each container's port mappings:
	// the assignment's, until a taken one moved (ports.go).
	hostPorts map[string][]int
	portMoves int // how often they moved
}

func newRunner(a *Agent, asg agentproto.Assignment) *runner {
	r := &runner{a: a, wake: make(chan struct{}, 1), asg: asg, base: asg,
		ids: map[string]string{}, seen: map[string]rt.ContainerState{}, defs: map[string]ecstypes.ContainerDefinition{},
		hostPorts: maps.Clone(asg.HostPorts)}
	r.rep = agentproto.TaskReport{TaskID: asg.TaskID, Cluster: asg.Cluster, LastStatus: asg.LastStatus}
	for _, d := range asg.Definition.ContainerDefinitions {
		r.order = append(r.order, d.Name)
		r.defs[d.Name] = applyOverrides(d, asg.Overrides)
	}
	r.create = lifecycle.CreateOrder(asg.Definition.ContainerDefinitions)
	return r
}

// update takes a newer assignment, and wakes the runner if it changed in
// more than the last status the control plane holds (which moves with
// every report the runner sends, and which the runner does not act on).
func (r *runner) update(asg agentproto.Assignment) {
	r.mu.Lock()
	old := r.asg
	r.asg = asg
	r.mu.Unlock()
	old.LastStatus = asg.LastStatus
	if !reflect.DeepEqual(old, asg) {
		r.wakeUp()
	}
}

func (r *runner) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) assignment() agentproto.Assignment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asg
}

func (r *runner) awsvpc() bool {
	return r.base.Definition.NetworkMode == ecstypes.NetworkModeAwsvpc
}

func (r *runner) labels() map[string]string {
	return map[string]string{
		rt.LabelManaged:  "true",
		rt.LabelCluster:  r.base.Cluster,
		rt.LabelInstance: r.a.instance,
		rt.LabelTask:     r.base.TaskID,
	}
}

// setStatus moves the task's reported status forward (never back) and
// reports it.
func (r *runner) setStatus(s core.TaskStatus) {
	if s > r.rep.LastStatus {
		r.rep.LastStatus = s
	}
	r.submit()
}

func (r *runner) submit() {
	rep := r.rep
	rep.Containers = make([]agentproto.ContainerReport, 0, len(r.order))
	cs := r.lifecycleView()
	for _, name := range r.order {
		rep.Containers = append(rep.Containers, r.containerReport(name, cs[name]))
	}
	rep.HealthStatus = lifecycle.TaskHealth(cs)
	r.a.submit(rep)
}

func (r *runner) containerReport(name string, c lifecycle.Container) agentproto.ContainerReport {
	st := r.seen[name]
	cr := agentproto.ContainerReport{Name: name, RuntimeID: r.ids[name], ImageDigest: st.ImageID, LastStatus: core.TaskPending, HealthStatus: c.Health}
	switch {
	case c.Running:
		cr.LastStatus = core.TaskRunning
	case c.Exited || r.rep.LastStatus.Terminal():
		cr.LastStatus = core.TaskStopped
		cr.ExitCode = c.ExitCode
	}
	if st.OOMKilled {
		cr.Reason = "OutOfMemoryError: Container killed due to memory usage"
	} else if st.Error != "" {
		cr.Reason = st.Error
	}
	if r.base.Definition.NetworkMode != ecstypes.NetworkModeAwsvpc {
		seen := map[rt.PortBinding]bool{}
		for _, p := range st.Ports {
			// Docker reports a binding per address family; ECS lists one.
			k := rt.PortBinding{ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: p.Protocol}
			if seen[k] {
				continue
			}
			seen[k] = true
			cr.NetworkBindings = append(cr.NetworkBindings, ecstypes.NetworkBinding{
				BindIP: orDefault(p.HostIP, "0.0.0.0"), ContainerPort: new(int32(p.ContainerPort)),
				HostPort: new(int32(p.HostPort)), Protocol: ecstypes.TransportProtocol(orDefault(p.Protocol, "tcp")),
			})
		}
	}
	return cr
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// lifecycleView turns what was seen into lifecycle's terms.
func (r *runner) lifecycleView() map[string]lifecycle.Container {
	out := make(map[string]lifecycle.Container, len(r.order))
	for _, name := range r.order {
		c := lifecycle.Container{Def: r.defs[name], Health: ecstypes.HealthStatusUnknown}
		if st, ok := r.seen[name]; ok {
			c.Running = st.Running
			c.Started = st.Running || !st.StartedAt.IsZero() || st.ExitCode != nil && !st.Created
			c.Exited = c.Started && !st.Running
			if st.ExitCode != nil && c.Exited {
				c.ExitCode = new(int32(*st.ExitCode))
			}
			switch st.Health {
			case rt.HealthHealthy:
				c.Health = ecstypes.HealthStatusHealthy
			case rt.HealthUnhealthy:
				c.Health = ecstypes.HealthStatusUnhealthy
			}
		}
		out[name] = c
	}
	return out
}

// observe inspects the task's containers.
func (r *runner) observe(ctx context.Context) error {
	for name, id := range r.ids {
		st, err := r.a.cfg.Runtime.Inspect(ctx, id)
		if errors.Is(err, rt.ErrNotFound) {
			delete(r.ids, name)
			delete(r.seen, name)
			continue
		}
		if err != nil {
			return err
		}
		r.seen[name] = st
	}
	return nil
}

// adopt finds containers this task already has (after an agent restart).
func (r *runner) adopt(ctx context.Context) error {
	cs, err := r.a.cfg.Runtime.List(ctx, map[string]string{rt.LabelTask: r.base.TaskID, rt.LabelInstance: r.a.instance})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Labels[rt.LabelPause] == "true" {
			r.net = &rt.TaskNetwork{ContainerID: c.ID, IPv4: c.IPv4}
			continue
		}
		if name := c.Labels[rt.LabelContainer]; name != "" {
			r.ids[name] = c.ID
			r.seen[name] = c
		}
	}
	return nil
}

// run drives the task until it is STOPPED and reported, or ctx ends (the
// agent shuts down and leaves its containers running).
func (r *runner) run(ctx context.Context) {
	log := r.a.log.With("task", r.base.TaskID)
	if err := r.adopt(ctx); err != nil {
		log.Warn("adopting containers", "err", err)
	}
	adopted := len(r.ids)
	r.followLogs(ctx)
	if r.rep.LastStatus == core.TaskStatusUnknown {
		r.rep.LastStatus = core.TaskProvisioning
	}
	stopCode, reason := ecstypes.TaskStopCode(""), ""
	if len(r.ids) < len(r.order) && r.assignment().DesiredStatus != core.TaskStopped {
		stopCode, reason = r.start(ctx)
	}
	if adopted > 0 {
		// After an agent restart: what it found and what it had to start.
		log.Debug("task resumed", "adopted", adopted, "started", len(r.ids)-adopted)
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for stopCode == "" {
		if ctx.Err() != nil {
			return
		}
		asg := r.assignment()
		if err := r.observe(ctx); err != nil && ctx.Err() == nil {
			log.Warn("inspecting containers", "err", err)
		}
		cs := r.lifecycleView()
		if asg.DesiredStatus == core.TaskStopped {
			stopCode, reason = ecstypes.TaskStopCode(orDefault(string(asg.StopCode), string(ecstypes.TaskStopCodeUserInitiated))), asg.StoppedReason
			break
		}
		if name := lifecycle.EssentialExit(r.order, cs); name != "" {
			stopCode, reason = ecstypes.TaskStopCodeEssentialContainerExited, "Essential container in task exited"
			break
		}
		plan := lifecycle.NextStarts(r.order, cs)
		if plan.Failed != "" {
			stopCode, reason = ecstypes.TaskStopCodeTaskFailedToStart, "Container "+plan.Failed+": "+plan.Reason
			break
		}
		for _, name := range plan.Start {
			err := r.a.cfg.Runtime.StartContainer(ctx, r.ids[name])
			if err == nil {
				continue
			}
			if errors.Is(err, rt.ErrPortInUse) {
				moved, why := r.movePorts(ctx, name, err)
				if moved {
					continue // started on the next round
				}
				reason = why
			}
			stopCode, reason = ecstypes.TaskStopCodeTaskFailedToStart, orDefault(reason, "CannotStartContainerError: "+err.Error())
			break
		}
		if stopCode != "" {
			break
		}
		if len(plan.Start) > 0 {
			r.observe(ctx)
			r.followLogs(ctx)
			continue // observe the started containers at once
		}
		if lifecycle.Running(cs) && r.rep.LastStatus < core.TaskRunning {
			r.rep.StartedAt = r.a.cfg.Clock.Now()
			r.setStatus(core.TaskRunning)
		} else {
			r.submit()
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
	r.stop(ctx, stopCode, reason)
}

// start provisions the network, pulls the images and creates the
// containers. A failure returns the stop code and reason.
func (r *runner) start(ctx context.Context) (ecstypes.TaskStopCode, string) {
	cfg := r.a.cfg
	r.setStatus(core.TaskProvisioning)
	if r.awsvpc() && r.net == nil {
		n, err := cfg.Runtime.CreateTaskNetwork(ctx, rt.TaskNetworkSpec{
			Name:   "minato-" + r.base.TaskID + "-pause",
			Labels: merge(r.labels(), map[string]string{rt.LabelPause: "true"}),
		})
		if err != nil {
			return ecstypes.TaskStopCodeTaskFailedToStart, "ResourceInitializationError: failed to set up the task network: " + err.Error()
		}
		r.net = &n
	}
	if r.net != nil {
		r.rep.PrivateIPv4, r.rep.MACAddress, r.rep.SubnetCIDR = r.net.IPv4, r.net.MAC, r.net.SubnetCIDR
	}
	if reason := r.loadSecrets(ctx); reason != "" {
		return ecstypes.TaskStopCodeTaskFailedToStart, reason
	}
	defer func() { r.secrets = nil }()
	r.setStatus(core.TaskPending)
	r.rep.PullStartedAt = cfg.Clock.Now()
	r.submit()
	for _, name := range r.order {
		if _, ok := r.ids[name]; ok {
			continue
		}
		if err := cfg.Runtime.EnsureImage(ctx, r.image(name), r.registryAuth(name)); err != nil {
			r.rep.PullStoppedAt = cfg.Clock.Now()
			return ecstypes.TaskStopCodeTaskFailedToStart, "CannotPullContainerError: " + err.Error()
		}
	}
	r.rep.PullStoppedAt = cfg.Clock.Now()
	r.submit()
	for _, name := range r.create {
		if _, ok := r.ids[name]; ok {
			continue
		}
		id, err := cfg.Runtime.CreateContainer(ctx, r.spec(name))
		if err != nil {
			return ecstypes.TaskStopCodeTaskFailedToStart, "CannotCreateContainerError: " + err.Error()
		}
		r.ids[name] = id
		if reason := r.prepareLogs(ctx, name, id); reason != "" {
			return ecstypes.TaskStopCodeTaskFailedToStart, reason
		}
	}
	r.setStatus(core.TaskActivating)
	return "", ""
}

// spec builds the runtime spec of one container.
func (r *runner) spec(name string) rt.ContainerSpec {
	def := r.defs[name]
	def.Image = r.image(name)
	td := r.base.Definition
	spec := rt.ContainerSpec{
		Name:        fmt.Sprintf("minato-%s-%d-%s-%s", td.Family, td.Revision, name, r.base.TaskID),
		Labels:      merge(r.labels(), map[string]string{rt.LabelContainer: name}),
		Def:         def,
		NetworkMode: td.NetworkMode,
		Volumes:     td.Volumes,
		VolumesFrom: map[string]string{},
	}
	spec.ExtraEnv = append(spec.ExtraEnv, r.secretEnv(name)...)
	if r.a.endpoints != nil {
		// What the definition sets itself (AWS_REGION, say) stays.
		for _, kv := range r.a.endpoints.env(r.assignment(), name) {
			if !slices.ContainsFunc(def.Environment, func(e ecstypes.KeyValuePair) bool { return e.Name == kv.Name }) {
				spec.ExtraEnv = append(spec.ExtraEnv, kv)
			}
		}
	}
	if r.net != nil {
		spec.NetworkContainerID = r.net.ContainerID
	}
	for _, vf := range def.VolumesFrom {
		spec.VolumesFrom[vf.SourceContainer] = r.ids[vf.SourceContainer]
	}
	if n, err := strconv.Atoi(td.Cpu); err == nil {
		spec.TaskCPU = n
	}
	if n, err := strconv.Atoi(td.Memory); err == nil {
		spec.TaskMemoryMiB = n
	}
	if td.NetworkMode == "" || td.NetworkMode == ecstypes.NetworkModeBridge {
		spec.PortBindings = portBindings(def, r.hostPorts[name])
	}
	return spec
}

// stop takes the task down: containers stop in reverse dependency order,
// then the network goes, and the task is reported STOPPED.
func (r *runner) stop(ctx context.Context, code ecstypes.TaskStopCode, reason string) {
	cfg := r.a.cfg
	if r.rep.StopCode == "" && code != "" && r.assignment().StopCode == "" {
		r.rep.StopCode, r.rep.StoppedReason = code, reason
	}
	r.setStatus(core.TaskDeactivating)
	r.setStatus(core.TaskStopping)
	r.observe(ctx)
	cs := r.lifecycleView()
	for _, wave := range lifecycle.StopOrder(r.order, cs) {
		var wg sync.WaitGroup
		for _, name := range wave {
			id, ok := r.ids[name]
			if !ok || !cs[name].Running {
				continue
			}
			timeout := cfg.StopTimeout
			if st := r.defs[name].StopTimeout; st != nil {
				timeout = time.Duration(*st) * time.Second
			}
			wg.Go(func() {
				if err := cfg.Runtime.StopContainer(ctx, id, timeout); err != nil {
					r.a.log.Warn("stopping container", "task", r.base.TaskID, "container", name, "err", err)
				}
			})
		}
		wg.Wait()
	}
	if ctx.Err() != nil {
		return
	}
	r.observe(ctx)
	r.setStatus(core.TaskDeprovisioning)
	if r.net != nil {
		if err := cfg.Runtime.RemoveContainer(ctx, r.net.ContainerID); err != nil {
			r.a.log.Warn("removing task network", "task", r.base.TaskID, "err", err)
		}
	}
	r.rep.ExecutionStoppedAt = cfg.Clock.Now()
	r.setStatus(core.TaskStopped)
	ids := make([]string, 0, len(r.ids))
	for _, id := range r.ids {
		ids = append(ids, id)
	}
	time.AfterFunc(cfg.CleanupWait, func() {
		for _, id := range ids {
			r.a.logs.wait(id, time.Minute) // its log is shipped first
			cfg.Runtime.RemoveContainer(context.Background(), id)
			r.a.logs.forget(id)
		}
	})
}

// applyOverrides applies a RunTask container override to a definition.
func applyOverrides(d ecstypes.ContainerDefinition, o *ecstypes.TaskOverride) ecstypes.ContainerDefinition {
	if o == nil {
		return d
	}
	for _, co := range o.ContainerOverrides {
		if co.Name != d.Name {
			continue
		}
		if co.Command != nil {
			d.Command = co.Command
		}
		if len(co.Environment) > 0 {
			env := append([]ecstypes.KeyValuePair(nil), d.Environment...)
			for _, kv := range co.Environment {
				replaced := false
				for i := range env {
					if env[i].Name == kv.Name {
						env[i].Value, replaced = kv.Value, true
					}
				}
				if !replaced {
					env = append(env, kv)
				}
			}
			d.Environment = env
		}
		if co.Cpu != nil {
			d.Cpu = *co.Cpu
		}
		if co.Memory != nil {
			d.Memory = co.Memory
		}
		if co.MemoryReservation != nil {
			d.MemoryReservation = co.MemoryReservation
		}
	}
	return d
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
