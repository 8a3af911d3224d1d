// Package controlplane assembles a minato control-plane node: the state
// store, the AWS API listener with every service registered, and the
// controllers. It is the composition root; the parts live elsewhere.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/api/agentserver"
	ecrapi "github.com/minato-project/minato/internal/api/ecr"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	logsapi "github.com/minato-project/minato/internal/api/logs"
	smapi "github.com/minato-project/minato/internal/api/secretsmanager"
	ssmapi "github.com/minato-project/minato/internal/api/ssm"
	stsapi "github.com/minato-project/minato/internal/api/sts"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/controller"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/lbsync"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store/bolt"
)

// Config says how to run a node.
type Config struct {
	DataDir   string
	APIAddr   string // host:port of the AWS API listener
	AccountID string
	Region    string // region of the default cluster and printed profile
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
	// AgentTokenFile is where the join token is kept ("": it was given
	// in Config.AgentToken and is kept nowhere).
	AgentTokenFile string
	// LocalAgent tells the node the container instance ID of an agent it
	// runs in its own process (minato up): /readyz then requires that
	// agent to be connected.
	LocalAgent func(instanceID string)
}

// Run starts a node and blocks until ctx ends, then shuts down cleanly.
// ready is called once the API answers.
func Run(ctx context.Context, cfg Config, ready func(Info)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = core.SystemClock{}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, created, err := LoadOrCreateKey(cfg.DataDir, cfg.AccessKeyID, cfg.SecretAccessKey)
	if err != nil {
		return err
	}
	token, err := loadOrCreateToken(cfg.DataDir, cfg.AgentToken)
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(cfg.DataDir, tokenFileName)
	if cfg.AgentToken != "" {
		tokenFile = ""
	}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, "state.db"), bolt.Options{LockTimeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrDamaged) {
		return err // it names the file and the remedy
	}
	if err != nil {
		return fmt.Errorf("open state store (is another minato using %s?): %w", cfg.DataDir, err)
	}
	defer st.Close()
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	defer stopAdmin()
	if adminDone, err := serveAdmin(adminCtx, cfg.DataDir, st, log.With("component", "admin")); err != nil {
		log.Warn("no admin socket: `minato backup` cannot reach this node (a Unix socket path has at most 107 bytes)",
			"path", AdminSocket(cfg.DataDir), "err", err)
	} else {
		defer func() {
			stopAdmin()
			<-adminDone
		}()
	}
	logs, err := logstore.Open(filepath.Join(cfg.DataDir, "logs"), logstore.Options{Clock: clock, Logger: log.With("component", "logstore")})
	if err != nil {
		return fmt.Errorf("open log store: %w", err)
	}
	defer logs.Close()
	if cfg.SecretsKey.DataDir == "" {
		cfg.SecretsKey.DataDir = cfg.DataDir
	}
	keys, err := secretstore.LoadKeyring(cfg.SecretsKey)
	if err != nil {
		return err
	}
	if err := secretstore.CheckKeys(ctx, st, keys); err != nil {
		return err
	}

	// The cluster view: what the hot paths read instead of listing the
	// store. Every writer goes through its store, so that readers see
	// their own writes whole.
	view := clusterview.New(st, log.With("component", "clusterview"))
	viewCtx, stopView := context.WithCancel(context.Background())
	viewDone := make(chan struct{})
	go func() {
		defer close(viewDone)
		view.Run(viewCtx)
	}()
	defer func() {
		stopView()
		<-viewDone
	}()
	vst := view.Store()

	reg, stopRegistry, err := startRegistry(cfg, vst, clock, log)
	if err != nil {
		return err
	}
	defer stopRegistry()

	agents := liveness.New(clock, 2*agentproto.PollTimeout)
	agentSrv := agentserver.New(agentserver.Config{
		Store: vst, View: view, Agents: agents, Clock: clock, Logger: log.With("component", "agentserver"), Token: token,
		Scope: arn.Scope{Region: cfg.Region, AccountID: cfg.AccountID}, Images: registryImages{reg},
	})
	// The load balancer: the data plane, the ELBv2 API over its records,
	// and the sync that feeds the one from the other. The plane closes
	// after the sync has stopped (deferred first, run last).
	lbAddr := cfg.LBAddr
	if lbAddr == "" {
		lbAddr = "127.0.0.1"
	}
	plane := lb.New(lb.Options{Logger: log.With("component", "lb")})
	defer plane.Close()
	elb := elbv2api.New(elbv2api.Config{Store: vst, Clock: clock, Logger: log.With("service", "elbv2"), Health: plane, LBAddr: lbAddr})
	targets := serviceTargets{elb: elb}
	ecs := ecsapi.New(ecsapi.Config{Store: vst, View: view, Clock: clock, Logger: log.With("component", "ecs"), Region: cfg.Region,
		AccountID: cfg.AccountID, Agents: agents, TargetGroups: targets})
	lbCtx, stopLBSync := context.WithCancel(context.Background())
	lbSyncDone := make(chan struct{})
	go func() {
		defer close(lbSyncDone)
		(&lbsync.Syncer{Store: vst, Plane: plane, Health: plane, LBAddr: lbAddr, Clock: clock,
			Logger: log.With("component", "lbsync")}).Run(lbCtx)
	}()
	defer func() {
		stopLBSync()
		<-lbSyncDone
	}()

	if err := ecs.EnsureDefaultCluster(ctx); err != nil {
		return fmt.Errorf("default cluster: %w", err)
	}
	if err := view.Sync(ctx); err != nil {
		return fmt.Errorf("cluster view: %w", err)
	}

	ctrlCtx, stopControllers := context.WithCancel(context.Background())
	defer stopControllers()
	services := &controller.Services{Store: vst, ECS: ecs, View: view, Clock: clock, Logger: log.With("component", "services"),
		Connected: agents.Connected, Targets: targets}
	controllersDone := make(chan struct{})
	go func() {
		defer close(controllersDone)
		services.Run(ctrlCtx)
	}()
	defer func() {
		stopControllers()
		<-controllersDone
	}()

	api := awsproto.NewServer(awsproto.Config{
		Keys: awsproto.NewStaticKeys(awsproto.Principal{
			AccessKeyID:     key.AccessKeyID,
			SecretAccessKey: key.SecretAccessKey,
			AccountID:       cfg.AccountID,
			ARN:             "arn:aws:iam::" + cfg.AccountID + ":root",
			UserID:          cfg.AccountID,
		}),
		Clock:  clock,
		Logger: log,
	})
	api.RegisterJSON(ecs.Service())
	api.RegisterJSON(logsapi.New(logsapi.Config{Store: logs, Clock: clock, Logger: log.With("service", "logs"), Region: cfg.Region, AccountID: cfg.AccountID}).Service())
	api.RegisterQuery(stsapi.Service())
	api.RegisterQuery(elb.Service())
	api.RegisterJSON(smapi.New(smapi.Config{Store: vst, Keys: keys, Clock: clock, Logger: log.With("service", "secretsmanager")}).Service())
	api.RegisterJSON(ecrapi.New(ecrapi.Config{Store: vst, Registry: reg, Clock: clock, Logger: log.With("service", "ecr")}).Service())
	api.RegisterJSON(ssmapi.New(ssmapi.Config{Store: vst, Keys: keys, Clock: clock, Logger: log.With("service", "ssm")}).Service())

	var isReady atomic.Bool
	local := &localAgent{connected: agents.Connected}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", livenessHandler(&isReady, st.Live))
	mux.HandleFunc("GET /readyz", readinessHandler(&isReady, []check{
		{"store", st.Ready},
		{"logs", dirWritable(filepath.Join(cfg.DataDir, "logs"))},
		{"agent", local.check},
	}))
	mux.Handle("/minato/agent/", agentSrv.Handler())
	mux.Handle("/minato/agent/v1/logs/", agentSrv.LogsHandler(logs))
	mux.Handle("POST "+agentproto.PathSecrets, agentSrv.SecretsHandler(&secretstore.Vault{Store: vst, Keys: keys, Clock: clock}))
	mux.Handle("/v2/", reg.Handler())
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	hs := awsproto.NewHTTPServer(cfg.APIAddr, mux)
	serveErr := make(chan error, 1)
	scheme := "http"
	go func() {
		if cfg.TLSCertFile != "" {
			serveErr <- hs.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
			return
		}
		serveErr <- hs.Serve(ln)
	}()
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	reg.SetEndpoint(scheme, registryHost(cfg, ln.Addr()))
	isReady.Store(true)
	log.Info("api listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(Info{
			APIURL:         scheme + "://" + ln.Addr().String(),
			DataDir:        cfg.DataDir,
			AccountID:      cfg.AccountID,
			Region:         cfg.Region,
			Key:            key,
			KeyCreated:     created,
			AgentToken:     token,
			AgentTokenFile: tokenFile,
			LocalAgent:     local.set,
		})
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("api listener: %w", err)
	}
	log.Info("shutting down")
	isReady.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("api shutdown", "err", err)
	}
	return nil
}
