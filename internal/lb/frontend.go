package lb

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The front end serves a listener's client connections itself for the
// common case, and gives a connection to net/http's server the moment it
// sees anything it does not fully handle.
//
// net/http's server costs the plane more per request than the proxying:
// for every request it starts a background read on the connection and
// aborts it when the handler returns (a goroutine parked and woken, a
// deadline set and reset), builds a context, and wakes the connection's
// goroutine more often than needed. The front end reads a request head,
// routes it and writes the response on the connection's one goroutine,
// with buffers it reuses for the connection's life.
//
// It takes only a strict subset of HTTP/1.1: a request line "GET|HEAD|
// OPTIONS <origin-form target> HTTP/1.1", CRLF line ends, valid header
// names and values, one valid Host, no body (no Transfer-Encoding, a
// Content-Length only if "0"), no Upgrade, no Expect, no line folding, the
// whole head within feHeadMax bytes. A request outside it is not answered
// here: its connection, with every byte not yet consumed, goes to
// net/http's server for good, which accepts or rejects it by its own
// rules (bodies, 100-continue, HTTP/1.0, upgrades, large heads, 400s).

const (
	feHeadMax  = 8 << 10 // the read buffer: a longer head goes to net/http
	feWriteBuf = 8 << 10
)

var (
	feReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, feHeadMax) }}
	feWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, feWriteBuf) }}
)

// handoffListener is the net.Listener of a listener's net/http server:
// it yields the connections the front end gives up.
type handoffListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoffListener) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoffListener) Addr() net.Addr { return h.addr }

// give hands c to the server; false when the server is shut down.
func (h *handoffListener) give(c net.Conn) bool {
	select {
	case h.ch <- c:
		return true
	case <-h.done:
		return false
	}
}

// handedConn is a connection given to net/http: reads drain what the
// front end buffered but did not consume first.
type handedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// Front-end connection states.
const (
	feActive int32 = iota // reading or serving a request
	feIdle                // waiting for the next request
	feClosed              // closed by shutdown
)

// feConn is one client connection served by the front end.
type feConn struct {
	l      *listener
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	state  atomic.Int32
	remote string
	setAt  time.Time // when the read deadline was last pushed

	req       http.Request
	url       url.URL
	hdr       http.Header
	w         feWriter
	closeWant bool // the request said Connection: close
}

// acceptLoop accepts the listener's connections until it is closed.
func (l *listener) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// net/http's server does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			l.p.log.Debug("lb: accept error", "listener", l.arn, "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go l.serveConn(nc)
	}
}

func (l *listener) track(c *feConn) bool {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if l.closing.Load() {
		return false
	}
	l.fconns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c *feConn) {
	l.fmu.Lock()
	delete(l.fconns, c)
	l.fmu.Unlock()
}

// serveConn serves one client connection until it closes or is handed to
// net/http.
func (l *listener) serveConn(nc net.Conn) {
	c := &feConn{l: l, nc: nc, remote: nc.RemoteAddr().String(), hdr: http.Header{}}
	if !l.track(c) {
		_ = nc.Close()
		return
	}
	rw := fastRW(nc)
	c.br = feReaders.Get().(*bufio.Reader)
	c.br.Reset(rw)
	c.bw = feWriters.Get().(*bufio.Writer)
	c.bw.Reset(rw)
	c.w.c = c
	c.w.h = http.Header{}
	handed := c.loop()
	l.untrack(c)
	if !handed {
		_ = nc.Close()
		c.br.Reset(nil)
		feReaders.Put(c.br)
	}
	c.bw.Reset(nil)
	feWriters.Put(c.bw)
}

// loop serves requests; it reports whether it gave the connection to
// net/http (which then owns nc and br).
func (c *feConn) loop() (handed bool) {
	l := c.l
	for {
		if !c.state.CompareAndSwap(feActive, feIdle) || l.closing.Load() {
			return false
		}
		c.armRead()
		head, ok, err := c.peekHead()
		if !c.state.CompareAndSwap(feIdle, feActive) {
			return false // shut down meanwhile
		}
		if err != nil {
			_ = c.bw.Flush()
			return false
		}
		if !ok || !c.parse(head) {
			return c.handoff()
		}
		_, _ = c.br.Discard(len(head))
		if !c.serve() {
			_ = c.bw.Flush()
			return false
		}
		if c.closeWant || c.w.closeAfter {
			_ = c.bw.Flush()
			return false
		}
		// Answer pipelined requests first, flush when there are none.
		if c.br.Buffered() == 0 {
			if c.bw.Flush() != nil {
				return false
			}
		}
	}
}

// handoff gives the connection, as it stands, to net/http's server.
func (c *feConn) handoff() bool {
	if c.bw.Flush() != nil {
		return false
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	return c.l.hand.give(&handedConn{Conn: c.nc, br: c.br})
}

// armRead pushes the read deadline IdleTimeout ahead, at most every
// eighth of it: setting a deadline costs, and a connection waits between
// 7/8 and all of IdleTimeout for a request.
func (c *feConn) armRead() {
	idle := c.l.p.opts.IdleTimeout
	now := time.Now()
	if now.Sub(c.setAt) > idle/8 {
		c.setAt = now
		_ = c.nc.SetReadDeadline(now.Add(idle))
	}
}

// peekHead reads until the buffer holds a whole request head (up to and
// including its empty line) and returns it without consuming it. ok is
// false when the head cannot be one the front end takes: a bare LF line
// end, or no end within the buffer.
func (c *feConn) peekHead() (head []byte, ok bool, err error) {
	br := c.br
	from := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		for i := from; i < len(buf); i++ {
			if buf[i] != '\n' {
				continue
			}
			if i == 0 || buf[i-1] != '\r' {
				return nil, false, nil
			}
			if i >= 3 && buf[i-2] == '\n' && buf[i-3] == '\r' {
				return buf[:i+1], true, nil
			}
		}
		from = len(buf)
		if len(buf) >= br.Size() {
			return nil, false, nil
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			// EOF, a timeout or an error, maybe after part of a head:
			// net/http would close the connection too.
			return nil, false, err
		}
	}
}

// tchar is RFC 9110's token character set.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// pathSafe are the bytes of a request path that url.ParseRequestURI
// keeps as they are (no escapes, nothing it would treat specially).
var pathSafe = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = tchar[c] && c != '%' && c != '#' && c != '^' && c != '`' && c != '|'
	}
	for _, c := range "/:@;=,()" {
		t[c] = true
	}
	return t
}()

// hostSafe are the bytes the front end accepts in a Host header.
var hostSafe = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-._:[]" {
		t[c] = true
	}
	return t
}()

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// validValue: no control characters but HTAB (obs-text is allowed, as
// net/http does).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hasToken says whether a comma-separated header value lists tok (ASCII
// case-insensitive).
func hasToken(v, tok string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(trimOWS(part), tok) {
			return true
		}
	}
	return false
}

// parse fills c.req from a request head; false when the front end does
// not take the request (it then goes to net/http, unconsumed).
func (c *feConn) parse(head []byte) bool {
	// One string for the whole head: every field is a slice of it.
	s := string(head[:len(head)-2])
	eol := strings.Index(s, "\r\n")
	line := s[:eol]
	rest := s[eol+2:]

	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return false
	}
	method := line[:sp1]
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	line = line[sp1+1:]
	sp2 := strings.IndexByte(line, ' ')
	if sp2 <= 0 || line[sp2+1:] != "HTTP/1.1" {
		return false
	}
	uri := line[:sp2]
	if uri[0] != '/' {
		return false // absolute-form, authority-form, asterisk-form
	}
	c.url = url.URL{}
	q := strings.IndexByte(uri, '?')
	path := uri
	if q >= 0 {
		path = uri[:q]
	}
	simple := true
	for i := 0; i < len(path); i++ {
		if !pathSafe[path[i]] {
			simple = false
			break
		}
	}
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b <= ' ' || b >= 0x7f {
			return false
		}
	}
	if simple && (q < 0 || q < len(uri)-1 || strings.Count(uri, "?") != 1) {
		c.url.Path = path
		if q >= 0 {
			c.url.RawQuery = uri[q+1:]
		}
	} else {
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			return false
		}
		c.url = *u
	}

	// Headers: count them first, so that their values share one backing
	// array.
	n := strings.Count(rest, "\r\n")
	vals := make([]string, n)
	h := c.hdr
	clear(h)
	host, nhost := "", 0
	c.closeWant = false
	for i := 0; i < n; i++ {
		eol := strings.Index(rest, "\r\n")
		hl := rest[:eol]
		rest = rest[eol+2:]
		colon := strings.IndexByte(hl, ':')
		if colon <= 0 {
			return false
		}
		name := hl[:colon]
		if !validToken(name) {
			return false // also obs-fold and a space before the colon
		}
		v := trimOWS(hl[colon+1:])
		if !validValue(v) {
			return false
		}
		k := textproto.CanonicalMIMEHeaderKey(name)
		switch k {
		case "Host":
			host, nhost = v, nhost+1
			continue
		case "Content-Length":
			if v != "0" || len(h[k]) > 0 {
				return false
			}
		case "Transfer-Encoding", "Upgrade", "Expect":
			return false
		case "Connection":
			if hasToken(v, "close") {
				c.closeWant = true
			}
			if hasToken(v, "upgrade") {
				return false
			}
		}
		if prev, ok := h[k]; ok {
			h[k] = append(prev, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	if nhost != 1 || host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		if !hostSafe[host[i]] {
			return false
		}
	}
	if hp, ok := h["Pragma"]; ok && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	c.req = http.Request{
		Method:     method,
		URL:        &c.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RemoteAddr: c.remote,
		RequestURI: uri,
	}
	return true
}

// serve routes and answers c.req; false when the connection must close
// at once (the handler aborted its response, or panicked).
func (c *feConn) serve() (ok bool) {
	w := &c.w
	w.reset(c.req.Method == http.MethodHead)
	defer func() {
		if e := recover(); e != nil {
			if e != http.ErrAbortHandler {
				c.l.p.log.Error("lb: panic serving a request", "remote", c.remote, "panic", e)
			}
			ok = false
		}
	}()
	c.l.ServeHTTP(w, &c.req)
	w.finish()
	return w.err == nil
}

// feWriter is the front end's http.ResponseWriter. It writes the head when
// the body starts (or at the end), with net/http's rules for what a
// response carries: a Date, a sniffed Content-Type when none was set,
// Content-Length: 0 for an empty body, chunked framing and trailers when
// the length is unknown, Connection: close when the connection ends.
type feWriter struct {
	c           *feConn
	h           http.Header
	head        bool // a HEAD request
	status      int
	wroteHeader bool
	sent        bool  // the head is written
	cl          int64 // declared Content-Length, -1 when none
	n           int64 // body bytes written
	chunked     bool
	noBody      bool
	trailers    []string
	closeAfter  bool
	err         error
}

func (w *feWriter) reset(head bool) {
	clear(w.h)
	*w = feWriter{c: w.c, h: w.h, head: head, trailers: w.trailers[:0], cl: -1}
}

func (w *feWriter) Header() http.Header { return w.h }

func (w *feWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("lb: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		return // interim responses are not passed on
	}
	w.wroteHeader = true
	w.status = code
}

func bodyAllowed(code int) bool {
	return !(code >= 100 && code <= 199 || code == http.StatusNoContent || code == http.StatusNotModified)
}

// sendHead writes the status line and the header. p is the start of the
// body (for sniffing); done says the handler has returned.
func (w *feWriter) sendHead(p []byte, done bool) {
	w.sent = true
	h := w.h
	bw := w.c.bw
	code := w.status
	delete(h, "Transfer-Encoding")
	if !bodyAllowed(code) {
		delete(h, "Content-Length")
		if code == http.StatusNotModified {
			delete(h, "Content-Type")
		}
		w.noBody = true
	} else {
		if v := h["Content-Length"]; len(v) > 0 {
			n, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil || n < 0 || len(v) > 1 {
				delete(h, "Content-Length")
			} else {
				w.cl = n
			}
		}
		w.trailers = w.trailers[:0]
		for _, v := range h["Trailer"] {
			for k := range strings.SplitSeq(v, ",") {
				k = http.CanonicalHeaderKey(trimOWS(k))
				switch k {
				case "", "Transfer-Encoding", "Trailer", "Content-Length":
				default:
					w.trailers = append(w.trailers, k)
				}
			}
		}
		if w.cl < 0 && done && len(w.trailers) == 0 && !w.head {
			w.cl = 0
			h["Content-Length"] = zeroLen
		}
		if _, ok := h["Content-Type"]; !ok && len(p) > 0 && len(h["Content-Encoding"]) == 0 {
			h["Content-Type"] = []string{http.DetectContentType(p)}
		}
		if w.head {
			w.noBody = true
		} else if w.cl < 0 {
			w.chunked = true
		}
	}
	if w.c.closeWant || w.c.l.closing.Load() {
		w.closeAfter = true // asked for, or the listener is shutting down
	}

	bw.WriteString("HTTP/1.1 ")
	var num [3]byte
	num[0], num[1], num[2] = byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10)
	bw.Write(num[:])
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(num[:])
	}
	bw.WriteString("\r\n")
	for k, vv := range h {
		if !validToken(k) || k == "Connection" {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

var zeroLen = []string{"0"}

// writeValue writes a header value with CR and LF replaced by spaces (as
// net/http does), so that no value can end the head early.
func writeValue(bw *bufio.Writer, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	bw.WriteString(v)
}

func (w *feWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead(p, false)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		if w.head {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.n+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.c.bw
	if w.chunked {
		var b [16]byte
		bw.Write(strconv.AppendInt(b[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if err == nil && w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Flush sends what is buffered to the client.
func (w *feWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead(nil, false)
	}
	if err := w.c.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// finish ends the response after the handler returned.
func (w *feWriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead(nil, true)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.h[k] {
				bw.WriteString(k)
				bw.WriteString(": ")
				writeValue(bw, v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	if !w.noBody && w.cl >= 0 && w.n != w.cl {
		w.closeAfter = true // the client would wait for the rest
	}
}

// httpDate is the current Date header value, formatted once a second.
func httpDate() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &cachedDate{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	dateCache.Store(d)
	return d.b
}

type cachedDate struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[cachedDate]

// shutdownFront closes the front end's idle connections at once and its
// busy ones when their request is done; at ctx's end it closes them all.
func (l *listener) shutdownFront(ctx context.Context) {
	l.fmu.Lock()
	l.closing.Store(true)
	l.fmu.Unlock()
	wait := time.Millisecond
	for {
		l.fmu.Lock()
		left := 0
		for c := range l.fconns {
			if c.state.CompareAndSwap(feIdle, feClosed) {
				_ = c.nc.Close()
				continue
			}
			if c.state.Load() != feClosed {
				left++
			}
		}
		l.fmu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			l.fmu.Lock()
			for c := range l.fconns {
				c.state.Store(feClosed)
				_ = c.nc.Close()
			}
			l.fmu.Unlock()
			return
		case <-time.After(wait):
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}
