package execsession

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/minato-project/minato/internal/agentproto"
)

// agentConn is an agent's end of one session; done closes when the session
// is over with it.
type agentConn struct {
	ws   *websocket.Conn
	done chan struct{}
}

func (m *Manager) agentAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || m.cfg.AgentToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(m.cfg.AgentToken)) != 1 {
			http.Error(w, `{"error":"invalid agent token"}`, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// serveWait is an agent's exec long poll: it answers with the sessions
// waiting for the instance, at once when there are some, else when one
// comes or the poll times out.
func (m *Manager) serveWait(w http.ResponseWriter, r *http.Request) {
	inst := r.URL.Query().Get("instance")
	if inst == "" {
		http.Error(w, `{"error":"instance is required"}`, http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.PollTimeout)
	defer cancel()
	var out agentproto.ExecWaitResponse
	for {
		m.mu.Lock()
		out.Sessions = m.pending[inst]
		delete(m.pending, inst)
		var ring chan struct{}
		if len(out.Sessions) == 0 {
			ring = m.wake[inst]
			if ring == nil {
				ring = make(chan struct{})
				m.wake[inst] = ring
			}
		}
		m.mu.Unlock()
		if ring == nil {
			break
		}
		select {
		case <-ring:
			continue
		case <-ctx.Done():
		}
		break
	}
	if r.Context().Err() != nil && len(out.Sessions) > 0 {
		// The agent went away: the sessions wait for its next poll.
		m.mu.Lock()
		m.pending[inst] = append(out.Sessions, m.pending[inst]...)
		m.mu.Unlock()
		return
	}
	if out.Sessions == nil {
		out.Sessions = []agentproto.ExecRequest{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// serveAttach is an agent's WebSocket for one session: it is handed to the
// stream waiting for it, and held until the session is over.
func (m *Manager) serveAttach(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("session")
	m.mu.Lock()
	ch := m.attach[id]
	delete(m.attach, id)
	m.mu.Unlock()
	if ch == nil {
		http.Error(w, `{"error":"no session waits for this agent"}`, http.StatusNotFound)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	ac := &agentConn{ws: ws, done: make(chan struct{})}
	ch <- ac
	select {
	case <-ac.done:
	case <-r.Context().Done():
	}
}
