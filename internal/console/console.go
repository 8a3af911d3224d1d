// Package console serves minato's web console under /console/ on the API
// listener: pages rendered with html/template from files embedded in the
// binary, a little plain JavaScript for live updates (server-sent events
// fed by the store's watch) and confirm dialogs, and actions that go
// through the same ECS operations as the API, so that their validation,
// errors and service events are the API's.
//
// It reads through the API packages' typed operations, called in process
// (interfaces below, owned here), and the state store; it never calls the
// AWS API over HTTP and never shows a secret's value.
//
// Sign-in takes minato's access key pair or the console token that
// `minato up` prints; a session is an HMAC-signed cookie (HttpOnly,
// SameSite=Strict) keyed by the secret access key, so every server that
// shares the key accepts it, and every action carries a CSRF token
// derived from the session.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/elbv2types"
	sm "github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/store"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// ECS is what the console uses of the ECS API (*ecs.API implements it).
type ECS interface {
	ListClusters(ctx context.Context, c *awsproto.Call, in *ecstypes.ListClustersRequest) (*ecstypes.ListClustersResponse, error)
	DescribeClusters(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeClustersRequest) (*ecstypes.DescribeClustersResponse, error)
	ListServices(ctx context.Context, c *awsproto.Call, in *ecstypes.ListServicesRequest) (*ecstypes.ListServicesResponse, error)
	DescribeServices(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeServicesRequest) (*ecstypes.DescribeServicesResponse, error)
	UpdateService(ctx context.Context, c *awsproto.Call, in *ecstypes.UpdateServiceRequest) (*ecstypes.UpdateServiceResponse, error)
	ListServiceDeployments(ctx context.Context, c *awsproto.Call, in *ecstypes.ListServiceDeploymentsRequest) (*ecstypes.ListServiceDeploymentsResponse, error)
	DescribeServiceDeployments(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeServiceDeploymentsRequest) (*ecstypes.DescribeServiceDeploymentsResponse, error)
	StopServiceDeployment(ctx context.Context, c *awsproto.Call, in *ecstypes.StopServiceDeploymentRequest) (*ecstypes.StopServiceDeploymentResponse, error)
	ListTasks(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTasksRequest) (*ecstypes.ListTasksResponse, error)
	DescribeTasks(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeTasksRequest) (*ecstypes.DescribeTasksResponse, error)
	StopTask(ctx context.Context, c *awsproto.Call, in *ecstypes.StopTaskRequest) (*ecstypes.StopTaskResponse, error)
	ListTaskDefinitions(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTaskDefinitionsRequest) (*ecstypes.ListTaskDefinitionsResponse, error)
	DescribeTaskDefinition(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeTaskDefinitionRequest) (*ecstypes.DescribeTaskDefinitionResponse, error)
	ListContainerInstances(ctx context.Context, c *awsproto.Call, in *ecstypes.ListContainerInstancesRequest) (*ecstypes.ListContainerInstancesResponse, error)
	DescribeContainerInstances(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeContainerInstancesRequest) (*ecstypes.DescribeContainerInstancesResponse, error)
}

// ELB is what the console uses of the ELBv2 API (*elbv2.API implements it).
type ELB interface {
	DescribeLoadBalancers(ctx context.Context, c *awsproto.Call, in *elbv2types.DescribeLoadBalancersInput) (*elbv2types.DescribeLoadBalancersOutput, error)
	DescribeListeners(ctx context.Context, c *awsproto.Call, in *elbv2types.DescribeListenersInput) (*elbv2types.DescribeListenersOutput, error)
	DescribeRules(ctx context.Context, c *awsproto.Call, in *elbv2types.DescribeRulesInput) (*elbv2types.DescribeRulesOutput, error)
	DescribeTargetGroups(ctx context.Context, c *awsproto.Call, in *elbv2types.DescribeTargetGroupsInput) (*elbv2types.DescribeTargetGroupsOutput, error)
	DescribeTargetHealth(ctx context.Context, c *awsproto.Call, in *elbv2types.DescribeTargetHealthInput) (*elbv2types.DescribeTargetHealthOutput, error)
}

// Secrets lists secrets' metadata (*secretsmanager.API implements it);
// the console has no way to read a value.
type Secrets interface {
	ListSecrets(ctx context.Context, c *awsproto.Call, in *sm.ListSecretsRequest) (*sm.ListSecretsResponse, error)
}

// Logs reads log events (*logstore.Store implements it).
type Logs interface {
	Query(q logstore.Query) (logstore.Result, error)
}

// Config says what the console reads and whom it lets in.
type Config struct {
	ECS     ECS
	ELB     ELB
	Secrets Secrets
	Logs    Logs
	// Store is read for what the API does not show (a progressive
	// deployment's progress, the deployment history's task definitions)
	// and watched for live updates.
	Store store.Store
	// Region and AccountID are those the console acts in.
	Region, AccountID string
	// AccessKeyID and SecretAccessKey are the key pair that signs in;
	// Token is the console token (either signs in).
	AccessKeyID, SecretAccessKey string
	Token                        string
	Clock                        core.Clock
	Logger                       *slog.Logger
	// MaxStreams bounds the live streams open at once (default 64).
	MaxStreams int
	// PollInterval is how often a log tail reads new events (default 1 s).
	PollInterval time.Duration
}

// Console is the web console's handler.
type Console struct {
	cfg     Config
	key     []byte // signs sessions and CSRF tokens
	pages   map[string]*template.Template
	streams chan struct{}
	call    awsproto.Call
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const (
	cookieName = "minato_console"
	sessionTTL = 12 * time.Hour
)

// New makes a console.
func New(cfg Config) (*Console, error) {
	if cfg.SecretAccessKey == "" || cfg.Token == "" {
		return nil, errors.New("console: a key pair and a token are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 64
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	k := sha256.Sum256([]byte("minato console session\x00" + cfg.AccessKeyID + "\x00" + cfg.SecretAccessKey))
	c := &Console{cfg: cfg, key: k[:], streams: make(chan struct{}, cfg.MaxStreams),
		call: awsproto.Call{Region: cfg.Region, Service: "console",
			Principal: awsproto.Principal{AccountID: cfg.AccountID, ARN: "arn:aws:iam::" + cfg.AccountID + ":root", UserID: cfg.AccountID}}}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return c, nil
}

// Handler serves every path under Prefix.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", noSniff(http.FileServerFS(static))))
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.Handle("POST /console/logout", c.authed(c.csrf(http.HandlerFunc(c.logout))))
	page := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (string, any, error)) {
		mux.Handle(pattern, c.authed(c.render(h)))
	}
	page("GET /console/{$}", c.overview)
	page("GET /console/clusters/{cluster}/{$}", c.clusterPage)
	page("GET /console/clusters/{cluster}/services/{service}", c.servicePage)
	page("GET /console/clusters/{cluster}/tasks/{task}", c.taskPage)
	page("GET /console/clusters/{cluster}/tasks/{task}/logs/{container}", c.logsPage)
	page("GET /console/clusters/{cluster}/instances", c.instancesPage)
	page("GET /console/loadbalancers", c.loadBalancersPage)
	page("GET /console/taskdefs", c.taskDefsPage)
	page("GET /console/taskdefs/{taskdef}", c.taskDefPage)
	page("GET /console/secrets", c.secretsPage)
	mux.Handle("GET /console/live", c.authed(http.HandlerFunc(c.live)))
	mux.Handle("GET /console/clusters/{cluster}/tasks/{task}/logs/{container}/tail", c.authed(http.HandlerFunc(c.tail)))
	action := func(pattern string, h func(r *http.Request) (string, error)) {
		mux.Handle("POST "+pattern, c.authed(c.csrf(c.act(h))))
	}
	action("/console/clusters/{cluster}/services/{service}/desired-count", c.setDesiredCount)
	action("/console/clusters/{cluster}/services/{service}/force-deployment", c.forceDeployment)
	action("/console/clusters/{cluster}/services/{service}/rollback", c.rollback)
	action("/console/clusters/{cluster}/tasks/{task}/stop", c.stopTask)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin") // not no-referrer: that makes browsers send "Origin: null" with forms
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func noSniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// session is a signed-in browser: the cookie carries its expiry and a
// random nonce, signed; the CSRF token is derived from the nonce.
type session struct {
	nonce string
}

func (c *Console) sign(parts ...string) string {
	m := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (c *Console) newCookie(r *http.Request) *http.Cookie {
	exp := c.cfg.Clock.Now().Add(sessionTTL)
	nonce := base64.RawURLEncoding.EncodeToString(randomBytes(18))
	es := strconv.FormatInt(exp.Unix(), 10)
	return &http.Cookie{Name: cookieName, Value: es + "." + nonce + "." + c.sign("session", es, nonce),
		Path: Prefix, Expires: exp, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
}

// sessionOf returns the request's valid session.
func (c *Console) sessionOf(r *http.Request) (session, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return session{}, false
	}
	if !hmac.Equal([]byte(parts[2]), []byte(c.sign("session", parts[0], parts[1]))) {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || c.cfg.Clock.Now().Unix() >= exp {
		return session{}, false
	}
	return session{nonce: parts[1]}, true
}

func (c *Console) csrfToken(s session) string { return c.sign("csrf", s.nonce) }

// checkCredentials says whether the form's key pair or token signs in;
// every comparison takes the same time whatever matches.
func (c *Console) checkCredentials(keyID, secret, token string) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	keyOK := keyID != "" && secret != "" && eq(keyID, c.cfg.AccessKeyID) && eq(secret, c.cfg.SecretAccessKey)
	tokenOK := token != "" && eq(token, c.cfg.Token)
	return keyOK || tokenOK
}

type ctxKey struct{}

// authed lets signed-in requests through; a request carrying the console
// token in ?token= is signed in and sent on to the same page without it;
// others go to the sign-in page (or get 401 when they are not a page).
func (c *Console) authed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("token"); tok != "" && r.Method == http.MethodGet {
			if !c.checkCredentials("", "", tok) {
				c.loginForm(w, r, http.StatusUnauthorized, "That console token is not valid.")
				return
			}
			http.SetCookie(w, c.newCookie(r))
			q := r.URL.Query()
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		s, ok := c.sessionOf(r)
		if !ok {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/live") && !strings.HasSuffix(r.URL.Path, "/tail") {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

// csrf refuses a POST without the session's CSRF token, or from another
// origin.
func (c *Console) csrf(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := r.Context().Value(ctxKey{}).(session)
		if !sameOrigin(r) || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.csrfToken(s))) {
			http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// sameOrigin says whether a request's Origin (when the browser sent one)
// is the console's own host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// safeNext keeps a post-sign-in redirect within the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.sessionOf(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.loginForm(w, r, http.StatusOK, "")
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	next := safeNext(r.URL.Query().Get("next"))
	if r.Method == http.MethodPost {
		next = safeNext(r.PostFormValue("next"))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages["login"].ExecuteTemplate(w, "layout", pageData{Title: "Sign in", Data: map[string]string{"Next": next, "Error": msg}}); err != nil {
		c.cfg.Logger.Warn("console: rendering the sign-in page", "err", err)
	}
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin sign-in refused", http.StatusForbidden)
		return
	}
	if !c.checkCredentials(r.PostFormValue("access_key_id"), r.PostFormValue("secret_access_key"), r.PostFormValue("token")) {
		c.cfg.Logger.Info("console: sign-in refused", "remote", r.RemoteAddr)
		c.loginForm(w, r, http.StatusUnauthorized, "Those credentials are not valid.")
		return
	}
	http.SetCookie(w, c.newCookie(r))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// pageData is what every page's template gets.
type pageData struct {
	Title   string
	CSRF    string
	Flash   string
	Error   string
	Live    bool // the page follows the store's changes
	Nav     string
	Cluster string
	Data    any
}

// render runs a page function and renders its template: the whole page,
// or only its content for a live update (X-Console-Partial).
func (c *Console) render(h func(w http.ResponseWriter, r *http.Request) (string, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, data, err := h(w, r)
		s, _ := r.Context().Value(ctxKey{}).(session)
		pd := pageData{CSRF: c.csrfToken(s), Flash: r.URL.Query().Get("done"), Error: r.URL.Query().Get("error"),
			Live: true, Cluster: r.PathValue("cluster"), Data: data}
		status := http.StatusOK
		if err != nil {
			name, status = "error", statusOf(err)
			pd.Data = errorMessage(err)
			pd.Live = false
		}
		if name == "logs" {
			pd.Live = false // the log page follows its log (tail), not the store
		}
		t := c.pages[name]
		pd.Title = pageTitle(name, r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		tmpl := "layout"
		if r.Header.Get("X-Console-Partial") != "" {
			tmpl = "content"
		}
		if err := t.ExecuteTemplate(w, tmpl, pd); err != nil {
			c.cfg.Logger.Warn("console: rendering a page", "page", name, "err", err)
		}
	})
}

func pageTitle(name string, r *http.Request) string {
	switch name {
	case "service":
		return "Service " + r.PathValue("service")
	case "task":
		return "Task " + r.PathValue("task")
	case "cluster":
		return "Cluster " + r.PathValue("cluster")
	case "logs":
		return "Logs of " + r.PathValue("container")
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func statusOf(err error) int {
	if e, ok := core.AsError(err); ok {
		switch e.Kind {
		case core.KindNotFound:
			return http.StatusNotFound
		case core.KindInvalid, core.KindConflict:
			return http.StatusBadRequest
		}
	}
	return http.StatusInternalServerError
}

// errorMessage is what the console shows of an error: the AWS error's
// code and message, as the API would answer.
func errorMessage(err error) string {
	if e, ok := core.AsError(err); ok {
		return e.Code + ": " + e.Message
	}
	return err.Error()
}

// act runs an action and sends the browser back to the page it names,
// with what was done or why it failed.
func (c *Console) act(h func(r *http.Request) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		back := safeNext(r.PostFormValue("back"))
		done, err := h(r)
		q := url.Values{}
		if err != nil {
			q.Set("error", errorMessage(err))
			c.cfg.Logger.Info("console: action refused", "path", r.URL.Path, "err", err)
		} else {
			q.Set("done", done)
			c.cfg.Logger.Info("console: action", "path", r.URL.Path, "done", done)
		}
		sep := "?"
		if strings.Contains(back, "?") {
			sep = "&"
		}
		http.Redirect(w, r, back+sep+q.Encode(), http.StatusSeeOther)
	})
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// callFor is the request context of one operation the console calls.
func (c *Console) callFor(op string) *awsproto.Call {
	call := c.call
	call.Operation = op
	return &call
}
