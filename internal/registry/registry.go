package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/store"
)

// Defaults of Config.
const (
	DefaultGCGrace           = 30 * time.Minute
	DefaultGCInterval        = 15 * time.Minute
	DefaultLifecycleInterval = time.Hour
	// pushSettle is how long after a push the lifecycle policy of its
	// repository runs: a burst of pushes costs one evaluation.
	pushSettle = 2 * time.Second
)

// Config says where the registry keeps its data and what it reads.
type Config struct {
	// Dir holds the token key (token.key) and the blob storage (storage/).
	Dir string
	// Store holds the ECR repository records (internal/state): a
	// repository must exist there to be pushed to or pulled from.
	Store     store.Store
	AccountID string
	Clock     core.Clock
	Logger    *slog.Logger
	// GCGrace is how long a blob must have been unreferenced and
	// untouched before garbage collection deletes it (see gc.go).
	GCGrace time.Duration
	// GCInterval and LifecycleInterval are how often garbage collection
	// and the lifecycle policies of all repositories run.
	GCInterval, LifecycleInterval time.Duration
}

// Registry is the embedded registry: distribution's HTTP API on the
// durable filesystem driver, behind minato's token check, with ECR's rules
// (repositories must exist, immutable tags) and the image operations of
// the ECR API.
type Registry struct {
	cfg    Config
	log    *slog.Logger
	clock  core.Clock
	id     string
	driver storagedriver.StorageDriver
	// durable is driver: Flush makes deletes durable.
	durable *durable
	app     *handlers.App
	// base is distribution's namespace over the storage; ns is base with
	// minato's rules, the one the HTTP API and the ECR API both use.
	base, ns distribution.Namespace
	tokens   tokens
	handler  http.Handler
	endpoint atomic.Pointer[endpoint]

	tags keyedMutex // one push of a repository's tag at a time
	gc   gcState

	kicks chan string // repositories pushed to, for their lifecycle policy
}

type endpoint struct{ scheme, host string }

// instances maps an instance ID to its Registry, for the storage driver
// factory and registry middleware that distribution looks up by name.
var instances sync.Map

const (
	driverName     = "minato-durable-filesystem"
	middlewareName = "minato-ecr"
)

func init() {
	factory.Register(driverName, driverFactory{})
	if err := registrymiddleware.Register(middlewareName, initMiddleware); err != nil {
		panic(err)
	}
	quietLogrus()
}

type driverFactory struct{}

func (driverFactory) Create(_ context.Context, params map[string]any) (storagedriver.StorageDriver, error) {
	r, err := instance(params)
	if err != nil {
		return nil, err
	}
	return r.driver, nil
}

func instance(params map[string]any) (*Registry, error) {
	id, _ := params["instance"].(string)
	v, ok := instances.Load(id)
	if !ok {
		return nil, fmt.Errorf("registry: no instance %q", id)
	}
	return v.(*Registry), nil
}

func initMiddleware(_ context.Context, ns distribution.Namespace, _ storagedriver.StorageDriver, options map[string]any) (distribution.Namespace, error) {
	r, err := instance(options)
	if err != nil {
		return nil, err
	}
	r.base = ns
	r.ns = &namespace{Namespace: ns, reg: r}
	return r.ns, nil
}

// New opens (creating on first start) the registry under cfg.Dir. Run
// starts its lifecycle and garbage collection; Close stops them.
func New(cfg Config) (reg *Registry, err error) {
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = DefaultGCGrace
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.LifecycleInterval <= 0 {
		cfg.LifecycleInterval = DefaultLifecycleInterval
	}
	root := filepath.Join(cfg.Dir, "storage")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	key, err := loadOrCreateTokenKey(filepath.Join(cfg.Dir, "token.key"))
	if err != nil {
		return nil, err
	}
	idb := make([]byte, 8)
	_, _ = rand.Read(idb)
	r := &Registry{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, id: hex.EncodeToString(idb), tokens: tokens{key: key},
		kicks: make(chan string, 64)}
	r.durable = newDurable(filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100}), root)
	r.driver = r.durable
	r.gc.init(r.clock.Now(), r.clock.Now)
	r.endpoint.Store(&endpoint{scheme: "http", host: "127.0.0.1"})
	instances.Store(r.id, r)
	logSink.Store(r.log.With("component", "distribution"))
	defer func() {
		if err != nil {
			instances.Delete(r.id)
		}
	}()

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	conf := &configuration.Configuration{}
	conf.Storage = configuration.Storage{
		driverName: configuration.Parameters{"instance": r.id},
		"delete":   configuration.Parameters{"enabled": true},
		"redirect": configuration.Parameters{"disable": true},
		// Uploads a client abandoned (an interrupted push) are removed
		// after a day.
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{
			"enabled": true, "age": "24h", "interval": "1h", "dryrun": false}},
	}
	conf.Middleware = map[string][]configuration.Middleware{
		"registry": {{Name: middlewareName, Options: configuration.Parameters{"instance": r.id}}},
	}
	// The secret signs the state of blob uploads in progress. It is new
	// at every start: an upload does not survive a restart (docker
	// retries it from the start).
	conf.HTTP.Secret = hex.EncodeToString(secret)
	r.app, err = newApp(conf)
	if err != nil {
		return nil, err
	}
	if r.ns == nil {
		return nil, errors.New("registry: distribution did not apply minato's middleware")
	}
	r.handler = r.front(r.app)
	return r, nil
}

// newApp is handlers.NewApp, which panics on a bad configuration.
func newApp(conf *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registry: %v", p)
		}
	}()
	return handlers.NewApp(context.Background(), conf), nil
}

// Handler serves the registry HTTP API (/v2/...).
func (r *Registry) Handler() http.Handler { return r.handler }

// SetEndpoint says where clients reach the registry: scheme (http or
// https) and host[:port], as repositoryUri and the token's proxyEndpoint
// show it.
func (r *Registry) SetEndpoint(scheme, host string) {
	r.endpoint.Store(&endpoint{scheme: scheme, host: host})
}

// Host is the registry's host[:port], the first part of a repositoryUri.
func (r *Registry) Host() string { return r.endpoint.Load().host }

// Endpoint is the registry's URL, the proxyEndpoint of a token.
func (r *Registry) Endpoint() string {
	e := r.endpoint.Load()
	return e.scheme + "://" + e.host
}

// IssueToken returns a registry token and when it expires.
func (r *Registry) IssueToken() (string, time.Time) { return r.tokens.issue(r.clock.Now()) }

// Run runs the lifecycle policies and garbage collection until ctx ends:
// every repository's policy each LifecycleInterval and shortly after each
// push to it, garbage collection each GCInterval.
func (r *Registry) Run(ctx context.Context) {
	lifeTick := time.NewTicker(r.cfg.LifecycleInterval)
	defer lifeTick.Stop()
	gcTick := time.NewTicker(r.cfg.GCInterval)
	defer gcTick.Stop()
	due := map[string]time.Time{} // pushed repositories, when to evaluate them
	var settle *time.Timer
	var settleC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if settle != nil {
				settle.Stop()
			}
			return
		case repo := <-r.kicks:
			if _, ok := due[repo]; !ok {
				due[repo] = r.clock.Now().Add(pushSettle)
			}
			if settle == nil {
				settle = time.NewTimer(pushSettle)
				settleC = settle.C
			}
		case <-settleC:
			settle, settleC = nil, nil
			now := r.clock.Now()
			for repo, at := range due {
				if now.Before(at) {
					continue
				}
				delete(due, repo)
				r.expireLogged(ctx, repo)
			}
			if len(due) > 0 {
				settle = time.NewTimer(pushSettle)
				settleC = settle.C
			}
		case <-lifeTick.C:
			r.expireAll(ctx)
		case <-gcTick.C:
			if st, err := r.CollectGarbage(ctx); err != nil {
				r.log.Warn("registry garbage collection", "err", err)
			} else if st.Blobs > 0 {
				r.log.Info("registry garbage collection", "blobs", st.Blobs, "bytes", st.Bytes)
			}
		}
	}
}

// pushed tells the lifecycle loop that repo received an image.
func (r *Registry) pushed(repo string) {
	select {
	case r.kicks <- repo:
	default: // the loop is busy; the scheduled run will see the push
	}
}

// PolicyChanged tells the registry that the lifecycle policy of repo
// changed: it runs within seconds.
func (r *Registry) PolicyChanged(repo string) { r.pushed(repo) }

// Close releases the registry. Requests still being served may fail.
func (r *Registry) Close() error {
	instances.Delete(r.id)
	return r.app.Shutdown()
}
