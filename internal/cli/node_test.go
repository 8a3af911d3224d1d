package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a running node's writes and the
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

// testNode is `minato <args>` run in-process through Main.
type testNode struct {
	t           *testing.T
	out, errOut *syncBuffer
	cancel      context.CancelFunc
	done        chan int // Main's exit code
}

// startMain runs Main(args) until the test ends. The node's own
// credentials and token come from its data dir, whatever the environment
// of the test holds.
func startMain(t *testing.T, args ...string) *testNode {
	t.Helper()
	for _, k := range []string{"MINATO_ACCESS_KEY_ID", "MINATO_SECRET_ACCESS_KEY", "MINATO_AGENT_TOKEN", "MINATO_MASTER_KEY"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{t: t, out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { n.done <- Main(ctx, args, n.out, n.errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-n.done:
		case <-time.After(60 * time.Second):
			t.Errorf("minato %s did not stop within 60 s of its context ending", args[0])
		}
	})
	return n
}

// waitFor waits until what the node printed (stdout and log) holds s.
func (n *testNode) waitFor(s string, timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(n.out.String(), s) || strings.Contains(n.errOut.String(), s) {
			return
		}
		select {
		case code := <-n.done:
			n.done <- code
			n.t.Fatalf("minato exited with %d before printing %q\nstdout:\n%s\nstderr:\n%s", code, s, n.out, n.errOut)
		case <-time.After(20 * time.Millisecond):
		}
	}
	n.t.Fatalf("minato did not print %q within %v\nstdout:\n%s\nstderr:\n%s", s, timeout, n.out, n.errOut)
}

// stop ends the node and returns its exit code.
func (n *testNode) stop() int {
	n.t.Helper()
	n.cancel()
	select {
	case code := <-n.done:
		n.done <- code
		return code
	case <-time.After(60 * time.Second):
		n.t.Fatalf("minato did not stop within 60 s\nstderr:\n%s", n.errOut)
		return -1
	}
}
