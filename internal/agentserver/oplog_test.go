package agentserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An agent that drops its long poll (it stopped, or its connection broke)
// is logged at INFO as a disconnected container instance.
func TestDisconnectIsLogged(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, _ := state.Encode(clusterStatus{Status: "ACTIVE"})
	if _, err := st.Txn(ctx, nil, []store.Op{store.Put(state.ClusterKey("default"), b)}); err != nil {
		t.Fatal(err)
	}
	clock := &manualClock{t: time.Unix(1_800_000_000, 0)}
	agents := liveness.New(clock, time.Minute)
	logs := &lockedBuffer{}
	srv := New(Config{Store: st, Agents: agents, Clock: clock, Token: "tok", PollTimeout: 10 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	call := func(ctx context.Context, method, path string, in, out any) error {
		var body bytes.Buffer
		if in != nil {
			json.NewEncoder(&body).Encode(in)
		}
		req, _ := http.NewRequestWithContext(ctx, method, hs.URL+path, &body)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var reg agentproto.RegisterResponse
	if err := call(ctx, "POST", agentproto.PathRegister, agentproto.RegisterRequest{Cluster: "default",
		Resources: agentproto.Resources{CPU: 1024, MemoryMiB: 1024}}, &reg); err != nil {
		t.Fatal(err)
	}
	poll := func(ctx context.Context, since int64) (agentproto.PollResponse, error) {
		var out agentproto.PollResponse
		q := url.Values{"cluster": {"default"}, "instance": {reg.InstanceID}, "since": {fmt.Sprint(since)}}
		return out, call(ctx, "GET", agentproto.PathPoll+"?"+q.Encode(), nil, &out)
	}
	first, err := poll(ctx, 0) // answered at once
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "disconnected") {
		t.Fatalf("an answered poll was logged as a disconnect:\n%s", logs)
	}
	// Silence past the liveness timeout: the agent is connected again only
	// while its next poll is open.
	clock.advance(2 * time.Minute)
	if agents.Connected(reg.InstanceID) {
		t.Fatal("connected after 2 minutes of silence")
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := poll(pctx, first.Revision); done <- err }()
	deadline := time.Now().Add(30 * time.Second)
	for !agents.Connected(reg.InstanceID) {
		if time.Now().After(deadline) {
			t.Fatal("the second poll never reached the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // the agent goes away mid-poll
	<-done
	want := fmt.Sprintf(`msg="container instance disconnected" cluster=default instance=%s`, reg.InstanceID)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
