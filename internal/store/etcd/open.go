package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TLS names the files of a TLS connection to etcd. All empty means none.
type TLS struct {
	// CertFile and KeyFile are the client certificate and its key, for an
	// etcd that checks client certificates (--client-cert-auth).
	CertFile, KeyFile string
	// CAFile is the CA bundle that signed etcd's server certificates;
	// empty means the system's roots.
	CAFile string
}

func (t TLS) empty() bool { return t == TLS{} }

// Config returns the tls.Config for t, or nil when t is empty.
func (t TLS) Config() (*tls.Config, error) {
	if t.empty() {
		return nil, nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("store/etcd: a client certificate needs both its cert and key files")
	}
	info := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("store/etcd: TLS: %w", err)
	}
	return c, nil
}

// MaxRequestBytes is the largest request the embedded members accept
// (etcdmember.DefaultMaxRequestBytes); the client sends up to it.
const MaxRequestBytes = 8 << 20

// Target is a parsed store URL.
type Target struct {
	// Endpoints are etcd client URLs (http:// or https://).
	Endpoints []string
	// Prefix is the key prefix, from the URL's path; empty means
	// DefaultPrefix.
	Prefix string
	// Secure: the endpoints use TLS.
	Secure bool
}

// ParseURL parses the --store value of an etcd engine:
//
//	etcd://h1:2379,h2:2379,h3:2379        plain
//	etcds://h1:2379,h2:2379               TLS
//	etcd://h1:2379/team-a/                keys under /team-a/ instead of /minato/
//	http://h1:2379,http://h2:2379         etcd's own client URLs also work
//
// A host without a port gets etcd's client port, 2379.
func ParseURL(raw string) (Target, error) {
	bad := func(why string) (Target, error) {
		return Target{}, fmt.Errorf("store URL %q: %s (want etcd://host:2379,host:2379 or etcds://...)", raw, why)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return bad("no scheme")
	}
	var (
		t     Target
		hosts string
	)
	switch scheme {
	case "etcd", "etcds":
		t.Secure = scheme == "etcds"
		var path string
		hosts, path, _ = strings.Cut(rest, "/")
		if p := strings.Trim(path, "/"); p != "" {
			t.Prefix = "/" + p + "/"
		}
	case "http", "https":
		// etcd's own list of client URLs: each repeats the scheme.
		t.Secure = scheme == "https"
		var hs []string
		for i, item := range strings.Split(raw, ",") {
			u, err := url.Parse(strings.TrimSpace(item))
			if err != nil || u.Scheme != scheme || (u.Path != "" && u.Path != "/") {
				return bad(fmt.Sprintf("item %d is not a %s:// URL without a path", i+1, scheme))
			}
			hs = append(hs, u.Host)
		}
		hosts = strings.Join(hs, ",")
	default:
		return bad("unknown scheme " + scheme)
	}
	if strings.ContainsAny(hosts, "?#@") {
		return bad("query, fragment and user info are not supported")
	}
	proto := "http://"
	if t.Secure {
		proto = "https://"
	}
	for h := range strings.SplitSeq(hosts, ",") {
		h = strings.TrimSuffix(strings.TrimSpace(h), "/")
		if h == "" {
			return bad("empty host")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "2379")
		}
		u, err := url.Parse(proto + h)
		if err != nil || u.Hostname() == "" || u.Port() == "" {
			return bad("bad host " + h)
		}
		t.Endpoints = append(t.Endpoints, proto+h)
	}
	return t, nil
}

// ClientConfig returns the etcd client configuration for endpoints, with
// the keep-alives that notice a dead member within seconds, so that the
// client moves to another, and room for requests as large as the embedded
// members take (MaxRequestBytes; the client's own
// default stops at 2 MiB).
func ClientConfig(endpoints []string, tlsc *tls.Config) clientv3.Config {
	return clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsc,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		MaxCallSendMsgSize:   MaxRequestBytes + 1<<20,
		Logger:               zap.NewNop(),
	}
}

// Open connects to the etcd cluster that raw names (see ParseURL) and
// returns a Store that owns the client. It checks that the cluster
// answers a linearizable read within ctx. opts.Prefix, when set, wins
// over the URL's path.
func Open(ctx context.Context, raw string, tl TLS, opts Options) (*Store, error) {
	t, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if !tl.empty() && !t.Secure {
		return nil, fmt.Errorf("store URL %q: TLS files given for a plain connection; use etcds://", raw)
	}
	var tlsc *tls.Config
	if t.Secure {
		if tlsc, err = tl.Config(); err != nil {
			return nil, err
		}
		if tlsc == nil {
			tlsc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	cli, err := clientv3.New(ClientConfig(t.Endpoints, tlsc))
	if err != nil {
		return nil, fmt.Errorf("store/etcd: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = t.Prefix
	}
	opts.OwnClient = true
	s := New(cli, opts)
	if err := s.Ready(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store/etcd: %s does not answer: %w", strings.Join(t.Endpoints, ","), err)
	}
	return s, nil
}
