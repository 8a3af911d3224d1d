package execsession_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/execsession"
	"github.com/minato-project/minato/internal/ssmclient"
)

// fakeAgent answers exec polls for one instance: each session echoes its
// input back upper-cased until it reads "exit N", then exits with N; it
// first writes size bytes of output when the command is ["big", size].
func fakeAgent(t *testing.T, ctx context.Context, srv *httptest.Server, token string) {
	t.Helper()
	go func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+agentproto.PathExecWait+"?instance=i-1", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			var out agentproto.ExecWaitResponse
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			for _, s := range out.Sessions {
				go runFake(ctx, srv, token, s)
			}
		}
	}()
}

func runFake(ctx context.Context, srv *httptest.Server, token string, s agentproto.ExecRequest) {
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + agentproto.PathExecAttach + "?session=" + s.SessionID
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	if len(s.Command) == 2 && s.Command[0] == "big" {
		var n int
		json.Unmarshal([]byte(s.Command[1]), &n)
		// 32 KiB frames, as the agent reads a TTY.
		frame := append([]byte{agentproto.ExecOutput}, bytes.Repeat(append(bytes.Repeat([]byte("x"), 127), '\n'), 256)...)
		for sent := 0; sent < n; sent += len(frame) - 1 {
			ws.Write(ctx, websocket.MessageBinary, frame)
		}
		ws.Write(ctx, websocket.MessageBinary, append([]byte{agentproto.ExecExit}, `{"exitCode":0}`...))
		return
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil || b[0] == agentproto.ExecClose {
			return
		}
		if b[0] != agentproto.ExecInput {
			continue
		}
		in := string(b[1:])
		if code, ok := strings.CutPrefix(strings.TrimSpace(in), "exit "); ok {
			ws.Write(ctx, websocket.MessageBinary, append([]byte{agentproto.ExecExit}, `{"exitCode":`+code+`}`...))
			return
		}
		ws.Write(ctx, websocket.MessageBinary, append([]byte{agentproto.ExecOutput}, strings.ToUpper(in)...))
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time                  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration)         { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func setup(t *testing.T) (*execsession.Manager, *httptest.Server, *clock) {
	ck := &clock{now: time.Now()}
	m := execsession.New(execsession.Config{AgentToken: "agent-token", Clock: ck, TokenTTL: time.Minute, PollTimeout: 2 * time.Second})
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fakeAgent(t, ctx, srv, "agent-token")
	return m, srv, ck
}

func streamURL(srv *httptest.Server, id string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + execsession.PathStream + id
}

func TestEchoAndExitCode(t *testing.T) {
	m, srv, _ := setup(t)
	s := m.Open(execsession.Request{Who: "me", Cluster: "c", TaskID: "t1", Instance: "i-1", Container: "app", Command: []string{"/bin/sh"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out syncBuf
	sess, err := ssmclient.Dial(ctx, s.ID, streamURL(srv, s.ID), s.Token, ssmclient.Options{Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	<-sess.Ready()
	sess.Resize(ctx, 80, 24)
	sess.Send(ctx, []byte("hello\n"))
	for !strings.Contains(out.String(), "HELLO") {
		select {
		case <-ctx.Done():
			t.Fatalf("no echo; output %q", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	sess.Send(ctx, []byte("exit 3\n"))
	code, err := sess.Wait(ctx)
	if err != nil || code != 3 {
		t.Fatalf("exit %d, %v", code, err)
	}
}

func TestLargeOutput(t *testing.T) {
	m, srv, _ := setup(t)
	const size = 10 << 20
	s := m.Open(execsession.Request{Cluster: "c", TaskID: "t1", Instance: "i-1", Container: "app", Command: []string{"big", "10485760"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out syncBuf
	sess, err := ssmclient.Dial(ctx, s.ID, streamURL(srv, s.ID), s.Token, ssmclient.Options{Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	code, err := sess.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if n := len(out.String()); n != size {
		t.Fatalf("got %d bytes of output, want %d", n, size)
	}
}

func TestTokensRefused(t *testing.T) {
	m, srv, ck := setup(t)
	a := m.Open(execsession.Request{Cluster: "c", TaskID: "t1", Instance: "i-1", Container: "app", Command: []string{"sh"}})
	b := m.Open(execsession.Request{Cluster: "c", TaskID: "t2", Instance: "i-1", Container: "app", Command: []string{"sh"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refused := func(name, id, token, want string) {
		t.Helper()
		sess, err := ssmclient.Dial(ctx, id, streamURL(srv, id), token, ssmclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, closed, _ := sess.Result()
		if !strings.Contains(closed, want) {
			t.Errorf("%s: closed with %q, want %q", name, closed, want)
		}
		select {
		case <-sess.Ready():
			t.Errorf("%s: the handshake ran", name)
		default:
		}
	}
	refused("another session's token", b.ID, a.Token, "not valid")
	refused("a forged token", a.ID, a.Token+"x", "not valid")
	ck.advance(2 * time.Minute)
	refused("an expired token", a.ID, a.Token, "expired")
	// ResumeSession issues a fresh token.
	tok, err := m.Resume(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ssmclient.Dial(ctx, a.ID, streamURL(srv, a.ID), tok, ssmclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-sess.Ready()
	if err := m.Terminate(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, closed, _ := sess.Result(); !strings.Contains(closed, "terminated") {
		t.Errorf("terminated session closed with %q", closed)
	}
}
