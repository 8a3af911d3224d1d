package lb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// The fast path forwards the common request (GET, HEAD or OPTIONS with no
// body and no upgrade) on a keep-alive connection it owns from start to
// end: the handler's goroutine writes the request and reads the response
// itself. net/http's Transport hands every request to two goroutines per
// connection (a writer and a reader), and those hand-offs cost more CPU
// than the proxying itself; everything else (bodies, upgrades, other
// methods) still goes through httputil.ReverseProxy and a Transport.

// fastEligible says whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.ProtoMajor != 1 {
		return false
	}
	h := r.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return true
}

// connPool holds a target's idle keep-alive connections of the fast path.
type connPool struct {
	addr   string
	dialer *net.Dialer
	idleTO time.Duration // ALB's idle timeout: a read waits no longer
	maxAge time.Duration // an idle connection older than this is not reused
	idle   chan *bconn
}

func newConnPool(addr string, dialer *net.Dialer, idleTimeout time.Duration, max int) *connPool {
	return &connPool{addr: addr, dialer: dialer, idleTO: idleTimeout, maxAge: 50 * time.Second, idle: make(chan *bconn, max)}
}

// bconn is one connection to a target.
type bconn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	rd     *idleReader
	usedAt time.Time

	// reused by readSimpleResponse
	resp http.Response
	hdr  http.Header
	body clBody
}

// idleReader pushes the connection's read deadline forward as data comes:
// a target that sends nothing for the idle timeout fails the read.
type idleReader struct {
	nc    net.Conn
	rd    io.Reader // nc, or a faster way to read it
	idle  time.Duration
	setAt time.Time
}

func (r *idleReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(r.setAt) > r.idle/8 {
		r.setAt = now
		_ = r.nc.SetReadDeadline(now.Add(r.idle))
	}
	return r.rd.Read(p)
}

var (
	brPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	bwPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (p *connPool) get() (*bconn, bool, error) {
	for {
		select {
		case bc := <-p.idle:
			if time.Since(bc.usedAt) < p.maxAge {
				return bc, true, nil
			}
			bc.close()
			continue
		default:
		}
		nc, err := p.dialer.Dial("tcp", p.addr)
		if err != nil {
			return nil, false, err
		}
		rw := fastRW(nc)
		rd := &idleReader{nc: nc, rd: rw, idle: p.idleTO}
		br := brPool.Get().(*bufio.Reader)
		br.Reset(rd)
		bw := bwPool.Get().(*bufio.Writer)
		bw.Reset(rw)
		return &bconn{nc: nc, br: br, bw: bw, rd: rd}, false, nil
	}
}

func (p *connPool) put(bc *bconn) {
	bc.usedAt = time.Now()
	select {
	case p.idle <- bc:
	default:
		bc.close()
	}
}

func (p *connPool) closeIdle() {
	for {
		select {
		case bc := <-p.idle:
			bc.close()
		default:
			return
		}
	}
}

func (bc *bconn) close() {
	_ = bc.nc.Close()
	if bc.br != nil {
		bc.br.Reset(nil)
		brPool.Put(bc.br)
		bc.bw.Reset(nil)
		bwPool.Put(bc.bw)
		bc.br, bc.bw = nil, nil
	}
}

// hopHeaders are the hop-by-hop headers a proxy does not forward.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// writeRequest writes the outbound request: the inbound one without its
// hop-by-hop headers, with X-Forwarded-For appended.
func writeRequest(bw *bufio.Writer, r *http.Request, clientIP string) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' && uri != "*" {
		uri = r.URL.RequestURI()
	}
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if hopHeaders[k] || k == "Host" || k == "X-Forwarded-For" || len(conn) > 0 && listedIn(conn, k) {
			if k == "Te" && teTrailers(vv) {
				bw.WriteString("Te: trailers\r\n")
			}
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("X-Forwarded-For: ")
	for _, v := range r.Header["X-Forwarded-For"] {
		bw.WriteString(v)
		bw.WriteString(", ")
	}
	bw.WriteString(clientIP)
	bw.WriteString("\r\n\r\n")
	return bw.Flush()
}

func listedIn(conn []string, k string) bool {
	for _, v := range conn {
		for tok := range strings.SplitSeq(v, ",") {
			if textproto.TrimString(tok) != "" && http.CanonicalHeaderKey(textproto.TrimString(tok)) == k {
				return true
			}
		}
	}
	return false
}

func teTrailers(vv []string) bool {
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), "trailers") {
				return true
			}
		}
	}
	return false
}

func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// errNoResponse marks a failure before any byte of the response came: on
// a reused connection the request is retried once on a new one.
var errNoResponse = errors.New("lb: connection closed before a response")

// roundTrip sends r on bc and reads the response head.
func (p *connPool) roundTrip(bc *bconn, r *http.Request, ip string) (*http.Response, error) {
	if err := writeRequest(bc.bw, r, ip); err != nil {
		return nil, errNoResponse
	}
	if _, err := bc.br.Peek(1); err != nil {
		if isTimeout(err) {
			return nil, err
		}
		return nil, errNoResponse
	}
	if resp := bc.readSimpleResponse(r.Method); resp != nil {
		return resp, nil
	}
	for {
		resp, err := http.ReadResponse(bc.br, r)
		if err != nil {
			return nil, err
		}
		// Skip interim responses (100 Continue, 103 Early Hints).
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveFast proxies r to t on the fast path. It returns the status the
// client got, whether the target sent it (false: the load balancer's own
// error) and how long the target took to send its response head. abort
// says the target or the client failed mid-body: the caller must then
// abort the client's response (panic(http.ErrAbortHandler)) so that it does
// not look complete.
func (p *Plane) serveFast(w http.ResponseWriter, r *http.Request, t *target) (code int, fromTarget bool, rt time.Duration, abort bool) {
	ip := clientIP(r)
	var resp *http.Response
	var bc *bconn
	start := time.Now()
	for attempt := 0; ; attempt++ {
		var reused bool
		var err error
		bc, reused, err = t.pool.get()
		if err != nil {
			code = http.StatusBadGateway
			t.failed()
			if isTimeout(err) {
				code = http.StatusGatewayTimeout
			}
			writeError(w, code)
			return code, false, -1, false
		}
		resp, err = t.pool.roundTrip(bc, r, ip)
		if err == nil {
			break
		}
		bc.close()
		if err == errNoResponse && reused && attempt == 0 {
			continue // a stale keep-alive connection: once more on a new one
		}
		code = http.StatusBadGateway
		t.failed()
		if isTimeout(err) {
			code = http.StatusGatewayTimeout
		} else {
			p.log.Debug("lb: target error", "target", t.key.addr, "err", err)
		}
		writeError(w, code)
		return code, false, -1, false
	}
	rt = time.Since(start)

	h := w.Header()
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if hopHeaders[k] || len(conn) > 0 && listedIn(conn, k) {
			continue
		}
		if prev, ok := h[k]; ok { // our Set-Cookie
			h[k] = append(prev, vv...)
			continue
		}
		h[k] = vv
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	if resp.StatusCode >= 500 {
		t.failed()
	}
	w.WriteHeader(resp.StatusCode)
	ok := copyBody(w, resp.Body, resp.ContentLength < 0)
	resp.Body.Close()
	for k, vv := range resp.Trailer {
		h[k] = vv
	}
	reusable := ok && !resp.Close && (resp.ContentLength >= 0 || isChunked(resp))
	if reusable {
		t.pool.put(bc)
	} else {
		bc.close()
	}
	abort = !ok && r.Context().Err() == nil
	return resp.StatusCode, true, rt, abort
}

func isChunked(resp *http.Response) bool {
	return len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies a response body to the client, flushing after every
// read when the body is streamed (no Content-Length). It reports whether
// the whole body was read and written.
func copyBody(w http.ResponseWriter, body io.Reader, stream bool) bool {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	if stream {
		rc = http.NewResponseController(w)
	}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false
			}
			if rc != nil {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// readSimpleResponse reads the common response head itself, when it is
// already buffered whole: HTTP/1.1, a final status, valid header lines, a
// Content-Length (or no body at all), no Transfer-Encoding, no Trailer.
// It fills and returns the connection's reused Response, header map and
// body. It consumes nothing and returns nil for anything else, which
// http.ReadResponse then reads.
func (bc *bconn) readSimpleResponse(method string) *http.Response {
	br := bc.br
	buf, _ := br.Peek(br.Buffered())
	end := -1
	for i := 0; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		if i == 0 || buf[i-1] != '\r' {
			return nil
		}
		if i >= 3 && buf[i-2] == '\n' && buf[i-3] == '\r' {
			end = i + 1
			break
		}
	}
	if end < 0 {
		return nil
	}
	s := string(buf[:end-2])
	eol := strings.Index(s, "\r\n")
	line, rest := s[:eol], s[eol+2:]
	if len(line) < 12 || line[:9] != "HTTP/1.1 " || len(line) > 12 && line[12] != ' ' {
		return nil
	}
	code := 0
	for _, c := range []byte(line[9:12]) {
		if c < '0' || c > '9' {
			return nil
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 {
		return nil
	}
	n := strings.Count(rest, "\r\n")
	vals := make([]string, n)
	if bc.hdr == nil {
		bc.hdr = http.Header{}
	}
	h := bc.hdr
	clear(h)
	cl := int64(-1)
	closeConn := false
	for i := 0; i < n; i++ {
		eol := strings.Index(rest, "\r\n")
		hl := rest[:eol]
		rest = rest[eol+2:]
		colon := strings.IndexByte(hl, ':')
		if colon <= 0 || !validToken(hl[:colon]) {
			return nil
		}
		v := trimOWS(hl[colon+1:])
		if !validValue(v) {
			return nil
		}
		k := textproto.CanonicalMIMEHeaderKey(hl[:colon])
		switch k {
		case "Content-Length":
			if cl >= 0 || len(v) == 0 || len(v) > 18 {
				return nil
			}
			cl = 0
			for _, c := range []byte(v) {
				if c < '0' || c > '9' {
					return nil
				}
				cl = cl*10 + int64(c-'0')
			}
		case "Transfer-Encoding", "Trailer":
			return nil
		case "Connection":
			if hasToken(v, "close") {
				closeConn = true
			}
		}
		if prev, ok := h[k]; ok {
			h[k] = append(prev, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	noBody := method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if cl < 0 && !noBody {
		return nil // delimited by the connection's end
	}
	if hp, ok := h["Pragma"]; ok && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	if closeConn {
		delete(h, "Connection") // as http.ReadResponse does
	}
	_, _ = br.Discard(end)
	bc.body = clBody{br: br, n: cl}
	if noBody {
		bc.body.n = 0
		if cl < 0 {
			cl = 0
		}
	}
	bc.resp = http.Response{
		Status:        line[9:],
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          &bc.body,
		ContentLength: cl,
		Close:         closeConn,
	}
	return &bc.resp
}

// clBody is a response body of a known length.
type clBody struct {
	br *bufio.Reader
	n  int64
}

func (b *clBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if err == io.EOF && b.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && b.n == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *clBody) Close() error { return nil }
