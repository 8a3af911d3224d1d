package controlplane

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/minato-project/minato/internal/leader"
	"github.com/minato-project/minato/internal/peers"
	"github.com/minato-project/minato/internal/version"
)

// MembersPath is where a server describes the servers sharing its store,
// the leader and the store's members (`minato server members`). It is
// not an AWS API and needs no signature: it says what /readyz says, for
// every server at once. With ?store=false it leaves out the store's
// members (which asks each of them).
const MembersPath = "/minato/members"

// StoreMember is one member of the shared store's cluster (etcd).
type StoreMember struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	Leader   bool   `json:"leader"`
	Healthy  bool   `json:"healthy"`
	Error    string `json:"error,omitempty"`
}

// Members is what MembersPath answers.
type Members struct {
	// Self is the name of the server that answered.
	Self string `json:"self"`
	// Leader is the name of the server running the controllers ("":
	// none now).
	Leader  string         `json:"leader"`
	Servers []peers.Record `json:"servers"`
	Store   []StoreMember  `json:"store,omitempty"`
	// Shared is false for a server alone on its own bbolt store.
	Shared bool `json:"shared"`
}

// serverName is this server's name among the others.
func (n *Node) serverName() string {
	if n.cfg.ServerName != "" {
		return n.cfg.ServerName
	}
	h, _ := os.Hostname()
	if n.ln != nil {
		_, port, _ := net.SplitHostPort(n.ln.Addr().String())
		return h + ":" + port
	}
	return h
}

// self is this server's record for the others.
func (n *Node) self() peers.Record {
	return peers.Record{Name: n.serverName(), APIURL: n.info.APIURL, Leading: n.Leader.Leading(),
		Agents: n.Agents.Local(), Started: n.started, Version: version.String()}
}

// members gathers Members.
func (n *Node) members(ctx context.Context, withStore bool) (Members, error) {
	m := Members{Self: n.serverName(), Shared: n.cfg.Store != nil}
	if !m.Shared {
		r := n.self()
		r.At = n.cfg.Clock.Now().UTC()
		m.Servers, m.Leader = []peers.Record{r}, r.Name
		return m, nil
	}
	var err error
	if m.Servers, err = peers.List(ctx, n.engine); err != nil {
		return m, err
	}
	if m.Leader, _, err = leader.Current(ctx, n.engine); err != nil {
		return m, err
	}
	if n.cfg.StoreMembers != nil && withStore {
		// A member that is down must not hold up the answer.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m.Store, _ = n.cfg.StoreMembers(sctx)
		cancel()
	}
	return m, nil
}

func (n *Node) membersHandler(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	m, err := n.members(ctx, r.URL.Query().Get("store") != "false")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(m)
}
