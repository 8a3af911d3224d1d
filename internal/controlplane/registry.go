package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/store"
)

// openRegistry opens the embedded image registry under
// <data dir>/registry, or Config.RegistryDir. Node.Run runs its lifecycle policies and garbage
// collection; Node.Close closes it.
func openRegistry(cfg Config, st store.Store, clock core.Clock, log *slog.Logger) (*registry.Registry, error) {
	dir := cfg.RegistryDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "registry")
	}
	reg, err := registry.New(registry.Config{Dir: dir, Store: st, AccountID: cfg.AccountID,
		Clock: clock, Logger: log.With("component", "registry")})
	if err != nil {
		return nil, fmt.Errorf("image registry: %w", err)
	}
	return reg, nil
}

// registryHost is the host[:port] repositoryUri names: cfg.RegistryHost
// when set, else the API listener's address, where the registry is
// served (an unspecified address, as from --api-addr :7400, reads as
// 127.0.0.1, the one address Docker trusts over plain HTTP by default).
func registryHost(cfg Config, addr net.Addr) string {
	if cfg.RegistryHost != "" {
		return cfg.RegistryHost
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// registryImages adapts the registry to the agent server's
// ImageResolver.
type registryImages struct{ reg *registry.Registry }

func (r registryImages) ResolveImage(ctx context.Context, image string) (string, *agentproto.RegistryAuth, error) {
	p, ok, err := r.reg.ResolveImage(ctx, image)
	if err != nil || !ok {
		return "", nil, err
	}
	return p.Image, &agentproto.RegistryAuth{Username: p.Username, Password: p.Password}, nil
}
