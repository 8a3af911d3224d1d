package lb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// echoPlane is a plane with one listener forwarding to a backend that
// answers "<method> <request URI> <body length>" and echoes some request
// headers back.
func echoPlane(t *testing.T, opts Options) (addr string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Saw-Cache-Control", r.Header.Get("Cache-Control"))
		w.Header().Set("X-Saw-Big", fmt.Sprint(len(r.Header.Get("X-Big"))))
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %d", r.Method, r.RequestURI, len(body))
	}))
	t.Cleanup(srv.Close)
	p := newPlane(t, opts)
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: srv.Listener.Addr().String()}}
	mustUpdate(t, p, oneListener(tg))
	return p.ListenerAddr("l1").String()
}

func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

// readResp reads one response to a request with method m.
func readResp(t *testing.T, br *bufio.Reader, m string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: m})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

// Requests the front end does not take go to net/http, which answers
// them or rejects them by its own rules; what net/http rejects is never
// forwarded.
func TestFrontEndMalformedAndUnusual(t *testing.T) {
	addr := echoPlane(t, Options{})
	cases := []struct {
		name, req string
		code      int
		body      string
	}{
		{"plain", "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", 200, "GET /a?b=c 0"},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, ""},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400, ""},
		{"control char in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400, ""},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n", 400, ""},
		{"garbage line", "HELLO\r\n\r\n", 400, ""},
		{"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, ""},
		{"bad content length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", 400, ""},
		{"two content lengths", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\nx", 400, ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 200, "GET / 0"},
		{"bare LF", "GET /lf HTTP/1.1\nHost: x\n\n", 200, "GET /lf 0"},
		{"GET with a body", "GET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 200, "GET /b 3"},
		{"POST", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 200, "POST /p 2"},
		{"chunked", "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 200, "POST /c 2"},
		{"escaped path", "GET /a%20b?x HTTP/1.1\r\nHost: x\r\n\r\n", 200, "GET /a%20b?x 0"},
		{"absolute form", "GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n", 200, "GET /abs 0"},
		{"pragma", "GET /p HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n", 200, "GET /p 0"},
		{"lower-case names", "GET /l HTTP/1.1\r\nhost: x\r\nx-big: abc\r\n\r\n", 200, "GET /l 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, br := dialRaw(t, addr)
			if _, err := io.WriteString(conn, c.req); err != nil {
				t.Fatal(err)
			}
			resp, body := readResp(t, br, "GET")
			if resp.StatusCode != c.code {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, c.code)
			}
			if c.code == 200 && body != c.body {
				t.Fatalf("body %q, want %q", body, c.body)
			}
			if c.name == "pragma" && resp.Header.Get("X-Saw-Cache-Control") != "no-cache" {
				t.Errorf("Pragma: no-cache did not imply Cache-Control")
			}
			if c.name == "lower-case names" && resp.Header.Get("X-Saw-Big") != "3" {
				t.Errorf("a lower-case header name was lost: %v", resp.Header)
			}
		})
	}
}

// Pipelined requests are answered in order, also when one in the middle
// needs net/http (a body) and the rest of the connection goes there.
func TestFrontEndPipelining(t *testing.T) {
	addr := echoPlane(t, Options{})
	conn, br := dialRaw(t, addr)
	reqs := "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /4 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /5 HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(conn, reqs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ m, body string }{
		{"GET", "GET /1 0"}, {"HEAD", ""}, {"GET", "GET /3 0"}, {"POST", "POST /4 5"}, {"GET", "GET /5 0"},
	} {
		resp, body := readResp(t, br, want.m)
		if resp.StatusCode != 200 || body != want.body {
			t.Fatalf("%s: %d %q, want %q", want.m, resp.StatusCode, body, want.body)
		}
		if want.m == "HEAD" && resp.ContentLength != int64(len("HEAD /2 0")) {
			t.Errorf("HEAD: Content-Length %d", resp.ContentLength)
		}
	}
	// Many keep-alive requests on the one connection.
	for i := range 200 {
		fmt.Fprintf(conn, "GET /k%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		if _, body := readResp(t, br, "GET"); body != fmt.Sprintf("GET /k%d 0", i) {
			t.Fatalf("request %d: %q", i, body)
		}
	}
}

// A head longer than the front end's buffer goes to net/http, which
// takes it up to its own limit and answers 431 beyond.
func TestFrontEndLargeHeaders(t *testing.T) {
	addr := echoPlane(t, Options{})
	big := strings.Repeat("b", 20<<10)
	conn, br := dialRaw(t, addr)
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big)
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 200 || body != "GET /big 0" || resp.Header.Get("X-Saw-Big") != fmt.Sprint(len(big)) {
		t.Fatalf("20 KiB header: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// The connection stays usable.
	io.WriteString(conn, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := readResp(t, br, "GET"); body != "GET /after 0" {
		t.Fatalf("after: %q", body)
	}
	// Just under the front end's buffer, so that the head ends across reads.
	conn2, br2 := dialRaw(t, addr)
	edge := strings.Repeat("e", feHeadMax-60)
	fmt.Fprintf(conn2, "GET /edge HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", edge)
	if resp, body := readResp(t, br2, "GET"); resp.StatusCode != 200 || resp.Header.Get("X-Saw-Big") != fmt.Sprint(len(edge)) {
		t.Fatalf("edge: %d %q", resp.StatusCode, body)
	}

	conn3, br3 := dialRaw(t, addr)
	go fmt.Fprintf(conn3, "GET /huge HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("h", 2<<20))
	// net/http closes while the client still sends: only the head is sure
	// to arrive before the reset.
	resp, err := http.ReadResponse(br3, nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("2 MiB header: %v %v", resp, err)
	}
}

// Expect: 100-continue gets its interim response from net/http before
// the body is sent.
func TestFrontEndExpectContinue(t *testing.T) {
	addr := echoPlane(t, Options{})
	conn, br := dialRaw(t, addr)
	io.WriteString(conn, "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("interim response %q, %v", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("after 100: %q", l)
	}
	io.WriteString(conn, "body")
	if resp, body := readResp(t, br, "POST"); resp.StatusCode != 200 || body != "POST /e 4" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// Connection: close and HTTP/1.0 end the connection after the response.
func TestFrontEndConnectionClose(t *testing.T) {
	addr := echoPlane(t, Options{})
	for _, c := range []struct{ name, req, proto string }{
		{"close", "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1"},
		{"close among others", "GET /c HTTP/1.1\r\nHost: x\r\nConnection: X-Foo, Close\r\nX-Foo: 1\r\n\r\n", "HTTP/1.1"},
		{"http/1.0", "GET /c HTTP/1.0\r\nHost: x\r\n\r\n", "HTTP/1.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, br := dialRaw(t, addr)
			io.WriteString(conn, c.req+"GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, body := readResp(t, br, "GET")
			if resp.StatusCode != 200 || body != "GET /c 0" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if c.proto == "HTTP/1.1" && !resp.Close {
				t.Errorf("no Connection: close in the response: %v", resp.Header)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the response: %q, %v; want EOF", rest, err)
			}
		})
	}
	// HTTP/1.0 with keep-alive stays open.
	conn, br := dialRaw(t, addr)
	for i := range 2 {
		io.WriteString(conn, "GET /k HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || body != "GET /k 0" {
			t.Fatalf("1.0 keep-alive %d: %d %q", i, resp.StatusCode, body)
		}
	}
}

// An idle keep-alive connection is closed after the idle timeout, both
// by the front end and by net/http (after a hand-over).
func TestFrontEndIdleTimeout(t *testing.T) {
	addr := echoPlane(t, Options{IdleTimeout: 200 * time.Millisecond})
	for _, req := range []string{
		"GET /i HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /i HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nX-A: 1\r\nContent-Type: a\r\n\r\n",
	} {
		conn, br := dialRaw(t, addr)
		io.WriteString(conn, req)
		if resp, _ := readResp(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("idle connection: %q, %v; want EOF", rest, err)
		}
	}
}

// A response the target streams without a length reaches the client
// chunked, with its trailers; an empty one gets Content-Length: 0; a
// missing Content-Type is sniffed as net/http would.
func TestFrontEndResponseFraming(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/chunked":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 7\r\n\r\n")
			case "/empty":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			case "/html":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html><b>x</b>\n")
			case "/nocontent":
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			case "/eof":
				io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil close")
				return
			}
		}
	})
	p := newPlane(t, Options{})
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: addr}}
	mustUpdate(t, p, oneListener(tg))
	conn, br := dialRaw(t, p.ListenerAddr("l1").String())
	for _, c := range []struct {
		path, body, ctype string
		cl                int64
		te                []string
	}{
		{"/chunked", "abcde", "", -1, []string{"chunked"}},
		{"/empty", "", "", 0, nil},
		{"/html", "<html><b>x</b>\n", "text/html; charset=utf-8", 15, nil},
		{"/nocontent", "", "", 0, nil},
		{"/eof", "until close", "text/plain; charset=utf-8", -1, []string{"chunked"}},
		{"/chunked", "abcde", "", -1, []string{"chunked"}},
	} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", c.path)
		resp, body := readResp(t, br, "GET")
		if body != c.body || resp.ContentLength != c.cl || !reflect.DeepEqual(resp.TransferEncoding, c.te) {
			t.Errorf("%s: %q length %d TE %v", c.path, body, resp.ContentLength, resp.TransferEncoding)
		}
		if c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s: Content-Type %q", c.path, resp.Header.Get("Content-Type"))
		}
		if c.path == "/chunked" && resp.Trailer.Get("X-T") != "7" {
			t.Errorf("trailer %v", resp.Trailer)
		}
		if resp.Header.Get("Date") == "" {
			t.Errorf("%s: no Date", c.path)
		}
	}
}

// parse takes only what net/http takes, and reads it the same way.
func TestFrontEndParseAgreesWithNetHTTP(t *testing.T) {
	heads := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a/b?c=d&e HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
		"HEAD /x? HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS /x?a?b HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%41%2F?q=%20 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET //double/slash HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: [::1]:80\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Empty:\r\nX-Sp:   v  \r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nCookie: a=b; c=d\r\nConnection: keep-alive, X-Foo\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nX-Tab:\tv\t\r\n\r\n",
		"get / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
		"GET / http/1.1\r\nHost: x\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX\x00: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
	}
	for _, h := range heads {
		checkParse(t, h)
	}
}

func FuzzFrontEndParse(f *testing.F) {
	f.Add("GET /a?b HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	f.Fuzz(func(t *testing.T, h string) {
		if !strings.HasSuffix(h, "\r\n\r\n") || strings.Contains(h[:len(h)-4], "\r\n\r\n") {
			return
		}
		checkParse(t, h)
	})
}

// checkParse: when parse takes head, net/http takes it too, with the same
// method, URL, host and headers.
func checkParse(t *testing.T, head string) {
	t.Helper()
	c := &feConn{hdr: http.Header{}, remote: "192.0.2.1:1"}
	if !c.parse([]byte(head)) {
		return
	}
	want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	if err != nil {
		t.Fatalf("parse took %q, net/http rejects it: %v", head, err)
	}
	got := &c.req
	if got.Method != want.Method || got.Host != want.Host || got.RequestURI != want.RequestURI ||
		got.URL.Path != want.URL.Path || got.URL.RawQuery != want.URL.RawQuery || got.URL.ForceQuery != want.URL.ForceQuery ||
		got.ContentLength != want.ContentLength || got.ProtoMinor != want.ProtoMinor {
		t.Fatalf("%q:\n got %s %q %+v\nwant %s %q %+v", head, got.Method, got.Host, got.URL, want.Method, want.Host, want.URL)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q: header\n got %v\nwant %v", head, got.Header, want.Header)
	}
	if wc := want.Close; wc != c.closeWant {
		t.Fatalf("%q: close %v, net/http %v", head, c.closeWant, wc)
	}
}

// A body far larger than the socket buffers crosses the plane intact in
// both directions of the fast path's sockets (writes that fill the
// buffer and wait, reads of every size).
func TestFrontEndLargeBody(t *testing.T) {
	const size = 24 << 20
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7 >> 3)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "application/octet-stream")
			for i := 0; i < size; i += 1 << 20 {
				w.Write(payload[i : i+1<<20])
			}
			return
		}
		http.ServeContent(w, r, "x.bin", time.Time{}, bytes.NewReader(payload))
	}))
	t.Cleanup(srv.Close)
	p := newPlane(t, Options{})
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: srv.Listener.Addr().String()}}
	mustUpdate(t, p, oneListener(tg))
	conn, br := dialRaw(t, p.ListenerAddr("l1").String())
	for _, path := range []string{"/file", "/stream", "/file"} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 0, size)
		buf := make([]byte, 1000) // small reads: the plane's writes must wait
		for {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: after %d bytes: %v", path, len(got), err)
			}
		}
		if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
			t.Fatalf("%s: status %d, %d bytes, equal %v", path, resp.StatusCode, len(got), bytes.Equal(got, payload))
		}
	}
}

// Close closes idle front-end connections at once and lets a request in
// flight finish before its connection closes.
func TestFrontEndShutdown(t *testing.T) {
	a := newBackend(t, "a")
	p := New(Options{})
	tg := group("tg", a)
	tg.HealthCheck.Enabled = false
	mustUpdate(t, p, oneListener(tg))
	addr := p.ListenerAddr("l1").String()
	idle, idleBr := dialRaw(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := readResp(t, idleBr, "GET"); resp.StatusCode != 200 || body != "a" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	busy, busyBr := dialRaw(t, addr)
	io.WriteString(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	<-a.entered
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	if rest, err := io.ReadAll(idleBr); err != nil || len(rest) != 0 {
		t.Fatalf("idle connection: %q, %v; want EOF", rest, err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned with a request in flight")
	default:
	}
	a.release()
	resp, body := readResp(t, busyBr, "GET")
	if resp.StatusCode != 200 || body != "a" || !resp.Close {
		t.Fatalf("in flight: %d %q, Connection: close %v", resp.StatusCode, body, resp.Close)
	}
	if rest, err := io.ReadAll(busyBr); err != nil || len(rest) != 0 {
		t.Fatalf("busy connection after its response: %q, %v; want EOF", rest, err)
	}
	<-closed
}
