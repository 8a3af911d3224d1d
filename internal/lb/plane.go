package lb

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/lb/health"
)

// Options configure a Plane. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// IdleTimeout is ALB's idle timeout: a target that sends no response
	// headers within it gets the client a 504, and an idle client
	// keep-alive connection is closed after it. Default 60 s.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting to a target (ALB: 10 s; a timeout is
	// a 504, a refusal a 502). Default 10 s.
	DialTimeout time.Duration
	// MaxIdleConnsPerTarget is how many idle keep-alive connections to
	// keep per target. Default 1024.
	MaxIdleConnsPerTarget int
	// ShutdownTimeout bounds how long a removed listener waits for its
	// requests in flight before it closes their connections. Default
	// IdleTimeout.
	ShutdownTimeout time.Duration
	// Now is the clock of deregistration delays and cookie expiry.
	// Default time.Now.
	Now func() time.Time
	// CookieKey signs the stickiness cookies (AWSALB, AWSALBTG). Random
	// when empty: set it for cookies to survive a restart.
	CookieKey []byte
}

// Plane is the load balancer data plane: the listeners it has bound, the
// targets it forwards to and checks. Its methods are safe for concurrent
// use.
type Plane struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	base      *http.Transport // template of every target's transport
	dialer    *net.Dialer
	hcClient  *http.Client
	bufPool   bufferPool
	cookieKey []byte

	mu        sync.Mutex
	closed    bool
	listeners map[string]*listener    // by ARN
	groups    map[string]*groupState  // by ARN
	targets   map[targetKey]*target   // by (group, id, port, addr)
	cfg       map[string]*TargetGroup // last snapshot's groups
	lbStats   map[string]*lbCounters  // by load balancer ARN
	tgStats   map[pairKey]*tgCounters // by load balancer and target group ARN
	checkers  sync.WaitGroup
}

// New makes a Plane that serves nothing until the first Update.
func New(opts Options) *Plane {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.MaxIdleConnsPerTarget <= 0 {
		opts.MaxIdleConnsPerTarget = 1024
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = opts.IdleTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key := opts.CookieKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	p := &Plane{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		cookieKey: key,
		dialer:    dialer,
		listeners: map[string]*listener{},
		groups:    map[string]*groupState{},
		targets:   map[targetKey]*target{},
		cfg:       map[string]*TargetGroup{},
		lbStats:   map[string]*lbCounters{},
		tgStats:   map[pairKey]*tgCounters{},
	}
	p.base = &http.Transport{
		Proxy:                 nil, // never an environment proxy
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerTarget,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: opts.IdleTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
	p.hcClient = &http.Client{
		Transport: &http.Transport{
			Proxy:              nil,
			DialContext:        dialer.DialContext,
			DisableKeepAlives:  true, // ALB closes a health check's connection
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

var errClosed = errors.New("lb: plane closed")

// Update applies a new snapshot. See the package documentation; it returns
// the bind error of every listener it could not bind, nil when all bound.
func (p *Plane) Update(cfg *Config) map[string]error {
	if cfg == nil {
		cfg = &Config{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		errs := map[string]error{}
		for _, l := range cfg.Listeners {
			errs[l.ARN] = errClosed
		}
		return nilIfEmpty(errs)
	}
	p.updateTargets(cfg)
	errs := p.updateListeners(cfg)
	p.pruneCounters(cfg)
	return nilIfEmpty(errs)
}

func nilIfEmpty(m map[string]error) map[string]error {
	if len(m) == 0 {
		return nil
	}
	return m
}

// updateTargets reconciles target groups and targets with cfg: new targets
// start in initial, kept ones keep their health, gone ones retire.
func (p *Plane) updateTargets(cfg *Config) {
	seen := map[targetKey]bool{}
	newCfg := map[string]*TargetGroup{}
	members := map[string][]*target{}
	for arn, tg := range cfg.TargetGroups {
		if tg == nil {
			continue
		}
		if tg.ARN == "" {
			tg = withARN(tg, arn)
		}
		arn = tg.ARN
		newCfg[arn] = tg
		gs := p.groups[arn]
		if gs == nil {
			gs = &groupState{arn: arn, token: p.token("g", arn)}
			gs.view.Store(&groupView{})
			p.groups[arn] = gs
		}
		for _, tc := range tg.Targets {
			k := targetKey{group: arn, id: tc.ID, port: tc.Port, addr: tc.Addr}
			if seen[k] {
				continue
			}
			seen[k] = true
			t := p.targets[k]
			if t == nil {
				t = p.newTarget(k)
				t.groupTraffic = &gs.traffic
				p.targets[k] = t
			}
			p.configureTarget(t, tg, tc)
			members[arn] = append(members[arn], t)
		}
	}
	for k, t := range p.targets {
		if !seen[k] {
			p.retire(t)
			delete(p.targets, k)
		}
	}
	p.cfg = newCfg
	for arn, gs := range p.groups {
		tg := newCfg[arn]
		if tg == nil {
			gs.view.Store(&groupView{})
			delete(p.groups, arn)
			continue
		}
		gs.members = members[arn]
		p.rebuildView(gs)
	}
}

func withARN(tg *TargetGroup, arn string) *TargetGroup {
	c := *tg
	c.ARN = arn
	return &c
}

// configureTarget applies the target's and its group's configuration: it
// starts or stops the target's health checker as the state requires.
func (p *Plane) configureTarget(t *target, tg *TargetGroup, tc Target) {
	t.conf = tc
	t.group = tg
	t.draining.Store(tc.Draining)
	want := modeCheck
	switch {
	case tc.Draining:
		want = modeDraining
	case !tg.InUse:
		want = modeUnused
	case !tg.HealthCheck.Enabled:
		want = modeDisabled
	}
	hc := normalizeHC(tg.HealthCheck, tc)
	if want != modeCheck {
		p.stopChecker(t)
		if want != modeDraining {
			t.machine = health.Machine{} // back to initial when checked again
		}
		t.mode = want
		if want == modeDraining && t.inflight.Load() == 0 {
			t.closeIdle()
		}
		return
	}
	if t.mode != modeCheck {
		t.machine = health.Machine{}
	}
	t.mode = modeCheck
	old := t.hc.Swap(hc)
	if t.checker == nil {
		p.startChecker(t)
	} else if old == nil || *old != *hc {
		select {
		case t.checker.kick <- struct{}{}:
		default:
		}
	}
}

// retire forgets a target that left the configuration: requests in flight
// finish, then its idle connections close.
func (p *Plane) retire(t *target) {
	p.stopChecker(t)
	t.retired.Store(true)
	if t.inflight.Load() == 0 {
		t.closeIdle()
	}
}

// rebuildView recomputes the routable targets of a group from its members'
// modes and health. Called with p.mu held, after an Update and on every
// health transition.
func (p *Plane) rebuildView(gs *groupState) {
	tg := p.cfg[gs.arn]
	if tg == nil {
		return
	}
	v := &groupView{tg: tg, byToken: map[string]*target{}}
	var healthy []*target
	checked := tg.InUse && tg.HealthCheck.Enabled
	for _, t := range gs.members {
		if t.mode == modeDraining {
			continue
		}
		v.active = append(v.active, t)
		if checked && t.machine.State() == health.Healthy {
			healthy = append(healthy, t)
		}
	}
	if checked && len(healthy) > 0 {
		v.routable = healthy
	} else {
		// Health checks off, or fail open: no target is healthy, so all
		// of them (initial and unhealthy alike) get traffic.
		v.routable = v.active
		v.failOpen = checked
	}
	for _, t := range v.routable {
		v.byToken[t.token] = t
	}
	gs.view.Store(v)
}

// Close unbinds every listener (requests in flight get ShutdownTimeout to
// finish), stops the health checks and closes idle target connections.
func (p *Plane) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := p.listeners
	p.listeners = map[string]*listener{}
	for _, t := range p.targets {
		p.stopChecker(t)
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.shutdown(p.opts.ShutdownTimeout)
		}()
	}
	wg.Wait()
	p.checkers.Wait()
	p.mu.Lock()
	for k, t := range p.targets {
		t.retired.Store(true)
		t.closeIdle()
		delete(p.targets, k)
	}
	p.mu.Unlock()
	p.hcClient.CloseIdleConnections()
	return nil
}

// ListenerAddr returns the address a listener is bound to (useful when
// its Addr asks for port 0), or nil when it is not bound.
func (p *Plane) ListenerAddr(arn string) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.listeners[arn]; l != nil {
		return l.ln.Addr()
	}
	return nil
}

// Health returns the status of every registered or draining target of a
// target group, in the order of the last snapshot; nil for an unknown
// group.
func (p *Plane) Health(tgARN string) []TargetStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	gs := p.groups[tgARN]
	tg := p.cfg[tgARN]
	if gs == nil || tg == nil {
		return nil
	}
	now := p.now()
	out := make([]TargetStatus, 0, len(gs.members))
	for _, t := range gs.members {
		out = append(out, p.status(t, tg, now))
	}
	return out
}

func (p *Plane) status(t *target, tg *TargetGroup, now time.Time) TargetStatus {
	st := TargetStatus{
		Key:        Key{ID: t.conf.ID, Port: t.conf.Port},
		HealthPort: healthPort(tg.HealthCheck, t.conf),
	}
	switch t.mode {
	case modeDraining:
		st.State = StateDraining
		st.Reason = ReasonDeregistrationInProgress
		st.Description = "Target deregistration is in progress"
		inflight := t.inflight.Load()
		if inflight <= 0 || !now.Before(t.conf.DeregisteredAt.Add(tg.DeregistrationDelay)) {
			st.Drained = true
			if inflight <= 0 {
				t.closeIdle()
			}
		}
	case modeUnused:
		st.State = StateUnused
		st.Reason = ReasonNotInUse
		st.Description = "Target group is not configured to receive traffic from the load balancer"
	case modeDisabled:
		st.State = StateUnavailable
		st.Reason = ReasonHealthCheckDisabled
		st.Description = "Health checks are disabled"
	default:
		st.State = t.machine.State().String()
		st.Reason, st.Description = t.machine.Reason()
	}
	return st
}

// healthPort is the port a target's health check probes.
func healthPort(hc HealthCheck, tc Target) string {
	if hc.Port != "" && hc.Port != HealthCheckPortTrafficPort {
		return hc.Port
	}
	if tc.Port > 0 {
		return strconv.Itoa(tc.Port)
	}
	if _, port, err := net.SplitHostPort(tc.Addr); err == nil {
		return port
	}
	return ""
}

// bufferPool lends the reverse proxies their copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// quietLog is the net/http servers' error log: accept errors and the like
// at debug level.
func quietLog(l *slog.Logger) *slogWriter { return &slogWriter{l} }

type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(b []byte) (int, error) {
	w.l.Debug("lb: http server", "msg", string(b))
	return len(b), nil
}

var _ io.Writer = (*slogWriter)(nil)

// shutdown closes a listener gracefully: no new connections, requests in
// flight get up to d to finish, then their connections close.
func (l *listener) shutdown(d time.Duration) {
	_ = l.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.srv.Shutdown(ctx); err != nil {
			_ = l.srv.Close()
		}
	}()
	l.shutdownFront(ctx)
	<-done
}
