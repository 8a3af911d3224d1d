package execsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/ssmproto"
)

// AgentVersion is what the handshake request names as the agent's version.
const AgentVersion = "3.3.0.0-minato"

// chunk bounds the output payload of one stream message.
const chunk = 4096

// serveStream serves a stream URL: the open handshake with the token, the
// SSM handshake, then the session's terminal both ways.
func (m *Manager) serveStream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(ssmproto.MaxPayload + 1024)
	ctx := r.Context()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	typ, b, err := ws.Read(octx)
	cancel()
	if err != nil {
		return
	}
	var open ssmproto.OpenDataChannelInput
	if typ != websocket.MessageText || json.Unmarshal(b, &open) != nil {
		refuse(ctx, ws, id, "the stream expects an OpenDataChannelInput text message first")
		return
	}
	c, err := verify(m.cfg.Secret, open.TokenValue, m.cfg.Clock.Now())
	if err == nil && c.SessionID != id {
		err = ErrTokenInvalid
	}
	if err != nil {
		m.audit.Warn("exec stream refused", "session", id, "err", err, "remote", r.RemoteAddr)
		refuse(ctx, ws, id, err.Error())
		return
	}
	sctx, scancel := context.WithTimeout(ctx, m.cfg.MaxDuration)
	defer scancel()
	m.mu.Lock()
	s := m.sessions[id]
	if s == nil {
		s = &session{claims: c}
		m.sessions[id] = s
	}
	busy, over := s.cancel != nil, s.terminated
	if !busy && !over {
		s.cancel = scancel
	}
	m.mu.Unlock()
	switch {
	case over:
		refuse(ctx, ws, id, "the session was terminated")
		return
	case busy:
		refuse(ctx, ws, id, "the session is connected already")
		return
	}
	defer func() {
		m.mu.Lock()
		s.cancel = nil
		s.terminated = true // a session runs its command once
		m.mu.Unlock()
	}()
	if m.cfg.Check != nil {
		if err := m.cfg.Check(ctx, c); err != nil {
			m.audit.Warn("exec stream refused", "session", id, "task", c.TaskID, "err", err)
			refuse(ctx, ws, id, err.Error())
			return
		}
	}
	m.audit.Info("exec session connected", "session", id, "who", c.Who, "cluster", c.Cluster, "task", c.TaskID,
		"container", c.Container, "command", c.Command, "client", open.ClientVersion, "at", m.cfg.Clock.Now().UTC())
	ch := &channel{m: m, c: c, ws: ws, log: m.log.With("session", id), space: make(chan struct{}, 1),
		shaken: make(chan struct{}), attached: make(chan struct{}), clientGone: make(chan struct{}), lastInput: time.Now()}
	ch.out.Timeout = time.Second
	res, reason := ch.run(sctx)
	m.audit.Info("exec session ended", "session", id, "task", c.TaskID, "exitCode", res.ExitCode, "reason", reason,
		"at", m.cfg.Clock.Now().UTC())
}

// refuse closes a stream that may not run: a channel_closed message saying
// why (the plugin prints it), then the close handshake.
func refuse(ctx context.Context, ws *websocket.Conn, id, why string) {
	closed(ctx, ws, id, why)
	ws.Close(websocket.StatusPolicyViolation, trim(why))
}

func trim(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// closed sends a channel_closed message.
func closed(ctx context.Context, ws *websocket.Conn, id, output string) {
	p, _ := json.Marshal(ssmproto.ChannelClosedPayload{MessageID: ssmproto.NewUUID().String(), CreatedDate: time.Now().UTC().Format(time.RFC3339),
		SessionID: id, MessageType: ssmproto.ChannelClosed, SchemaVersion: 1, Output: output})
	b, _ := ssmproto.Encode(ssmproto.Message{Type: ssmproto.ChannelClosed, SchemaVersion: 1, Payload: p})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws.Write(wctx, websocket.MessageBinary, b)
}

// channel is one connected session.
type channel struct {
	m   *Manager
	c   Claims
	ws  *websocket.Conn
	log *slog.Logger

	sendMu sync.Mutex // orders sequenced sends

	mu            sync.Mutex
	out           ssmproto.Outbox
	in            ssmproto.Inbox
	clientVersion string
	lastInput     time.Time
	agent         *agentConn

	space      chan struct{} // an acknowledgement came
	shaken     chan struct{} // the handshake response came
	attached   chan struct{} // agent is set
	clientGone chan struct{}
}

// run runs the session until the command exits, the client goes, or ctx
// ends; it returns the command's result and why it ended.
func (ch *channel) run(end context.Context) (agentproto.ExecResult, string) {
	// I/O runs on its own context: coder/websocket closes a connection
	// whose read or write context ends, and a terminated session still
	// says why before it closes.
	ctx, cancel := context.WithCancel(context.WithoutCancel(end))
	defer cancel()
	res := agentproto.ExecResult{ExitCode: -1}
	attach := ch.m.request(ch.c, 0, 0)
	defer ch.m.forget(ch.c)
	go ch.readClient(ctx)
	go ch.resend(ctx)
	// The handshake: which kind of session this is.
	params, _ := json.Marshal(ssmproto.SessionTypeRequest{SessionType: ssmproto.SessionTypeInteractive, Properties: map[string]any{}})
	hr, _ := json.Marshal(ssmproto.HandshakeRequestPayload{AgentVersion: AgentVersion,
		RequestedClientActions: []ssmproto.RequestedClientAction{{ActionType: ssmproto.ActionSessionType, ActionParameters: params}}})
	start := time.Now()
	if err := ch.send(ctx, ssmproto.HandshakeRequest, hr); err != nil {
		return res, "client gone"
	}
	select {
	case <-ch.shaken:
	case <-ch.clientGone:
		return res, "client gone"
	case <-end.Done():
		return res, ch.ended(ctx, end)
	case <-time.After(30 * time.Second):
		closed(ctx, ch.ws, ch.c.SessionID, "no handshake response")
		return res, "no handshake response"
	}
	hc, _ := json.Marshal(ssmproto.HandshakeCompletePayload{HandshakeTimeToComplete: time.Since(start)})
	if err := ch.send(ctx, ssmproto.HandshakeComplete, hc); err != nil {
		return res, "client gone"
	}
	var ag *agentConn
	select {
	case ag = <-attach:
	case <-ch.clientGone:
		return res, "client gone"
	case <-end.Done():
		return res, ch.ended(ctx, end)
	case <-time.After(ch.m.cfg.AttachTimeout):
		closed(ctx, ch.ws, ch.c.SessionID, "the container's agent did not attach in time")
		ch.ws.Close(websocket.StatusNormalClosure, "")
		return res, "agent did not attach"
	}
	defer close(ag.done)
	defer ag.ws.CloseNow()
	ch.mu.Lock()
	ch.agent = ag
	ch.mu.Unlock()
	close(ch.attached)
	result := make(chan agentproto.ExecResult, 1)
	go ch.readAgent(ctx, ag, result)
	idle := time.NewTicker(time.Minute)
	defer idle.Stop()
	for {
		select {
		case res = <-result:
			ch.finish(ctx, res)
			return res, "exited"
		case <-ch.clientGone:
			ch.toAgent(ctx, agentproto.ExecClose, nil)
			return res, "client gone"
		case <-end.Done():
			ch.toAgent(ctx, agentproto.ExecClose, nil)
			return res, ch.ended(ctx, end)
		case <-idle.C:
			ch.mu.Lock()
			last := ch.lastInput
			ch.mu.Unlock()
			if time.Since(last) >= ch.m.cfg.IdleTimeout {
				ch.toAgent(ctx, agentproto.ExecClose, nil)
				closed(ctx, ch.ws, ch.c.SessionID, "the session was idle for too long")
				ch.ws.Close(websocket.StatusNormalClosure, "")
				return res, "idle"
			}
		}
	}
}

// ended closes the stream of a session terminated, or past its maximum
// duration, saying so.
func (ch *channel) ended(ctx context.Context, end context.Context) string {
	why := "the session was terminated"
	if errors.Is(end.Err(), context.DeadlineExceeded) {
		why = "the session reached its maximum duration"
	}
	closed(ctx, ch.ws, ch.c.SessionID, why)
	ch.ws.Close(websocket.StatusNormalClosure, "")
	return why
}

// finish ends a session whose command exited: once the client has every
// output message, a minato client gets the exit code, then the channel
// closes.
func (ch *channel) finish(ctx context.Context, res agentproto.ExecResult) {
	ch.drain(ctx, 30*time.Second)
	ch.mu.Lock()
	minato := strings.HasPrefix(ch.clientVersion, "minato")
	ch.mu.Unlock()
	if res.Error != "" {
		ch.send(ctx, ssmproto.Output, []byte("\r\n"+res.Error+"\r\n"))
	}
	if minato {
		ch.send(ctx, ssmproto.ExitCode, []byte(strconv.Itoa(res.ExitCode)))
	}
	ch.drain(ctx, 10*time.Second)
	closed(ctx, ch.ws, ch.c.SessionID, "")
	ch.ws.Close(websocket.StatusNormalClosure, "")
}

// drain waits until every sequenced message was acknowledged.
func (ch *channel) drain(ctx context.Context, limit time.Duration) {
	deadline := time.After(limit)
	for {
		ch.mu.Lock()
		n := ch.out.Pending()
		ch.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ch.space:
		case <-deadline:
			return
		case <-ch.clientGone:
			return
		case <-ctx.Done():
			return
		}
	}
}

// send sends a sequenced output_stream_data message, waiting while too
// many are unacknowledged.
func (ch *channel) send(ctx context.Context, pt ssmproto.PayloadType, payload []byte) error {
	ch.sendMu.Lock()
	defer ch.sendMu.Unlock()
	for {
		ch.mu.Lock()
		full := ch.out.Full()
		ch.mu.Unlock()
		if !full {
			break
		}
		select {
		case <-ch.space:
		case <-ch.clientGone:
			return errors.New("client gone")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch.mu.Lock()
	wire, err := ssmproto.Encode(ssmproto.Stream(ssmproto.OutputStreamData, ch.out.Next(), pt, payload))
	if err != nil {
		ch.mu.Unlock()
		return err
	}
	ch.out.Add(wire, time.Now())
	ch.mu.Unlock()
	return ch.ws.Write(ctx, websocket.MessageBinary, wire)
}

// resend sends again what the client has not acknowledged in time.
func (ch *channel) resend(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch.clientGone:
			return
		case now := <-t.C:
			ch.mu.Lock()
			due := ch.out.Due(now)
			ch.mu.Unlock()
			for _, b := range due {
				if ch.ws.Write(ctx, websocket.MessageBinary, b) != nil {
					return
				}
			}
		}
	}
}

// readClient handles what the client sends: acknowledgements, its
// handshake response, input, terminal sizes and flags.
func (ch *channel) readClient(ctx context.Context) {
	defer close(ch.clientGone)
	for {
		typ, b, err := ch.ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageBinary {
			continue
		}
		msg, err := ssmproto.Decode(b)
		if err != nil {
			ch.log.Debug("exec: dropped a malformed message", "err", err)
			continue
		}
		switch msg.Type {
		case ssmproto.Acknowledge:
			var a ssmproto.AcknowledgeContent
			if json.Unmarshal(msg.Payload, &a) == nil {
				ch.mu.Lock()
				ch.out.Ack(a.SequenceNumber)
				ch.mu.Unlock()
				select {
				case ch.space <- struct{}{}:
				default:
				}
			}
		case ssmproto.InputStreamData:
			ch.mu.Lock()
			deliver, ack := ch.in.Receive(msg)
			ch.mu.Unlock()
			if ack {
				ab, _ := ssmproto.Encode(ssmproto.Ack(msg))
				if ch.ws.Write(ctx, websocket.MessageBinary, ab) != nil {
					return
				}
			}
			for _, d := range deliver {
				if !ch.input(ctx, d) {
					return
				}
			}
		}
	}
}

// input acts on one in-order input message; false ends the session.
func (ch *channel) input(ctx context.Context, d ssmproto.Message) bool {
	switch d.PayloadType {
	case ssmproto.HandshakeResponse:
		var hr ssmproto.HandshakeResponsePayload
		json.Unmarshal(d.Payload, &hr)
		ch.mu.Lock()
		first := ch.clientVersion == ""
		ch.clientVersion = hr.ClientVersion
		if ch.clientVersion == "" {
			ch.clientVersion = "unknown"
		}
		ch.mu.Unlock()
		if first {
			close(ch.shaken)
		}
	case ssmproto.Output:
		ch.mu.Lock()
		ch.lastInput = time.Now()
		ch.mu.Unlock()
		return ch.toAgent(ctx, agentproto.ExecInput, d.Payload)
	case ssmproto.Size:
		var sz ssmproto.SizeData
		if json.Unmarshal(d.Payload, &sz) == nil && sz.Cols > 0 && sz.Rows > 0 {
			b, _ := json.Marshal(agentproto.ExecSize{Cols: uint(sz.Cols), Rows: uint(sz.Rows)})
			return ch.toAgent(ctx, agentproto.ExecResize, b)
		}
	case ssmproto.Flag:
		if f, err := ssmproto.ParseFlag(d.Payload); err == nil && f == ssmproto.TerminateSession {
			return false
		}
	}
	return true
}

// toAgent sends a frame to the agent once it has attached.
func (ch *channel) toAgent(ctx context.Context, kind byte, data []byte) bool {
	select {
	case <-ch.attached:
	case <-ctx.Done():
		return false
	}
	ch.mu.Lock()
	ag := ch.agent
	ch.mu.Unlock()
	return ag.ws.Write(ctx, websocket.MessageBinary, append([]byte{kind}, data...)) == nil
}

// readAgent relays the agent's output to the client and hands over the
// command's result.
func (ch *channel) readAgent(ctx context.Context, ag *agentConn, result chan<- agentproto.ExecResult) {
	for {
		_, b, err := ag.ws.Read(ctx)
		if err != nil || len(b) == 0 {
			if ctx.Err() == nil {
				result <- agentproto.ExecResult{ExitCode: -1, Error: fmt.Sprintf("the agent's connection was lost: %v", err)}
			}
			return
		}
		switch b[0] {
		case agentproto.ExecOutput:
			for p := b[1:]; len(p) > 0; {
				n := min(len(p), chunk)
				if ch.send(ctx, ssmproto.Output, p[:n]) != nil {
					return
				}
				p = p[n:]
			}
		case agentproto.ExecExit:
			var res agentproto.ExecResult
			if err := json.Unmarshal(b[1:], &res); err != nil {
				res = agentproto.ExecResult{ExitCode: -1, Error: "malformed exit from the agent"}
			}
			result <- res
			return
		}
	}
}
