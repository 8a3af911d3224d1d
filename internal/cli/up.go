package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/etcdmember"
	rt "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/docker"
	"github.com/minato-project/minato/internal/secretstore"

	"github.com/minato-project/minato/internal/controlplane"
)

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", stderr)
	var nf nodeFlags
	nf.register(fs)
	var af agentFlags
	af.register(fs, true)
	noAgent := fs.Bool("no-agent", false, "run no agent (the API only)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *noAgent {
		return runNode(ctx, "up", nf, stdout, stderr, nil)
	}
	return runNode(ctx, "up", nf, stdout, stderr, &af)
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "members" {
		return runMembers(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("server", stderr)
	var nf nodeFlags
	nf.register(fs)
	nf.ha = new(haFlags)
	nf.ha.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	return runNode(ctx, "server", nf, stdout, stderr, nil)
}

// runNode runs a control-plane node and, when af is set, an agent in the
// same process on the local Docker engine. command is the subcommand
// (up or server), for the ready message.
func runNode(ctx context.Context, command string, nf nodeFlags, stdout, stderr io.Writer, af *agentFlags) error {
	log, err := nf.ops.logger(stderr)
	if err != nil {
		return err
	}
	if nf.profile != "" {
		if err := checkProfileName(nf.profile); err != nil {
			return err
		}
	}
	var acfg agent.Config
	if af != nil {
		if acfg, err = af.config(log.With("component", "agent")); err != nil {
			return err
		}
	}
	cfg := controlplane.Config{
		DataDir:         nf.dataDir,
		APIAddr:         nf.apiAddr,
		AccountID:       nf.accountID,
		Region:          nf.region,
		AccessKeyID:     os.Getenv("MINATO_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("MINATO_SECRET_ACCESS_KEY"),
		TLSCertFile:     nf.tlsCert,
		TLSKeyFile:      nf.tlsKey,
		LBAddr:          nf.lbAddr,
		RegistryHost:    nf.registryHost,
		SecretsKey:      secretstore.KeySource{EnvValue: os.Getenv(secretstore.EnvMasterKey), File: nf.masterKey, DataDir: nf.dataDir},
		AgentToken:      os.Getenv("MINATO_AGENT_TOKEN"),
		Logger:          log,

		FargateCPUOvercommit: nf.fargateOvercommit,
		DeploymentMinute:     nf.deploymentMinute,
		NoOpsMetrics:         nf.noMetrics,
	}
	if cfg.TargetTrackingPeriods, err = nf.targetTrackingPeriods(); err != nil {
		return err
	}
	if nf.fargateOvercommit < 1 {
		return fmt.Errorf("--fargate-cpu-overcommit %v: want a ratio of at least 1", nf.fargateOvercommit)
	}
	if (nf.tlsCert == "") != (nf.tlsKey == "") {
		return fmt.Errorf("--tls-cert-file and --tls-key-file go together")
	}
	if nf.ha.shared() || (nf.ha != nil && etcdmember.HasData(filepath.Join(nf.dataDir, "etcd"))) {
		shared, err := openShared(ctx, nf.ha, nf, log)
		if err != nil {
			return err
		}
		defer shared.Close()
		shared.configure(&cfg, nf.ha)
	}
	cfg.RegistryDir = nf.registryDir
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := nf.ops.startPprof(ctx, log); err != nil {
		return err
	}
	node, err := controlplane.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	var readyErr error // set by the ready callback before it cancels ctx
	err = node.Run(ctx, func(info controlplane.Info) {
		o := readyOptions{command: command, joinHint: af == nil, tlsCA: nf.tlsCert, fargate: af != nil && af.fargate}
		if nf.profile != "" {
			o.configFile, o.credsFile, readyErr = writeAWSProfile(awsProfile{name: nf.profile, region: info.Region,
				endpoint: info.APIURL, keyID: info.Key.AccessKeyID, secret: info.Key.SecretAccessKey}, os.Getenv)
			if readyErr != nil {
				readyErr = fmt.Errorf("--write-aws-profile: %w", readyErr)
				cancel()
				return
			}
			o.profile = nf.profile
			log.Info("aws profile written", "profile", nf.profile, "config", o.configFile, "credentials", o.credsFile)
		}
		if err := writeAPIURL(info.DataDir, info.APIURL); err != nil {
			log.Warn("cannot keep the API URL in the data dir; the minato verbs will not find this node", "err", err)
		}
		printReady(stdout, info, o)
		if af != nil {
			wg.Go(func() { runLocalAgent(ctx, acfg, info, nf, log) })
		}
	})
	if readyErr != nil {
		return readyErr
	}
	return err
}

// runLocalAgent runs the in-process agent of `minato up` on the local
// Docker engine. Without Docker the node still serves the API, and the
// agent waits for Docker to come up (it may be starting with the machine).
func runLocalAgent(ctx context.Context, cfg agent.Config, info controlplane.Info, nf nodeFlags, log *slog.Logger) {
	// The Docker Engine the docker CLI would use ($DOCKER_HOST, else the
	// local socket).
	r, err := docker.New(docker.WithLogger(log.With("component", "docker")))
	if err != nil { // a malformed $DOCKER_HOST, say: waiting will not mend it
		log.Error("no local agent: cannot make a Docker client; the API runs without it", "err", err)
		return
	}
	defer r.Close()
	if err := waitForRuntime(ctx, r, log); err != nil {
		return // ctx ended
	}
	cfg.Server, cfg.Token, cfg.Runtime, cfg.Ready = info.APIURL, info.AgentToken, r, info.LocalAgent
	cfg.CAFile = nf.tlsCert // a self-signed certificate is its own CA
	cfg.DataDir = filepath.Join(nf.dataDir, "agent")
	if _, port, err := net.SplitHostPort(nf.apiAddr); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			cfg.ReservedPorts = append(cfg.ReservedPorts, p)
		}
	}
	if err := agent.Run(ctx, cfg); err != nil && ctx.Err() == nil {
		log.Error("local agent stopped", "err", err)
	}
}

// waitForRuntime returns once the runtime answers, or with ctx's error.
// It says so once at WARN while the runtime is away and once at INFO when
// it answers; the attempts between are DEBUG.
func waitForRuntime(ctx context.Context, r rt.Runtime, log *slog.Logger) error {
	for attempt := 0; ; attempt++ {
		_, err := r.Info(ctx)
		if err == nil {
			if attempt > 0 {
				log.Info("Docker Engine is reachable; starting the local agent", "attempts", attempt+1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := dockerRetryDelay(attempt)
		if attempt == 0 {
			log.Warn("Docker Engine is not reachable; the API runs, and the local agent starts once Docker answers", "err", err)
		} else {
			log.Debug("Docker Engine is still not reachable", "attempt", attempt+1, "retry_in", wait, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// dockerRetryDelay is the wait after a failed attempt: 500 ms, doubling,
// at most 10 s.
func dockerRetryDelay(attempt int) time.Duration {
	return min(500*time.Millisecond<<min(attempt, 5), 10*time.Second)
}
