package awsproto

import (
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The stage before a request has proven who sent it.
//
// A request is checked in three steps, cheapest first, and only a request
// that passed a step may cost the server more:
//
//  1. the header part of its signature (authHeaders): the Authorization
//     header parses, the access key is known, X-Amz-Date is within the
//     skew and the credential scope fits. A request that fails is answered
//     at once; its body is never read.
//  2. its body is read (readBody), outside the processing slots, at a
//     minimum average rate and within the size cap. Memory for the bodies
//     of requests in this stage comes from one budget (Config.PreAuthBodyBytes),
//     and one client address may have at most Config.MaxSlowBodiesPerIP
//     bodies that take longer than Config.BodyGrace: the read of the next
//     one is cut. A request waiting for its body thus costs what an idle
//     connection costs, for at most BodyGrace, unless it sends at the
//     minimum rate and is one of its address's few slow bodies.
//  3. the whole signature, payload hash included, is verified.
//
// Only then does the request take a processing slot (Server.acquire). A
// client that does not hold the secret key can therefore hold neither a
// slot nor more than a bounded amount of memory, however slowly it sends.

// Defaults of the pre-authentication limits (see Config).
const (
	DefaultBodyGrace          = 5 * time.Second
	DefaultMinBodyRate        = 16 << 10 // bytes per second
	DefaultMaxSlowBodiesPerIP = 8
	// maxBodyTime bounds the reading of one body however fast it goes on,
	// as http.Server.ReadTimeout did before the stage set its own deadlines.
	maxBodyTime = 60 * time.Second
	// firstBodyChunk is the buffer a body is first read into; it doubles
	// as bytes arrive, so memory follows what a client sent, not what it
	// declared: a request that declares 10 MiB and sends nothing holds
	// 512 bytes of the budget, not 10 MiB.
	firstBodyChunk = 512
)

// authHeaders checks the part of the request's signature that does not
// depend on its body: step 1 above. svc is the signing name the request's
// headers name (the JSON target's service), "" if they name none.
// sr is what parseAuth found, nil if the request is not signed.
func (s *Server) authHeaders(sr *sigRequest, p Protocol, svc string) (Principal, *wireError) {
	if sr == nil {
		return Principal{}, errMissingAuth(p)
	}
	if werr := checkTime(sr, s.clock.Now(), s.maxSkew, p); werr != nil {
		return Principal{}, werr
	}
	pr, ok := s.lookup(sr)
	if !ok {
		return Principal{}, errUnknownKey(p)
	}
	if werr := checkScope(sr, p, svc); werr != nil {
		return Principal{}, werr
	}
	return pr, nil
}

// ipGate bounds how many of something one client address holds at once.
// A nil *ipGate admits everything.
type ipGate struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newIPGate(n int) *ipGate {
	if n < 0 {
		return nil
	}
	return &ipGate{max: n, n: map[string]int{}}
}

// acquire takes one for ip; it reports false if ip holds max already.
func (g *ipGate) acquire(ip string) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[ip] >= g.max {
		return false
	}
	g.n[ip]++
	return true
}

func (g *ipGate) release(ip string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[ip]--; g.n[ip] <= 0 {
		delete(g.n, ip)
	}
}

// held returns how many ip holds.
func (g *ipGate) held(ip string) int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[ip]
}

// byteBudget is memory shared by all requests in the stage. A nil
// *byteBudget is unbounded.
type byteBudget struct {
	max  int64
	used atomic.Int64
}

func (b *byteBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *byteBudget) give(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// clientIP is the address a request came from, without its port: the key of
// the per-address limits. Proxies in front of minato are not trusted to say
// otherwise.
func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// bodyRead is the state of one body being read, shared between the reading
// goroutine and the timer that fires when the body outlasts the grace.
type bodyRead struct {
	rc        *http.ResponseController
	deadlines bool // the connection takes read deadlines

	mu      sync.Mutex
	done    bool // reading ended; the timer must do nothing
	slow    bool // holds a slot of the per-address gate
	evicted bool // refused a slot of the gate: the read is cut
}

// setDeadline sets the read deadline for the next read; it reports false
// if the read was cut meanwhile.
func (b *bodyRead) setDeadline(t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.evicted {
		return false
	}
	if b.deadlines && b.rc.SetReadDeadline(t) != nil {
		b.deadlines = false
	}
	return true
}

// becomeSlow runs when the body outlasts the grace: the request now needs
// one of its address's slow-body slots, or its read is cut.
func (b *bodyRead) becomeSlow(g *ipGate, ip string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	if g.acquire(ip) {
		b.slow = true
		return
	}
	b.evicted = true
	if b.deadlines {
		_ = b.rc.SetReadDeadline(time.Now()) // the pending read fails at once
	}
}

// finish ends the read; after it the timer does nothing.
func (b *bodyRead) finish() (slow, evicted bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	return b.slow, b.evicted
}

// bodyHold is what a body read in the stage holds until the request is
// authenticated or refused: memory of the budget and perhaps a slow-body
// slot of its address.
type bodyHold struct {
	reserved int64
	slow     bool
	ip       string
}

// release gives back what the body held.
func (h *bodyHold) release(s *Server) {
	s.budget.give(h.reserved)
	h.reserved = 0
	if h.slow {
		s.slowPerIP.release(h.ip)
		h.slow = false
	}
}

// readBody is step 2 above. The caller releases the hold once the request
// is authenticated or refused, also when werr is not nil.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, start time.Time) (body []byte, hold bodyHold, werr *wireError) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, hold, nil
	}
	if r.ContentLength > s.maxBody {
		return nil, hold, errTooLarge(s.maxBody)
	}
	// limit is one more than the most the body may hold, so that a read
	// can see the end or the excess.
	limit := s.maxBody + 1
	if r.ContentLength > 0 {
		limit = r.ContentLength + 1
	}
	hold.ip = clientIP(r.RemoteAddr)
	b := &bodyRead{rc: http.NewResponseController(w), deadlines: true}
	// The timer that asks for a slow-body slot when the grace ends starts
	// only if the first read did not end the body: most bodies come whole
	// with their headers. A first read still waiting when the grace ends
	// fails at its deadline anyway.
	var timer *time.Timer
	var buf []byte
	for werr == nil {
		if len(buf) == cap(buf) {
			size := min(max(2*int64(cap(buf)), firstBodyChunk), limit)
			if !s.budget.take(size - int64(cap(buf))) {
				werr = errThrottled()
				break
			}
			hold.reserved += size - int64(cap(buf))
			buf = append(make([]byte, 0, size), buf...)
		}
		// The body must average MinBodyRate once the grace is over, and
		// end within maxBodyTime.
		due := s.bodyGrace + time.Duration(float64(len(buf))/float64(s.minBodyRate)*float64(time.Second))
		if !b.setDeadline(start.Add(min(due, maxBodyTime))) {
			werr = errThrottled()
			break
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case int64(len(buf)) > s.maxBody:
			werr = errTooLarge(s.maxBody)
		case err == io.EOF:
		case err != nil:
			werr = bodyReadError(err)
		case timer == nil && s.slowPerIP != nil:
			timer = time.AfterFunc(time.Until(start.Add(s.bodyGrace)), func() { b.becomeSlow(s.slowPerIP, hold.ip) })
			continue
		default:
			continue
		}
		break
	}
	if timer != nil {
		timer.Stop()
	}
	var evicted bool
	hold.slow, evicted = b.finish()
	switch {
	case evicted:
		return nil, hold, errThrottled()
	case werr != nil:
		return nil, hold, werr
	}
	if b.deadlines {
		// The body is read: no deadline until the next request, whose own
		// the http.Server sets.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return buf, hold, nil
}

// bodyReadError is the answer to a body that could not be read.
func bodyReadError(err error) *wireError {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return newWireError(http.StatusRequestTimeout, "RequestTimeout",
			"The request body was not received fast enough; the connection is closed.")
	}
	return newWireError(http.StatusBadRequest, "IncompleteBody", "The request body could not be read.")
}

// abandonBody ends a request whose body is not read: its read deadline is
// now. The http.Server then takes what of the body it has buffered already
// (a small body usually came with the headers) and keeps the connection;
// a body still on its way is not waited for: the connection is closed after
// the reply. cut says the body was read in part, so the connection must be
// closed in any case.
func abandonBody(w http.ResponseWriter, r *http.Request, cut bool) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	if cut {
		w.Header().Set("Connection", "close")
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// lookup finds the principal of a request's access key, and of its
// session token when it carries one: temporary keys (a TokenKeyStore's)
// need their token, and a principal with a SessionToken is recognised only
// with it.
func (s *Server) lookup(sr *sigRequest) (Principal, bool) {
	if tk, ok := s.keys.(TokenKeyStore); ok && sr.sessionToken != "" {
		if pr, ok := tk.LookupToken(sr.accessKeyID, sr.sessionToken); ok {
			return pr, true
		}
	}
	pr, ok := s.keys.Lookup(sr.accessKeyID)
	if ok && pr.SessionToken != "" && subtle.ConstantTimeCompare([]byte(pr.SessionToken), []byte(sr.sessionToken)) != 1 {
		return Principal{}, false
	}
	return pr, ok
}
