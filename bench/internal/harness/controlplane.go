package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/leader"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"github.com/minato-project/minato/internal/testutil/etcdtest"
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
	// Store is the state-store engine: "" or "bolt" (state.db in DataDir,
	// the default), or "etcd": an embedded single-member etcd in
	// DataDir/etcd, fsync on, with the leader election of a server that
	// shares it — what `minato server --cluster-init` runs.
	Store string `json:"store,omitempty"`
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
	ncfg := controlplane.Config{
		DataDir: cfg.DataDir, APIAddr: cfg.Addr, AccountID: AccountID, Region: Region,
		AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, AgentToken: AgentToken,
		Logger: log,
	}
	closeStore := func() error { return nil }
	switch cfg.Store {
	case "", "bolt":
	case "etcd":
		if closeStore, err = startEtcd(ctx, cfg.DataDir, &ncfg); err != nil {
			return nil, fmt.Errorf("control plane: %w", err)
		}
	default:
		return nil, fmt.Errorf("control plane: unknown store %q (bolt or etcd)", cfg.Store)
	}
	node, err := controlplane.New(ctx, ncfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("control plane: %w", err), closeStore())
	}
	ctx, cancel := context.WithCancel(ctx)
	cp := &ControlPlane{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan controlplane.Info, 1)
	go func() {
		err := node.Run(ctx, func(info controlplane.Info) { ready <- info })
		cp.done <- errors.Join(err, node.Close(), closeStore())
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

// startEtcd starts a single-member etcd cluster in dataDir/etcd on free
// loopback ports and sets cfg to use it as a server with an embedded
// member does. The returned func closes the store and the member.
func startEtcd(ctx context.Context, dataDir string, cfg *controlplane.Config) (func() error, error) {
	ports, err := etcdtest.FreePorts(2)
	if err != nil {
		return nil, err
	}
	m, err := etcdmember.Start(ctx, etcdmember.Options{
		Name: "sim", DataDir: filepath.Join(dataDir, "etcd"), ClusterInit: true,
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	})
	if err != nil {
		return nil, err
	}
	st, err := m.Store(etcdstore.Options{})
	if err != nil {
		m.Close()
		return nil, err
	}
	cfg.Store, cfg.StoreHealth, cfg.ServerName = st, st.Ready, "sim"
	cfg.Elector = &leader.Etcd{Client: st.Client(), StorePrefix: st.Prefix(), Name: "sim", TTL: leader.DefaultTTL}
	return func() error {
		err := st.Close()
		m.Close()
		return err
	}, nil
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
