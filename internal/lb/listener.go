package lb

import (
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// groupState is a target group's routing state; it survives Updates (by
// ARN) so that round-robin position and routable set carry over.
type groupState struct {
	arn   string
	token string // the opaque id in its AWSALBTG cookie
	rr    atomic.Uint64
	view  atomic.Pointer[groupView]
	// traffic counts the group's requests (traffic.go).
	traffic traffic

	members []*target // guarded by Plane.mu, in snapshot order
}

// groupView is an immutable picture of a group's targets for the request
// path, rebuilt on Update and on every health transition.
type groupView struct {
	tg       *TargetGroup
	active   []*target // registered, not draining
	routable []*target // healthy ones, or all active ones when failing open
	failOpen bool
	byToken  map[string]*target // routable targets by cookie token
}

// listener is one bound listener.
type listener struct {
	arn   string
	addr  string   // as configured
	port  string   // as bound
	portH []string // X-Forwarded-Port's value
	ln    net.Listener
	srv   *http.Server     // serves the connections the front end hands over
	hand  *handoffListener // srv's listener
	p     *Plane
	lbc   *lbCounters // its load balancer's counters

	fmu     sync.Mutex
	fconns  map[*feConn]struct{} // the front end's connections
	closing atomic.Bool

	rules atomic.Pointer[[]rule]
	// traffic counts the listener's requests (traffic.go).
	traffic traffic
}

// rule is a compiled listener rule.
type rule struct {
	arn   string
	conds []condition
	kind  string // terminal action type; "" when the rule has none
	fwd   []fwdGroup
	total int // sum of forward weights
	gstk  time.Duration
	fixed *FixedResponse
	redir *Redirect
}

type fwdGroup struct {
	arn    string
	weight int
	gs     *groupState // nil: unknown target group
	m      *tgCounters // this load balancer's counters of the group
}

// compileRules compiles a listener's rules; lbARN is its load balancer's.
// Called with p.mu held.
func (p *Plane) compileRules(lbARN string, rs []Rule) []rule {
	out := make([]rule, 0, len(rs))
	for _, r := range rs {
		cr := rule{arn: r.ARN}
		for _, c := range r.Conditions {
			cr.conds = append(cr.conds, compileCondition(c))
		}
		if n := len(r.Actions); n > 0 {
			a := r.Actions[n-1]
			cr.kind = a.Type
			switch a.Type {
			case ActionForward:
				if a.Forward != nil {
					cr.gstk = a.Forward.GroupStickiness
					for _, w := range a.Forward.TargetGroups {
						wt := w.Weight
						if wt < 0 {
							wt = 0
						}
						if len(a.Forward.TargetGroups) == 1 && wt == 0 {
							wt = 1
						}
						cr.fwd = append(cr.fwd, fwdGroup{arn: w.ARN, weight: wt, gs: p.groups[w.ARN], m: p.tgCounter(lbARN, w.ARN)})
						cr.total += wt
					}
				}
			case ActionFixedResponse:
				cr.fixed = a.FixedResponse
			case ActionRedirect:
				cr.redir = a.Redirect
			}
		}
		out = append(out, cr)
	}
	return out
}

// updateListeners binds, rebinds and closes listeners; called with p.mu
// held, after the groups are up to date.
func (p *Plane) updateListeners(cfg *Config) map[string]error {
	errs := map[string]error{}
	want := map[string]*Listener{}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		if _, dup := want[l.ARN]; dup {
			errs[l.ARN] = errDuplicate
			continue
		}
		want[l.ARN] = l
	}
	// Close first what is gone or moves, so that its port is free.
	for arn, l := range p.listeners {
		if w := want[arn]; w == nil || w.Addr != l.addr {
			delete(p.listeners, arn)
			go l.shutdown(p.opts.ShutdownTimeout)
			_ = l.ln.Close() // the port is free when Update returns
		}
	}
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		if want[lc.ARN] != lc {
			continue
		}
		rules := p.compileRules(lc.LoadBalancerARN, lc.Rules)
		if l := p.listeners[lc.ARN]; l != nil {
			l.rules.Store(&rules)
			continue
		}
		l, err := p.bind(lc)
		if err != nil {
			errs[lc.ARN] = err
			p.log.Warn("lb: cannot bind listener", "listener", lc.ARN, "addr", lc.Addr, "err", err)
			continue
		}
		l.rules.Store(&rules)
		p.listeners[lc.ARN] = l
		go func() { _ = l.srv.Serve(l.hand) }()
		go l.acceptLoop()
	}
	return errs
}

type lbError string

func (e lbError) Error() string { return string(e) }

const errDuplicate = lbError("lb: duplicate listener ARN")

func (p *Plane) bind(lc *Listener) (*listener, error) {
	ln, err := net.Listen("tcp", lc.Addr)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	l := &listener{arn: lc.ARN, addr: lc.Addr, port: port, portH: []string{port}, ln: ln, p: p, lbc: p.lbCounter(lc.LoadBalancerARN),
		hand: newHandoffListener(ln.Addr()), fconns: map[*feConn]struct{}{}}
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: p.opts.IdleTimeout,
		IdleTimeout:       p.opts.IdleTimeout,
		ErrorLog:          log.New(quietLog(p.log), "", 0),
	}
	return l, nil
}

// ServeHTTP routes one request by the listener's current rules.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// One clock read before and one after, for the listener's count and
	// the target group's (the one the request went to, if any).
	start := time.Now()
	var gs *groupState
	defer func() {
		d := time.Since(start)
		l.traffic.observe(d)
		if gs != nil {
			gs.traffic.observe(d)
		}
	}()
	rp := l.rules.Load()
	if rp == nil {
		l.fail(w, http.StatusServiceUnavailable)
		return
	}
	rules := *rp
	v := reqView{r: r}
	for i := range rules {
		rl := &rules[i]
		if rl.matches(&v) {
			gs = l.serve(w, r, rl)
			return
		}
	}
	// No rule matched: a listener always has a default rule, so the
	// snapshot is incomplete.
	l.fail(w, http.StatusServiceUnavailable)
}

// fail answers with an error page of the load balancer's own, counted as
// the listener's error.
func (l *listener) fail(w http.ResponseWriter, code int) {
	l.traffic.errors.Add(1)
	l.lbc.elb[class(code)].Add(1)
	writeError(w, code)
}

func (rl *rule) matches(v *reqView) bool {
	for i := range rl.conds {
		if !rl.conds[i].match(v) {
			return false
		}
	}
	return true
}

// serve answers by the rule's action, and returns the target group it
// forwarded to (nil: none).
func (l *listener) serve(w http.ResponseWriter, r *http.Request, rl *rule) *groupState {
	switch rl.kind {
	case ActionForward:
		return l.forward(w, r, rl)
	case ActionFixedResponse:
		code := serveFixed(w, rl.fixed)
		l.lbc.requests.Add(1)
		l.lbc.fixed.Add(1)
		l.lbc.elb[class(code)].Add(1)
	case ActionRedirect:
		code := l.redirect(w, r, rl.redir)
		l.lbc.requests.Add(1)
		l.lbc.redirect.Add(1)
		l.lbc.elb[class(code)].Add(1)
	default:
		l.fail(w, http.StatusInternalServerError) // no terminal action
	}
	return nil
}

const (
	cookieTarget = "AWSALB"
	cookieGroup  = "AWSALBTG"
)

func (l *listener) forward(w http.ResponseWriter, r *http.Request, rl *rule) *groupState {
	p := l.p
	if rl.total <= 0 {
		l.fail(w, http.StatusServiceUnavailable)
		return nil
	}
	// Pick the target group: the sticky one, else by weight.
	var fg *fwdGroup
	if rl.gstk > 0 && len(rl.fwd) > 1 {
		if c, err := r.Cookie(cookieGroup); err == nil {
			if tok, ok := p.parseCookie(c.Value); ok {
				for i := range rl.fwd {
					if f := &rl.fwd[i]; f.gs != nil && f.weight > 0 && f.gs.token == tok {
						fg = f
						break
					}
				}
			}
		}
	}
	if fg == nil {
		fg = &rl.fwd[0]
		if len(rl.fwd) > 1 {
			n := rand.IntN(rl.total)
			for i := range rl.fwd {
				if n < rl.fwd[i].weight {
					fg = &rl.fwd[i]
					break
				}
				n -= rl.fwd[i].weight
			}
		}
	}
	gs := fg.gs
	if gs == nil {
		l.fail(w, http.StatusServiceUnavailable)
		return nil
	}
	v := gs.view.Load()
	if v == nil || len(v.routable) == 0 {
		l.fail(w, http.StatusServiceUnavailable)
		return nil
	}
	// Pick the target: the sticky one, else by the group's algorithm.
	var t *target
	stk := v.tg.Stickiness
	sticky := stk.Enabled && (stk.Type == "" || stk.Type == StickinessTypeLBCookie)
	if sticky {
		if c, err := r.Cookie(cookieTarget); err == nil {
			if tok, ok := p.parseCookie(c.Value); ok {
				t = v.byToken[tok]
			}
		}
	}
	if t == nil {
		t = pick(gs, v)
	}
	t.inflight.Add(1)
	defer t.done()
	l.lbc.requests.Add(1)
	fg.m.requests.Add(1)
	t.requests.Add(1)

	h := w.Header()
	now := time.Time{}
	if rl.gstk > 0 && len(rl.fwd) > 1 {
		now = p.now()
		setCookie(h, cookieGroup, p.cookieValue(gs.token, now.Add(rl.gstk)), now.Add(rl.gstk))
	}
	if sticky {
		if now.IsZero() {
			now = p.now()
		}
		d := stk.Duration
		if d <= 0 {
			d = 24 * time.Hour // ALB's default
		}
		setCookie(h, cookieTarget, p.cookieValue(t.token, now.Add(d)), now.Add(d))
	}
	rh := r.Header
	rh["X-Forwarded-Proto"] = protoHTTP
	rh["X-Forwarded-Port"] = l.portH
	if _, ok := rh["X-Amzn-Trace-Id"]; !ok {
		rh["X-Amzn-Trace-Id"] = []string{traceID(p.now())}
	}
	if fastEligible(r) {
		code, fromTarget, rt, abort := p.serveFast(w, r, t)
		fg.m.observe(l.lbc, code, fromTarget, rt)
		if abort {
			panic(http.ErrAbortHandler)
		}
		return gs
	}
	rec := &recWriter{ResponseWriter: w, start: time.Now()}
	defer func() {
		rt := rec.rt
		if rec.code == 0 {
			rt = -1 // nothing was answered
		}
		fg.m.observe(l.lbc, rec.code, !rec.lbError, rt)
	}()
	t.proxy.ServeHTTP(rec, r)
	return gs
}

// recWriter notes the status of a response forwarded by the reverse proxy
// and when its head came, for the metrics; the proxy's error handler marks
// the load balancer's own errors.
type recWriter struct {
	http.ResponseWriter
	start   time.Time
	code    int
	rt      time.Duration
	lbError bool
}

func (w *recWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
		w.rt = time.Since(w.start)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
		w.rt = time.Since(w.start)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// hijacking for upgrades).
func (w *recWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var protoHTTP = []string{"http"}

func setCookie(h http.Header, name, value string, exp time.Time) {
	h.Add("Set-Cookie", name+"="+value+"; Expires="+exp.UTC().Format(http.TimeFormat)+"; Path=/")
}

// pick chooses a routable target by the group's algorithm.
func pick(gs *groupState, v *groupView) *target {
	ts := v.routable
	n := uint64(len(ts))
	if n == 1 {
		return ts[0]
	}
	start := gs.rr.Add(1) - 1
	if v.tg.Algorithm != AlgorithmLeastOutstanding {
		return ts[start%n]
	}
	best := ts[start%n]
	bestN := best.inflight.Load()
	for i := uint64(1); i < n && bestN > 0; i++ {
		t := ts[(start+i)%n]
		if c := t.inflight.Load(); c < bestN {
			best, bestN = t, c
		}
	}
	return best
}

const hexDigits = "0123456789abcdef"

// traceID makes an X-Amzn-Trace-Id: Root=1-<epoch seconds, 8 hex>-<96
// random bits, 24 hex>.
func traceID(now time.Time) string {
	var b [7 + 8 + 1 + 24]byte
	copy(b[:], "Root=1-")
	sec := uint32(now.Unix())
	for i := 7; i >= 0; i-- {
		b[7+i] = hexDigits[sec&0xf]
		sec >>= 4
	}
	b[15] = '-'
	r1, r2 := rand.Uint64(), rand.Uint32()
	for i := range 16 {
		b[16+i] = hexDigits[r1>>(60-4*i)&0xf]
	}
	for i := range 8 {
		b[32+i] = hexDigits[r2>>(28-4*i)&0xf]
	}
	return string(b[:])
}

// serveFixed answers with a fixed response; it returns the status.
func serveFixed(w http.ResponseWriter, f *FixedResponse) int {
	if f == nil {
		writeError(w, http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	code := f.StatusCode
	if code < 100 || code > 599 {
		code = http.StatusOK
	}
	h := w.Header()
	h.Set("Server", "awselb/2.0")
	ct := f.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(f.Body))
	return code
}

// redirect answers with the rule's redirect, the placeholders replaced by
// the request's own protocol, host, port, path and query.
// It returns the status.
func (l *listener) redirect(w http.ResponseWriter, r *http.Request, rd *Redirect) int {
	if rd == nil {
		writeError(w, http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	host, _ := stripPort(r.Host)
	path := r.URL.Path
	path = strings.TrimPrefix(path, "/")
	repl := strings.NewReplacer(
		"#{protocol}", "http", "#{host}", host, "#{port}", l.port,
		"#{path}", path, "#{query}", r.URL.RawQuery)
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	proto := strings.ToLower(repl.Replace(or(rd.Protocol, "#{protocol}")))
	h := repl.Replace(or(rd.Host, "#{host}"))
	port := repl.Replace(or(rd.Port, "#{port}"))
	p := repl.Replace(or(rd.Path, "/#{path}"))
	q := repl.Replace(or(rd.Query, "#{query}"))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := proto + "://" + h
	if !(proto == "http" && port == "80" || proto == "https" && port == "443") && port != "" {
		u += ":" + port
	}
	u += p
	if q != "" {
		u += "?" + q
	}
	code := rd.StatusCode
	if code < 300 || code > 399 {
		code = http.StatusFound
	}
	hdr := w.Header()
	hdr.Set("Server", "awselb/2.0")
	hdr.Set("Location", u)
	hdr.Set("Content-Type", "text/html")
	body := errorPage(code)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
	return code
}
