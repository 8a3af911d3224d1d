package fake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
)

// A Program is what a started fake container does. It runs in its own
// goroutine and returns the exit code. It should return 0 (or whatever it
// likes) soon after Term is closed, unless it means to ignore SIGTERM, and
// must return once Done is closed (the container was killed; the code it
// returns then is ignored).
type Program func(p *Process) int

// Sleep is the default Program: it runs until stopped and exits 0 on
// SIGTERM.
func Sleep(p *Process) int {
	select {
	case <-p.Term():
		return 0
	case <-p.Done():
		return 137
	}
}

// Process is one run of a container, as its Program sees it.
type Process struct {
	Spec runtime.ContainerSpec
	ID   string

	rt       *Runtime
	c        *ctr
	ctx      context.Context
	cancel   context.CancelFunc
	term     chan struct{}
	termOnce sync.Once
	owned    []int // ports this run bound in a shared namespace
}

// closeOwned closes the sockets this run bound in its namespace.
func (p *Process) closeOwned() {
	ns := p.c.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, port := range p.owned {
		if l, ok := ns.listeners[port]; ok {
			l.Close()
			delete(ns.listeners, port)
		}
	}
	p.owned = nil
}

// Term is closed when the container is asked to stop (SIGTERM).
func (p *Process) Term() <-chan struct{} { return p.term }

// Done is closed when the container has exited or was killed.
func (p *Process) Done() <-chan struct{} { return p.ctx.Done() }

// Context ends when the container has exited or was killed.
func (p *Process) Context() context.Context { return p.ctx }

// Args are the process's arguments after the executable: the definition's
// entryPoint (less its first element) and command; with no entryPoint the
// image's entrypoint is assumed, and the command is all of the arguments.
func (p *Process) Args() []string {
	def := p.Spec.Def
	if len(def.EntryPoint) > 0 {
		return append(append([]string{}, def.EntryPoint[1:]...), def.Command...)
	}
	return append([]string{}, def.Command...)
}

// Env is the container's environment: the definition's, then ExtraEnv.
func (p *Process) Env() map[string]string {
	env := map[string]string{}
	for _, kvs := range [][]ecstypes.KeyValuePair{p.Spec.Def.Environment, p.Spec.ExtraEnv} {
		for _, kv := range kvs {
			env[kv.Name] = kv.Value
		}
	}
	return env
}

// Listen binds a TCP port in the container's network namespace; it needs
// the runtime's Loopback. A published bridge port is already bound (the
// host port the state reports); an awsvpc task listens on its own
// loopback address; other ports get a free port on 127.0.0.1 that Resolve
// finds.
func (p *Process) Listen(port int) (net.Listener, error) {
	if !p.rt.Loopback {
		return nil, errors.New("fake: no real sockets without Loopback")
	}
	ns := p.c.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if l, ok := ns.listeners[port]; ok {
		return l, nil
	}
	addr := net.JoinHostPort("127.0.0.1", "0")
	switch p.Spec.NetworkMode {
	case ecstypes.NetworkModeAwsvpc:
		addr = net.JoinHostPort(ns.ip, strconv.Itoa(port))
	case ecstypes.NetworkModeHost:
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	case ecstypes.NetworkModeNone:
		return nil, errors.New("fake: network mode none")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ns.listeners[port] = l
	p.owned = append(p.owned, port)
	return l, nil
}

// Resolve maps a port on the container's localhost to the real address
// that serves it, or "" if nothing listens there.
func (p *Process) Resolve(port int) string {
	ns := p.c.ns
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if l, ok := ns.listeners[port]; ok {
		return l.Addr().String()
	}
	return ""
}

func (r *Runtime) proc(id string) (*Process, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return nil, err
	}
	if !c.state.Running || c.proc == nil {
		return nil, fmt.Errorf("container %q is not running", id)
	}
	return c.proc, nil
}

// Exit makes a running container exit with code, as if its process died.
func (r *Runtime) Exit(id string, code int) error {
	p, err := r.proc(id)
	if err != nil {
		return err
	}
	r.exit(p, code, false)
	return nil
}

// OOMKill kills a running container as the kernel's OOM killer would:
// exit 137, OOMKilled set, an oom event before the die event.
func (r *Runtime) OOMKill(id string) error {
	p, err := r.proc(id)
	if err != nil {
		return err
	}
	r.exit(p, 137, true)
	return nil
}

// SetHealth sets a container's health and emits a health event if it
// changed.
func (r *Runtime) SetHealth(id string, h runtime.Health) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return err
	}
	r.setHealthLocked(c, h)
	return nil
}

func (r *Runtime) setHealthLocked(c *ctr, h runtime.Health) {
	if c.state.Health != h {
		c.state.Health = h
		r.emitLocked(runtime.EventHealth, c)
	}
}

// Spec returns the spec a container was created from, so tests can check
// what the caller asked for.
func (r *Runtime) Spec(id string) (runtime.ContainerSpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.get(id)
	if err != nil {
		return runtime.ContainerSpec{}, false
	}
	return c.spec, true
}

// healthLoop runs the container's health check as Docker does: every
// interval, a check that fails retries times in a row (outside the start
// period) makes it UNHEALTHY, a passing one HEALTHY.
func (r *Runtime) healthLoop(p *Process, hc *ecstypes.HealthCheck) {
	sec := func(v *int32, def int32) time.Duration {
		if v != nil {
			def = *v
		}
		return time.Duration(def) * time.Second
	}
	interval, timeout, startPeriod := sec(hc.Interval, 30), sec(hc.Timeout, 5), sec(hc.StartPeriod, 0)
	retries := 3
	if hc.Retries != nil {
		retries = int(*hc.Retries)
	}
	started := time.Now()
	failures := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-p.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(p.ctx, timeout)
		ok := r.HealthProbe(ctx, p, hc.Command)
		cancel()
		r.mu.Lock()
		if p.c.proc != p || !p.c.state.Running {
			r.mu.Unlock()
			return
		}
		switch {
		case ok:
			failures = 0
			r.setHealthLocked(p.c, runtime.HealthHealthy)
		case time.Since(started) < startPeriod:
		default:
			failures++
			if failures >= retries {
				r.setHealthLocked(p.c, runtime.HealthUnhealthy)
			}
		}
		r.mu.Unlock()
	}
}

// Events streams events of every container. A subscriber that falls 1024
// events behind is cut off with an error, as a real stream would be.
func (r *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event, 1024)
	errc := make(chan error, 1)
	r.mu.Lock()
	r.init()
	r.seq++
	id := r.seq
	r.subs[id], r.subErrs[id] = out, errc
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		r.endSubLocked(id, ctx.Err())
		r.mu.Unlock()
	}()
	return out, errc
}

func (r *Runtime) endSubLocked(id int, err error) {
	ch, ok := r.subs[id]
	if !ok {
		return
	}
	close(ch)
	r.subErrs[id] <- err
	delete(r.subs, id)
	delete(r.subErrs, id)
}

// FailEvents ends every event stream with err, as a daemon restart would.
func (r *Runtime) FailEvents(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.subs {
		r.endSubLocked(id, err)
	}
}

func (r *Runtime) emitLocked(t runtime.EventType, c *ctr) {
	ev := runtime.Event{Type: t, ContainerID: c.state.ID, Labels: maps.Clone(c.state.Labels), Time: r.now()}
	for id, ch := range r.subs {
		select {
		case ch <- ev:
		default:
			r.endSubLocked(id, errors.New("fake: event subscriber fell behind"))
		}
	}
}
