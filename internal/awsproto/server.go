package awsproto

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/minato-project/minato/internal/core"
)

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes int64 = 10 << 20

// Config configures a Server.
type Config struct {
	Keys         KeyStore      // access keys; nil rejects every request
	Clock        core.Clock    // for signature expiry and the Date header; nil means the wall clock
	Logger       *slog.Logger  // nil discards
	MaxBodyBytes int64         // 0 means DefaultMaxBodyBytes
	MaxClockSkew time.Duration // 0 means DefaultMaxClockSkew (15 minutes, as AWS)
	// NewRequestID returns the x-amzn-RequestId of each request; nil means a
	// random UUID. Tests set it to make replies reproducible.
	NewRequestID func() string

	// Load shedding. At most MaxInFlight requests are processed at once;
	// up to MaxQueued more wait at most QueueWait for a slot, and every
	// other request is answered ThrottlingException (JSON services) or
	// Throttling (Query services), HTTP 400, at once: the AWS SDKs retry
	// those with backoff. A server past its capacity thus refuses the
	// excess cheaply instead of queueing it without bound.
	//
	// MaxInFlight 0 means DefaultMaxInFlight(); a negative MaxInFlight
	// turns shedding off. MaxQueued 0 means MaxInFlight (negative: no
	// queue); QueueWait 0 means DefaultQueueWait.
	MaxInFlight int
	MaxQueued   int
	QueueWait   time.Duration

	// Before authentication (see preauth.go). A request's body is read
	// only after the header part of its signature checked out, and outside
	// the processing slots. The body must arrive within BodyGrace or, after
	// it, at an average of MinBodyRate bytes per second; else the request is
	// answered RequestTimeout and its connection closed. One client address
	// may have at most MaxSlowBodiesPerIP bodies still arriving after
	// BodyGrace: the excess is answered with a throttling error and its
	// connection closed. All bodies being read or not yet authenticated
	// share PreAuthBodyBytes of memory; a request that finds it spent is
	// throttled likewise.
	//
	// BodyGrace 0 means DefaultBodyGrace, MinBodyRate 0 DefaultMinBodyRate,
	// MaxSlowBodiesPerIP 0 DefaultMaxSlowBodiesPerIP (negative: no bound),
	// PreAuthBodyBytes 0 eight times MaxBodyBytes (negative: no bound; keep
	// it above MaxBodyBytes, or the largest bodies are always throttled).
	BodyGrace          time.Duration
	MinBodyRate        int64
	MaxSlowBodiesPerIP int
	PreAuthBodyBytes   int64

	// Observe, when set, is told of every request once it is answered
	// (the operators' /metrics).
	Observe func(RequestStats)
}

// RequestStats describe one answered request. Service and Operation are
// those of a registered service and operation, "" otherwise (a client
// cannot make up label values); Code is the AWS error code, "" on success.
type RequestStats struct {
	Service, Operation, Code string
	Status                   int
	Duration                 time.Duration
}

// DefaultQueueWait is how long a request waits for a slot when
// Config.QueueWait is 0.
const DefaultQueueWait = 250 * time.Millisecond

// DefaultMaxInFlight is the bound on requests processed at once when
// Config.MaxInFlight is 0: 32 per CPU GOMAXPROCS allows, at least 64.
// The API's requests are CPU work of milliseconds, so a few dozen per core
// keep the cores busy; more only lengthen every request's time.
func DefaultMaxInFlight() int { return max(64, 32*runtime.GOMAXPROCS(0)) }

// JSONService is an AWS JSON 1.1 service: POST / with
// X-Amz-Target: <TargetPrefix>.<Operation>.
type JSONService struct {
	SigningName  string // SigV4 service name, e.g. "ecs"
	TargetPrefix string // e.g. "AmazonEC2ContainerServiceV20141113"
	// InternalErrorCode is the __type of errors that carry no AWS code, e.g.
	// "ServerException" for ECS. Empty means "InternalFailure".
	InternalErrorCode string
	// JSONVersion is "1.1" (default) or "1.0"; it sets the reply's
	// Content-Type, application/x-amz-json-<JSONVersion>.
	JSONVersion string
	Ops         map[string]JSONHandler
}

// QueryService is an AWS Query service: form-encoded Action=...&Version=...
// by POST (or GET with a query string), answered in XML.
type QueryService struct {
	SigningName  string // SigV4 service name, e.g. "sts", "elasticloadbalancing"
	Version      string // API version, e.g. "2011-06-15"
	XMLNamespace string // e.g. "https://sts.amazonaws.com/doc/2011-06-15/"
	// InternalErrorCode is the <Code> of errors that carry no AWS code.
	// Empty means "InternalFailure".
	InternalErrorCode string
	Actions           map[string]QueryHandler
}

// Server is the http.Handler for AWS API requests. It handles nothing else;
// mount /healthz and the like around it. Register every service before
// serving; registration is not safe concurrently with requests.
type Server struct {
	keys    KeyStore
	clock   core.Clock
	log     *slog.Logger
	maxBody int64
	maxSkew time.Duration
	newID   func() string
	observe func(RequestStats)
	signer  *v4.Signer
	json    map[string]*JSONService  // by TargetPrefix
	query   map[string]*QueryService // by SigningName
	cbor    map[string]*CBORService  // by ServiceName

	// Load shedding; slots is nil when it is off.
	slots     chan struct{}
	maxQueued int64
	queueWait time.Duration
	queued    atomic.Int64
	shed      atomic.Int64

	// Before authentication.
	bodyGrace   time.Duration
	minBodyRate int64
	slowPerIP   *ipGate     // nil: no bound
	budget      *byteBudget // nil: no bound
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a Server with no services registered.
func NewServer(cfg Config) *Server {
	s := &Server{
		keys:    cfg.Keys,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		maxBody: cfg.MaxBodyBytes,
		maxSkew: cfg.MaxClockSkew,
		newID:   cfg.NewRequestID,
		observe: cfg.Observe,
		signer:  v4.NewSigner(),
		json:    map[string]*JSONService{},
		query:   map[string]*QueryService{},
		cbor:    map[string]*CBORService{},
	}
	if s.keys == nil {
		s.keys = NewStaticKeys()
	}
	if s.clock == nil {
		s.clock = core.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxSkew <= 0 {
		s.maxSkew = DefaultMaxClockSkew
	}
	if s.newID == nil {
		s.newID = newUUID
	}
	s.bodyGrace, s.minBodyRate = cfg.BodyGrace, cfg.MinBodyRate
	if s.bodyGrace <= 0 {
		s.bodyGrace = DefaultBodyGrace
	}
	if s.minBodyRate <= 0 {
		s.minBodyRate = DefaultMinBodyRate
	}
	s.slowPerIP = newIPGate(cmp.Or(cfg.MaxSlowBodiesPerIP, DefaultMaxSlowBodiesPerIP))
	if n := cmp.Or(cfg.PreAuthBodyBytes, 8*s.maxBody); n > 0 {
		s.budget = &byteBudget{max: n}
	}
	if n := cfg.MaxInFlight; n >= 0 {
		if n == 0 {
			n = DefaultMaxInFlight()
		}
		s.slots = make(chan struct{}, n)
		s.maxQueued = int64(cfg.MaxQueued)
		if cfg.MaxQueued == 0 {
			s.maxQueued = int64(n)
		}
		s.queueWait = cfg.QueueWait
		if s.queueWait <= 0 {
			s.queueWait = DefaultQueueWait
		}
	}
	return s
}

// Shed returns how many requests were refused with a throttling error
// because the server was at its bound.
func (s *Server) Shed() int64 { return s.shed.Load() }

// acquire takes a processing slot: at once if one is free, else after
// waiting in the queue if there is room in it. It reports false when the
// request must be shed. The caller calls release after a true.
func (s *Server) acquire(ctx context.Context) bool {
	if s.slots == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	if s.queued.Add(1) > s.maxQueued {
		s.queued.Add(-1)
		return false
	}
	defer s.queued.Add(-1)
	t := time.NewTimer(s.queueWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (s *Server) release() {
	if s.slots != nil {
		<-s.slots
	}
}

// errThrottled is the answer to a request the server sheds.
func errThrottled() *wireError {
	return &wireError{status: http.StatusBadRequest, jsonCode: "ThrottlingException", queryCode: "Throttling", message: "Rate exceeded"}
}

// RegisterJSON adds a JSON service. It panics if the service has no
// TargetPrefix or SigningName, or its prefix is taken.
func (s *Server) RegisterJSON(svc JSONService) {
	if svc.TargetPrefix == "" || svc.SigningName == "" {
		panic("awsproto: JSONService needs TargetPrefix and SigningName")
	}
	if _, dup := s.json[svc.TargetPrefix]; dup {
		panic("awsproto: JSON target prefix registered twice: " + svc.TargetPrefix)
	}
	if svc.InternalErrorCode == "" {
		svc.InternalErrorCode = "InternalFailure"
	}
	if svc.JSONVersion == "" {
		svc.JSONVersion = "1.1"
	}
	s.json[svc.TargetPrefix] = &svc
}

// RegisterQuery adds a Query service. It panics if the service has no
// SigningName or Version, or its signing name is taken.
func (s *Server) RegisterQuery(svc QueryService) {
	if svc.SigningName == "" || svc.Version == "" {
		panic("awsproto: QueryService needs SigningName and Version")
	}
	if _, dup := s.query[svc.SigningName]; dup {
		panic("awsproto: Query signing name registered twice: " + svc.SigningName)
	}
	if svc.InternalErrorCode == "" {
		svc.InternalErrorCode = "InternalFailure"
	}
	s.query[svc.SigningName] = &svc
}

// exchange is one request in flight.
type exchange struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	id       string
	proto    Protocol
	jsonSvc  *JSONService
	querySvc *QueryService
	cborSvc  *CBORService
	service  string // for logs
	op       string
	keyID    string
	status   int
	code     string
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{s: s, w: w, r: r, id: s.newID(), proto: detectProtocol(r)}
	h := w.Header()
	h.Set("x-amzn-RequestId", x.id)
	// The SDKs correct their clock skew from Date, so it is the clock the
	// signatures are checked against.
	h.Set("Date", s.clock.Now().UTC().Format(http.TimeFormat))
	ctx := r.Context()
	x.serve(ctx, start)
	d := time.Since(start)
	x.logDone(ctx, d)
	if s.observe != nil {
		s.observe(x.stats(d))
	}
}

// stats describes the answered request for Config.Observe.
func (x *exchange) stats(d time.Duration) RequestStats {
	st := RequestStats{Status: x.status, Code: x.code, Duration: d}
	switch {
	case x.jsonSvc != nil:
		st.Service = x.jsonSvc.SigningName
		if _, ok := x.jsonSvc.Ops[x.op]; ok {
			st.Operation = x.op
		}
	case x.querySvc != nil:
		st.Service = x.querySvc.SigningName
		if _, ok := x.querySvc.Actions[x.op]; ok {
			st.Operation = x.op
		}
	}
	return st
}

func detectProtocol(r *http.Request) Protocol {
	if isCBOR(r) {
		return ProtocolCBOR
	}
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		return ProtocolJSON
	}
	return ProtocolQuery
}

// serve takes a request through the stages of preauth.go, then a
// processing slot, then its handler.
func (x *exchange) serve(ctx context.Context, start time.Time) {
	s, r := x.s, x.r
	// 1. The header part of the signature; the body is not read yet.
	sr, werr := parseAuth(r)
	if werr == nil && x.answerUnserved(ctx, sr) {
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		x.refuse(ctx, newWireError(http.StatusMethodNotAllowed, "MethodNotAllowed",
			"The specified method is not allowed against this resource."))
		return
	}
	x.findService(sr)
	var pr Principal
	if werr == nil {
		var scopeSvc string
		if x.jsonSvc != nil {
			scopeSvc = x.jsonSvc.SigningName
		}
		if x.cborSvc != nil {
			scopeSvc = x.cborSvc.SigningName
		}
		pr, werr = s.authHeaders(sr, x.proto, scopeSvc)
	}
	if werr == nil && r.ContentLength > s.maxBody {
		werr = errTooLarge(s.maxBody)
	}
	if werr != nil {
		x.refuse(ctx, werr)
		return
	}

	// 2. The body, outside the processing slots.
	body, hold, werr := s.readBody(x.w, r, start)
	if werr != nil {
		hold.release(s)
		abandonBody(x.w, r, true)
		x.fail(ctx, werr)
		return
	}

	// 3. The whole signature.
	werr = s.verifySignature(ctx, x.id, r, body, sr, pr, x.proto)
	hold.release(s)
	if werr != nil {
		x.fail(ctx, werr)
		return
	}
	// Compressed requests (the SDKs gzip CloudWatch's PutMetricData): the
	// signature is over the bytes sent, the operation reads them inflated.
	if body, werr = inflate(r.Header, body, s.maxBody); werr != nil {
		x.fail(ctx, werr)
		return
	}

	// Route.
	call := &Call{Protocol: x.proto, Operation: x.op, Service: sr.service, Region: sr.region,
		Principal: pr, RequestID: x.id, Body: body, Header: r.Header, Host: r.Host, TLS: r.TLS != nil}
	var h Handler
	switch x.proto {
	case ProtocolJSON:
		h, werr = x.routeJSON()
		if werr == nil && !utf8.Valid(body) {
			// encoding/json would replace the invalid bytes with U+FFFD,
			// so that two different names decode as one.
			werr = newWireError(http.StatusBadRequest, "SerializationException",
				"The request body is not valid UTF-8.")
		}
	case ProtocolCBOR:
		h, werr = x.routeCBOR()
	case ProtocolQuery:
		var form url.Values
		form, werr = parseQueryForm(r, body)
		x.op = first(form, "Action")
		if x.querySvc == nil {
			x.querySvc = s.queryByVersion(first(form, "Version"))
			x.setService()
		}
		if werr == nil {
			h, werr = x.routeQuery(sr, first(form, "Version"))
		}
		call.Operation, call.Form = x.op, form
	}
	if werr == nil && pr.Allow != nil && !pr.Allow(sr.service, call.Operation) {
		werr = newWireError(http.StatusBadRequest, "AccessDeniedException", "User: "+pr.ARN+
			" is not authorized to perform: "+sr.service+":"+call.Operation+" with task role credentials")
		if x.proto == ProtocolQuery {
			werr.status, werr.queryCode = http.StatusForbidden, "AccessDenied"
		}
	}
	if werr != nil {
		x.fail(ctx, werr)
		return
	}

	// A processing slot, now that the caller is known.
	if !s.acquire(ctx) {
		s.shed.Add(1)
		x.fail(ctx, errThrottled())
		return
	}
	defer s.release()
	out, err := x.invoke(context.WithValue(ctx, callKey{}, call), h, call)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.reply(ctx, out)
}

// answerUnserved answers a request signed for a service minato does not
// serve (see unserved.go), in the protocol its client expects, once its
// access key and date check out; it reports whether it answered. Nothing
// is read of the body: whatever the call, the answer is the same.
func (x *exchange) answerUnserved(ctx context.Context, sr *sigRequest) bool {
	uerr, p := x.s.unserved(x.r, sr)
	if uerr == nil {
		return false
	}
	x.proto, x.service, x.keyID = p, sr.service, sr.accessKeyID
	x.op = x.r.Method + " " + x.r.URL.Path
	if target := x.r.Header.Get("X-Amz-Target"); target != "" {
		x.op = target
	}
	if _, werr := x.s.authHeaders(sr, p, ""); werr != nil {
		x.refuse(ctx, werr)
		return true
	}
	x.refuse(ctx, uerr)
	return true
}

// findService finds the service a request is for from its headers and URL
// alone, so that even an error before its body is read has the service's
// shape: the JSON target's prefix, or for Query the credential scope's
// service or else the Version in the URL. sr is the parsed signature or nil.
func (x *exchange) findService(sr *sigRequest) {
	s, r := x.s, x.r
	if sr != nil {
		x.keyID = sr.accessKeyID
	}
	switch x.proto {
	case ProtocolJSON:
		target := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(target, '.'); i > 0 {
			x.jsonSvc, x.op = s.json[target[:i]], target[i+1:]
		} else {
			x.op = target
		}
	case ProtocolCBOR:
		if name, op, ok := cborPath(r.URL.Path); ok {
			x.cborSvc, x.op = s.cbor[name], op
		}
	case ProtocolQuery:
		if sr != nil {
			x.querySvc = s.query[sr.service]
		}
		if x.querySvc == nil {
			x.querySvc = s.queryByVersion(r.URL.Query().Get("Version"))
		}
	}
	x.setService()
}

func (x *exchange) setService() {
	switch {
	case x.jsonSvc != nil:
		x.service = x.jsonSvc.SigningName
	case x.querySvc != nil:
		x.service = x.querySvc.SigningName
	case x.cborSvc != nil:
		x.service = x.cborSvc.SigningName
	}
}

// refuse answers a request whose body was not read.
func (x *exchange) refuse(ctx context.Context, werr *wireError) {
	abandonBody(x.w, x.r, false)
	x.fail(ctx, werr)
}

// routeJSON finds the handler of a JSON request; its credential scope was
// checked against the service in authHeaders.
func (x *exchange) routeJSON() (Handler, *wireError) {
	svc := x.jsonSvc
	if svc == nil {
		return nil, newWireError(http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("Unknown operation %q", x.r.Header.Get("X-Amz-Target")))
	}
	h := svc.Ops[x.op]
	if h == nil {
		return nil, newWireError(http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("Unknown operation %q", x.r.Header.Get("X-Amz-Target")))
	}
	return h, nil
}

func (x *exchange) routeQuery(sr *sigRequest, version string) (Handler, *wireError) {
	if x.op == "" {
		return nil, newWireError(http.StatusBadRequest, "MissingAction", "Missing Action")
	}
	if version == "" {
		version = "NO_VERSION_SPECIFIED"
	}
	invalid := newWireError(http.StatusBadRequest, "InvalidAction",
		fmt.Sprintf("Could not find operation %s for version %s", x.op, version))
	svc := x.querySvc
	if svc == nil || svc.Version != version {
		return nil, invalid
	}
	if sr.service != svc.SigningName {
		return nil, errWrongService(x.proto, svc.SigningName)
	}
	h := svc.Actions[x.op]
	if h == nil {
		return nil, invalid
	}
	return h, nil
}

func (s *Server) queryByVersion(v string) *QueryService {
	if v == "" {
		return nil
	}
	for _, svc := range s.query {
		if svc.Version == v {
			return svc
		}
	}
	return nil
}

// invoke calls h, turning a panic into an internal error.
func (x *exchange) invoke(ctx context.Context, h Handler, c *Call) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			x.s.log.LogAttrs(ctx, slog.LevelError, "handler panicked",
				slog.String(keyRequestID, x.id), slog.String(keyService, x.service),
				slog.String(keyOperation, x.op), slog.Any(keyPanic, p), slog.String(keyStack, string(debug.Stack())))
			out, err = nil, errors.New("handler panicked")
		}
	}()
	return h(ctx, c)
}

// fail writes err in the request's protocol and logs it.
func (x *exchange) fail(ctx context.Context, err error) {
	internalCode := "InternalFailure"
	switch {
	case x.jsonSvc != nil:
		internalCode = x.jsonSvc.InternalErrorCode
	case x.querySvc != nil:
		internalCode = x.querySvc.InternalErrorCode
	case x.cborSvc != nil:
		internalCode = x.cborSvc.InternalErrorCode
	}
	we, internal := toWire(err, x.proto, internalCode)
	x.status, x.code = we.status, we.code(x.proto)
	if internal {
		x.s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String(keyRequestID, x.id), slog.String(keyService, x.service),
			slog.String(keyOperation, x.op), slog.Int(keyStatus, we.status), slog.Any(keyError, err))
	}
	if x.proto == ProtocolQuery {
		ns := ""
		if x.querySvc != nil {
			ns = x.querySvc.XMLNamespace
		}
		writeQueryError(x.w, we, ns, x.id)
		return
	}
	if x.proto == ProtocolCBOR {
		writeCBORError(x.w, we, x.cborSvc)
		return
	}
	version := "1.1"
	if x.jsonSvc != nil {
		version = x.jsonSvc.JSONVersion
	}
	writeJSONError(x.w, we, version)
}

// reply writes a handler's output.
func (x *exchange) reply(ctx context.Context, out any) {
	var err error
	if x.proto == ProtocolQuery {
		err = writeQueryResult(x.w, x.querySvc.XMLNamespace, x.op, x.id, out)
	} else if x.proto == ProtocolCBOR {
		err = writeCBORResult(x.w, out)
	} else {
		err = writeJSONResult(x.w, x.jsonSvc.JSONVersion, out)
	}
	if err != nil {
		x.fail(ctx, fmt.Errorf("encode %s output: %w", x.op, err))
		return
	}
	x.status = http.StatusOK
}

// logDone logs one line per request: at DEBUG, since a client's mistakes
// (4xx) are the client's to see in its replies and would flood the log of a
// busy server; at ERROR when the server failed (5xx). Values the caller
// sent are clipped.
func (x *exchange) logDone(ctx context.Context, d time.Duration) {
	level := slog.LevelDebug
	if x.status >= 500 {
		level = slog.LevelError
	}
	if !x.s.log.Enabled(ctx, level) {
		return
	}
	x.s.log.LogAttrs(ctx, level, "aws request",
		slog.String(keyRequestID, x.id), slog.String(keyService, x.service),
		slog.String(keyOperation, clip(x.op, maxLoggedBytes)), slog.String(keyAccessKey, clip(x.keyID, maxLoggedBytes)),
		slog.Int(keyStatus, x.status), slog.String(keyCode, x.code),
		slog.String(keyRemote, x.r.RemoteAddr), slog.Duration(keyDuration, d))
}

// Log keys.
const (
	keyRequestID = "request_id"
	keyService   = "service"
	keyOperation = "operation"
	keyAccessKey = "access_key_id"
	keyStatus    = "status"
	keyCode      = "code"
	keyRemote    = "remote"
	keyDuration  = "duration"
	keyError     = "error"
	keyReason    = "reason"
	keyPanic     = "panic"
	keyStack     = "stack"
)

const (
	levelDebug = slog.LevelDebug
	levelError = slog.LevelError
)

func attrReason(s string) slog.Attr { return slog.String(keyReason, s) }
func attrErr(err error) slog.Attr   { return slog.Any(keyError, err) }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func formatBytes(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func first(m map[string][]string, k string) string {
	if v := m[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
