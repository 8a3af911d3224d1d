// Package etcdmember runs an etcd member inside minato server, so that
// three servers form one replicated store with no other software, the way
// k3s does it: the first server starts a new cluster of one member
// (--cluster-init), and each other server adds itself to the cluster
// through a member it can reach (--join) and starts as a member of it.
// A server that restarts finds its member in its data directory and needs
// neither.
//
// The pure half (this file) turns Options into etcd's embed.Config; the
// other half (member.go) talks to the cluster and starts the member.
package etcdmember

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/etcdlog"
	etcdstore "github.com/minato-project/minato/internal/store/etcd"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// Defaults chosen for minato's store (docs/etcd.md says why).
const (
	// DefaultQuotaBackendBytes is the size past which etcd refuses writes
	// (alarm NOSPACE): etcd's own default, 2 GiB, far above what minato's
	// records take.
	DefaultQuotaBackendBytes = 2 << 30
	// DefaultAutoCompactionRetention keeps ten minutes of history:
	// watches that fall further behind list again (the cluster view does).
	DefaultAutoCompactionRetention = "10m"
	// DefaultMaxTxnOps lets one store transaction carry this many writes
	// (etcd's default is 128).
	DefaultMaxTxnOps = 4096
	// DefaultMaxRequestBytes bounds one request (etcd's default 1.5 MiB);
	// store/etcd's client sends up to it.
	DefaultMaxRequestBytes = etcdstore.MaxRequestBytes
	// DefaultDefragThresholdMB: at start, a member defragments its
	// backend when compaction has freed this many megabytes.
	DefaultDefragThresholdMB = 64
)

// TLSFiles are the files of one side's TLS. All empty means plain TCP.
type TLSFiles struct {
	CertFile, KeyFile string
	// CAFile verifies the other side's certificates; with it set, the
	// listener also requires a client certificate signed by it.
	CAFile string
}

func (t TLSFiles) enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (t TLSFiles) info() transport.TLSInfo {
	return transport.TLSInfo{
		CertFile: t.CertFile, KeyFile: t.KeyFile,
		TrustedCAFile: t.CAFile, ClientCertAuth: t.CAFile != "",
	}
}

// Options configure an embedded member. Start fills in defaults.
type Options struct {
	// Name is the member's name, unique in the cluster. Default: the
	// host name.
	Name string
	// DataDir holds the member's WAL and backend (<data-dir>/etcd).
	DataDir string
	// PeerURL is the URL the other members reach this one at, e.g.
	// http://10.0.0.1:2380 (https:// with PeerTLS).
	PeerURL string
	// ClientURL is the URL clients (minato servers) reach it at, e.g.
	// http://10.0.0.1:2379 (https:// with ClientTLS).
	ClientURL string
	// ListenPeerURL and ListenClientURL are where the member listens;
	// default: the advertised URL when its host is an IP address or
	// localhost, otherwise every address (0.0.0.0) at its port.
	ListenPeerURL, ListenClientURL string

	// ClusterInit starts a new cluster of one member.
	ClusterInit bool
	// Join is a client URL (or several, comma-separated) of a member of
	// the cluster to join.
	Join string
	// JoinTLS is how to reach Join; default ClientTLS.
	JoinTLS *TLSFiles
	// Token is the initial cluster token, which keeps members of
	// different clusters from talking to each other. Default
	// "minato".
	Token string

	PeerTLS, ClientTLS TLSFiles

	// Raft timing. Defaults etcd's: 100ms heartbeats, 1s election timeout.
	HeartbeatInterval, ElectionTimeout time.Duration

	QuotaBackendBytes       int64
	AutoCompactionRetention string
	MaxTxnOps               uint
	MaxRequestBytes         uint
	// SnapshotCount is how many applied entries trigger a raft snapshot;
	// 0 means etcd's default.
	SnapshotCount uint64

	// LogLevel is etcd's log level: debug, info, warn, error. Default
	// error.
	LogLevel string
	// NoFsync turns etcd's fsync off. Tests only.
	NoFsync bool
}

// withDefaults returns o with its empty fields filled in.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return o, fmt.Errorf("etcd member name: %w", err)
		}
		o.Name = h
	}
	if o.Token == "" {
		o.Token = "minato"
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 100 * time.Millisecond
	}
	if o.ElectionTimeout == 0 {
		o.ElectionTimeout = 10 * o.HeartbeatInterval
	}
	if o.QuotaBackendBytes == 0 {
		o.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if o.AutoCompactionRetention == "" {
		o.AutoCompactionRetention = DefaultAutoCompactionRetention
	}
	if o.MaxTxnOps == 0 {
		o.MaxTxnOps = DefaultMaxTxnOps
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.LogLevel == "" {
		o.LogLevel = "error"
	}
	if o.JoinTLS == nil {
		c := o.ClientTLS
		o.JoinTLS = &c
	}
	return o, nil
}

// Validate checks o without touching the disk or the network.
func (o Options) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("no data directory"))
	}
	if o.ClusterInit && o.Join != "" {
		errs = append(errs, errors.New("--cluster-init and --join exclude each other"))
	}
	for _, u := range []struct {
		name, raw string
		tls       TLSFiles
	}{{"peer URL", o.PeerURL, o.PeerTLS}, {"client URL", o.ClientURL, o.ClientTLS}} {
		if _, err := parseURL(u.raw, u.tls.enabled()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	for _, t := range []TLSFiles{o.PeerTLS, o.ClientTLS} {
		if (t.CertFile == "") != (t.KeyFile == "") {
			errs = append(errs, errors.New("a TLS certificate needs both its cert and key files"))
		}
	}
	if _, err := zapcore.ParseLevel(o.LogLevel); o.LogLevel != "" && err != nil {
		errs = append(errs, fmt.Errorf("log level: %w", err))
	}
	if o.HeartbeatInterval > 0 && o.ElectionTimeout > 0 && o.ElectionTimeout < 5*o.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("election timeout %v is under five heartbeats of %v", o.ElectionTimeout, o.HeartbeatInterval))
	}
	return errors.Join(errs...)
}

// parseURL checks one advertised URL: http or https (as secure says), a
// host and a port, no path.
func parseURL(raw string, secure bool) (url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return url.URL{}, err
	}
	want := "http"
	if secure {
		want = "https"
	}
	switch {
	case u.Scheme != want:
		return url.URL{}, fmt.Errorf("%q: want a %s:// URL", raw, want)
	case u.Hostname() == "" || u.Port() == "":
		return url.URL{}, fmt.Errorf("%q: want host:port", raw)
	case u.Path != "" && u.Path != "/":
		return url.URL{}, fmt.Errorf("%q: no path allowed", raw)
	}
	return url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// listenURL is where to listen for advertised URL u: etcd binds only to
// IP addresses (and localhost), so a host name listens on every address.
func listenURL(listen string, u url.URL, secure bool) (url.URL, error) {
	if listen != "" {
		l, err := parseURL(listen, secure)
		if err != nil {
			return url.URL{}, fmt.Errorf("listen URL: %w", err)
		}
		return l, nil
	}
	if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil {
		return u, nil
	}
	return url.URL{Scheme: u.Scheme, Host: net.JoinHostPort("0.0.0.0", u.Port())}, nil
}

// HasData says whether dir holds a member already (its WAL), so that it
// restarts as that member whatever the flags say.
func HasData(dir string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, "member", "wal"))
	return err == nil && len(entries) > 0
}

// Config builds the embed.Config of the member described by o (empty
// fields take their defaults) that starts with initial cluster initialCluster ("name=peerURL,
// ...") in state state (embed.ClusterStateFlagNew or
// embed.ClusterStateFlagExisting). A member that restarts from its data
// ignores both.
func Config(o Options, initialCluster, state string) (*embed.Config, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	peer, _ := parseURL(o.PeerURL, o.PeerTLS.enabled())
	client, _ := parseURL(o.ClientURL, o.ClientTLS.enabled())
	lpeer, err := listenURL(o.ListenPeerURL, peer, o.PeerTLS.enabled())
	if err != nil {
		return nil, err
	}
	lclient, err := listenURL(o.ListenClientURL, client, o.ClientTLS.enabled())
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = o.Name
	cfg.Dir = o.DataDir
	cfg.AdvertisePeerUrls, cfg.ListenPeerUrls = []url.URL{peer}, []url.URL{lpeer}
	cfg.AdvertiseClientUrls, cfg.ListenClientUrls = []url.URL{client}, []url.URL{lclient}
	cfg.InitialCluster = initialCluster
	cfg.ClusterState = state
	cfg.InitialClusterToken = o.Token
	if o.PeerTLS.enabled() {
		cfg.PeerTLSInfo = o.PeerTLS.info()
	}
	if o.ClientTLS.enabled() {
		cfg.ClientTLSInfo = o.ClientTLS.info()
	}
	cfg.TickMs = uint(o.HeartbeatInterval / time.Millisecond)
	cfg.ElectionMs = uint(o.ElectionTimeout / time.Millisecond)
	cfg.QuotaBackendBytes = o.QuotaBackendBytes
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = o.AutoCompactionRetention
	cfg.MaxTxnOps = o.MaxTxnOps
	cfg.MaxRequestBytes = o.MaxRequestBytes
	if o.SnapshotCount > 0 {
		cfg.SnapshotCount = o.SnapshotCount
	}
	cfg.BootstrapDefragThresholdMegabytes = DefaultDefragThresholdMB
	cfg.UnsafeNoFsync = o.NoFsync
	cfg.EnableGRPCGateway = false
	level, _ := zapcore.ParseLevel(o.LogLevel)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdlog.New(level))
	cfg.LogLevel = level.String()
	return cfg, nil
}

// InitialCluster formats etcd's initial-cluster value from member names
// and peer URLs, in name order as given.
func InitialCluster(members []NamedPeer) string {
	parts := make([]string, 0, len(members))
	for _, m := range members {
		for _, u := range m.PeerURLs {
			parts = append(parts, m.Name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

// NamedPeer is one member's name and peer URLs.
type NamedPeer struct {
	Name     string
	PeerURLs []string
}
