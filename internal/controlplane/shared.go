package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/minato-project/minato/internal/store"
)

// credentialsKey is where servers that share a store keep the key pair
// and the agent join token, so that a request signed for one server, and
// an agent registered with one, is accepted by every other.
const credentialsKey = "cluster/credentials"

type storedCredentials struct {
	Key        AccessKey `json:"key"`
	AgentToken string    `json:"agentToken"`
}

// sharedCredentials returns the key pair and agent token of the servers
// sharing st: those given (both halves of the pair, the token) win, and
// the rest comes from st, where the first server to start stores a new
// pair and token. created reports whether this server generated the pair.
func sharedCredentials(ctx context.Context, st store.Store, keyID, secret, token string) (AccessKey, string, bool, error) {
	if (keyID == "") != (secret == "") {
		return AccessKey{}, "", false, errors.New("set both MINATO_ACCESS_KEY_ID and MINATO_SECRET_ACCESS_KEY, or neither")
	}
	for range 10 {
		kv, err := st.Get(ctx, credentialsKey)
		var c storedCredentials
		switch {
		case err == nil:
			if err := json.Unmarshal(kv.Value, &c); err != nil || c.Key.AccessKeyID == "" || c.AgentToken == "" {
				return AccessKey{}, "", false, fmt.Errorf("the shared credentials record %s is damaged", credentialsKey)
			}
		case errors.Is(err, store.ErrNotFound):
		default:
			return AccessKey{}, "", false, fmt.Errorf("reading the shared credentials: %w", err)
		}
		created := false
		if c.Key.AccessKeyID == "" {
			c = storedCredentials{Key: newAccessKey(), AgentToken: newToken()}
			b, _ := json.Marshal(c)
			if _, err := st.Txn(ctx, []store.Cond{store.MustNotExist(credentialsKey)}, []store.Op{store.Put(credentialsKey, b)}); errors.Is(err, store.ErrConflict) {
				continue // another server stored its own first: take that
			} else if err != nil {
				return AccessKey{}, "", false, fmt.Errorf("storing the shared credentials: %w", err)
			}
			created = true
		}
		if keyID != "" {
			c.Key, created = AccessKey{AccessKeyID: keyID, SecretAccessKey: secret}, false
		}
		if token != "" {
			c.AgentToken = token
		}
		return c.Key, c.AgentToken, created, nil
	}
	return AccessKey{}, "", false, errors.New("the shared credentials keep changing")
}

// sharedName describes the store of a server sharing it ("": none).
func sharedName(cfg Config) string {
	if cfg.Store == nil {
		return ""
	}
	return "etcd, as server " + cfg.ServerName
}
