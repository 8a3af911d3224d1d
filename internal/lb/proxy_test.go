package lb

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundRobinSpreadsOverThree(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	p := newPlane(t, Options{})
	mustUpdate(t, p, oneListener(group("tg", a, b, c)))
	waitFor(t, "all healthy", allIn(p, "tg", StateHealthy))
	got := count(t, newClient(), baseURL(t, p, "l1")+"/", 300)
	for _, n := range []string{"a", "b", "c"} {
		if got[n] != 100 {
			t.Fatalf("round robin over 300 requests: %v, want 100 each", got)
		}
	}
}

func TestWeightedForward90_10(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := newPlane(t, Options{})
	cfg := oneListener(group("blue", a), group("green", b))
	cfg.Listeners[0].Rules[0].Actions = []Action{{Type: ActionForward, Forward: &Forward{
		TargetGroups: []WeightedTargetGroup{{ARN: "blue", Weight: 90}, {ARN: "green", Weight: 10}}}}}
	mustUpdate(t, p, cfg)
	waitFor(t, "healthy", func() bool { return allIn(p, "blue", StateHealthy)() && allIn(p, "green", StateHealthy)() })
	const n = 2000
	got := count(t, newClient(), baseURL(t, p, "l1")+"/", n)
	// Binomial(2000, 0.1): sd ≈ 13.4; ±60 is beyond 4 sd.
	if got["b"] < 140 || got["b"] > 260 || got["a"]+got["b"] != n {
		t.Fatalf("90/10 split over %d: %v", n, got)
	}
}

func TestWeightZeroGetsNothing(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := newPlane(t, Options{})
	cfg := oneListener(group("blue", a), group("green", b))
	cfg.Listeners[0].Rules[0].Actions = []Action{{Type: ActionForward, Forward: &Forward{
		TargetGroups: []WeightedTargetGroup{{ARN: "blue", Weight: 0}, {ARN: "green", Weight: 5}}}}}
	mustUpdate(t, p, cfg)
	got := count(t, newClient(), baseURL(t, p, "l1")+"/", 50)
	if got["b"] != 50 {
		t.Fatalf("got %v", got)
	}
}

func TestLeastOutstandingAvoidsBusyTarget(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := newPlane(t, Options{})
	tg := group("tg", a, b)
	tg.Algorithm = AlgorithmLeastOutstanding
	mustUpdate(t, p, oneListener(tg))
	waitFor(t, "healthy", allIn(p, "tg", StateHealthy))
	url := baseURL(t, p, "l1")
	c := newClient()
	// Hold two requests on whichever targets they land on; then hold a
	// third: with one busy target and one idle, it must go to the idle one.
	done := make(chan result, 3)
	go func() { done <- get(t, c, url+"/block") }()
	var busy *backend
	select {
	case <-a.entered:
		busy = a
	case <-b.entered:
		busy = b
	case <-time.After(15 * time.Second):
		t.Fatal("blocked request never reached a target")
	}
	idle := a
	if busy == a {
		idle = b
	}
	got := count(t, c, url+"/", 20)
	if got[idle.name] != 20 {
		t.Fatalf("with %s busy, 20 requests went %v", busy.name, got)
	}
	a.release()
	b.release()
	if r := <-done; r.code != 200 {
		t.Fatalf("blocked request: %d", r.code)
	}
}

func TestTargetStickiness(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	clk := newClock()
	p := newPlane(t, Options{Now: clk.Now})
	tg := group("tg", a, b, c)
	tg.Stickiness = Stickiness{Enabled: true, Type: StickinessTypeLBCookie, Duration: time.Hour}
	mustUpdate(t, p, oneListener(tg))
	waitFor(t, "healthy", allIn(p, "tg", StateHealthy))
	url := baseURL(t, p, "l1") + "/"
	cl := newClient()

	first := get(t, cl, url)
	var cookie *http.Cookie
	for _, ck := range first.cookies {
		if ck.Name == "AWSALB" {
			cookie = ck
		}
	}
	if cookie == nil || cookie.Expires.IsZero() {
		t.Fatalf("no AWSALB cookie with an expiry: %v", first.header["Set-Cookie"])
	}
	if strings.Contains(cookie.Value, a.addr()) || strings.Contains(cookie.Value, "10.0.0") {
		t.Fatalf("cookie is not opaque: %q", cookie.Value)
	}
	withCookie := func(ck *http.Cookie) result {
		req, _ := http.NewRequest("GET", url, nil)
		req.AddCookie(ck)
		return do(t, cl, req)
	}
	for i := 0; i < 20; i++ {
		if r := withCookie(cookie); r.body != first.body {
			t.Fatalf("request %d with the cookie went to %s, not %s", i, r.body, first.body)
		}
	}
	// A forged cookie is ignored: requests spread.
	forged := &http.Cookie{Name: "AWSALB", Value: strings.Repeat("0", len(cookie.Value))}
	seen := map[string]bool{}
	for i := 0; i < 6; i++ {
		seen[withCookie(forged).body] = true
	}
	if len(seen) < 2 {
		t.Fatalf("forged cookie pinned the requests: %v", seen)
	}
	// An expired cookie is ignored.
	clk.Add(2 * time.Hour)
	seen = map[string]bool{}
	for i := 0; i < 6; i++ {
		seen[withCookie(cookie).body] = true
	}
	if len(seen) < 2 {
		t.Fatalf("expired cookie still pins: %v", seen)
	}
	clk.Add(-2 * time.Hour)
	// A cookie for a target that is no longer healthy is ignored.
	var pinned *backend
	for _, bk := range []*backend{a, b, c} {
		if bk.name == first.body {
			pinned = bk
		}
	}
	pinned.failing.Store(true)
	waitFor(t, "pinned target unhealthy", func() bool { return stateOf(p, "tg", pinned) == StateUnhealthy })
	for i := 0; i < 6; i++ {
		if r := withCookie(cookie); r.code != 200 || r.body == pinned.name {
			t.Fatalf("request with cookie for unhealthy %s: %d %s", pinned.name, r.code, r.body)
		}
	}
}

func TestGroupStickiness(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := newPlane(t, Options{})
	cfg := oneListener(group("blue", a), group("green", b))
	cfg.Listeners[0].Rules[0].Actions = []Action{{Type: ActionForward, Forward: &Forward{
		TargetGroups:    []WeightedTargetGroup{{ARN: "blue", Weight: 50}, {ARN: "green", Weight: 50}},
		GroupStickiness: time.Hour}}}
	mustUpdate(t, p, cfg)
	url := baseURL(t, p, "l1") + "/"
	cl := newClient()
	first := get(t, cl, url)
	var ck *http.Cookie
	for _, c := range first.cookies {
		if c.Name == "AWSALBTG" {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("no AWSALBTG cookie: %v", first.header)
	}
	for i := 0; i < 30; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.AddCookie(ck)
		if r := do(t, cl, req); r.body != first.body {
			t.Fatalf("request %d went to %s, not %s", i, r.body, first.body)
		}
	}
	// Without the cookie both groups get traffic.
	if got := count(t, cl, url, 60); got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("without cookie: %v", got)
	}
}

func TestXForwardedHeaders(t *testing.T) {
	a := newBackend(t, "a")
	p := newPlane(t, Options{})
	mustUpdate(t, p, oneListener(group("tg", a)))
	base := baseURL(t, p, "l1")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	// GET takes the fast path, POST with a body the reverse proxy: both
	// forward alike.
	for _, method := range []string{"GET", "POST"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("payload")
		}
		req, _ := http.NewRequest(method, base+"/x", body)
		req.Host = "app.example.com"
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("X-Forwarded-Proto", "https") // overwritten, as ALB does
		req.Header.Set("X-Forwarded-Host", "kept.example.com")
		if r := do(t, newClient(), req); r.code != 200 {
			t.Fatalf("%s: status %d", method, r.code)
		}
		h := a.lastHeader()
		if got := h.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
			t.Errorf("%s: X-Forwarded-For = %q", method, got)
		}
		if got := h.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != "http" {
			t.Errorf("%s: X-Forwarded-Proto = %q", method, got)
		}
		if got := h.Get("X-Forwarded-Port"); got != port {
			t.Errorf("%s: X-Forwarded-Port = %q, want %q", method, got, port)
		}
		if got := h.Values("X-Forwarded-Host"); len(got) != 1 || got[0] != "kept.example.com" {
			t.Errorf("%s: X-Forwarded-Host = %q", method, got)
		}
		if got := h.Get("Host"); got != "app.example.com" {
			t.Errorf("%s: Host = %q", method, got)
		}
		if got := h.Get("X-Amzn-Trace-Id"); !strings.HasPrefix(got, "Root=1-") || len(got) != len("Root=1-")+8+1+24 {
			t.Errorf("%s: X-Amzn-Trace-Id = %q", method, got)
		}
	}
	// A client's own trace id is kept.
	req, _ := http.NewRequest("GET", base+"/x", nil)
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678")
	do(t, newClient(), req)
	if got := a.lastHeader().Get("X-Amzn-Trace-Id"); got != "Root=1-67891233-abcdef012345678912345678" {
		t.Errorf("kept trace id = %q", got)
	}
}

func TestStatusCodes(t *testing.T) {
	// 502: a target that refuses connections.
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()
	// 502: a target that resets the connection.
	resetter := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	// 502: a target that answers garbage.
	garbage := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("this is not HTTP\r\n\r\n"))
		c.Close()
	})
	slow := newBackend(t, "slow")

	p := newPlane(t, Options{IdleTimeout: 300 * time.Millisecond})
	mk := func(arn, addr string) *TargetGroup {
		tg := group(arn)
		tg.HealthCheck.Enabled = false // route to them regardless
		tg.Targets = []Target{{ID: arn, Port: 80, Addr: addr}}
		return tg
	}
	cfg := &Config{TargetGroups: map[string]*TargetGroup{
		"refused": mk("refused", refusedAddr),
		"reset":   mk("reset", resetter),
		"garbage": mk("garbage", garbage),
		"slow":    mk("slow", slow.addr()),
		"empty":   group("empty"),
		"draining": func() *TargetGroup {
			tg := group("draining", slow)
			tg.Targets[0].Draining = true
			tg.Targets[0].DeregisteredAt = time.Now()
			return tg
		}(),
	}}
	var rules []Rule
	for i, path := range []string{"refused", "reset", "garbage", "slow", "empty", "draining", "unknown"} {
		rules = append(rules, Rule{ARN: path, Priority: i + 1,
			Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/" + path + "*"}}},
			Actions:    forwardTo(path)})
	}
	rules = append(rules,
		Rule{ARN: "noaction", Priority: 90, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/noaction"}}}},
		Rule{ARN: "nilforward", Priority: 91, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/nilforward"}}},
			Actions: []Action{{Type: ActionForward}}},
		Rule{ARN: "weird", Priority: 92, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/weird"}}},
			Actions: []Action{{Type: "authenticate-oidc"}}},
		Rule{ARN: "default", IsDefault: true, Actions: forwardTo("slow")})
	cfg.Listeners = []Listener{{ARN: "l1", Addr: "127.0.0.1:0", Rules: rules}}
	mustUpdate(t, p, cfg)
	base := baseURL(t, p, "l1")
	cl := newClient()
	cases := []struct {
		path string
		want int
	}{
		{"/refused", 502},
		{"/reset", 502},
		{"/garbage", 502},
		{"/slow/sleep?ms=3000", 504},
		{"/slow/sleep?ms=1", 200},
		{"/empty", 503},
		{"/draining", 503},
		{"/unknown", 503},
		{"/noaction", 500},
		{"/nilforward", 503},
		{"/weird", 500},
	}
	for _, c := range cases {
		r := get(t, cl, base+c.path)
		if r.code != c.want {
			t.Errorf("%s: %d %q, want %d", c.path, r.code, r.body, c.want)
			continue
		}
		if c.want >= 500 {
			if !strings.Contains(r.body, "<html>") || r.header.Get("Server") != "awselb/2.0" {
				t.Errorf("%s: body %q server %q, want ALB's HTML page", c.path, r.body, r.header.Get("Server"))
			}
		}
	}
}

// rawServer accepts TCP connections on loopback and hands each to fn.
func rawServer(t *testing.T, fn func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fn(c)
		}
	}()
	return ln.Addr().String()
}

func TestFailOpenWhenAllUnhealthy(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.failing.Store(true)
	b.failing.Store(true)
	p := newPlane(t, Options{})
	mustUpdate(t, p, oneListener(group("tg", a, b)))
	waitFor(t, "all unhealthy", allIn(p, "tg", StateUnhealthy))
	got := count(t, newClient(), baseURL(t, p, "l1")+"/", 10)
	if got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("fail open: %v", got)
	}
	// One recovers: it alone gets the traffic.
	a.failing.Store(false)
	waitFor(t, "a healthy", func() bool { return stateOf(p, "tg", a) == StateHealthy })
	if got := count(t, newClient(), baseURL(t, p, "l1")+"/", 10); got["a"] != 10 {
		t.Fatalf("only a healthy: %v", got)
	}
}

func TestHealthTransitions(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := newPlane(t, Options{})
	tg := group("tg", a, b)
	tg.HealthCheck.Interval = time.Hour // only the first, prompt probe
	cfg := oneListener(tg)
	mustUpdate(t, p, cfg)
	// Registration in progress or healthy; never anything else.
	for _, s := range p.Health("tg") {
		if s.State != StateInitial && s.State != StateHealthy {
			t.Fatalf("fresh target %+v", s)
		}
		if s.State == StateInitial && s.Reason != ReasonRegistrationInProgress && s.Reason != ReasonInitialHealthChecking {
			t.Fatalf("fresh target %+v", s)
		}
		if s.HealthPort == "" {
			t.Fatalf("no health port: %+v", s)
		}
	}
	// The first probe comes promptly, not after the hour-long interval.
	waitFor(t, "healthy after first probe", allIn(p, "tg", StateHealthy))

	tg = group("tg", a, b) // 30 ms interval
	cfg = oneListener(tg)
	mustUpdate(t, p, cfg)
	if !allIn(p, "tg", StateHealthy)() {
		t.Fatalf("health lost across Update: %+v", p.Health("tg"))
	}
	url := baseURL(t, p, "l1") + "/"
	cl := newClient()

	a.failing.Store(true)
	waitFor(t, "a unhealthy", func() bool { return stateOf(p, "tg", a) == StateUnhealthy })
	s := states(p, "tg")["10.0.0.a"]
	if s.Reason != ReasonResponseCodeMismatch || !strings.Contains(s.Description, "500") {
		t.Fatalf("a: %+v", s)
	}
	if got := count(t, cl, url, 10); got["b"] != 10 {
		t.Fatalf("with a unhealthy: %v", got)
	}
	a.failing.Store(false)
	waitFor(t, "a healthy again", func() bool { return stateOf(p, "tg", a) == StateHealthy })
	if got := count(t, cl, url, 10); got["a"] != 5 {
		t.Fatalf("with a healthy again: %v", got)
	}

	// A probe that times out.
	b.hcDelay.Store(int64(time.Second))
	tg.HealthCheck.Timeout = 50 * time.Millisecond
	mustUpdate(t, p, oneListener(tg))
	waitFor(t, "b timed out", func() bool {
		s := states(p, "tg")["10.0.0.b"]
		return s.State == StateUnhealthy && s.Reason == ReasonTimeout
	})
	b.hcDelay.Store(0)

	// A health port nobody listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, deadPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	tg.HealthCheck.Port = deadPort
	tg.HealthCheck.Timeout = time.Second
	mustUpdate(t, p, oneListener(tg))
	waitFor(t, "connection failures", func() bool {
		s := states(p, "tg")["10.0.0.a"]
		return s.State == StateUnhealthy && s.Reason == ReasonFailedHealthChecks && s.HealthPort == deadPort
	})
}

func TestUnusedAndDisabled(t *testing.T) {
	a := newBackend(t, "a")
	p := newPlane(t, Options{})
	used := group("used", a)
	unused := group("unused", a)
	unused.InUse = false
	off := group("off", a)
	off.HealthCheck.Enabled = false
	cfg := oneListener(used, unused, off)
	mustUpdate(t, p, cfg)
	waitFor(t, "used healthy", allIn(p, "used", StateHealthy))
	if s := p.Health("unused"); len(s) != 1 || s[0].State != StateUnused || s[0].Reason != ReasonNotInUse {
		t.Fatalf("unused: %+v", s)
	}
	if s := p.Health("off"); len(s) != 1 || s[0].State != StateUnavailable || s[0].Reason != ReasonHealthCheckDisabled {
		t.Fatalf("off: %+v", s)
	}
	if s := p.Health("nope"); s != nil {
		t.Fatalf("unknown group: %+v", s)
	}
	// The unused group's target is not probed: only "used" probes a.
	before := a.hcHits.Load()
	waitFor(t, "a probe while used", func() bool { return a.hcHits.Load() > before })
	used.InUse = false
	mustUpdate(t, p, cfg)
	n := a.hcHits.Load()
	// Ten intervals: a target still checked would be probed again. One
	// probe may have been on its way when the check stopped.
	time.Sleep(10 * fastHC().Interval)
	if got := a.hcHits.Load(); got > n+1 {
		t.Fatalf("probes: %d when all unused, %d later", n, got)
	}
	// In use again: back from initial.
	used.InUse = true
	mustUpdate(t, p, cfg)
	waitFor(t, "used healthy again", allIn(p, "used", StateHealthy))
}

func TestDraining(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	clk := newClock()
	p := newPlane(t, Options{Now: clk.Now})
	tg := group("tg", a, b)
	tg.Algorithm = AlgorithmLeastOutstanding
	mustUpdate(t, p, oneListener(tg))
	waitFor(t, "healthy", allIn(p, "tg", StateHealthy))
	url := baseURL(t, p, "l1")
	cl := newClient()

	// A slow request lands on some target; deregister that one.
	done := make(chan result, 1)
	go func() { done <- get(t, cl, url+"/block") }()
	var slow, other *backend
	select {
	case <-a.entered:
		slow, other = a, b
	case <-b.entered:
		slow, other = b, a
	case <-time.After(15 * time.Second):
		t.Fatal("blocked request never arrived")
	}
	for i := range tg.Targets {
		if tg.Targets[i].Addr == slow.addr() {
			tg.Targets[i].Draining = true
			tg.Targets[i].DeregisteredAt = clk.Now()
		}
	}
	mustUpdate(t, p, oneListener(tg))
	s := states(p, "tg")["10.0.0."+slow.name]
	if s.State != StateDraining || s.Reason != ReasonDeregistrationInProgress || s.Drained {
		t.Fatalf("draining target: %+v", s)
	}
	// New requests go elsewhere, even round robin.
	if got := count(t, cl, url+"/", 10); got[other.name] != 10 {
		t.Fatalf("new requests while draining: %v", got)
	}
	// The in-flight request completes.
	slow.release()
	select {
	case r := <-done:
		if r.code != 200 || r.body != slow.name {
			t.Fatalf("in-flight request: %d %q", r.code, r.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight request never completed")
	}
	waitFor(t, "drained", func() bool { return states(p, "tg")["10.0.0."+slow.name].Drained })
	if s := states(p, "tg")["10.0.0."+slow.name]; s.State != StateDraining {
		t.Fatalf("drained target: %+v", s)
	}
}

func TestDrainingDelayPasses(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	clk := newClock()
	p := newPlane(t, Options{Now: clk.Now})
	tg := group("tg", a)
	tg.DeregistrationDelay = 30 * time.Second
	mustUpdate(t, p, oneListener(tg))
	url := baseURL(t, p, "l1")
	cl := newClient()
	done := make(chan result, 1)
	go func() { done <- get(t, cl, url+"/block") }()
	<-a.entered
	tg.Targets[0].Draining = true
	tg.Targets[0].DeregisteredAt = clk.Now()
	tg.Targets = append(tg.Targets, b.target())
	mustUpdate(t, p, oneListener(tg))
	if states(p, "tg")["10.0.0.a"].Drained {
		t.Fatal("drained with a request in flight before the delay")
	}
	clk.Add(31 * time.Second)
	if s := states(p, "tg")["10.0.0.a"]; !s.Drained || s.State != StateDraining {
		t.Fatalf("after the delay: %+v", s)
	}
	// The request may still finish.
	a.release()
	if r := <-done; r.code != 200 {
		t.Fatalf("in-flight request after the delay: %d", r.code)
	}
	// Deleting the drained record forgets it.
	tg.Targets = tg.Targets[1:]
	mustUpdate(t, p, oneListener(tg))
	if s := p.Health("tg"); len(s) != 1 || s[0].ID != "10.0.0.b" {
		t.Fatalf("after removal: %+v", s)
	}
}

func TestUpdateUnderLoadDropsNothing(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	p := newPlane(t, Options{})
	mk := func(i int) *Config {
		tg := group("tg", a)
		if i%2 == 1 {
			tg.Targets = append(tg.Targets, b.target())
		}
		if i%3 == 2 {
			tg.Targets = append(tg.Targets, c.target())
		}
		tg2 := group("other", c)
		cfg := oneListener(tg, tg2)
		rules := []Rule{}
		for j := 0; j < i%5; j++ {
			rules = append(rules, Rule{ARN: "r", Priority: j + 1,
				Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/never" + string(rune('a'+j))}}},
				Actions:    forwardTo("other")})
		}
		cfg.Listeners[0].Rules = append(rules, cfg.Listeners[0].Rules...)
		if i%2 == 0 { // a second listener comes and goes
			cfg.Listeners = append(cfg.Listeners, Listener{ARN: "l2", Addr: "127.0.0.1:0",
				Rules: []Rule{{IsDefault: true, Actions: forwardTo("other")}}})
		}
		return cfg
	}
	mustUpdate(t, p, mk(0))
	waitFor(t, "a healthy", allIn(p, "tg", StateHealthy))
	url := baseURL(t, p, "l1") + "/"

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	total, failures := 0, []string{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := cl.Get(url)
				msg := ""
				if err != nil {
					msg = err.Error()
				} else {
					body := make([]byte, 16)
					n, _ := resp.Body.Read(body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						msg = resp.Status + " " + string(body[:n])
					}
				}
				mu.Lock()
				total++
				if msg != "" {
					failures = append(failures, msg)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 1; i <= 60; i++ {
		mustUpdate(t, p, mk(i))
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if total < 100 || len(failures) > 0 {
		t.Fatalf("%d requests, %d failed: %v", total, len(failures), failures[:min(len(failures), 5)])
	}
	t.Logf("%d requests across 60 updates, none failed", total)
}

func TestListenerLifecycle(t *testing.T) {
	a := newBackend(t, "a")
	p := newPlane(t, Options{})
	cfg := oneListener(group("tg", a))
	mustUpdate(t, p, cfg)
	addr1 := p.ListenerAddr("l1").String()
	cl := newClient()
	// An in-flight request on a listener that goes away completes.
	done := make(chan result, 1)
	go func() { done <- get(t, cl, "http://"+addr1+"/block") }()
	<-a.entered
	cfg2 := oneListener(group("tg", a))
	cfg2.Listeners[0].ARN = "l9"
	mustUpdate(t, p, cfg2)
	if p.ListenerAddr("l1") != nil {
		t.Fatal("l1 still bound")
	}
	if _, err := net.DialTimeout("tcp", addr1, time.Second); err == nil {
		t.Fatal("removed listener still accepts connections")
	}
	a.release()
	if r := <-done; r.code != 200 {
		t.Fatalf("in-flight request on removed listener: %d", r.code)
	}
	// The freed address can be taken by another listener at once.
	cfg3 := oneListener(group("tg", a))
	cfg3.Listeners[0].Addr = addr1
	cfg3.Listeners = append(cfg3.Listeners, Listener{ARN: "dup", Addr: addr1}, Listener{ARN: "bad", Addr: "256.0.0.1:1"})
	errs := p.Update(cfg3)
	if errs == nil || errs["dup"] == nil || errs["bad"] == nil || errs["l1"] != nil || len(errs) != 2 {
		t.Fatalf("bind errors: %v", errs)
	}
	if r := get(t, cl, "http://"+addr1+"/"); r.code != 200 {
		t.Fatalf("rebound listener: %d", r.code)
	}
}

func TestBadConfigNeverPanics(t *testing.T) {
	p := newPlane(t, Options{})
	if errs := p.Update(nil); errs != nil {
		t.Fatal(errs)
	}
	if errs := p.Update(&Config{}); errs != nil {
		t.Fatal(errs)
	}
	cfg := &Config{
		TargetGroups: map[string]*TargetGroup{"nil": nil, "noarn": {InUse: true, HealthCheck: HealthCheck{Enabled: true}}},
		Listeners: []Listener{{ARN: "l1", Addr: "127.0.0.1:0", Rules: []Rule{
			{Conditions: []Condition{{Field: "bogus"}}, Actions: forwardTo("x")},
			{Conditions: []Condition{{Field: FieldSourceIP, Values: []string{"not-a-cidr"}}}, Actions: forwardTo("x")},
			{Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/fixed"}}},
				Actions: []Action{{Type: ActionFixedResponse}}},
			{Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/redirect"}}},
				Actions: []Action{{Type: ActionRedirect}}},
			{Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/noarn"}}},
				Actions: forwardTo("noarn")},
		}}, {ARN: "empty", Addr: "127.0.0.1:0"}},
	}
	mustUpdate(t, p, cfg)
	cl := newClient()
	base := baseURL(t, p, "l1")
	for path, want := range map[string]int{"/fixed": 500, "/redirect": 500, "/noarn": 503, "/other": 503} {
		if r := get(t, cl, base+path); r.code != want {
			t.Errorf("%s: %d, want %d", path, r.code, want)
		}
	}
	if r := get(t, cl, baseURL(t, p, "empty")+"/"); r.code != 503 {
		t.Errorf("listener without rules: %d", r.code)
	}
	if s := p.Health("noarn"); len(s) != 0 {
		t.Errorf("noarn: %+v", s)
	}
	p.Close()
	if errs := p.Update(cfg); len(errs) != 2 {
		t.Errorf("Update after Close: %v", errs)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}
