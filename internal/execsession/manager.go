// Package execsession serves ECS Exec sessions: it issues the session
// tokens ExecuteCommand returns, serves the stream URL the
// session-manager-plugin (or `minato exec`) opens with the SSM data channel
// protocol (internal/ssmproto), asks the task's host agent to run the
// command, and relays the terminal between the two. SSM TerminateSession and
// ResumeSession act on its sessions.
//
//	client ──ws, ssmproto──► Manager (stream URL) ◄──ws, agentproto exec frames── agent ──Docker exec (TTY)──► container
//
// A token is an HMAC-signed grant of one command in one container of one
// task, valid for TokenTTL: the stream refuses a token of another session,
// an expired one, or one whose task no longer runs. Every session is logged
// (who, cluster, task, container, command, when) on the audit logger.
package execsession

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// PathStream is the prefix of stream URLs; the session ID follows.
const PathStream = "/minato/ssm/data-channel/"

// Config says how to serve sessions.
type Config struct {
	// Secret keys the session tokens; every control-plane node that is to
	// accept a token needs the same.
	Secret []byte
	// AgentToken is the join token agents present on the exec paths.
	AgentToken string
	Clock      core.Clock
	Logger     *slog.Logger
	// Audit receives one record per session opened and ended; default
	// Logger.
	Audit *slog.Logger
	// Check says whether a session's task still runs the container on its
	// instance; the stream is refused otherwise. Nil: not checked.
	Check func(ctx context.Context, c Claims) error
	// TokenTTL is how long a token may be used to open (or resume) the
	// stream; default 10 minutes.
	TokenTTL time.Duration
	// IdleTimeout ends a session without input for that long (ECS: 20
	// minutes); MaxDuration ends any session (default 24 hours).
	IdleTimeout, MaxDuration time.Duration
	// AttachTimeout bounds the wait for the agent to attach; default 30s.
	AttachTimeout time.Duration
	// PollTimeout bounds an agent's exec long poll; default
	// agentproto.PollTimeout.
	PollTimeout time.Duration
}

// Manager serves sessions on one control-plane node.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	audit *slog.Logger

	mu       sync.Mutex
	pending  map[string][]agentproto.ExecRequest // by instance
	wake     map[string]chan struct{}            // by instance: rung when pending grows
	attach   map[string]chan *agentConn          // by session: the agent's connection
	sessions map[string]*session                 // issued on this node, by ID
}

type session struct {
	claims     Claims
	terminated bool
	cancel     context.CancelFunc // of the live stream, if any
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Audit == nil {
		cfg.Audit = cfg.Logger
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 10 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 20 * time.Minute
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = 24 * time.Hour
	}
	if cfg.AttachTimeout == 0 {
		cfg.AttachTimeout = 30 * time.Second
	}
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = agentproto.PollTimeout
	}
	if len(cfg.Secret) == 0 {
		s := sha256.Sum256([]byte("minato exec session tokens\x00" + cfg.AgentToken))
		cfg.Secret = s[:]
	}
	return &Manager{cfg: cfg, log: cfg.Logger, audit: cfg.Audit,
		pending: map[string][]agentproto.ExecRequest{}, wake: map[string]chan struct{}{},
		attach: map[string]chan *agentConn{}, sessions: map[string]*session{}}
}

// Request is a session ExecuteCommand opens.
type Request struct {
	Who       string // the caller's principal ARN (and access key)
	Cluster   string
	TaskID    string
	Instance  string
	Container string
	Command   []string
}

// Session is what ExecuteCommand returns of a session.
type Session struct {
	ID    string
	Token string
}

// Open issues a session and its token.
func (m *Manager) Open(r Request) Session {
	now := m.cfg.Clock.Now()
	c := Claims{SessionID: "ecs-execute-command-" + core.RandomIDs{}.NewID(), Cluster: r.Cluster, TaskID: r.TaskID,
		Instance: r.Instance, Container: r.Container, Command: r.Command, Who: r.Who, Expires: now.Add(m.cfg.TokenTTL).UnixMilli()}
	m.mu.Lock()
	m.sessions[c.SessionID] = &session{claims: c}
	m.mu.Unlock()
	m.audit.Info("exec session opened", "session", c.SessionID, "who", r.Who, "cluster", r.Cluster, "task", r.TaskID,
		"container", r.Container, "command", r.Command, "at", now.UTC())
	return Session{ID: c.SessionID, Token: sign(m.cfg.Secret, c)}
}

// ErrNoSession: the session is not one this node issued, or it is over.
var ErrNoSession = errors.New("no such session")

// Terminate ends a session: its stream closes and its token is refused.
func (m *Manager) Terminate(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil {
		return ErrNoSession
	}
	s.terminated = true
	if s.cancel != nil {
		s.cancel()
	}
	m.audit.Info("exec session terminated", "session", id, "at", m.cfg.Clock.Now().UTC())
	return nil
}

// Resume returns a new token for a session that is not over.
func (m *Manager) Resume(id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil || s.terminated {
		return "", ErrNoSession
	}
	c := s.claims
	c.Expires = m.cfg.Clock.Now().Add(m.cfg.TokenTTL).UnixMilli()
	return sign(m.cfg.Secret, c), nil
}

// Handler serves the stream URLs (PathStream) and the agents' exec paths.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStream+"{id}", m.serveStream)
	mux.HandleFunc("GET "+agentproto.PathExecWait, m.agentAuth(m.serveWait))
	mux.HandleFunc("GET "+agentproto.PathExecAttach, m.agentAuth(m.serveAttach))
	return mux
}

// request hands a session to its instance's agent and returns the channel
// its connection arrives on.
func (m *Manager) request(c Claims, cols, rows uint) chan *agentConn {
	ch := make(chan *agentConn, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attach[c.SessionID] = ch
	m.pending[c.Instance] = append(m.pending[c.Instance], agentproto.ExecRequest{
		SessionID: c.SessionID, Cluster: c.Cluster, TaskID: c.TaskID, Container: c.Container, Command: c.Command, Cols: cols, Rows: rows})
	if w := m.wake[c.Instance]; w != nil {
		close(w)
		delete(m.wake, c.Instance)
	}
	return ch
}

// forget drops what request left for a session.
func (m *Manager) forget(c Claims) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.attach, c.SessionID)
	q := m.pending[c.Instance]
	for i, r := range q {
		if r.SessionID == c.SessionID {
			m.pending[c.Instance] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
}

// StoreCheck is a Config.Check that reads the task from st: the session's
// task must still be RUNNING (and meant to) on the session's instance.
func StoreCheck(st store.Store) func(ctx context.Context, c Claims) error {
	return func(ctx context.Context, c Claims) error {
		it, err := state.Get[state.Task](ctx, st, state.TaskKey(c.Cluster, c.TaskID))
		if state.IsNotFound(err) {
			return errors.New("the session's task no longer exists")
		}
		if err != nil {
			return err
		}
		t := it.Value
		if t.Task.LastStatus != "RUNNING" || t.Task.DesiredStatus != "RUNNING" || t.InstanceID != c.Instance {
			return errors.New("the session's task is not running")
		}
		return nil
	}
}
