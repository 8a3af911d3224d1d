package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/minato-project/minato/internal/controlplane"
)

// Credentials and settings every benchmark control plane uses.
const (
	AccessKeyID     = "AKIAMINATOBENCH00001"
	SecretAccessKey = "bench/secret/key/for/the/simulator/00000"
	AgentToken      = "bench-agent-token"
	Region          = "us-east-1"
	AccountID       = "000000000000"
)

// CPConfig says how to run a control plane.
type CPConfig struct {
	DataDir string `json:"dataDir"`
	// Addr of the API listener; default 127.0.0.1:0 (any free port).
	Addr string `json:"addr,omitempty"`
	// LogLevel of the control plane's log on stderr: "" (warn), debug,
	// info, warn, error or "off".
	LogLevel string `json:"logLevel,omitempty"`
}

// CPInfo is what clients need to reach a running control plane.
type CPInfo struct {
	URL     string `json:"url"`
	DataDir string `json:"dataDir"`
}

// ControlPlane is a control plane running in this process.
type ControlPlane struct {
	Info   CPInfo
	cancel context.CancelFunc
	done   chan error
}

// StartControlPlane starts a controlplane node — the same composition
// `minato server` runs — on cfg.DataDir and returns once the API answers.
func StartControlPlane(ctx context.Context, cfg CPConfig) (*ControlPlane, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	node, err := controlplane.New(ctx, controlplane.Config{
		DataDir: cfg.DataDir, APIAddr: cfg.Addr, AccountID: AccountID, Region: Region,
		AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, AgentToken: AgentToken,
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cp := &ControlPlane{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan controlplane.Info, 1)
	go func() {
		err := node.Run(ctx, func(info controlplane.Info) { ready <- info })
		cp.done <- errors.Join(err, node.Close())
	}()
	select {
	case info := <-ready:
		cp.Info = CPInfo{URL: info.APIURL, DataDir: info.DataDir}
		return cp, nil
	case err := <-cp.done:
		cancel()
		return nil, fmt.Errorf("control plane: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("control plane not ready after 60s")
	}
}

// Stop stops the control plane and waits for it.
func (cp *ControlPlane) Stop() error {
	cp.cancel()
	select {
	case err := <-cp.done:
		return err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("control plane did not stop within 60s")
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	switch level {
	case "off":
		return slog.New(slog.DiscardHandler), nil
	case "":
		l = slog.LevelWarn
	default:
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q: %w", level, err)
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
