// Package etcdtest starts an embedded, single-member etcd server in-process
// for tests and benchmarks: loopback only, data in a temporary directory,
// logging only errors.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/etcdlog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long a member may take to become ready.
const startTimeout = 60 * time.Second

// Options tune a test server. The zero value is what tests want.
type Options struct {
	// Fsync keeps etcd's fsync of its WAL and backend. Off by default:
	// tests do not survive power loss, and fsync on a busy machine costs
	// seconds. Benchmarks that compare with bbolt turn it on.
	Fsync bool
	// Configure, when set, edits the configuration last.
	Configure func(*embed.Config)
}

// Server is a running single-member etcd.
type Server struct {
	Etcd *embed.Etcd
	// Endpoints are the client URLs, for clientv3.Config.Endpoints.
	Endpoints []string
	// Dir is the member's data directory.
	Dir string

	close sync.Once
}

// Start starts a server with data in t.TempDir(), and a client of it. Both
// stop when the test ends.
func Start(t testing.TB, opts Options) (*Server, *clientv3.Client) {
	t.Helper()
	s, err := StartDir(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(s.Close)
	cli, err := s.Client()
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return s, cli
}

// StartDir starts a server with data in dir (created if missing) and waits
// until it serves. The caller closes it.
func StartDir(dir string, opts Options) (*Server, error) {
	var err error
	// The peer and client ports are picked free and then bound by etcd;
	// another process may take one in between, so try again a few times.
	for range 5 {
		var s *Server
		if s, err = start(dir, opts); err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		_ = os.RemoveAll(dir)
	}
	return nil, err
}

func start(dir string, opts Options) (*Server, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = dir
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialClusterToken = "etcdtest"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdlog.New(zap.ErrorLevel))
	cfg.UnsafeNoFsync = !opts.Fsync
	cfg.EnableGRPCGateway = false
	cfg.Metrics = "basic"
	// A lone member elects itself at once; short ticks only shorten that.
	cfg.TickMs, cfg.ElectionMs = 10, 100
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd stopped while starting: %w", err)
	case <-time.After(startTimeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd not ready after %v", startTimeout)
	}
	return &Server{Etcd: e, Endpoints: []string{client.String()}, Dir: dir}, nil
}

// Client returns a new client of s; the caller closes it.
func (s *Server) Client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Close stops the server. Closing twice is harmless.
func (s *Server) Close() {
	s.close.Do(s.Etcd.Close)
}

// FreePorts returns n loopback TCP ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var (
		ports []int
		lns   []net.Listener
	)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// WaitContext is a context for one test call against etcd: generous, since
// the machine running the tests may be busy.
func WaitContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
