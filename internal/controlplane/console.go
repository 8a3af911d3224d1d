package controlplane

import (
	"net/http"

	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	smapi "github.com/minato-project/minato/internal/api/secretsmanager"
	"github.com/minato-project/minato/internal/console"
)

// Compile-time guards: the APIs are what the console reads through.
var (
	_ console.ECS     = (*ecsapi.API)(nil)
	_ console.ELB     = (*elbv2api.API)(nil)
	_ console.Secrets = (*smapi.API)(nil)
)

// consoleTokenFile is where a node keeps its console token (each server
// its own, in its data directory).
const consoleTokenFile = "console-token"

// consoleHandler mounts the web console on mux and returns the console
// token that signs in to it.
func (n *Node) consoleHandler(mux *http.ServeMux, key AccessKey, secrets *smapi.API) (string, error) {
	token, err := loadOrCreateFileToken(n.cfg.DataDir, consoleTokenFile)
	if err != nil {
		return "", err
	}
	c, err := console.New(console.Config{ECS: n.ECS, ELB: n.ELB, Secrets: secrets, Logs: n.Logs, Store: n.Store,
		Region: n.cfg.Region, AccountID: n.cfg.AccountID, AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey,
		Token: token, Clock: n.cfg.Clock, Logger: n.log.With("component", "console")})
	if err != nil {
		return "", err
	}
	mux.Handle(console.Prefix, c.Handler())
	return token, nil
}
