package cli

import (
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

const (
	dockerDownWarn = "Docker Engine is not reachable; the API runs"
	dockerUpInfo   = "Docker Engine is reachable; starting the local agent"
)

var attemptRE = regexp.MustCompile(`Docker Engine is still not reachable" attempt=(\d+)`)

// attempts returns the highest attempt number the log shows.
func attempts(log string) int {
	n := 0
	for _, m := range attemptRE.FindAllStringSubmatch(log, -1) {
		a, _ := strconv.Atoi(m[1])
		n = max(n, a)
	}
	return n
}

// waitAttempts waits until the node's log shows attempt n at least.
func (n *testNode) waitAttempts(want int) {
	n.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if attempts(n.errOut.String()) >= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("the local agent did not try Docker %d times:\n%s", want, n.errOut)
}

// With Docker down, `minato up` serves the API, and its agent keeps
// trying Docker (saying so once at WARN) until the node stops.
func TestUpWaitsForDocker(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock") // nobody listens there
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	n := startMain(t, "up", "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0", "--log-level", "debug")
	n.waitFor(dockerDownWarn, 60*time.Second)
	n.waitAttempts(3)
	if code := n.stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, n.errOut)
	}
	log := n.errOut.String()
	if c := strings.Count(log, dockerDownWarn); c != 1 {
		t.Errorf("the WARN was logged %d times, want once:\n%s", c, log)
	}
	if strings.Contains(log, dockerUpInfo) || strings.Contains(log, "container instance registered") {
		t.Errorf("an agent started without Docker:\n%s", log)
	}
}

// When Docker comes back (here: its socket appears, a proxy to the real
// one), the waiting agent starts and registers the host.
func TestUpStartsAgentWhenDockerComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("registers an agent on the real Docker Engine; not in -short")
	}
	real := testimage.RequireDocker(t).DaemonHost()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	n := startMain(t, "up", "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0", "--log-level", "debug")
	n.waitFor(dockerDownWarn, 60*time.Second)
	n.waitAttempts(2)

	proxyDocker(t, sock, real)
	n.waitFor(dockerUpInfo, 60*time.Second)
	n.waitFor("container instance registered", 60*time.Second)
	if code := n.stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, n.errOut)
	}
	if c := strings.Count(n.errOut.String(), dockerDownWarn); c != 1 {
		t.Errorf("the WARN was logged %d times, want once:\n%s", c, n.errOut)
	}
}

// proxyDocker listens on the unix socket sock and forwards every
// connection to the Docker Engine at host (unix:// or tcp://).
func proxyDocker(t *testing.T, sock, host string) {
	t.Helper()
	u, err := url.Parse(host)
	if err != nil {
		t.Fatal(err)
	}
	network, addr := u.Scheme, u.Host
	if network == "unix" {
		addr = u.Path
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial(network, addr)
				if err != nil {
					return
				}
				defer d.Close()
				go func() {
					io.Copy(d, c)
					if cw, ok := d.(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
					}
				}()
				io.Copy(c, d)
			}()
		}
	}()
}
