package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/runtime/docker"
)

// agentFlags are the flags of an agent, shared by agent and up.
type agentFlags struct {
	cluster      string
	az           string
	attributes   attrFlag
	dynamicPorts string
	reservedMiB  int64
	stopTimeout  time.Duration
	cleanupWait  time.Duration
	imageCleanup time.Duration
	fargate      bool
}

// register adds the agent's flags to fs; fargate is the default of
// --fargate: on for the agent of minato up, off for minato agent.
func (f *agentFlags) register(fs *flag.FlagSet, fargate bool) {
	fs.BoolVar(&f.fargate, "fargate", fargate, "offer this host's capacity to the Fargate pool, which runs the FARGATE and FARGATE_SPOT tasks of every cluster (--fargate=false: EC2 tasks of --cluster only)")
	fs.StringVar(&f.cluster, "cluster", "default", "cluster the host joins")
	fs.StringVar(&f.az, "availability-zone", "local-1a", "reported as the ecs.availability-zone attribute")
	fs.Var(&f.attributes, "attribute", "custom attribute `name=value` (repeatable)")
	fs.StringVar(&f.dynamicPorts, "dynamic-ports", "", "host port range for dynamic port mappings, e.g. 61000-65535 (default: the ports outside the kernel's ephemeral range)")
	fs.Int64Var(&f.reservedMiB, "reserved-memory", 256, "MiB of host memory kept back from tasks")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 30*time.Second, "default time between SIGTERM and SIGKILL when a task stops")
	fs.DurationVar(&f.cleanupWait, "container-cleanup-wait", 10*time.Minute, "how long stopped containers are kept")
	fs.DurationVar(&f.imageCleanup, "image-cleanup-interval", 30*time.Minute, "how often unused images are removed (0: never)")
}

func (f *agentFlags) config(log *slog.Logger) (agent.Config, error) {
	var from, to int // zero: the agent chooses
	if f.dynamicPorts != "" {
		lo, hi, ok := strings.Cut(f.dynamicPorts, "-")
		var err1, err2 error
		from, err1 = strconv.Atoi(lo)
		to, err2 = strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil || from < 1 || to > 65535 || from > to {
			return agent.Config{}, fmt.Errorf("--dynamic-ports %q: want a range like 61000-65535", f.dynamicPorts)
		}
	}
	return agent.Config{
		Cluster:              f.cluster,
		AvailabilityZone:     f.az,
		Attributes:           f.attributes,
		DynamicPorts:         [2]int{from, to},
		ReservedMemoryMiB:    f.reservedMiB,
		StopTimeout:          f.stopTimeout,
		CleanupWait:          f.cleanupWait,
		ImageCleanupInterval: f.imageCleanup,
		Fargate:              f.fargate,
		Logger:               log,
	}, nil
}

// attrFlag collects --attribute name=value.
type attrFlag map[string]string

func (a *attrFlag) String() string {
	if a == nil || len(*a) == 0 {
		return ""
	}
	return fmt.Sprint(map[string]string(*a))
}

func (a *attrFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want name=value")
	}
	if *a == nil {
		*a = attrFlag{}
	}
	(*a)[k] = v
	return nil
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("agent", stderr)
	var af agentFlags
	af.register(fs, false)
	var servers serverList
	fs.Var(&servers, "server", "control plane URL (default http://127.0.0.1:7400); with several servers, each of them: repeat the flag or separate the URLs with commas, and the agent moves to another when its server goes away")
	token := fs.String("token", "", "join token: the server's <data-dir>/agent-token (default $MINATO_AGENT_TOKEN)")
	caFile := fs.String("ca-file", "", "CA certificate of an https control plane")
	dataDir := fs.String("data-dir", filepath.Join(defaultDataDir(), "agent"), "where the agent keeps its instance ID")
	var ops opsFlags
	ops.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *token == "" {
		*token = getenv("MINATO_AGENT_TOKEN")
	}
	if len(servers) == 0 {
		servers = serverList{"http://127.0.0.1:7400"}
	}
	if *token == "" {
		fmt.Fprintln(stderr, "minato agent: --token is required")
		return errUsage
	}
	log, err := ops.logger(stderr)
	if err != nil {
		return err
	}
	if err := ops.startPprof(ctx, log); err != nil {
		return err
	}
	cfg, err := af.config(log)
	if err != nil {
		return err
	}
	rt, err := docker.New(docker.WithLogger(log))
	if err != nil {
		return err
	}
	defer rt.Close()
	cfg.Server, cfg.Token, cfg.CAFile, cfg.DataDir, cfg.Runtime = servers.String(), *token, *caFile, *dataDir, rt
	cfg.Ready = func(id string) {
		fmt.Fprintf(stdout, "minato agent registered as container instance %s in cluster %s\n", id, cfg.Cluster)
		if cfg.Fargate {
			fmt.Fprintln(stdout, "it offers Fargate capacity: it runs the FARGATE tasks of every cluster")
		}
	}
	return agent.Run(ctx, cfg)
}

// serverList collects --server: one URL or several, repeated or
// comma-separated.
type serverList []string

func (s *serverList) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

func (s *serverList) Set(v string) error {
	urls := agent.Servers(v)
	if len(urls) == 0 {
		return errors.New("want a URL such as http://10.0.0.1:7400")
	}
	*s = append(*s, urls...)
	return nil
}
