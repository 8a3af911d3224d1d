package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/testutil"
)

// Tests run in parallel, each with its own minato processes on the one
// Docker engine, so each gets host ports of its own: a block of
// blockSize ports below the kernel's ephemeral range (32768-60999 on
// Linux), where no client socket of the machine takes one by chance and
// no other test binary has it. A block is held with an flock in
// os.TempDir() for the test's life, so test binaries of other packages
// and worktrees that use this scheme never share one.
const (
	portsFrom = 20000
	portsTo   = 31999 // inclusive
	blockSize = 100
	nBlocks   = (portsTo - portsFrom + 1) / blockSize
)

// portBlock is one test's range of host ports. Port 0 is for the API, a
// few after it for load balancer listeners, and the rest are the dynamic
// host ports of one agent.
type portBlock struct {
	base int
	mu   sync.Mutex
	next int // next listener port, relative to base
}

const (
	listenerPorts = 9 // base+1 .. base+9
	dynamicFirst  = 1 + listenerPorts
)

// reservePorts takes a free block for the rest of the test.
func reservePorts(t *testing.T) *portBlock {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "minato-e2e-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		start := rand.IntN(nBlocks)
		for i := range nBlocks {
			b := (start + i) % nBlocks
			unlock, ok, err := testutil.TryLockFile(filepath.Join(dir, fmt.Sprintf("%d.lock", b)))
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				t.Cleanup(unlock)
				return &portBlock{base: portsFrom + b*blockSize, next: 1}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no free block of host ports in %d-%d", portsFrom, portsTo)
		}
		time.Sleep(100 * time.Millisecond) // every block is held: wait for a test to end
	}
}

// apiAddr is the address of the API listener.
func (p *portBlock) apiAddr() string { return fmt.Sprintf("127.0.0.1:%d", p.base) }

// listenerPort hands out the next port for a load balancer listener.
func (p *portBlock) listenerPort(t *testing.T) int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next > listenerPorts {
		t.Fatalf("a test may have %d listener ports", listenerPorts)
	}
	p.next++
	return p.base + p.next - 1
}

// dynamicPorts is the value of --dynamic-ports for the block's agent.
func (p *portBlock) dynamicPorts() string {
	return fmt.Sprintf("%d-%d", p.base+dynamicFirst, p.base+blockSize-1)
}

// agentPorts reserves a block for one more agent of a test and returns
// its --dynamic-ports.
func agentPorts(t *testing.T) string {
	t.Helper()
	return reservePorts(t).dynamicPorts()
}
