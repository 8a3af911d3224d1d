package agent_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime/fake"
	"github.com/minato-project/minato/internal/testutil/minicluster"
)

// An agent whose token the control plane refuses stops at once with an
// error that says what to check, instead of retrying forever.
func TestWrongTokenStopsTheAgent(t *testing.T) {
	h := minicluster.New(t, minicluster.Options{})
	done, _ := startAgent(t, h, agent.Config{Runtime: fake.New(), Token: "wrong"})
	select {
	case err := <-done:
		if !errors.Is(err, agent.ErrTokenRefused) {
			t.Fatalf("Run = %v, want ErrTokenRefused", err)
		}
		for _, want := range []string{"refused the agent token", "--token", "MINATO_AGENT_TOKEN", "agent-token"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error %q does not say %q", err, want)
			}
		}
	case <-time.After(time.Minute):
		t.Fatal("the agent with a wrong token is still running")
	}
}

// syncBuffer is a log destination tests read while the agent writes.
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

// An agent started before its cluster exists waits for it, says so once,
// and registers once the cluster is created.
func TestAgentWaitsForItsCluster(t *testing.T) {
	h := minicluster.New(t, minicluster.Options{})
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	done, ready := startAgent(t, h, agent.Config{Runtime: fake.New(), Cluster: "later", Logger: log})
	const waiting = "waiting for cluster later to be created"
	h.Eventually(time.Minute, "the agent to wait for its cluster", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("the agent stopped: %v", err)
		default:
		}
		return strings.Contains(logs.String(), waiting), logs.String()
	})
	if _, err := h.ECS.CreateCluster(context.Background(), call, &ecstypes.CreateClusterRequest{ClusterName: "later"}); err != nil {
		t.Fatal(err)
	}
	id := waitReady(t, ready, done)
	out, err := h.ECS.ListContainerInstances(context.Background(), call, &ecstypes.ListContainerInstancesRequest{Cluster: "later"})
	if err != nil || len(out.ContainerInstanceArns) != 1 || !strings.HasSuffix(out.ContainerInstanceArns[0], "/"+id) {
		t.Fatalf("ListContainerInstances(later) = %v %+v, want instance %s", err, out, id)
	}
	if n := strings.Count(logs.String(), waiting); n != 1 {
		t.Errorf("%q logged %d times, want once:\n%s", waiting, n, logs.String())
	}
}
