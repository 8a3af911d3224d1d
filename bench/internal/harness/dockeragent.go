package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/docker/docker/client"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/runtime/docker"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

// DockerAgent is minato's agent on the local Docker engine, in this
// process, as `minato up` runs it, registered with a control plane.
type DockerAgent struct {
	Instance string // the container instance ID
	rt       *docker.Runtime
	cli      *client.Client
	stop     context.CancelFunc
	done     chan error
}

// StartDockerAgent starts an agent on the local Docker engine against the
// control plane at cpURL, keeping its state in dataDir, and waits until it
// has registered. tune, if not nil, adjusts the agent's configuration.
// cli is used to remove the agent's containers on Stop.
func StartDockerAgent(ctx context.Context, cli *client.Client, cpURL, dataDir string, tune func(*agent.Config)) (*DockerAgent, error) {
	rt, err := docker.New(docker.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cpURL)
	if err != nil {
		rt.Close()
		return nil, err
	}
	apiPort, _ := strconv.Atoi(u.Port())
	ready := make(chan string, 1)
	cfg := agent.Config{
		Server: cpURL, Token: AgentToken, DataDir: dataDir, Runtime: rt,
		ReservedMemoryMiB: 256, ReservedPorts: []int{apiPort}, StopTimeout: 2 * time.Second, CleanupWait: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Ready:  func(id string) { ready <- id },
	}
	if tune != nil {
		tune(&cfg)
	}
	agentCtx, stop := context.WithCancel(ctx)
	a := &DockerAgent{rt: rt, cli: cli, stop: stop, done: make(chan error, 1)}
	go func() { a.done <- agent.Run(agentCtx, cfg) }()
	select {
	case a.Instance = <-ready:
		return a, nil
	case err := <-a.done:
		stop()
		rt.Close()
		return nil, fmt.Errorf("agent: %w", err)
	case <-time.After(30 * time.Second):
		stop()
		<-a.done
		rt.Close()
		return nil, errors.New("agent did not register")
	}
}

// Stop stops the agent and removes the containers it started.
func (a *DockerAgent) Stop() {
	a.stop()
	<-a.done
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testimage.RemoveLabelled(cctx, a.cli, "minato.container-instance", a.Instance)
	a.rt.Close()
}
