package lb

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a real HTTP target on loopback. It answers with its name,
// serves /health (200, or 500 once failed), and holds requests to /block
// until released.
type backend struct {
	name    string
	srv     *httptest.Server
	failing atomic.Bool
	hits    atomic.Int64
	hcHits  atomic.Int64
	block   chan struct{}
	entered chan struct{}
	hcDelay atomic.Int64 // ns to sleep in /health
	mu      sync.Mutex
	last    http.Header
}

func newBackend(t testing.TB, name string) *backend {
	b := &backend{name: name, block: make(chan struct{}), entered: make(chan struct{}, 100)}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(func() {
		b.release()
		b.srv.CloseClientConnections()
		b.srv.Close()
	})
	return b
}

func (b *backend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.block:
	default:
		close(b.block)
	}
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasSuffix(path, "/sleep") {
		path = "/sleep"
	}
	switch path {
	case "/health":
		b.hcHits.Add(1)
		if d := b.hcDelay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if b.failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
		return
	case "/block":
		b.hits.Add(1)
		b.entered <- struct{}{}
		<-b.block
	case "/sleep":
		b.hits.Add(1)
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	default:
		b.hits.Add(1)
	}
	b.mu.Lock()
	b.last = r.Header.Clone()
	b.last.Set("Host", r.Host)
	b.mu.Unlock()
	w.Header().Set("X-Backend", b.name)
	io.WriteString(w, b.name)
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

func (b *backend) port() int {
	_, p, _ := net.SplitHostPort(b.addr())
	n, _ := strconv.Atoi(p)
	return n
}

func (b *backend) target() Target {
	return Target{ID: "10.0.0." + b.name, Port: b.port(), Addr: b.addr(), RegisteredAt: time.Now()}
}

func (b *backend) lastHeader() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// fastHC is a health check for tests: every 30 ms.
func fastHC() HealthCheck {
	return HealthCheck{Enabled: true, Protocol: "HTTP", Port: HealthCheckPortTrafficPort, Path: "/health",
		Interval: 30 * time.Millisecond, Timeout: 500 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200"}
}

func group(arn string, bs ...*backend) *TargetGroup {
	tg := &TargetGroup{ARN: arn, Name: arn, Protocol: "HTTP", TargetType: "ip", InUse: true,
		HealthCheck: fastHC(), Algorithm: AlgorithmRoundRobin, DeregistrationDelay: time.Minute}
	for _, b := range bs {
		tg.Targets = append(tg.Targets, b.target())
	}
	return tg
}

func forwardTo(arns ...string) []Action {
	f := &Forward{}
	for _, a := range arns {
		f.TargetGroups = append(f.TargetGroups, WeightedTargetGroup{ARN: a, Weight: 1})
	}
	return []Action{{Type: ActionForward, Forward: f}}
}

func oneListener(tgs ...*TargetGroup) *Config {
	cfg := &Config{TargetGroups: map[string]*TargetGroup{}}
	for _, tg := range tgs {
		cfg.TargetGroups[tg.ARN] = tg
	}
	cfg.Listeners = []Listener{{ARN: "l1", Addr: "127.0.0.1:0", Protocol: "HTTP",
		Rules: []Rule{{ARN: "default", IsDefault: true, Actions: forwardTo(tgs[0].ARN)}}}}
	return cfg
}

func newPlane(t testing.TB, opts Options) *Plane {
	p := New(opts)
	t.Cleanup(func() { p.Close() })
	return p
}

func mustUpdate(t testing.TB, p *Plane, cfg *Config) {
	t.Helper()
	if errs := p.Update(cfg); errs != nil {
		t.Fatalf("Update: %v", errs)
	}
}

func baseURL(t testing.TB, p *Plane, arn string) string {
	t.Helper()
	a := p.ListenerAddr(arn)
	if a == nil {
		t.Fatalf("listener %s not bound", arn)
	}
	return "http://" + a.String()
}

func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type result struct {
	code    int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

func do(t testing.TB, c *http.Client, req *http.Request) result {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return result{resp.StatusCode, string(body), resp.Header, resp.Cookies()}
}

func get(t testing.TB, c *http.Client, url string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// waitFor polls cond until it holds or the (generous) deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// states returns "id=state" of every target of a group.
func states(p *Plane, tg string) map[string]TargetStatus {
	m := map[string]TargetStatus{}
	for _, s := range p.Health(tg) {
		m[s.ID] = s
	}
	return m
}

func allIn(p *Plane, tg, state string) func() bool {
	return func() bool {
		hs := p.Health(tg)
		if len(hs) == 0 {
			return false
		}
		for _, s := range hs {
			if s.State != state {
				return false
			}
		}
		return true
	}
}

func stateOf(p *Plane, tg string, b *backend) string {
	return states(p, tg)["10.0.0."+b.name].State
}

// clock is a settable clock for deregistration delays and cookie expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func count(t testing.TB, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	m := map[string]int{}
	for i := 0; i < n; i++ {
		r := get(t, c, url)
		if r.code != 200 {
			t.Fatalf("request %d: status %d body %q", i, r.code, r.body)
		}
		m[r.body]++
	}
	return m
}

var _ = fmt.Sprint
