package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/etcdmember"
	"github.com/minato-project/minato/internal/leader"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// haFlags are the flags of `minato server` that make it one of several
// servers sharing an etcd cluster: an external one (--store), or one the
// servers run themselves (--cluster-init on the first, --join on the
// others).
type haFlags struct {
	store       string
	etcdCA      string
	etcdCert    string
	etcdKey     string
	peerCert    string
	peerKey     string
	peerCA      string
	clusterInit bool
	join        string
	name        string
	peerURL     string
	clientURL   string
	leaderTTL   int
}

func (h *haFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.store, "store", "", "state store shared with the other servers: etcd://h1:2379,h2:2379,h3:2379 (etcds:// for TLS); default: bbolt in the data dir, for one server")
	fs.StringVar(&h.etcdCA, "etcd-ca-file", "", "CA bundle of the etcd servers' certificates (etcds://); with --cluster-init/--join, the CA the embedded member's client port requires client certificates of")
	fs.StringVar(&h.etcdCert, "etcd-cert-file", "", "client certificate for etcd (etcds://, when etcd checks client certificates); with --cluster-init/--join, the embedded member's client-port certificate (https), also used as this server's client certificate")
	fs.StringVar(&h.etcdKey, "etcd-key-file", "", "the private key of --etcd-cert-file")
	fs.StringVar(&h.peerCert, "etcd-peer-cert-file", "", "with --cluster-init/--join: the embedded member's certificate for the other members (peer traffic over TLS, https:// peer URLs); valid for serving and as a client")
	fs.StringVar(&h.peerKey, "etcd-peer-key-file", "", "the private key of --etcd-peer-cert-file")
	fs.StringVar(&h.peerCA, "etcd-peer-trusted-ca-file", "", "with --etcd-peer-cert-file: the CA the other members' peer certificates must be signed by (a member without one is refused)")
	fs.BoolVar(&h.clusterInit, "cluster-init", false, "run an embedded etcd member and start a new cluster with it (the first of several servers; the others --join it)")
	fs.StringVar(&h.join, "join", "", "run an embedded etcd member and add it to the cluster of the server at this etcd client URL, e.g. http://10.0.0.1:2379")
	fs.StringVar(&h.name, "name", "", "this server's name among the servers, and its etcd member's (default: the host name)")
	fs.StringVar(&h.peerURL, "etcd-peer-url", "", "URL the other servers' etcd members reach this one at (default: http://<--api-addr host>:2380, https:// with --etcd-peer-cert-file)")
	fs.StringVar(&h.clientURL, "etcd-client-url", "", "URL of this server's etcd member for clients (default: http://<--api-addr host>:2379, https:// with --etcd-cert-file)")
	fs.IntVar(&h.leaderTTL, "leader-ttl", leader.DefaultTTL, "seconds a silent leader keeps the controllers before another server takes over")
}

// shared reports whether the flags ask for a shared store.
func (h *haFlags) shared() bool { return h != nil && (h.store != "" || h.clusterInit || h.join != "") }

// sharedStore is the etcd a server shares with the others, and what to
// close when the server stops.
type sharedStore struct {
	st     *etcdstore.Store
	member *etcdmember.Member // nil with --store
	name   string
}

func (s *sharedStore) Close() {
	if s.st != nil {
		s.st.Close()
	}
	if s.member != nil {
		s.member.Close()
	}
}

// openShared opens the etcd store that the flags describe: an external
// cluster, or the embedded member, started (and its cluster made or
// joined) first.
func openShared(ctx context.Context, h *haFlags, nf nodeFlags, log *slog.Logger) (*sharedStore, error) {
	if h.store != "" && (h.clusterInit || h.join != "") {
		return nil, errors.New("--store names an etcd cluster the servers do not run; --cluster-init and --join run one: choose")
	}
	if h.clusterInit && h.join != "" {
		return nil, errors.New("--cluster-init starts a cluster, --join joins one: choose")
	}
	if h.leaderTTL < 1 {
		return nil, fmt.Errorf("--leader-ttl %d: want at least 1 second", h.leaderTTL)
	}
	s := &sharedStore{name: h.name}
	if s.name == "" {
		s.name, _ = os.Hostname()
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if h.store != "" {
		st, err := etcdstore.Open(octx, h.store, etcdstore.TLS{CAFile: h.etcdCA, CertFile: h.etcdCert, KeyFile: h.etcdKey}, etcdstore.Options{})
		if err != nil {
			return nil, err
		}
		s.st = st
		return s, nil
	}
	host := "127.0.0.1"
	if hh, _, err := net.SplitHostPort(nf.apiAddr); err == nil && hh != "" && hh != "0.0.0.0" && hh != "::" {
		host = hh
	}
	o := etcdmember.Options{Name: s.name, DataDir: filepath.Join(nf.dataDir, "etcd"), PeerURL: h.peerURL, ClientURL: h.clientURL,
		ClusterInit: h.clusterInit, Join: h.join,
		PeerTLS:   etcdmember.TLSFiles{CertFile: h.peerCert, KeyFile: h.peerKey, CAFile: h.peerCA},
		ClientTLS: etcdmember.TLSFiles{CertFile: h.etcdCert, KeyFile: h.etcdKey, CAFile: h.etcdCA}}
	if h.peerCA != "" && h.peerCert == "" {
		return nil, errors.New("--etcd-peer-trusted-ca-file needs --etcd-peer-cert-file and --etcd-peer-key-file")
	}
	if h.etcdCA != "" && h.etcdCert == "" {
		return nil, errors.New("with --cluster-init or --join, --etcd-ca-file needs --etcd-cert-file and --etcd-key-file (the member's client-port certificate)")
	}
	if o.PeerURL == "" {
		o.PeerURL = scheme(h.peerCert) + net.JoinHostPort(host, "2380")
	}
	if o.ClientURL == "" {
		o.ClientURL = scheme(h.etcdCert) + net.JoinHostPort(host, "2379")
	}
	log.Info("starting the embedded etcd member", "name", o.Name, "peer", o.PeerURL, "client", o.ClientURL,
		"cluster_init", o.ClusterInit, "join", o.Join)
	m, err := etcdmember.Start(octx, o)
	if err != nil {
		return nil, err
	}
	s.member = m
	if s.st, err = m.Store(etcdstore.Options{}); err != nil {
		m.Close()
		return nil, err
	}
	return s, nil
}

// scheme is the URL scheme of a member's side with certificate cert.
func scheme(cert string) string {
	if cert != "" {
		return "https://"
	}
	return "http://"
}

// configure makes cfg a server of the shared store.
func (s *sharedStore) configure(cfg *controlplane.Config, h *haFlags) {
	cli := s.st.Client()
	cfg.Store = s.st
	cfg.StoreHealth = s.st.Ready
	cfg.ServerName = s.name
	cfg.Elector = &leader.Etcd{Client: cli, StorePrefix: s.st.Prefix(), Name: s.name, TTL: h.leaderTTL}
	cfg.StoreMembers = func(ctx context.Context) ([]controlplane.StoreMember, error) { return storeMembers(ctx, cli) }
	if s.member != nil {
		m := s.member
		cfg.LeaderLoops = append(cfg.LeaderLoops, leader.Loop{Name: "etcd-leader-elsewhere", Run: func(ctx context.Context) {
			raftLeaderElsewhere(ctx, cli, m.IsLeader, m.ID())
		}})
	}
}

// raftLeaderElsewhere keeps the raft leadership of the embedded etcd
// cluster off the member of the server that leads minato, while it leads.
// Otherwise the death of that one machine costs two elections in a row:
// etcd's first (a second or so), then minato's, whose lease etcd's new
// leader extends by its election timeout. With the two leaders apart, a
// dead minato leader is replaced within its lease.
func raftLeaderElsewhere(ctx context.Context, cli *clientv3.Client, isLeader func() bool, self uint64) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if isLeader() {
			if list, err := cli.MemberList(ctx); err == nil {
				for _, m := range list.Members {
					if m.ID == self || m.IsLearner || len(m.ClientURLs) == 0 {
						continue
					}
					mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := cli.MoveLeader(mctx, m.ID)
					cancel()
					if err == nil {
						break
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// storeMembers describes the etcd cluster's members.
func storeMembers(ctx context.Context, cli *clientv3.Client) ([]controlplane.StoreMember, error) {
	st, err := etcdmember.Status(ctx, cli)
	if err != nil {
		return nil, err
	}
	out := make([]controlplane.StoreMember, 0, len(st))
	for _, m := range st {
		sm := controlplane.StoreMember{Name: m.Name, Leader: m.Leader, Healthy: m.Healthy, Error: m.Err}
		if len(m.ClientURLs) > 0 {
			sm.Endpoint = m.ClientURLs[0]
		}
		if sm.Name == "" && len(m.PeerURLs) > 0 {
			if u, err := url.Parse(m.PeerURLs[0]); err == nil {
				sm.Name = "(not started) " + u.Host
			}
		}
		out = append(out, sm)
	}
	return out, nil
}
