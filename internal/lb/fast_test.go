package lb

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A target that closes idle keep-alive connections quickly: a request on
// a connection it has closed is retried once on a new one, not failed.
func TestStaleKeepAliveIsRetried(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	p := newPlane(t, Options{})
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: srv.Listener.Addr().String()}}
	mustUpdate(t, p, oneListener(tg))
	url := baseURL(t, p, "l1") + "/"
	cl := newClient()
	for i := 0; i < 5; i++ {
		if r := get(t, cl, url); r.code != 200 || r.body != "ok" {
			t.Fatalf("request %d: %d %q", i, r.code, r.body)
		}
		time.Sleep(60 * time.Millisecond) // the target closes the idle connection
	}
}

// A streamed response (no Content-Length) reaches the client as it is
// produced, not when it ends.
func TestStreamingIsFlushed(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}))
	t.Cleanup(func() { close(next); srv.Close() })
	p := newPlane(t, Options{})
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: srv.Listener.Addr().String()}}
	mustUpdate(t, p, oneListener(tg))
	resp, err := newClient().Get(baseURL(t, p, "l1") + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the first event never arrived while the stream was open")
	}
	next <- struct{}{}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q", rest)
	}
}

// Requests with bodies, chunked uploads, other methods, HEAD, response
// trailers and hop-by-hop headers.
func TestMethodsBodiesAndHopHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Saw-Secret", r.Header.Get("X-Secret"))
		w.Header().Set("X-Saw-Keep", r.Header.Get("X-Keep"))
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not pass")
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(r.Method + ":" + string(body)))
		w.Header().Set("X-Sum", "42")
	}))
	t.Cleanup(srv.Close)
	p := newPlane(t, Options{})
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: srv.Listener.Addr().String()}}
	mustUpdate(t, p, oneListener(tg))
	base := baseURL(t, p, "l1")
	cl := newClient()
	for _, c := range []struct {
		method, body string
		chunked      bool
	}{
		{"GET", "", false}, {"HEAD", "", false}, {"OPTIONS", "", false}, {"DELETE", "", false},
		{"POST", "hello", false}, {"PUT", strings.Repeat("x", 100000), true}, {"PATCH", "p", false},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // unknown length: chunked
			}
		}
		req, _ := http.NewRequest(c.method, base+"/m", body)
		req.Header.Set("Connection", "X-Secret")
		req.Header.Set("X-Secret", "hop-by-hop")
		req.Header.Set("X-Keep", "end-to-end")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := c.method + ":" + c.body
		if c.method == "HEAD" {
			want = ""
		}
		if resp.StatusCode != 200 || string(got) != want || resp.Header.Get("X-Method") != c.method {
			t.Errorf("%s: %d %q (len %d)", c.method, resp.StatusCode, resp.Header.Get("X-Method"), len(got))
		}
		if resp.Header.Get("X-Saw-Secret") != "" || resp.Header.Get("X-Saw-Keep") != "end-to-end" {
			t.Errorf("%s: request hop-by-hop headers: secret %q keep %q", c.method, resp.Header.Get("X-Saw-Secret"), resp.Header.Get("X-Saw-Keep"))
		}
		if resp.Header.Get("X-Hop") != "" {
			t.Errorf("%s: response hop-by-hop header passed", c.method)
		}
		if c.method != "HEAD" && resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("%s: trailer %v", c.method, resp.Trailer)
		}
	}
}

// A target that dies mid-body: the client sees a broken response, not a
// complete one.
func TestTargetDiesMidBody(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial"))
		time.Sleep(50 * time.Millisecond)
		c.Close()
	})
	p := newPlane(t, Options{})
	tg := group("tg")
	tg.HealthCheck.Enabled = false
	tg.Targets = []Target{{ID: "x", Port: 1, Addr: addr}}
	mustUpdate(t, p, oneListener(tg))
	resp, err := newClient().Get(baseURL(t, p, "l1") + "/")
	if err != nil {
		return // also acceptable: the client saw the abort before the head
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a truncated body read as complete")
	}
}

// readSimpleResponse takes only what http.ReadResponse takes, reads it
// the same way, and leaves anything else unconsumed.
func TestSimpleResponseAgreesWithNetHTTP(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nX-A: 1\r\nx-a: 2\r\nX-Sp:  v \r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
		"HTTP/1.1 599 Odd\r\nContent-Length: 1\r\nPragma: no-cache\r\n\r\nx",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: a\r\n b\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X\r\n\r\nx",
	} {
		for _, method := range []string{"GET", "HEAD"} {
			checkSimpleResponse(t, head, method)
		}
	}
}

func FuzzSimpleResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false)
	f.Fuzz(func(t *testing.T, head string, isHead bool) {
		m := "GET"
		if isHead {
			m = "HEAD"
		}
		checkSimpleResponse(t, head, m)
	})
}

func checkSimpleResponse(t *testing.T, raw, method string) {
	t.Helper()
	bc := &bconn{br: bufio.NewReader(strings.NewReader(raw))}
	bc.br.Peek(len(raw))
	before := bc.br.Buffered()
	got := bc.readSimpleResponse(method)
	if got == nil {
		if n := before - bc.br.Buffered(); n != 0 {
			t.Fatalf("%.200q: declined but consumed %d bytes", raw, n)
		}
		return
	}
	want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%.200q: taken, but http.ReadResponse fails: %v", raw, err)
	}
	gotBody, gerr := io.ReadAll(got.Body)
	wantBody, werr := io.ReadAll(want.Body)
	if got.StatusCode != want.StatusCode || got.Close != want.Close || got.Status != want.Status ||
		string(gotBody) != string(wantBody) || (gerr == nil) != (werr == nil) ||
		want.ContentLength >= 0 && got.ContentLength != want.ContentLength {
		t.Fatalf("%q %s:\n got %d %q close %v len %d body %q %v\nwant %d %q close %v len %d body %q %v", raw, method,
			got.StatusCode, got.Status, got.Close, got.ContentLength, gotBody, gerr,
			want.StatusCode, want.Status, want.Close, want.ContentLength, wantBody, werr)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q: header\n got %v\nwant %v", raw, got.Header, want.Header)
	}
}
