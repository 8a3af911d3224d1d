// Package fake is an in-memory runtime.Runtime for unit tests and the scale
// simulator. Containers move created → running → exited on Start and Stop;
// what a started container does is a Program (default: run until stopped).
// Tests inject exits, OOM kills, health changes, pull failures, latency and
// event-stream failures through methods and function fields, not mocks.
// With Loopback set, containers get real loopback sockets, so the Testapp
// program can serve HTTP and the conformance suite runs against the fake.
package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Runtime is an in-memory container engine. Set the function fields before
// first use; the methods are safe for concurrent use.
type Runtime struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Delay, if set, is how long an operation ("Info", "EnsureImage",
	// "CreateTaskNetwork", "Create", "Start", "Stop", "Remove", "Inspect",
	// "List", "RemoveImage", "ListImages") takes before it does anything.
	Delay func(op string) time.Duration
	// Pull is called by EnsureImage for an image that is not local. nil
	// means nothing can be pulled. An error that does not wrap
	// runtime.ErrImageNotFound is wrapped in it; nil makes the image local.
	Pull func(ctx context.Context, image string, auth *runtime.RegistryAuth) error
	// Program says what a started container does (default: Sleep).
	Program func(spec runtime.ContainerSpec) Program
	// HealthProbe, if set, runs a container's health-check command (from
	// its definition's healthCheck) as Docker would, on its interval: true
	// is a passing check. Without it, health changes only by SetHealth.
	HealthProbe func(ctx context.Context, p *Process, test []string) bool
	// Loopback gives containers real sockets: port bindings listen on
	// 127.0.0.1, and an awsvpc task gets an address of its own in
	// 127.77.0.0/16. Without it, ports and addresses are numbers only.
	Loopback bool
	// Host is what Info returns.
	Host runtime.HostInfo

	mu         sync.Mutex
	images     map[string]*image // by reference
	containers map[string]*ctr   // by ID
	names      map[string]string // name -> ID
	subs       map[int]chan<- runtime.Event
	subErrs    map[int]chan<- error
	seq        int
	nextPort   int
	nextIP     int
}

type image struct {
	id      string
	ref     string
	created time.Time
}

type ctr struct {
	spec  runtime.ContainerSpec
	state runtime.ContainerState
	proc  *Process
	ns    *netns // its network namespace (the pause container's for awsvpc)
}

// netns is a fake network namespace: an address and the ports bound in it.
type netns struct {
	ip        string
	mu        sync.Mutex
	listeners map[int]net.Listener // container port -> real socket
}

// New returns an empty fake runtime with a two-CPU host.
func New() *Runtime {
	return &Runtime{
		Host: runtime.HostInfo{CPUs: 2, MemoryMiB: 4096, OS: "linux", Arch: "x86_64", Version: "fake"},
	}
}

func (r *Runtime) init() {
	if r.images == nil {
		r.images = map[string]*image{}
		r.containers = map[string]*ctr{}
		r.names = map[string]string{}
		r.subs = map[int]chan<- runtime.Event{}
		r.subErrs = map[int]chan<- error{}
		r.nextPort = 32768
	}
}

func (r *Runtime) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runtime) delay(ctx context.Context, op string) error {
	if r.Delay == nil {
		return ctx.Err()
	}
	d := r.Delay(op)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// AddImage makes an image local, as if built or pulled.
func (r *Runtime) AddImage(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addImageLocked(ref)
}

func (r *Runtime) addImageLocked(ref string) {
	r.init()
	if _, ok := r.images[ref]; !ok {
		r.images[ref] = &image{id: "sha256:" + digest("image:"+ref), ref: ref, created: r.now()}
	}
}

// Info returns Host.
func (r *Runtime) Info(ctx context.Context) (runtime.HostInfo, error) {
	if err := r.delay(ctx, "Info"); err != nil {
		return runtime.HostInfo{}, err
	}
	return r.Host, nil
}

// EnsureImage succeeds for a local image and asks Pull for any other
// (with auth.Refresh, for a local one too, whose failure is then ignored).
func (r *Runtime) EnsureImage(ctx context.Context, ref string, auth *runtime.RegistryAuth) error {
	if err := r.delay(ctx, "EnsureImage"); err != nil {
		return err
	}
	r.mu.Lock()
	r.init()
	_, ok := r.images[ref]
	r.mu.Unlock()
	if ok && (auth == nil || !auth.Refresh || r.Pull == nil) {
		return nil
	}
	if ok {
		_ = r.Pull(ctx, ref, auth)
		return nil
	}
	err := fmt.Errorf("%w: pull access denied for %s, repository does not exist or may require 'docker login'", runtime.ErrImageNotFound, ref)
	if r.Pull != nil {
		err = r.Pull(ctx, ref, auth)
		if err != nil && !errors.Is(err, runtime.ErrImageNotFound) {
			err = fmt.Errorf("%w: %w", runtime.ErrImageNotFound, err)
		}
	}
	if err != nil {
		return err
	}
	r.AddImage(ref)
	return nil
}

// CreateTaskNetwork starts a pause container that owns a new network
// namespace. A pause container of the same name is reused.
func (r *Runtime) CreateTaskNetwork(ctx context.Context, spec runtime.TaskNetworkSpec) (runtime.TaskNetwork, error) {
	if err := r.delay(ctx, "CreateTaskNetwork"); err != nil {
		return runtime.TaskNetwork{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if id, ok := r.names[spec.Name]; ok && spec.Name != "" {
		c := r.containers[id]
		if c.state.Labels[runtime.LabelPause] != "true" {
			return runtime.TaskNetwork{}, fmt.Errorf("create pause container %q: name in use", spec.Name)
		}
		return r.taskNetwork(c), nil
	}
	r.nextIP++
	n := r.nextIP
	prefix := "10.77."
	if r.Loopback {
		prefix = "127.77."
	}
	ns := &netns{ip: prefix + strconv.Itoa(n/250) + "." + strconv.Itoa(n%250+2), listeners: map[int]net.Listener{}}
	lbl := maps.Clone(spec.Labels)
	if lbl == nil {
		lbl = map[string]string{}
	}
	lbl[runtime.LabelManaged], lbl[runtime.LabelPause] = "true", "true"
	cs := runtime.ContainerSpec{Name: spec.Name, Labels: lbl, Def: ecstypes.ContainerDefinition{Name: "pause", Image: "minato/pause:1", Hostname: spec.Hostname}}
	c := r.newContainerLocked(cs, ns)
	c.state.IPv4 = ns.ip
	// The pause container's stop signal is SIGKILL.
	r.startLocked(c, func(p *Process) int {
		select {
		case <-p.Term():
		case <-p.Done():
		}
		return 137
	})
	return r.taskNetwork(c), nil
}

func (r *Runtime) taskNetwork(c *ctr) runtime.TaskNetwork {
	ip := c.ns.ip
	a, b := 0, 0
	fmt.Sscanf(ip, "%d.%d.", &a, &b)
	return runtime.TaskNetwork{
		ContainerID: c.state.ID,
		IPv4:        ip,
		MAC:         "02:42:" + c.state.ID[:2] + ":" + c.state.ID[2:4] + ":" + c.state.ID[4:6] + ":" + c.state.ID[6:8],
		SubnetCIDR:  fmt.Sprintf("%d.%d.0.0/16", a, b),
		Gateway:     fmt.Sprintf("%d.%d.0.1", a, b),
	}
}

func (r *Runtime) newContainerLocked(spec runtime.ContainerSpec, ns *netns) *ctr {
	r.seq++
	id := digest("container:" + strconv.Itoa(r.seq) + ":" + spec.Name)
	name := spec.Name
	if name == "" {
		name = "fake_" + id[:12]
	}
	lbl := maps.Clone(spec.Def.DockerLabels)
	if lbl == nil {
		lbl = map[string]string{}
	}
	maps.Copy(lbl, spec.Labels)
	lbl[runtime.LabelManaged] = "true"
	r.addImageLocked(spec.Def.Image)
	c := &ctr{spec: spec, ns: ns, state: runtime.ContainerState{
		ID: id, Name: name, Image: spec.Def.Image, ImageID: r.images[spec.Def.Image].id,
		Labels: lbl, Created: true, Health: runtime.HealthUnknown,
	}}
	r.containers[id] = c
	r.names[name] = id
	return c
}

// CreateContainer creates a container of a local image.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := r.delay(ctx, "Create"); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if _, ok := r.images[spec.Def.Image]; !ok {
		return "", fmt.Errorf("%w: No such image: %s", runtime.ErrImageNotFound, spec.Def.Image)
	}
	if _, ok := r.names[spec.Name]; ok && spec.Name != "" {
		return "", fmt.Errorf("create container %q: the name is already in use", spec.Name)
	}
	var ns *netns
	switch spec.NetworkMode {
	case ecstypes.NetworkModeAwsvpc:
		p, ok := r.containers[spec.NetworkContainerID]
		if !ok {
			return "", fmt.Errorf("create container %q: network container %q: %w", spec.Name, spec.NetworkContainerID, runtime.ErrNotFound)
		}
		ns = p.ns
	case "", ecstypes.NetworkModeBridge:
		r.nextIP++
		ns = &netns{ip: "172.17." + strconv.Itoa(r.nextIP/250) + "." + strconv.Itoa(r.nextIP%250+2), listeners: map[int]net.Listener{}}
	case ecstypes.NetworkModeHost:
		ns = &netns{ip: "127.0.0.1", listeners: map[int]net.Listener{}}
	default:
		ns = &netns{listeners: map[int]net.Listener{}}
	}
	for _, vf := range spec.Def.VolumesFrom {
		if _, ok := r.containers[spec.VolumesFrom[vf.SourceContainer]]; !ok {
			return "", fmt.Errorf("create container %q: volumesFrom %q: %w", spec.Name, vf.SourceContainer, runtime.ErrNotFound)
		}
	}
	c := r.newContainerLocked(spec, ns)
	if spec.NetworkMode != ecstypes.NetworkModeAwsvpc && spec.NetworkMode != ecstypes.NetworkModeNone {
		c.state.IPv4 = ns.ip
	}
	return c.state.ID, nil
}

// StartContainer starts a created or exited container: its Program runs.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.delay(ctx, "Start"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	if c.state.Running {
		return nil
	}
	if err := r.bindPortsLocked(c); err != nil {
		c.state.Error = err.Error()
		return fmt.Errorf("start container %q: %w", c.state.Name, err)
	}
	prog := Program(Sleep)
	if r.Program != nil {
		if p := r.Program(c.spec); p != nil {
			prog = p
		}
	}
	r.startLocked(c, prog)
	return nil
}

func (r *Runtime) get(id string) (*ctr, error) {
	r.init()
	c, ok := r.containers[id]
	if !ok {
		if cid, byName := r.names[id]; byName {
			return r.containers[cid], nil
		}
		return nil, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

// bindPortsLocked publishes a bridge container's ports: the spec's
// bindings, else its definition's port mappings; host port 0 is picked.
func (r *Runtime) bindPortsLocked(c *ctr) error {
	if c.spec.NetworkMode != "" && c.spec.NetworkMode != ecstypes.NetworkModeBridge {
		return nil
	}
	want := c.spec.PortBindings
	if len(want) == 0 {
		for _, m := range c.spec.Def.PortMappings {
			if m.ContainerPort == nil {
				continue
			}
			b := runtime.PortBinding{ContainerPort: int(*m.ContainerPort), Protocol: string(m.Protocol)}
			if m.HostPort != nil {
				b.HostPort = int(*m.HostPort)
			}
			want = append(want, b)
		}
	}
	var ports []runtime.PortBinding
	for _, b := range want {
		if b.Protocol == "" {
			b.Protocol = "tcp"
		}
		b.HostIP = "0.0.0.0"
		if b.HostPort != 0 && r.boundLocked(b.HostPort, b.Protocol) {
			c.ns.closeAll()
			return &runtime.PortInUseError{HostPort: b.HostPort, Protocol: b.Protocol,
				Err: fmt.Errorf("bind for 0.0.0.0:%d failed: port is already allocated", b.HostPort)}
		}
		if r.Loopback && b.Protocol == "tcp" {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.HostPort)))
			if err != nil {
				c.ns.closeAll()
				if errors.Is(err, syscall.EADDRINUSE) {
					return &runtime.PortInUseError{HostPort: b.HostPort, Protocol: b.Protocol, Err: err}
				}
				return err
			}
			c.ns.mu.Lock()
			c.ns.listeners[b.ContainerPort] = l
			c.ns.mu.Unlock()
			b.HostIP, b.HostPort = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
		} else if b.HostPort == 0 {
			r.nextPort++
			b.HostPort = r.nextPort
		}
		ports = append(ports, b)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].ContainerPort < ports[j].ContainerPort })
	c.state.Ports = ports
	return nil
}

// boundLocked reports whether a running container holds a host port, as
// Docker's port allocator would.
func (r *Runtime) boundLocked(port int, proto string) bool {
	for _, o := range r.containers {
		if !o.state.Running {
			continue
		}
		for _, p := range o.state.Ports {
			if p.HostPort == port && p.Protocol == proto {
				return true
			}
		}
	}
	return false
}

func (r *Runtime) startLocked(c *ctr, prog Program) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Process{Spec: c.spec, ID: c.state.ID, rt: r, c: c, ctx: ctx, cancel: cancel, term: make(chan struct{})}
	c.proc = p
	c.state.Created, c.state.Running = false, true
	c.state.ExitCode, c.state.OOMKilled, c.state.Error = nil, false, ""
	c.state.StartedAt, c.state.FinishedAt = r.now(), time.Time{}
	c.state.Health = runtime.HealthUnknown
	r.emitLocked(runtime.EventStart, c)
	go func() {
		code := prog(p)
		r.exit(p, code, false)
	}()
	if hc := c.spec.Def.HealthCheck; hc != nil && len(hc.Command) > 0 && r.HealthProbe != nil {
		go r.healthLoop(p, hc)
	}
}

// exit records that p ended with code, unless it had ended already.
func (r *Runtime) exit(p *Process, code int, oom bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := p.c
	if c.proc != p || !c.state.Running {
		return
	}
	c.state.Running = false
	c.state.ExitCode = &code
	c.state.OOMKilled = oom
	c.state.FinishedAt = r.now()
	p.cancel()
	if c.spec.NetworkMode == ecstypes.NetworkModeAwsvpc {
		p.closeOwned() // the namespace is the pause container's
	} else if c.ns != nil {
		c.ns.closeAll()
	}
	if oom {
		r.emitLocked(runtime.EventOOM, c)
	}
	r.emitLocked(runtime.EventDie, c)
}

func (ns *netns) closeAll() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for port, l := range ns.listeners {
		l.Close()
		delete(ns.listeners, port)
	}
}

// StopContainer closes the process's Term channel (SIGTERM) and kills it
// (exit 137) if it has not exited after timeout.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if err := r.delay(ctx, "Stop"); err != nil {
		return err
	}
	r.mu.Lock()
	c, err := r.get(id)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("stop container: %w", err)
	}
	p := c.proc
	if !c.state.Running || p == nil {
		r.mu.Unlock()
		return nil
	}
	p.termOnce.Do(func() { close(p.term) })
	r.mu.Unlock()
	t := time.NewTimer(max(timeout, 0))
	defer t.Stop()
	select {
	case <-p.ctx.Done():
		return nil
	case <-t.C:
		r.exit(p, 137, false)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RemoveContainer kills a running container and forgets it.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := r.delay(ctx, "Remove"); err != nil {
		return err
	}
	r.mu.Lock()
	c, err := r.get(id)
	r.mu.Unlock()
	if err != nil {
		return nil
	}
	if c.proc != nil {
		r.exit(c.proc, 137, false)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.containers[c.state.ID]; !ok {
		return nil
	}
	if c.state.Labels[runtime.LabelPause] == "true" {
		c.ns.closeAll()
	}
	delete(r.containers, c.state.ID)
	delete(r.names, c.state.Name)
	r.emitLocked(runtime.EventRemove, c)
	return nil
}

// Inspect returns a copy of a container's state.
func (r *Runtime) Inspect(ctx context.Context, id string) (runtime.ContainerState, error) {
	if err := r.delay(ctx, "Inspect"); err != nil {
		return runtime.ContainerState{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return runtime.ContainerState{}, fmt.Errorf("inspect container: %w", err)
	}
	return r.stateLocked(c), nil
}

func (r *Runtime) stateLocked(c *ctr) runtime.ContainerState {
	st := c.state
	st.Labels = maps.Clone(st.Labels)
	st.Ports = append([]runtime.PortBinding(nil), st.Ports...)
	if st.ExitCode != nil {
		code := *st.ExitCode
		st.ExitCode = &code
	}
	if c.spec.NetworkMode == ecstypes.NetworkModeAwsvpc && c.ns != nil {
		st.IPv4 = c.ns.ip
	}
	return st
}

// List returns the containers that carry every given label, by name.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	if err := r.delay(ctx, "List"); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	out := []runtime.ContainerState{}
next:
	for _, c := range r.containers {
		for k, v := range labels {
			if got, ok := c.state.Labels[k]; !ok || got != v {
				continue next
			}
		}
		out = append(out, r.stateLocked(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveImage forgets a local image no container uses.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	if err := r.delay(ctx, "RemoveImage"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	img, ok := r.images[ref]
	if !ok {
		return nil
	}
	for _, c := range r.containers {
		if c.state.ImageID == img.id {
			return fmt.Errorf("remove image %q: in use by container %s", ref, c.state.ID[:12])
		}
	}
	delete(r.images, ref)
	return nil
}

// ListImages returns every local image.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	if err := r.delay(ctx, "ListImages"); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	used := map[string]bool{}
	for _, c := range r.containers {
		used[c.state.ImageID] = true
	}
	var out []runtime.Image
	for _, img := range r.images {
		out = append(out, runtime.Image{ID: img.id, Tags: []string{img.ref}, Created: img.created, InUse: used[img.id], SizeByte: 1 << 20})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tags[0] < out[j].Tags[0] })
	return out, nil
}
