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

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/runtime/docker"
	"github.com/minato-project/minato/internal/secretstore"

	"github.com/minato-project/minato/internal/controlplane"
)

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", stderr)
	var nf nodeFlags
	nf.register(fs)
	var af agentFlags
	af.register(fs)
	noAgent := fs.Bool("no-agent", false, "run no agent (the API only)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *noAgent {
		return runNode(ctx, nf, stdout, stderr, nil)
	}
	return runNode(ctx, nf, stdout, stderr, &af)
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("server", stderr)
	var nf nodeFlags
	nf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	return runNode(ctx, nf, stdout, stderr, nil)
}

// runNode runs a control-plane node and, when af is set, an agent in the
// same process on the local Docker engine.
func runNode(ctx context.Context, nf nodeFlags, stdout, stderr io.Writer, af *agentFlags) error {
	log, err := newLogger(stderr, nf.logLevel)
	if err != nil {
		return err
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
		SecretsKey:      secretstore.KeySource{EnvValue: os.Getenv(secretstore.EnvMasterKey), File: nf.masterKey, DataDir: nf.dataDir},
		AgentToken:      os.Getenv("MINATO_AGENT_TOKEN"),
		Logger:          log,
	}
	if (nf.tlsCert == "") != (nf.tlsKey == "") {
		return fmt.Errorf("--tls-cert-file and --tls-key-file go together")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return controlplane.Run(ctx, cfg, func(info controlplane.Info) {
		printReady(stdout, info)
		if af == nil {
			fmt.Fprintf(stdout, "Agents join with:\n\n  minato agent --server %s --token %s\n\n", info.APIURL, info.AgentToken)
			fmt.Fprintf(stdout, "(or set MINATO_AGENT_TOKEN instead of --token)\n\n")
			return
		}
		wg.Go(func() { runLocalAgent(ctx, acfg, info, nf, log) })
	})
}

// runLocalAgent runs the in-process agent of `minato up` on the local
// Docker engine. Without Docker the node still serves the API.
func runLocalAgent(ctx context.Context, cfg agent.Config, info controlplane.Info, nf nodeFlags, log *slog.Logger) {
	rt, err := docker.New(docker.WithLogger(log.With("component", "docker")))
	if err == nil {
		_, err = rt.Info(ctx)
	}
	if err != nil {
		log.Warn("no local agent: Docker Engine is not reachable; the API runs without it", "err", err)
		return
	}
	defer rt.Close()
	cfg.Server, cfg.Token, cfg.Runtime, cfg.Ready = info.APIURL, info.AgentToken, rt, info.LocalAgent
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

func printReady(w io.Writer, info controlplane.Info) {
	fmt.Fprintf(w, "minato is up.\n\n")
	fmt.Fprintf(w, "  API       %s\n  Data      %s\n  Account   %s\n\n", info.APIURL, info.DataDir, info.AccountID)
	if info.KeyCreated {
		fmt.Fprintf(w, "A new key pair was generated and kept in the data directory.\n")
	}
	fmt.Fprintf(w, "Use it from this shell with the aws CLI or any AWS SDK:\n\n")
	fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s\n", info.Key.AccessKeyID)
	fmt.Fprintf(w, "  export AWS_SECRET_ACCESS_KEY=%s\n", info.Key.SecretAccessKey)
	fmt.Fprintf(w, "  export AWS_REGION=%s\n", info.Region)
	fmt.Fprintf(w, "  export AWS_ENDPOINT_URL=%s   # SDKs and aws CLI >= 2.13\n", info.APIURL)
	fmt.Fprintf(w, "  aws --endpoint-url %s ecs list-clusters\n\n", info.APIURL)
	fmt.Fprintf(w, "or keep it as a profile and use --profile minato:\n\n")
	fmt.Fprintf(w, "  # ~/.aws/credentials\n  [minato]\n  aws_access_key_id = %s\n  aws_secret_access_key = %s\n\n",
		info.Key.AccessKeyID, info.Key.SecretAccessKey)
	fmt.Fprintf(w, "  # ~/.aws/config\n  [profile minato]\n  region = %s\n  endpoint_url = %s   # aws CLI >= 2.13\n\n", info.Region, info.APIURL)
}
