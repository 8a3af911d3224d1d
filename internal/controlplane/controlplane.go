// Package controlplane assembles a minato control-plane node: the state
// store and the cluster view over it, the AWS API listener with every
// service registered, the agent channel, the load balancer and the
// controllers. It is the composition root; the parts live elsewhere.
//
// New wires a node once; Run serves it; Close releases it. `minato up` and
// `minato server`, the test mini-cluster and the benchmarks all start a
// node this way, so that what they run is the same composition, and only
// Config (addresses, clock, IDs, intervals) differs between them.
package controlplane

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	autoscalingapi "github.com/minato-project/minato/internal/api/autoscaling"
	cloudwatchapi "github.com/minato-project/minato/internal/api/cloudwatch"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/agentserver"
	ecrapi "github.com/minato-project/minato/internal/api/ecr"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	eventsapi "github.com/minato-project/minato/internal/api/events"
	logsapi "github.com/minato-project/minato/internal/api/logs"
	smapi "github.com/minato-project/minato/internal/api/secretsmanager"
	ssmapi "github.com/minato-project/minato/internal/api/ssm"
	stsapi "github.com/minato-project/minato/internal/api/sts"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/console"
	"github.com/minato-project/minato/internal/controller"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/ecsmetrics"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/execsession"
	"github.com/minato-project/minato/internal/insights"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/lbsync"
	"github.com/minato-project/minato/internal/leader"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/logmeta"
	"github.com/minato-project/minato/internal/logrepl"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/opsmetrics"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
	"github.com/minato-project/minato/internal/taskcreds"
	"github.com/minato-project/minato/internal/tasks"
)

// Config says how to run a node.
type Config struct {
	DataDir string
	// APIAddr is the host:port of the AWS API listener ("127.0.0.1:0":
	// any free loopback port; Info.APIURL says which).
	APIAddr string
	// Listener, when set, is the AWS API listener, made by the caller
	// (APIAddr is then not used); the node closes it.
	Listener  net.Listener
	AccountID string // default 000000000000
	Region    string // region of the default cluster and printed profile; default us-east-1
	// AccessKeyID and SecretAccessKey, when both set, are the accepted key
	// pair; otherwise a pair is generated and kept in DataDir.
	AccessKeyID     string
	SecretAccessKey string
	// AgentToken is the join token agents present; empty: generated and
	// kept in DataDir.
	AgentToken string
	// TLSCertFile and TLSKeyFile, when set, make the API listener serve
	// HTTPS (agents then need the CA that signed it).
	TLSCertFile, TLSKeyFile string
	// LBAddr is the address every load balancer listener binds (and what
	// the load balancers' DNSName resolves to); default 127.0.0.1.
	LBAddr string
	// RegistryHost is the host[:port] of the image registry in
	// repositoryUri ("": the API listener's address); the registry is
	// served on the API listener under /v2/.
	RegistryHost string
	// SecretsKey says where the master key of secret values comes from;
	// its DataDir defaults to DataDir.
	SecretsKey secretstore.KeySource
	Logger     *slog.Logger
	Clock      core.Clock
	// IDs makes the IDs of tasks, container instances and ARNs; default
	// random.
	IDs core.IDs

	// AgentPollTimeout bounds an agent's long poll; default
	// agentproto.PollTimeout.
	AgentPollTimeout time.Duration
	// AgentTimeout is how long after its last poll an agent still counts
	// as connected; default twice AgentPollTimeout.
	AgentTimeout time.Duration
	// ServiceInterval and StablePeriod tune the service controller (its
	// defaults: see controller.Services).
	ServiceInterval, StablePeriod time.Duration
	// DeploymentMinute is how long one minute of a deployment
	// configuration lasts (bake times, hook timeouts); default a minute.
	DeploymentMinute time.Duration
	// TargetTrackingPeriods are how many one-minute periods a target
	// tracking policy's high and low alarms look at; zero: AWS's 3 and
	// 15 (see autoscaling.Config).
	TargetTrackingPeriods [2]int32
	// NoControllers runs no controller: the APIs and the agent channel
	// only (tests of those alone).
	NoControllers bool
	// Store, when set, is the state store, shared with the other servers
	// (etcd): the node opens no state.db of its own, and keeps its key
	// pair and agent token in the store, so that every server accepts
	// the same ones. The caller closes it after Close.
	Store store.Store
	// StoreHealth answers /readyz's store check with Store (default: the
	// store answers Revision).
	StoreHealth func(ctx context.Context) error
	// ServerName names this server among the others sharing Store
	// (default: the host name and the API address).
	ServerName string
	// StoreMembers describes the members of the shared store for
	// `minato server members` (nil: not known).
	StoreMembers func(ctx context.Context) ([]StoreMember, error)
	// RegistryDir is where the image registry keeps its blobs (default
	// <DataDir>/registry). Servers sharing Store share it too: a
	// directory every server mounts (NFS, say).
	RegistryDir string
	// LeaderLoops are loops of the caller's that only the leader runs,
	// started with the controllers (see Node.lead).
	LeaderLoops []leader.Loop
	// Elector chooses the server that runs the controllers (default
	// leader.Always: this one, alone).
	Elector leader.Elector
	// FargateCPUOvercommit is how many Fargate CPU units a CPU unit of a
	// host of the Fargate pool holds; default
	// scheduler.DefaultFargateCPUOvercommit.
	FargateCPUOvercommit float64
	// NoOpsMetrics serves no Prometheus /metrics on the API listener
	// (it is served unauthenticated, as /healthz; see docs/operations.md).
	NoOpsMetrics bool
}

// Info describes a node that is ready.
type Info struct {
	APIURL     string
	DataDir    string
	AccountID  string
	Region     string
	Key        AccessKey
	KeyCreated bool
	AgentToken string
	// Shared, for a server sharing its store with others, says so ("":
	// a server alone on its own bbolt store).
	Shared string
	// AgentTokenFile is where the join token is kept ("": it was given
	// in Config.AgentToken and is kept nowhere).
	AgentTokenFile string
	// ConsoleURL opens the web console signed in (it carries the
	// console token).
	ConsoleURL string
	// LocalAgent tells the node the container instance ID of an agent it
	// runs in its own process (minato up): /readyz then requires that
	// agent to be connected.
	LocalAgent func(instanceID string)
}

// New wires a node: it opens the data directory's stores and keys, builds
// the cluster view, the APIs, the agent server, the load balancer and the
// controllers, and binds the API listener. Nothing runs until Run. The
// caller calls Close once done (after Run has returned, or instead of Run).
func New(ctx context.Context, cfg Config) (n *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.IDs == nil {
		cfg.IDs = core.RandomIDs{}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.LBAddr == "" {
		cfg.LBAddr = "127.0.0.1"
	}
	if cfg.AgentPollTimeout == 0 {
		cfg.AgentPollTimeout = agentproto.PollTimeout
	}
	if cfg.AgentTimeout == 0 {
		cfg.AgentTimeout = 2 * cfg.AgentPollTimeout
	}
	if cfg.Elector == nil {
		cfg.Elector = leader.Always{}
	}
	if cfg.SecretsKey.DataDir == "" {
		cfg.SecretsKey.DataDir = cfg.DataDir
	}
	log, clock := cfg.Logger, cfg.Clock
	n = &Node{cfg: cfg, log: log, started: clock.Now().UTC(), Ops: opsmetrics.New()}
	defer func() {
		if err != nil {
			n.Close()
			n = nil
		}
	}()
	if cfg.Listener != nil {
		n.ln = cfg.Listener // the node closes it, even when New fails
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return n, fmt.Errorf("data dir: %w", err)
	}
	var (
		key       AccessKey
		created   bool
		token     string
		tokenFile string
	)
	if cfg.Store != nil {
		// A server among others: the state is the shared store's, and so
		// are the key pair and the agent token, the same on every server.
		n.engine = cfg.Store
		n.storeLive, n.storeReady = func() error { return nil }, cfg.StoreHealth
		if n.storeReady == nil {
			n.storeReady = func(ctx context.Context) error { _, err := cfg.Store.Revision(ctx); return err }
		}
		if key, token, created, err = sharedCredentials(ctx, cfg.Store, cfg.AccessKeyID, cfg.SecretAccessKey, cfg.AgentToken); err != nil {
			return n, err
		}
	} else {
		if key, created, err = LoadOrCreateKey(cfg.DataDir, cfg.AccessKeyID, cfg.SecretAccessKey); err != nil {
			return n, err
		}
		if token, err = loadOrCreateToken(cfg.DataDir, cfg.AgentToken); err != nil {
			return n, err
		}
		if cfg.AgentToken == "" {
			tokenFile = filepath.Join(cfg.DataDir, tokenFileName)
		}
		n.bolt, err = bolt.Open(filepath.Join(cfg.DataDir, "state.db"), bolt.Options{LockTimeout: 2 * time.Second})
		if errors.Is(err, bolt.ErrDamaged) {
			return n, err // it names the file and the remedy
		}
		if err != nil {
			return n, fmt.Errorf("open state store (is another minato using %s?): %w", cfg.DataDir, err)
		}
		n.engine, n.storeLive, n.storeReady = n.bolt, n.bolt.Live, n.bolt.Ready
	}
	n.Logs, err = logstore.Open(filepath.Join(cfg.DataDir, "logs"), logstore.Options{Clock: clock, Logger: log.With("component", "logstore")})
	if err != nil {
		return n, fmt.Errorf("open log store: %w", err)
	}
	// Log groups and streams are decided in the state store, so that every
	// server holds the same ones; the log store follows (internal/logmeta).
	n.Logs.SetMeta(&logmeta.Records{Store: n.engine})
	n.logMeta = &logmeta.Follower{Store: n.engine, Logs: n.Logs, Dir: filepath.Join(cfg.DataDir, "logs"), Logger: log.With("component", "logmeta")}
	if err := n.logMeta.Import(ctx); err != nil {
		return n, fmt.Errorf("log metadata: %w", err)
	}
	if _, err := n.logMeta.Reconcile(ctx); err != nil {
		log.Warn("log metadata: reconcile", "err", err)
	}
	if n.Metrics, err = metricstore.Open(filepath.Join(cfg.DataDir, "metrics.db"), metricstore.Options{Clock: clock}); err != nil {
		return n, err
	}
	keys, err := secretstore.LoadKeyring(cfg.SecretsKey)
	if err != nil {
		return n, err
	}
	if err := secretstore.CheckKeys(ctx, n.engine, keys); err != nil {
		return n, err
	}

	// The cluster view: what the hot paths read instead of listing the
	// store. It is made here once, and every writer gets its store, so
	// that readers see their own writes whole.
	// Under it, the fence: the controllers' writes hold only while this
	// server leads (leader.Fence).
	fenced := leader.Fence(n.Ops.WrapStore(n.engine))
	n.View = clusterview.New(fenced, log.With("component", "clusterview"))
	if p, ok := n.engine.(clusterview.Progress); ok {
		n.View.SetProgress(p) // etcd: log batches, beside the prefix, do not reach the view
	}
	// Every writer's store also writes the ECS events of the changes it
	// commits, in the same transaction (internal/events/outbox).
	ost := outbox.Wrap(fenced, arn.Scope{Region: cfg.Region, AccountID: cfg.AccountID}, clock, cfg.IDs)
	vst := n.View.Wrap(ost)
	n.Store = vst

	if n.Registry, err = openRegistry(cfg, vst, clock, log); err != nil {
		return n, err
	}

	n.Agents = liveness.New(clock, cfg.AgentTimeout)
	n.Tasks = tasks.New(tasks.Config{Store: vst, View: n.View, Clock: clock, IDs: cfg.IDs, Logger: log.With("component", "tasks"), Agents: n.Agents,
		FargateCPUOvercommit: cfg.FargateCPUOvercommit, Launched: n.Ops.Launched})
	n.AgentServer = agentserver.New(agentserver.Config{
		Store: vst, View: n.View, Tasks: n.Tasks, Agents: n.Agents, Clock: clock, IDs: cfg.IDs, Logger: log.With("component", "agentserver"),
		Token: token, Scope: arn.Scope{Region: cfg.Region, AccountID: cfg.AccountID}, PollTimeout: cfg.AgentPollTimeout,
		Images: registryImages{n.Registry},
	})
	// The load balancer: the data plane, the ELBv2 API over its records,
	// and the sync that feeds the one from the other.
	n.LB = lb.New(lb.Options{Logger: log.With("component", "lb")})
	n.ELB = elbv2api.New(elbv2api.Config{Store: vst, Clock: clock, IDs: cfg.IDs, Logger: log.With("service", "elbv2"),
		Health: n.LB, LBAddr: cfg.LBAddr})
	n.usages = &insights.Usages{}
	n.lbSync = &lbsync.Syncer{Store: vst, Plane: n.LB, Health: n.LB, LBAddr: cfg.LBAddr, Clock: clock,
		Logger: log.With("component", "lbsync")}
	targets := serviceTargets{elb: n.ELB, store: vst, lb: n.lbSync}
	n.Exec = execsession.New(execsession.Config{AgentToken: token, Clock: clock, Logger: log.With("component", "exec"),
		Check: execsession.StoreCheck(vst), PollTimeout: cfg.AgentPollTimeout})
	n.ECS = ecsapi.New(ecsapi.Config{Store: vst, View: n.View, Clock: clock, IDs: cfg.IDs, Logger: log.With("component", "ecs"),
		Agents: n.Agents, TargetGroups: targets, Tasks: n.Tasks, Exec: n.Exec})
	cw := cloudwatchapi.New(cloudwatchapi.Config{Metrics: n.Metrics, Store: vst, Clock: clock, Logger: log.With("service", "cloudwatch")})
	// The controllers: loops that act on their own, run by the leader
	// only (see internal/leader). Each is built afresh for every term.
	n.Leader = &leader.Runner{Elector: cfg.Elector, Logger: log.With("component", "leader")}
	n.lead("registry-lifecycle", n.Registry.Run)
	for _, l := range cfg.LeaderLoops {
		n.lead(l.Name, l.Run)
	}
	if !cfg.NoControllers {
		n.lead("services", func(ctx context.Context) {
			(&controller.Services{Store: vst, Tasks: n.Tasks, View: n.View, Clock: clock, IDs: cfg.IDs,
				Logger: log.With("component", "services"), Connected: n.Agents.Connected, Targets: targets,
				Interval: cfg.ServiceInterval, StablePeriod: cfg.StablePeriod, Minute: cfg.DeploymentMinute,
				Scope: arn.Scope{Region: cfg.Region, AccountID: cfg.AccountID}, Observe: n.Ops.Pass("services"), Alarms: cw}).Run(ctx)
		})
		n.lead("fargate-pool", func(ctx context.Context) {
			(&controller.Pool{Tasks: n.Tasks, View: n.View, Lost: func(id string) bool { return n.Agents.Reader().Lost(id) },
				Logger: log.With("component", "fargate-pool"), Interval: cfg.ServiceInterval, Observe: n.Ops.Pass("fargate-pool")}).Run(ctx)
		})
		n.lead("events", func(ctx context.Context) { newEventsWorker(n, vst, ost, cfg).Run(ctx) })
	}

	credKey := sha256.Sum256([]byte("minato task credentials\x00" + token))
	n.TaskCreds = taskcreds.New(taskcreds.Config{Key: credKey[:], Store: vst, Clock: clock, AccountID: cfg.AccountID, AgentToken: token,
		Running: func(cluster, id string) (bool, bool) {
			it, ok := n.View.Task(cluster, id)
			return ok && it.Value.Task.DesiredStatus == "RUNNING" && it.Value.Task.LastStatus != "STOPPED", ok
		}})
	api := awsproto.NewServer(awsproto.Config{
		Keys: n.TaskCreds.Keys(awsproto.NewStaticKeys(awsproto.Principal{
			AccessKeyID:     key.AccessKeyID,
			SecretAccessKey: key.SecretAccessKey,
			AccountID:       cfg.AccountID,
			ARN:             "arn:aws:iam::" + cfg.AccountID + ":root",
			UserID:          cfg.AccountID,
		})),
		Clock:   clock,
		Logger:  log,
		Observe: n.Ops.ObserveRequest,
	})
	api.RegisterJSON(n.ECS.Service())
	api.RegisterJSON(logsapi.New(logsapi.Config{Store: n.Logs, Clock: clock, Logger: log.With("service", "logs"), Region: cfg.Region,
		AccountID: cfg.AccountID}).Service())
	api.RegisterQuery(stsapi.Service())
	api.RegisterQuery(n.ELB.Service())
	scope := arn.Scope{Region: cfg.Region, AccountID: cfg.AccountID}
	asg := autoscalingapi.New(autoscalingapi.Config{Store: vst, CloudWatch: cw, Clock: clock, IDs: cfg.IDs, Logger: log.With("service", "application-autoscaling"),
		Scope: scope, HighPeriods: cfg.TargetTrackingPeriods[0], LowPeriods: cfg.TargetTrackingPeriods[1], Services: scalableServices{store: vst, ecs: n.ECS,
			call: awsproto.Call{Region: cfg.Region, Principal: awsproto.Principal{AccountID: cfg.AccountID, ARN: "arn:aws:iam::" + cfg.AccountID + ":root"}}}})
	api.RegisterJSON(asg.Service())
	if !cfg.NoControllers {
		n.lead("alarms", func(ctx context.Context) {
			(&controller.Alarms{Evaluate: cw.EvaluateAlarms, Scale: asg.Scale, Prune: n.Metrics.Prune, Logger: log.With("component", "alarms"),
				Observe: n.Ops.Pass("alarms")}).Run(ctx)
		})
	}
	api.RegisterQuery(cw.QueryService())
	api.RegisterJSON(cw.JSONService())
	api.RegisterCBOR(cw.CBORService())
	secrets := smapi.New(smapi.Config{Store: vst, Keys: keys, Clock: clock, Logger: log.With("service", "secretsmanager")})
	api.RegisterJSON(secrets.Service())
	api.RegisterJSON(ecrapi.New(ecrapi.Config{Store: vst, Registry: n.Registry, Clock: clock, Logger: log.With("service", "ecr")}).Service())
	api.RegisterJSON(eventsapi.New(eventsapi.Config{Store: vst, Clock: clock, IDs: cfg.IDs, Logger: log.With("service", "events"), Seq: ost.Seq,
		Region: cfg.Region, AccountID: cfg.AccountID}).Service())
	api.RegisterJSON(ssmapi.New(ssmapi.Config{Store: vst, Keys: keys, Clock: clock, Logger: log.With("service", "ssm"), Sessions: n.Exec}).Service())

	n.local = &localAgent{connected: n.Agents.Connected}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", livenessHandler(&n.ready, n.storeLive))
	mux.HandleFunc("GET /readyz", readinessHandler(&n.ready, []check{
		{"store", n.storeReady},
		{"logs", dirWritable(filepath.Join(cfg.DataDir, "logs"))},
		{"agent", n.local.check},
	}))
	mux.HandleFunc("GET "+MembersPath, n.membersHandler)
	mux.Handle("/minato/agent/", n.AgentServer.Handler())
	mux.Handle("/minato/agent/v1/logs/", n.AgentServer.LogsHandler(n.Logs))
	mux.Handle("POST "+agentproto.PathSecrets, n.AgentServer.SecretsHandler(&secretstore.Vault{Store: vst, Keys: keys, Clock: clock}))
	mux.Handle("POST "+taskcreds.PathCredentials, n.TaskCreds.Handler())
	mux.Handle(execsession.PathStream, n.Exec.Handler())
	mux.Handle(agentproto.PathExecWait, n.Exec.Handler())
	mux.Handle(agentproto.PathExecAttach, n.Exec.Handler())
	mux.Handle("POST "+agentproto.PathMetrics, n.AgentServer.MetricsHandler(usageRecorders{
		&ecsmetrics.Recorder{Tasks: n.View, Metrics: n.Metrics}, n.usages}))
	mux.Handle("/v2/", n.Registry.Handler())
	consoleToken, err := n.consoleHandler(mux, key, secrets)
	if err != nil {
		return n, err
	}
	mux.Handle("/", api)
	n.Ops.Watch(opsmetrics.Sources{
		Census:      n.View.Census,
		Connected:   func() func(string) bool { return n.Agents.Reader().Connected },
		LocalAgents: n.Agents.Local,
		Traffic:     n.LB.Traffic,
		Ingested:    n.Logs.Ingested,
	})
	if !cfg.NoOpsMetrics {
		mux.Handle("GET "+opsmetrics.Path, n.Ops.Handler())
	}

	if n.ln == nil {
		if n.ln, err = net.Listen("tcp", cfg.APIAddr); err != nil {
			return n, fmt.Errorf("api listener: %w", err)
		}
	}
	n.hs = awsproto.NewHTTPServer(n.ln.Addr().String(), mux)
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	n.Registry.SetEndpoint(scheme, registryHost(cfg, n.ln.Addr()))
	if cfg.Store != nil {
		// Log events survive this server: each batch is written to the
		// shared store before it is acknowledged, and every server imports
		// the others' (internal/logrepl).
		// The batches live beside the state's prefix (etcd: "/minato-logs/"),
		// so that the cluster view's watch of the state does not carry them.
		batches, legacy := n.engine, store.Store(nil)
		if sib, ok := n.engine.(interface{ Sibling(string) store.Store }); ok {
			batches, legacy = sib.Sibling("logs"), n.engine
			n.logBatches = batches
		}
		n.logRepl, err = logrepl.New(logrepl.Config{Store: batches, Legacy: legacy, Logs: n.Logs, Origin: n.serverName(),
			Dir: filepath.Join(cfg.DataDir, "logs"), Clock: clock, Logger: log.With("component", "logrepl")})
		if err != nil {
			return n, fmt.Errorf("log replication: %w", err)
		}
	}
	n.info = Info{
		APIURL:         scheme + "://" + n.ln.Addr().String(),
		DataDir:        cfg.DataDir,
		AccountID:      cfg.AccountID,
		Region:         cfg.Region,
		Key:            key,
		KeyCreated:     created,
		AgentToken:     token,
		AgentTokenFile: tokenFile,
		Shared:         sharedName(cfg),
		LocalAgent:     n.local.set,
		ConsoleURL:     scheme + "://" + n.ln.Addr().String() + console.Prefix + "?token=" + consoleToken,
	}
	return n, nil
}

// usageRecorders hands an agent's usage report to each recorder in turn:
// the AWS/ECS metrics, then what Container Insights keeps.
type usageRecorders []agentserver.UsageRecorder

func (rs usageRecorders) RecordUsage(ctx context.Context, rep agentproto.MetricsReport) error {
	for _, r := range rs {
		if err := r.RecordUsage(ctx, rep); err != nil {
			return err
		}
	}
	return nil
}
