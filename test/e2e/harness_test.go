// Package e2e drives the real minato binary with the real AWS SDK for Go v2
// and the real aws CLI v2.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/minato-project/minato/internal/testutil"
)

// Test credentials handed to minato through the environment.
const (
	testKeyID  = "AKIAMINATOE2ETEST000"
	testSecret = "e2e/secret/key/that/is/forty/characters"
	testRegion = "ap-northeast-1"
)

var minatoBin string

// TestMain builds the minato binary once for every test, outside any
// test's deadline; in -short there is nothing to build, since every test
// here skips. Without -parallel it runs GOMAXPROCS+1 tests at once: they
// wait on processes and containers more than they compute (measured on 2
// cores: 3 at once took 10-40% less time than 2, 4 no less than 3).
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", strconv.Itoa(runtime.GOMAXPROCS(0)+1))
	}
	dir, err := os.MkdirTemp("", "minato-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	minatoBin = filepath.Join(dir, "minato")
	build := exec.Command("go", "build", "-o", minatoBin, "../../cmd/minato")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building minato:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2eTest starts every test of this package: it skips in -short (the
// tests drive the real binary, most of them Docker and the aws CLI too),
// and runs the test in parallel with the others. Each test has its own
// nodes, data dirs, host ports (reservePorts) and names, so tests share
// nothing but the Docker engine and the test image.
func e2eTest(t *testing.T) {
	t.Helper()
	testutil.SkipShort(t, "end-to-end: the real minato binary, Docker and the aws CLI")
	t.Parallel()
}

// node is one running minato process.
type node struct {
	t       *testing.T
	dataDir string
	ports   *portBlock
	addr    string
	args    []string // extra arguments of `minato up`
	env     []string // extra environment of `minato up`
	proc    *proc
	out     *syncBuffer
}

// startNode runs `minato up --no-agent` on a fresh data dir and waits until
// it is ready: the API alone, for tests that run no containers.
func startNode(t *testing.T) *node {
	t.Helper()
	return startNodeArgs(t, "--no-agent")
}

// startNodeArgs runs `minato up` with extra arguments.
func startNodeArgs(t *testing.T, args ...string) *node {
	t.Helper()
	n := newNode(t, args...)
	n.launch()
	return n
}

// newNode is a node not started yet, on its own data dir and ports.
func newNode(t *testing.T, args ...string) *node {
	t.Helper()
	p := reservePorts(t)
	return &node{t: t, dataDir: t.TempDir(), ports: p, addr: p.apiAddr(), args: args}
}

// launch starts n, and stops it (and removes its agent's containers) when
// the test ends.
func (n *node) launch() {
	n.t.Helper()
	n.start()
	n.t.Cleanup(func() {
		if n.t.Failed() && n.out != nil {
			n.t.Logf("what minato logged of note (warnings, errors, panics, and its last lines):\n%s", notable(n.out.String(), 40))
		}
		n.stop()
		removeContainersOf(n.t, n.dataDir)
	})
}

// notable returns the lines of a node's log worth reading after a failure:
// warnings, errors and panics, then the last tail lines.
func notable(log string, tail int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "panic") {
			out = append(out, l)
		}
	}
	out = append(out, "--- last lines:")
	return strings.Join(append(out, lines[max(0, len(lines)-tail):]...), "\n")
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (n *node) url() string { return "http://" + n.addr }

func (n *node) start() {
	n.t.Helper()
	n.out = &syncBuffer{}
	cmd := exec.Command(minatoBin, append([]string{"up", "--data-dir", n.dataDir, "--api-addr", n.addr, "--log-level", "debug"}, n.args...)...)
	cmd.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+testKeyID, "MINATO_SECRET_ACCESS_KEY="+testSecret)
	cmd.Env = append(cmd.Env, n.env...)
	n.proc = startProc(n.t, cmd, n.out)
	n.waitReady(http.DefaultClient, n.url())
}

// waitReady waits until the node answers /healthz at url, and fails the
// test at once if the process exits first.
func (n *node) waitReady(hc *http.Client, url string) {
	n.t.Helper()
	waitFor(n.t, 60*time.Second, "minato to be ready", func() (bool, string) {
		if n.proc.exited() {
			n.t.Fatalf("minato exited before it was ready (%v):\n%s", n.proc.err, n.out.String())
		}
		resp, err := hc.Get(url + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	if n.proc != nil {
		n.proc.kill()
		n.proc = nil
	}
}

// stop sends SIGTERM and returns the exit error.
func (n *node) stop() error {
	if n.proc == nil {
		return nil
	}
	err := n.proc.terminate(15 * time.Second)
	n.proc = nil
	return err
}

// proc is a process a test started; one goroutine waits for it, so that
// the test can see it exit without reaping it itself.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of Wait, once done is closed
}

// startProc starts cmd with its stdout and stderr going to out (unless
// cmd has its own).
func startProc(t *testing.T, cmd *exec.Cmd, out io.Writer) *proc {
	t.Helper()
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM, and SIGKILL after timeout, and returns the
// exit error.
func (p *proc) terminate(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %v of SIGTERM", filepath.Base(p.cmd.Path), timeout)
	}
}

// ecsClient is an ECS client of the real AWS SDK for Go v2 aimed at n.
func (n *node) ecsClient(keyID, secret string) *ecs.Client {
	return ecs.New(ecs.Options{
		BaseEndpoint: aws.String(n.url()),
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
}

func (n *node) ecs() *ecs.Client { return n.ecsClient(testKeyID, testSecret) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// awsCLI finds the aws CLI v2. Without it the test skips, except under
// CI=true, where it fails.
func awsCLI(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/aws", "/usr/local/bin/aws"} {
		out, err := exec.Command(p, "--version").CombinedOutput()
		if err == nil && strings.HasPrefix(string(out), "aws-cli/2.") {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the aws CLI v2 is required under CI=true (apt-get install awscli)")
	}
	t.Skip("aws CLI v2 not found: install it (apt-get install awscli) or run with CI=true to require it")
	return ""
}

// cliResult is what one aws CLI run printed.
type cliResult struct {
	stdout, stderr string
	exit           int
}

// cli runs the aws CLI against n with the given credentials.
func (n *node) cliAs(t *testing.T, keyID, secret string, args ...string) cliResult {
	t.Helper()
	bin := awsCLI(t)
	cmd := exec.Command(bin, append([]string{"--endpoint-url", n.url(), "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_SESSION_TOKEN=",
		"AWS_DEFAULT_REGION="+testRegion, "AWS_REGION="+testRegion, "AWS_PAGER=",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_MAX_ATTEMPTS=1")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	res := cliResult{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("aws %v: %v", args, err)
	}
	return res
}

func (n *node) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return n.cliAs(t, testKeyID, testSecret, args...)
}

// cliJSON runs the aws CLI, requires success and decodes its JSON output.
func (n *node) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	r := n.cli(t, args...)
	if r.exit != 0 {
		t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), r.exit, r.stderr)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}
