package awsproto

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// Tests of the stage before authentication (preauth.go), with clients that
// send their bodies slowly over raw connections.

// failAfter bounds how long a test waits for an answer that should come at
// once; reaching it is a failure, never a pass.
const failAfter = 30 * time.Second

// slowRequest is one request on its own connection, whose body the test
// sends when it chooses.
type slowRequest struct {
	conn net.Conn
	br   *bufio.Reader
	body []byte
	sent int
}

// describeBody is a DescribeClusters body of about n bytes.
func describeBody(n int) []byte {
	return []byte(`{"clusters":["` + strings.Repeat("x", n) + `"]}`)
}

// slowOpts says how startSlow signs and sends a request.
type slowOpts struct {
	creds   *aws.Credentials // nil: unsigned
	at      time.Time        // signing time; zero: now
	service string           // credential scope's service; "": ecs
	dupAuth bool             // send the Authorization header twice
	extra   []string         // header lines added after signing
	body    bool             // send the whole body with the headers
}

// startSlow opens a connection to baseURL and sends the headers of a
// DescribeClusters request with body, signed as o says. No byte of the body
// is sent yet unless o.body.
func startSlow(t *testing.T, baseURL string, body []byte, o slowOpts) *slowRequest {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeClusters")
	if o.creds != nil {
		sum := sha256.Sum256(body)
		at := cmp.Or(o.at, time.Now())
		if err := v4.NewSigner().SignHTTP(context.Background(), *o.creds, req, hex.EncodeToString(sum[:]),
			cmp.Or(o.service, "ecs"), "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		if o.dupAuth {
			req.Header.Add("Authorization", req.Header.Get("Authorization"))
		}
	}
	u, _ := url.Parse(baseURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.Host, len(body))
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	for _, h := range o.extra {
		head.WriteString(h + "\r\n")
	}
	head.WriteString("\r\n")
	r := &slowRequest{conn: conn, br: bufio.NewReader(conn), body: body}
	if o.body {
		head.Write(body)
		r.sent = len(body)
	}
	if _, err := conn.Write(head.Bytes()); err != nil {
		t.Fatal(err)
	}
	return r
}

// send sends the next n bytes of the body.
func (r *slowRequest) send(t *testing.T, n int) {
	t.Helper()
	n = min(n, len(r.body)-r.sent)
	if _, err := r.conn.Write(r.body[r.sent : r.sent+n]); err != nil {
		t.Fatal(err)
	}
	r.sent += n
}

// next reads the next response (an interim 100 Continue too) with its body.
func (r *slowRequest) next(t *testing.T) (*http.Response, string) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(failAfter))
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// closed reports whether the server closed the connection: a read ends
// with EOF or a reset.
func (r *slowRequest) closed(t *testing.T) bool {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(failAfter))
	_, err := r.br.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

var shedCreds = &aws.Credentials{AccessKeyID: shedKeyID, SecretAccessKey: shedSecret}

// waitFor polls cond until it holds or failAfter passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// Requests whose bodies trickle in hold no processing slot: with two slots
// and no queue, six of them being read do not make a signed request fail.
// (Before, each took a slot and read its body in it, so the signed request
// was throttled.) The trickling bodies are cut once they fall behind the
// minimum rate.
func TestSlowBodiesHoldNoSlot(t *testing.T) {
	f := newShedFixture(t, Config{MaxInFlight: 2, MaxQueued: -1})
	var slow []*slowRequest
	var refused []string
	for range 6 {
		// Expect: 100-continue makes the server say when it starts reading
		// the body.
		r := startSlow(t, f.url, describeBody(1000), slowOpts{creds: shedCreds, extra: []string{"Expect: 100-continue"}})
		resp, body := r.next(t)
		if resp.StatusCode != http.StatusContinue {
			refused = append(refused, body)
			continue
		}
		r.send(t, 10)
		slow = append(slow, r)
	}
	for i := range 20 {
		if _, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}); err != nil {
			t.Fatalf("signed request %d while %d bodies trickle: %v", i, len(slow), err)
		}
	}
	if len(refused) > 0 {
		t.Fatalf("%d trickling requests were answered before their bodies were read: %v", len(refused), refused)
	}
	for _, r := range slow {
		resp, body := r.next(t)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"RequestTimeout"`) || !resp.Close {
			t.Errorf("a body that stopped: %d close=%v %s", resp.StatusCode, resp.Close, body)
		}
	}
}

// A request whose headers fail the signature's header part is answered at
// once, without waiting for its body.
func TestRefusedBeforeBody(t *testing.T) {
	f := newShedFixture(t, Config{})
	unknown := &aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: shedSecret}
	for _, tc := range []struct {
		name string
		o    slowOpts
		code string
	}{
		{"unsigned", slowOpts{}, "MissingAuthenticationTokenException"},
		{"unknown key", slowOpts{creds: unknown}, "UnrecognizedClientException"},
		{"signed an hour ago", slowOpts{creds: shedCreds, at: time.Now().Add(-time.Hour)}, "InvalidSignatureException"},
		{"scoped to another service", slowOpts{creds: shedCreds, service: "logs"}, "InvalidSignatureException"},
		{"two Authorization headers", slowOpts{creds: shedCreds, dupAuth: true}, "IncompleteSignatureException"},
		{"malformed", slowOpts{extra: []string{"Authorization: AWS4-HMAC-SHA256 Credential=x", "X-Amz-Date: 20240101T000000Z"}}, "IncompleteSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startSlow(t, f.url, describeBody(1000), tc.o)
			resp, body := r.next(t)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-Errortype") != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if !r.closed(t) {
				t.Error("the connection stays open with the body unread")
			}
		})
	}
}

// A small body that came with the headers does not cost a refused request
// its connection.
func TestRefusedKeepsConnectionWithBodyRead(t *testing.T) {
	f := newShedFixture(t, Config{})
	r := startSlow(t, f.url, describeBody(10), slowOpts{body: true})
	resp, _ := r.next(t)
	if resp.StatusCode != http.StatusBadRequest || resp.Close {
		t.Fatalf("%d close=%v", resp.StatusCode, resp.Close)
	}
	r2 := &slowRequest{conn: r.conn, br: r.br}
	io.WriteString(r.conn, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters\r\nContent-Length: 0\r\n\r\n")
	if resp, body := r2.next(t); resp.Header.Get("X-Amzn-Errortype") != "MissingAuthenticationTokenException" {
		t.Fatalf("second request on the connection: %d %s", resp.StatusCode, body)
	}
}

// One address may have MaxSlowBodiesPerIP bodies arriving past the grace;
// the next one is cut with a throttling error.
func TestSlowBodiesPerAddress(t *testing.T) {
	f := newShedFixture(t, Config{BodyGrace: 100 * time.Millisecond, MinBodyRate: 1, MaxSlowBodiesPerIP: 2})
	type answer struct {
		i      int
		status int
		close  bool
		body   string
	}
	answers := make(chan answer, 3)
	var rs []*slowRequest
	for i := range 3 {
		r := startSlow(t, f.url, describeBody(1000), slowOpts{creds: shedCreds})
		r.send(t, 100) // at 1 byte/s, 100 bytes buy 100 s after the grace
		rs = append(rs, r)
		go func() {
			r.conn.SetReadDeadline(time.Now().Add(failAfter))
			resp, err := http.ReadResponse(r.br, nil)
			if err != nil {
				answers <- answer{i: i, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			answers <- answer{i, resp.StatusCode, resp.Close, string(b)}
		}()
	}
	// Two take the address's slots when the grace ends; the third is cut.
	a := <-answers
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "ThrottlingException") || !a.close {
		t.Fatalf("request %d: %d close=%v %s", a.i, a.status, a.close, a.body)
	}
	if got := f.srv.slowPerIP.held("127.0.0.1"); got != 2 {
		t.Fatalf("slow bodies held = %d, want 2", got)
	}
	// The two others end normally once their bodies come.
	for i, r := range rs {
		if i != a.i {
			r.send(t, len(r.body))
		}
	}
	for range 2 {
		if a := <-answers; a.status != http.StatusOK {
			t.Errorf("request %d: %d %s", a.i, a.status, a.body)
		}
	}
	if got := f.srv.slowPerIP.held("127.0.0.1"); got != 0 {
		t.Fatalf("slow bodies held after all ended = %d", got)
	}
}

// Bodies not yet authenticated share PreAuthBodyBytes: a request that finds
// them spent is throttled, and served once they are given back.
func TestPreAuthMemoryBudget(t *testing.T) {
	// A long grace: the first body waits for the test, however slow the machine.
	f := newShedFixture(t, Config{PreAuthBodyBytes: 32 << 10, BodyGrace: time.Hour})
	hog := startSlow(t, f.url, describeBody(30000), slowOpts{creds: shedCreds})
	hog.send(t, 20000)
	waitFor(t, "the first body's memory", func() bool { return f.srv.budget.used.Load() > 20000 })

	_, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{strings.Repeat("y", 3000)}})
	wantThrottle(t, err, "ThrottlingException")

	hog.send(t, len(hog.body))
	if resp, body := hog.next(t); resp.StatusCode != http.StatusOK {
		t.Fatalf("the first request: %d %s", resp.StatusCode, body)
	}
	if got := f.srv.budget.used.Load(); got != 0 {
		t.Fatalf("budget used after both ended: %d", got)
	}
	if _, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{strings.Repeat("y", 3000)}}); err != nil {
		t.Fatal(err)
	}
}

// A body larger than MaxBodyBytes without a Content-Length is cut while it
// is read, and gives its memory back.
func TestChunkedBodyOverLimit(t *testing.T) {
	f := newShedFixture(t, Config{MaxBodyBytes: 4096})
	body := describeBody(8000)
	req, _ := http.NewRequest(http.MethodPost, f.url+"/", io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeClusters")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), *shedCreds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := f.srv.budget.used.Load(); got != 0 {
		t.Fatalf("budget used: %d", got)
	}
}

// One address may have DefaultMaxNewConnsPerIP (here 3) connections that
// have not sent their first request's headers; the next is closed at once.
func TestNewConnsPerAddress(t *testing.T) {
	hs, g := newHTTPServer("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), 3)
	ts := httptest.NewUnstartedServer(hs.Handler)
	ts.Config = hs
	ts.Start()
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)

	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		io.WriteString(c, "GET / HTTP/1.1\r\nHo") // slowloris: headers never end
		idle = append(idle, c)
	}
	waitFor(t, "three new connections", func() bool { return g.count("127.0.0.1") == 3 })

	extra := &slowRequest{}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	extra.conn, extra.br = c, bufio.NewReader(c)
	if !extra.closed(t) {
		t.Fatal("a fourth new connection was kept")
	}

	idle[0].Close()
	waitFor(t, "the closed connection to be forgotten", func() bool { return g.count("127.0.0.1") == 2 })
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := g.count("127.0.0.1"); got != 2 {
		t.Fatalf("new connections after a served request: %d, want 2", got)
	}
}

// Memory is taken as a body arrives, not as declared: a request that
// declares a megabyte and sends nothing holds only the first small buffer.
func TestDeclaredBodyTakesNoMemoryUpFront(t *testing.T) {
	f := newShedFixture(t, Config{PreAuthBodyBytes: 32 << 10, BodyGrace: time.Hour})
	big := startSlow(t, f.url, describeBody(1<<20), slowOpts{creds: shedCreds})
	waitFor(t, "the body to be read", func() bool { return f.srv.budget.used.Load() > 0 })
	if got := f.srv.budget.used.Load(); got > 1<<10 {
		t.Fatalf("budget used by a declared megabyte of which nothing came: %d bytes", got)
	}
	if _, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}); err != nil {
		t.Fatalf("beside it: %v", err)
	}
	big.conn.Close()
	waitFor(t, "its memory to be given back", func() bool { return f.srv.budget.used.Load() == 0 })
}
