package awsproto

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
	signer  *v4.Signer
	json    map[string]*JSONService  // by TargetPrefix
	query   map[string]*QueryService // by SigningName

	// Load shedding; slots is nil when it is off.
	slots     chan struct{}
	maxQueued int64
	queueWait time.Duration
	queued    atomic.Int64
	shed      atomic.Int64
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
		signer:  v4.NewSigner(),
		json:    map[string]*JSONService{},
		query:   map[string]*QueryService{},
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
	if !s.acquire(ctx) {
		s.shed.Add(1)
		x.throttle(ctx)
		x.logDone(ctx, time.Since(start))
		return
	}
	defer s.release()
	x.serve(ctx)
	x.logDone(ctx, time.Since(start))
}

// throttle answers a shed request without reading its body or checking its
// signature: only which service it is for is looked at, from headers, so
// that the error has the service's shape.
func (x *exchange) throttle(ctx context.Context) {
	s, r := x.s, x.r
	switch x.proto {
	case ProtocolJSON:
		target := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(target, '.'); i > 0 {
			x.jsonSvc, x.op = s.json[target[:i]], target[i+1:]
		}
		if x.jsonSvc != nil {
			x.service = x.jsonSvc.SigningName
		}
	case ProtocolQuery:
		if sr, err := parseAuth(r); err == nil && sr != nil {
			x.querySvc = s.query[sr.service]
		}
		if x.querySvc != nil {
			x.service = x.querySvc.SigningName
		}
	}
	x.fail(ctx, errThrottled())
}

func detectProtocol(r *http.Request) Protocol {
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		return ProtocolJSON
	}
	return ProtocolQuery
}

func (x *exchange) serve(ctx context.Context) {
	s, r := x.s, x.r
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		x.fail(ctx, newWireError(http.StatusMethodNotAllowed, "MethodNotAllowed",
			"The specified method is not allowed against this resource."))
		return
	}
	body, werr := s.readBody(x.w, r)
	if werr != nil {
		x.fail(ctx, werr)
		return
	}
	sr, authErr := parseAuth(r)

	// Find the service first: Query errors carry its XML namespace.
	var form map[string][]string
	var formErr error
	switch x.proto {
	case ProtocolJSON:
		target := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(target, '.'); i > 0 {
			x.jsonSvc, x.op = s.json[target[:i]], target[i+1:]
		} else {
			x.op = target
		}
		if x.jsonSvc != nil {
			x.service = x.jsonSvc.SigningName
		}
	case ProtocolQuery:
		form, formErr = parseQueryForm(r, body)
		x.op = first(form, "Action")
		if sr != nil {
			x.querySvc = s.query[sr.service]
		}
		if x.querySvc == nil {
			x.querySvc = s.queryByVersion(first(form, "Version"))
		}
		if x.querySvc != nil {
			x.service = x.querySvc.SigningName
		}
	}

	// Authenticate.
	if authErr != nil {
		x.fail(ctx, authErr)
		return
	}
	if sr == nil {
		x.fail(ctx, errMissingAuth(x.proto))
		return
	}
	x.keyID = sr.accessKeyID
	if werr := checkTime(sr, s.clock.Now(), s.maxSkew, x.proto); werr != nil {
		x.fail(ctx, werr)
		return
	}
	pr, ok := s.keys.Lookup(sr.accessKeyID)
	if !ok {
		x.fail(ctx, errUnknownKey(x.proto))
		return
	}
	if werr := s.verifySignature(ctx, x.id, r, body, sr, pr, x.proto); werr != nil {
		x.fail(ctx, werr)
		return
	}

	// Route.
	call := &Call{Protocol: x.proto, Operation: x.op, Service: sr.service, Region: sr.region,
		Principal: pr, RequestID: x.id, Body: body, Header: r.Header}
	var h Handler
	switch x.proto {
	case ProtocolJSON:
		h, werr = x.routeJSON(sr)
	case ProtocolQuery:
		if formErr != nil {
			werr = newWireError(http.StatusNotFound, "MalformedQueryString", formErr.Error())
		} else {
			h, werr = x.routeQuery(sr, first(form, "Version"))
		}
		call.Form = form
	}
	if werr != nil {
		x.fail(ctx, werr)
		return
	}
	out, err := x.invoke(context.WithValue(ctx, callKey{}, call), h, call)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.reply(ctx, out)
}

func (x *exchange) routeJSON(sr *sigRequest) (Handler, *wireError) {
	svc := x.jsonSvc
	if svc == nil {
		return nil, newWireError(http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("Unknown operation %q", x.r.Header.Get("X-Amz-Target")))
	}
	if sr.service != svc.SigningName {
		return nil, errSignature(x.proto, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", svc.SigningName))
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
		return nil, errSignature(x.proto, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", svc.SigningName))
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

// readBody reads the whole body, at most s.maxBody bytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *wireError) {
	if r.ContentLength > s.maxBody {
		return nil, errTooLarge(s.maxBody)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge(s.maxBody)
		}
		return nil, newWireError(http.StatusBadRequest, "IncompleteBody", "The request body could not be read.")
	}
	return b, nil
}

// fail writes err in the request's protocol and logs it.
func (x *exchange) fail(ctx context.Context, err error) {
	internalCode := "InternalFailure"
	switch {
	case x.jsonSvc != nil:
		internalCode = x.jsonSvc.InternalErrorCode
	case x.querySvc != nil:
		internalCode = x.querySvc.InternalErrorCode
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
	} else {
		err = writeJSONResult(x.w, x.jsonSvc.JSONVersion, out)
	}
	if err != nil {
		x.fail(ctx, fmt.Errorf("encode %s output: %w", x.op, err))
		return
	}
	x.status = http.StatusOK
}

func (x *exchange) logDone(ctx context.Context, d time.Duration) {
	level := slog.LevelDebug
	switch {
	case x.status >= 500:
		level = slog.LevelError
	case x.status >= 400:
		level = slog.LevelInfo
	}
	x.s.log.LogAttrs(ctx, level, "aws request",
		slog.String(keyRequestID, x.id), slog.String(keyService, x.service),
		slog.String(keyOperation, x.op), slog.String(keyAccessKey, x.keyID),
		slog.Int(keyStatus, x.status), slog.String(keyCode, x.code),
		slog.String(keyRemote, x.r.RemoteAddr), slog.Duration(keyDuration, d))
}

// NewHTTPServer returns an http.Server for h with limits that keep slow or
// huge requests from tying the server up.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
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
