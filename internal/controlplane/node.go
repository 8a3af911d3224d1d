package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/agentserver"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/execsession"
	"github.com/minato-project/minato/internal/insights"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/lbmetrics"
	"github.com/minato-project/minato/internal/lbsync"
	"github.com/minato-project/minato/internal/leader"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/logmeta"
	"github.com/minato-project/minato/internal/logrepl"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/opsmetrics"
	"github.com/minato-project/minato/internal/peers"
	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/taskcreds"
	"github.com/minato-project/minato/internal/tasks"
)

// shutdownTimeout bounds how long Run waits for requests in flight when it
// stops.
const shutdownTimeout = 10 * time.Second

// Node is a control-plane node New wired. Its parts are there for callers
// in the same process (tests, benchmarks) that drive them directly; they
// are ready for use once Run has called ready.
type Node struct {
	// Store is the cluster view's store over the state store: the one
	// store every writer of the node uses.
	Store       store.Store
	View        *clusterview.View
	ECS         *ecsapi.API
	ELB         *elbv2api.API
	AgentServer *agentserver.Server
	// Exec serves ECS Exec sessions.
	Exec *execsession.Manager
	// TaskCreds issues and recognises task role credentials.
	TaskCreds *taskcreds.Issuer
	// Tasks is the task domain: the one owner of task state.
	Tasks  *tasks.Manager
	Agents *liveness.Tracker
	LB     *lb.Plane
	Logs   *logstore.Store
	// Metrics is the CloudWatch metric store (its own file, metrics.db).
	Metrics *metricstore.Store
	// Ops are the operators' Prometheus metrics, served at /metrics
	// unless Config.NoOpsMetrics.
	Ops *opsmetrics.Metrics
	// logRepl replicates Logs through the shared store (nil on bbolt).
	logRepl *logrepl.Replicator
	// logBatches is the store of logRepl's batches when it is not the
	// state store (etcd: a sibling prefix); closed with the node.
	logBatches store.Store
	// logMeta keeps Logs' groups and streams in step with the state store.
	logMeta *logmeta.Follower
	// Registry is the embedded image registry behind the ECR API.
	Registry *registry.Registry
	// Leader runs the controllers while this server leads: every loop
	// that acts on its own is added to it (Node.lead), and to nothing else.
	Leader *leader.Runner

	cfg  Config
	log  *slog.Logger
	bolt *bolt.Store // nil on a server sharing a store
	// engine is the state store: bolt, or Config.Store.
	engine     store.Store
	storeLive  func() error
	storeReady func(ctx context.Context) error
	lbSync     *lbsync.Syncer
	// usages are the tasks' latest resource use, for Container Insights.
	usages *insights.Usages
	local  *localAgent
	ln     net.Listener
	hs     *http.Server
	info   Info
	ready  atomic.Bool // serving: /healthz and /readyz answer
	// started is when New made the node.
	started time.Time
	ran     atomic.Bool
	closed  sync.Once
}

// Info describes the node: where its API listens, and its credentials.
func (n *Node) Info() Info { return n.info }

// Run serves the node until ctx ends, then shuts it down cleanly: it runs
// the cluster view, the load balancer's sync, the controllers and the
// admin socket, makes sure the default cluster exists, and serves the API
// listener. ready is called once the API answers. Run may be called once;
// Close releases what New opened once Run has returned.
func (n *Node) Run(ctx context.Context, ready func(Info)) error {
	if !n.ran.CompareAndSwap(false, true) {
		return errors.New("controlplane: Run called twice")
	}
	log := n.log
	// Everything Run starts stops when it returns, in the reverse order:
	// the API first, then the controllers, the sync, the view, and the
	// admin socket last.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	start := func(run func(ctx context.Context)) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			run(ctx)
		}()
		stops = append(stops, func() {
			cancel()
			<-done
		})
	}

	adminCtx, stopAdmin := context.WithCancel(context.Background())
	if n.bolt == nil {
		stopAdmin() // a shared store is backed up with its own tools (etcd snapshots)
	} else if adminDone, err := serveAdmin(adminCtx, n.cfg.DataDir, n.bolt, log.With("component", "admin")); err != nil {
		stopAdmin()
		log.Warn("no admin socket: `minato backup` cannot reach this node (a Unix socket path has at most 107 bytes)",
			"path", AdminSocket(n.cfg.DataDir), "err", err)
	} else {
		stops = append(stops, func() {
			stopAdmin()
			<-adminDone
		})
	}
	start(func(ctx context.Context) { n.View.Run(ctx) })
	start(func(ctx context.Context) { n.logMeta.Run(ctx) })
	if n.logRepl != nil {
		start(func(ctx context.Context) { n.logRepl.Run(ctx) })
	}
	start(n.lbSync.Run)
	// This server's load balancer publishes what it served as the
	// AWS/ApplicationELB metrics, into this server's metric store.
	start((&lbmetrics.Publisher{Plane: n.LB, Metrics: n.Metrics, Clock: n.cfg.Clock,
		Logger: log.With("component", "lbmetrics")}).Run)
	// So does its Container Insights collector, from the reports of its
	// agents, for the clusters that turn it on.
	start((&insights.Collector{Store: n.Store, View: n.View, Usages: n.usages, Metrics: n.Metrics, Clock: n.cfg.Clock,
		Logger: log.With("component", "insights")}).Run)

	if err := n.ECS.EnsureDefaultCluster(ctx); err != nil {
		return fmt.Errorf("default cluster: %w", err)
	}
	if err := n.View.Sync(ctx); err != nil {
		return fmt.Errorf("cluster view: %w", err)
	}
	start(n.Leader.Run)
	if n.cfg.Store != nil {
		p := &peers.Publisher{Store: n.engine, Clock: n.cfg.Clock, Logger: log.With("component", "peers"),
			Heard: n.Agents.HeardElsewhere, Self: n.self}
		start(p.Run)
	}

	serveErr := make(chan error, 1)
	go func() {
		if n.cfg.TLSCertFile != "" {
			serveErr <- n.hs.ServeTLS(n.ln, n.cfg.TLSCertFile, n.cfg.TLSKeyFile)
			return
		}
		serveErr <- n.hs.Serve(n.ln)
	}()
	n.ready.Store(true)
	log.Info("api listening", "addr", n.ln.Addr().String())
	if ready != nil {
		ready(n.info)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("api listener: %w", err)
	}
	log.Info("shutting down")
	n.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("api shutdown", "err", err)
	}
	return err
}

// lead registers a loop that only the leader runs: run is called at the
// start of each term this server leads, with a context that ends with the
// term and fences its writes (leader.WithFence); it returns once that
// context ends. Every controller is started this way, in New.
func (n *Node) lead(name string, run func(ctx context.Context)) { n.Leader.Add(name, run) }

// Close releases what New opened: the API listener, the load balancer's
// listeners, the log store and the state store. Call it after Run has
// returned, or instead of Run. Calling it again does nothing.
func (n *Node) Close() error {
	var errs []error
	n.closed.Do(func() {
		if n.ln != nil {
			n.ln.Close() // closed already once Run has served it
		}
		if n.LB != nil {
			errs = append(errs, n.LB.Close())
		}
		if n.logBatches != nil {
			errs = append(errs, n.logBatches.Close())
		}
		if n.logRepl != nil {
			errs = append(errs, n.logRepl.Close())
		}
		if n.Logs != nil {
			errs = append(errs, n.Logs.Close())
		}
		if n.Metrics != nil {
			errs = append(errs, n.Metrics.Close())
		}
		if n.Registry != nil {
			errs = append(errs, n.Registry.Close())
		}
		if n.bolt != nil {
			errs = append(errs, n.bolt.Close())
		}
	})
	return errors.Join(errs...)
}
