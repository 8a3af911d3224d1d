package etcdmember

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	etcdstore "github.com/minato-project/minato/internal/store/etcd"
)

// retryEvery is the pause between tries of a membership change that the
// cluster refuses for now (another member is joining, the learner is not
// caught up yet).
const retryEvery = 200 * time.Millisecond

// errNotForLearner is the error of a request a learner does not serve.
var errNotForLearner = rpctypes.Error(rpctypes.ErrGRPCNotSupportedForLearner)

// ErrNoMember: the data directory holds no member and neither
// --cluster-init nor --join says how to make one.
var ErrNoMember = errors.New("no etcd member in the data directory: start the first server with --cluster-init and the others with --join")

// Member is a running embedded etcd member.
type Member struct {
	Etcd  *embed.Etcd
	opts  Options
	close sync.Once
}

// Start starts the member that o describes and returns once it serves as a
// voting member, or ctx ends. With data in o.DataDir it restarts as the
// member that data belongs to (ClusterInit and Join are then ignored);
// otherwise o.ClusterInit starts a new cluster, and o.Join adds the member
// to an existing one, first as a learner that is promoted once it has
// caught up, so that a member that never comes up costs the cluster no
// quorum.
func Start(ctx context.Context, o Options) (*Member, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("etcd member: %w", err)
	}
	self := InitialCluster([]NamedPeer{{o.Name, []string{o.PeerURL}}})
	initial, state := self, embed.ClusterStateFlagNew
	fresh := !HasData(o.DataDir)
	switch {
	case !fresh:
	case o.ClusterInit:
	case o.Join != "":
		if initial, err = join(ctx, o); err != nil {
			return nil, fmt.Errorf("etcd member: join %s: %w", o.Join, err)
		}
		state = embed.ClusterStateFlagExisting
	default:
		return nil, ErrNoMember
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, err
	}
	cfg, err := Config(o, initial, state)
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		if fresh {
			// Leave no half-made member behind: the next start must
			// join again, not restart from it.
			_ = os.RemoveAll(o.DataDir)
		}
		return nil, fmt.Errorf("etcd member: %w", err)
	}
	m := &Member{Etcd: e, opts: o}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd member: stopped while starting: %w", err)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd member: not ready (does the cluster have a quorum?): %w", ctx.Err())
	}
	if e.Server.IsLearner() {
		if err := m.promote(ctx); err != nil {
			e.Close()
			return nil, fmt.Errorf("etcd member: promote: %w", err)
		}
	}
	return m, nil
}

// join adds o's member to the cluster that o.Join reaches, as a learner,
// and returns the initial cluster to start it with. It is safe to repeat
// after a crash: a member of that peer URL that never started is reused,
// and one that did start under the same name (this server, whose data is
// gone) is removed and added again.
func join(ctx context.Context, o Options) (string, error) {
	cli, err := client(strings.Split(o.Join, ","), *o.JoinTLS)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	for {
		resp, err := cli.MemberAddAsLearner(ctx, []string{o.PeerURL})
		if err == nil {
			return initialCluster(resp.Members, resp.Member.ID, o.Name), nil
		}
		switch {
		case errors.Is(err, rpctypes.ErrPeerURLExist):
			list, err := cli.MemberList(ctx)
			if err != nil {
				return "", err
			}
			m := findPeer(list.Members, o.PeerURL)
			switch {
			case m == nil:
				// Gone since: add again.
			case m.Name == "":
				return initialCluster(list.Members, m.ID, o.Name), nil
			case m.Name == o.Name:
				if _, err := cli.MemberRemove(ctx, m.ID); err != nil && !errors.Is(err, rpctypes.ErrMemberNotFound) {
					return "", fmt.Errorf("remove the old member %s of this server: %w", m.Name, err)
				}
			default:
				return "", fmt.Errorf("peer URL %s belongs to member %s", o.PeerURL, m.Name)
			}
		case errors.Is(err, rpctypes.ErrTooManyLearners), errors.Is(err, rpctypes.ErrUnhealthy),
			errors.Is(err, errNotForLearner):
			// Another member is joining (and may be the one asked);
			// wait for its turn to end.
		default:
			return "", err
		}
		if err := pause(ctx); err != nil {
			return "", err
		}
	}
}

// initialCluster is the initial cluster of a member that joins as id
// named name: every started member and itself (members added and not yet
// started have no name, and etcd expects them left out).
func initialCluster(members []*etcdserverpb.Member, id uint64, name string) string {
	var peers []NamedPeer
	for _, m := range members {
		n := m.Name
		if m.ID == id {
			n = name
		}
		if n != "" {
			peers = append(peers, NamedPeer{n, m.PeerURLs})
		}
	}
	return InitialCluster(peers)
}

func findPeer(members []*etcdserverpb.Member, peerURL string) *etcdserverpb.Member {
	for _, m := range members {
		if slices.Contains(m.PeerURLs, peerURL) {
			return m
		}
	}
	return nil
}

// promote makes the learner a voting member once it has caught up,
// through the other members.
func (m *Member) promote(ctx context.Context) error {
	cli, err := m.peersClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	id := uint64(m.Etcd.Server.MemberID())
	for promoted := false; m.Etcd.Server.IsLearner(); {
		if !promoted {
			_, err := cli.MemberPromote(ctx, id)
			switch {
			case err == nil, errors.Is(err, rpctypes.ErrMemberNotLearner):
				// Wait for this member to apply it: a learner does
				// not serve clients.
				promoted = true
			case errors.Is(err, rpctypes.ErrMemberLearnerNotReady), errors.Is(err, rpctypes.ErrUnhealthy):
			default:
				return err
			}
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
	return nil
}

// peersClient is a client of the other members' client URLs, as this
// member knows them.
func (m *Member) peersClient() (*clientv3.Client, error) {
	self := m.Etcd.Server.MemberID()
	var eps []string
	for _, p := range m.Etcd.Server.Cluster().Members() {
		if p.ID != self {
			eps = append(eps, p.ClientURLs...)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("no other member has a client URL")
	}
	return client(eps, m.opts.ClientTLS)
}

func pause(ctx context.Context) error {
	t := time.NewTimer(retryEvery)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// client is an etcd client of endpoints, using files (a certificate that
// is also valid as a client certificate, and the CA) when set.
func client(endpoints []string, files TLSFiles) (*clientv3.Client, error) {
	var tlsc *tls.Config
	if files.enabled() || files.CAFile != "" {
		info := transport.TLSInfo{CertFile: files.CertFile, KeyFile: files.KeyFile, TrustedCAFile: files.CAFile}
		c, err := info.ClientConfig()
		if err != nil {
			return nil, err
		}
		tlsc = c
	}
	for i, ep := range endpoints {
		endpoints[i] = strings.TrimSpace(ep)
	}
	return clientv3.New(etcdstore.ClientConfig(endpoints, tlsc))
}

// ID is the member's etcd ID.
func (m *Member) ID() uint64 { return uint64(m.Etcd.Server.MemberID()) }

// Name is the member's name.
func (m *Member) Name() string { return m.opts.Name }

// ClientURL is the URL the member serves clients at.
func (m *Member) ClientURL() string { return m.opts.ClientURL }

// IsLeader says whether this member is raft's leader now.
func (m *Member) IsLeader() bool { return m.Etcd.Server.Leader() == m.Etcd.Server.MemberID() }

// Err reports a failure of the running member (its channel closes when the
// member stops).
func (m *Member) Err() <-chan error { return m.Etcd.Err() }

// Client returns a client of this member; the caller closes it. A server
// uses its own member: when the member is cut off from the majority,
// requests fail rather than answer from a stale copy.
func (m *Member) Client() (*clientv3.Client, error) {
	return client([]string{m.opts.ClientURL}, m.opts.ClientTLS)
}

// Store opens the state store on this member; the store owns its client.
func (m *Member) Store(opts etcdstore.Options) (*etcdstore.Store, error) {
	cli, err := m.Client()
	if err != nil {
		return nil, err
	}
	opts.OwnClient = true
	return etcdstore.New(cli, opts), nil
}

// Close stops the member. It stays a member of the cluster and restarts
// from its data. Closing twice is harmless.
func (m *Member) Close() { m.close.Do(m.Etcd.Close) }

// Leave removes the member from the cluster through the other members,
// stops it and deletes its data, which a removed member cannot use again:
// to come back, the server joins anew. The last member cannot leave.
func (m *Member) Leave(ctx context.Context) error {
	cli, err := m.peersClient()
	if err != nil {
		return fmt.Errorf("etcd member: leave: %w", err)
	}
	defer cli.Close()
	for {
		_, err := cli.MemberRemove(ctx, m.ID())
		if err == nil || errors.Is(err, rpctypes.ErrMemberNotFound) {
			break
		}
		// etcd refuses while the members left would not have a
		// quorum of members that have been up for a while (one just
		// restarted): wait for them.
		if !errors.Is(err, rpctypes.ErrUnhealthy) {
			return fmt.Errorf("etcd member: leave: %w", err)
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("etcd member: leave: the other members are not healthy: %w", err)
		}
	}
	m.Close()
	return os.RemoveAll(m.opts.DataDir)
}
