package lb

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/lb/health"
)

// targetKey names a target's runtime state: its health and its
// connections survive an Update while all four stay the same.
type targetKey struct {
	group string
	id    string
	port  int
	addr  string
}

type targetMode uint8

const (
	modeCheck    targetMode = iota // checked actively
	modeUnused                     // its group is not in use
	modeDisabled                   // its group's health check is off
	modeDraining                   // deregistered
)

// target is one registered target of one group. The request path reads
// only its immutable fields and atomics; the rest is guarded by Plane.mu.
type target struct {
	key   targetKey
	token string // the opaque id in its AWSALB cookie
	proxy *httputil.ReverseProxy
	tr    *http.Transport // its own, so that draining closes only its idle conns
	pool  *connPool       // the fast path's connections

	inflight atomic.Int64
	requests atomic.Int64 // requests sent to it, for Stats
	// group counts the requests of the target's group (traffic.go); set
	// once when the target is made.
	groupTraffic *traffic
	draining     atomic.Bool
	retired      atomic.Bool // left the configuration
	hc           atomic.Pointer[HealthCheck]

	// guarded by Plane.mu
	conf    Target
	group   *TargetGroup
	mode    targetMode
	machine health.Machine
	checker *checker
}

func (p *Plane) newTarget(k targetKey) *target {
	t := &target{key: k, token: p.token("t", k.group+"\x00"+k.id+"\x00"+strconv.Itoa(k.port)+"\x00"+k.addr)}
	t.tr = p.base.Clone()
	t.pool = newConnPool(k.addr, p.dialer, p.opts.IdleTimeout, p.opts.MaxIdleConnsPerTarget)
	addr := k.addr
	t.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			// X-Forwarded-For gains the client's address; the other
			// forwarding headers go as they came, X-Forwarded-Proto and
			// -Port as the listener set them (as on the fast path).
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
			for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
				if v, ok := pr.In.Header[k]; ok {
					pr.Out.Header[k] = v
				} else {
					delete(pr.Out.Header, k)
				}
			}
		},
		Transport:  t.tr,
		BufferPool: &p.bufPool,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 500 {
				t.failed()
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t.failed()
			p.proxyError(w, r, err)
		},
		ErrorLog: nil,
	}
	return t
}

// failed counts a request the target failed or answered with a 5xx.
func (t *target) failed() {
	if t.groupTraffic != nil {
		t.groupTraffic.errors.Add(1)
	}
}

// done ends one request to the target; the last one out of a drained or
// removed target closes its idle connections.
func (t *target) done() {
	if t.inflight.Add(-1) == 0 && (t.draining.Load() || t.retired.Load()) {
		t.closeIdle()
	}
}

// closeIdle closes the target's idle keep-alive connections, now and once
// more a moment later (a connection goes back to the idle pool just after
// its response body is read).
func (t *target) closeIdle() {
	t.tr.CloseIdleConnections()
	t.pool.closeIdle()
	time.AfterFunc(200*time.Millisecond, func() {
		t.tr.CloseIdleConnections()
		t.pool.closeIdle()
	})
}

// proxyError answers for a target that failed: 504 when it did not answer
// in time (or could not be reached in time), 502 otherwise.
func (p *Plane) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	rec, _ := w.(*recWriter)
	if rec != nil {
		rec.lbError = true
	}
	if r.Context().Err() != nil {
		// The client went away (ALB logs a 460); nobody reads this.
		if rec != nil && rec.code == 0 {
			rec.code = statusClientClosed
		}
		writeError(w, http.StatusBadGateway)
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusGatewayTimeout)
		return
	}
	p.log.Debug("lb: target error", "err", err, "host", r.URL.Host)
	writeError(w, http.StatusBadGateway)
}

// statusClientClosed is ALB's 460: the client closed the connection
// before the load balancer could answer.
const statusClientClosed = 460

// token derives a stable, unguessable id from the cookie key.
func (p *Plane) token(kind, s string) string {
	m := hmac.New(sha256.New, p.cookieKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// cookieValue is a stickiness cookie: the token, its expiry (Unix
// seconds) and a MAC of both, so that neither can be forged.
func (p *Plane) cookieValue(token string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 36)
	return token + "." + e + "." + p.mac(token, e)
}

func (p *Plane) mac(token, exp string) string {
	m := hmac.New(sha256.New, p.cookieKey)
	m.Write([]byte("c\x00"))
	m.Write([]byte(token))
	m.Write([]byte{'.'})
	m.Write([]byte(exp))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// parseCookie returns the token of a valid, unexpired cookie value.
func (p *Plane) parseCookie(v string) (string, bool) {
	if len(v) < 24+2+16 {
		return "", false
	}
	tok := v[:24]
	rest := v[24:]
	if rest[0] != '.' {
		return "", false
	}
	rest = rest[1:]
	i := len(rest) - 17
	if i < 1 || rest[i] != '.' {
		return "", false
	}
	e, sig := rest[:i], rest[i+1:]
	if !hmac.Equal([]byte(sig), []byte(p.mac(tok, e))) {
		return "", false
	}
	exp, err := strconv.ParseInt(e, 36, 64)
	if err != nil || p.now().Unix() >= exp {
		return "", false
	}
	return tok, true
}

// normalizeHC fills a health check's defaults (ALB's for HTTP).
func normalizeHC(hc HealthCheck, tc Target) *HealthCheck {
	c := hc
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = 5
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = 2
	}
	c.Port = healthPort(hc, tc)
	return &c
}

// checker is one target's health-check loop.
type checker struct {
	cancel context.CancelFunc
	kick   chan struct{}
}

func (p *Plane) startChecker(t *target) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{cancel: cancel, kick: make(chan struct{}, 1)}
	t.checker = c
	p.checkers.Add(1)
	go func() {
		defer p.checkers.Done()
		p.runChecker(ctx, t, c)
	}()
}

func (p *Plane) stopChecker(t *target) {
	if t.checker != nil {
		t.checker.cancel()
		t.checker = nil
	}
}

func (p *Plane) runChecker(ctx context.Context, t *target, c *checker) {
	host, _, err := net.SplitHostPort(t.key.addr)
	if err != nil {
		host = t.key.addr
	}
	timer := time.NewTimer(0) // the first probe at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.kick:
			timer.Stop()
		}
		hc := t.hc.Load()
		res, code := p.probe(ctx, host, hc)
		if ctx.Err() != nil {
			return
		}
		p.observe(t, c, res, code, hc)
		timer.Reset(hc.Interval)
	}
}

// probe sends one health check: GET path on host:port.
func (p *Plane) probe(ctx context.Context, host string, hc *HealthCheck) (health.Result, int) {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, hc.Port) + hc.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return health.Failed, 0
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	resp, err := p.hcClient.Do(req)
	if err != nil {
		var ne net.Error
		if ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			return health.Timeout, 0
		}
		return health.Failed, 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if health.ParseMatcher(hc.Matcher).Match(resp.StatusCode) {
		return health.OK, resp.StatusCode
	}
	return health.CodeMismatch, resp.StatusCode
}

// observe feeds a probe's result to the target's state machine; a change
// of state rebuilds its group's routable set.
func (p *Plane) observe(t *target, c *checker, res health.Result, code int, hc *HealthCheck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.checker != c || t.mode != modeCheck {
		return // stopped or restarted meanwhile
	}
	prev := t.machine.State()
	st, changed := t.machine.Observe(res, code, health.Thresholds{Healthy: hc.HealthyThreshold, Unhealthy: hc.UnhealthyThreshold})
	if changed {
		p.log.Info("lb: target health changed", "group", t.key.group, "target", t.key.addr, "from", prev.String(), "to", st.String())
		if gs := p.groups[t.key.group]; gs != nil {
			p.rebuildView(gs)
		}
	}
}
