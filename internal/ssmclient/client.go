// Package ssmclient is a client of the SSM session-manager data channel, as
// the AWS session-manager-plugin is one: it opens a session's stream URL
// with its token, answers the handshake, acknowledges what it receives (in
// order, with the plugin's sequence bookkeeping from internal/ssmproto),
// sends keyboard input and terminal sizes, and resends what the other side
// has not acknowledged. `minato exec` runs sessions through it, and the
// tests drive minato's stream with it.
package ssmclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/minato-project/minato/internal/ssmproto"
)

// Options configure a session.
type Options struct {
	// Output receives the terminal's output (nil: discarded).
	Output io.Writer
	// ClientVersion is sent in the open handshake and the handshake
	// response; one starting "minato" also gets the command's exit code.
	// Default "minato-exec/1".
	ClientVersion string
	// HTTPClient dials the stream (nil: http.DefaultClient).
	HTTPClient *http.Client
}

// Session is an open session.
type Session struct {
	ws  *websocket.Conn
	opt Options
	id  string

	sendMu sync.Mutex
	mu     sync.Mutex
	out    ssmproto.Outbox
	in     ssmproto.Inbox
	space  chan struct{}

	ready    chan struct{} // the handshake completed
	done     chan struct{} // the channel closed
	once     sync.Once
	exitCode *int
	closedAs string // channel_closed's Output
	err      error
}

// Dial opens a stream URL with a session's token and starts the session;
// the handshake runs in the background (Ready).
func Dial(ctx context.Context, sessionID, streamURL, token string, opt Options) (*Session, error) {
	if opt.ClientVersion == "" {
		opt.ClientVersion = "minato-exec/1"
	}
	if opt.Output == nil {
		opt.Output = io.Discard
	}
	ws, _, err := websocket.Dial(ctx, streamURL, &websocket.DialOptions{HTTPClient: opt.HTTPClient})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(ssmproto.MaxPayload + 1024)
	open, _ := json.Marshal(ssmproto.OpenDataChannelInput{MessageSchemaVersion: ssmproto.SchemaVersion,
		RequestID: ssmproto.NewUUID().String(), TokenValue: token, ClientID: ssmproto.NewUUID().String(), ClientVersion: opt.ClientVersion})
	if err := ws.Write(ctx, websocket.MessageText, open); err != nil {
		ws.CloseNow()
		return nil, err
	}
	s := &Session{ws: ws, opt: opt, id: sessionID, space: make(chan struct{}, 1), ready: make(chan struct{}), done: make(chan struct{})}
	s.out.Timeout = time.Second
	go s.read()
	go s.resend()
	return s, nil
}

// Ready is closed once the handshake completed.
func (s *Session) Ready() <-chan struct{} { return s.ready }

// Done is closed once the session is over.
func (s *Session) Done() <-chan struct{} { return s.done }

// Result returns, once Done, the command's exit code (when the other side
// sent one), the channel_closed message's output, and the error that ended
// the connection, if it did not close cleanly.
func (s *Session) Result() (exitCode *int, closed string, err error) {
	<-s.done
	return s.exitCode, s.closedAs, s.err
}

// Wait waits for the session to end and returns its exit code (-1 when it
// sent none).
func (s *Session) Wait(ctx context.Context) (int, error) {
	select {
	case <-s.done:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	if s.err != nil {
		return -1, s.err
	}
	if s.exitCode == nil {
		return -1, nil
	}
	return *s.exitCode, nil
}

// Send types input into the session's terminal.
func (s *Session) Send(ctx context.Context, input []byte) error {
	for len(input) > 0 {
		n := min(len(input), 1024) // the plugin's StdinBufferLimit
		if err := s.send(ctx, ssmproto.Output, input[:n]); err != nil {
			return err
		}
		input = input[n:]
	}
	return nil
}

// Resize tells the session the terminal's size.
func (s *Session) Resize(ctx context.Context, cols, rows int) error {
	b, _ := json.Marshal(ssmproto.SizeData{Cols: uint32(cols), Rows: uint32(rows)})
	return s.send(ctx, ssmproto.Size, b)
}

// Terminate asks the other side to end the session (the TerminateSession
// flag).
func (s *Session) Terminate(ctx context.Context) error {
	return s.send(ctx, ssmproto.Flag, ssmproto.FlagPayload(ssmproto.TerminateSession))
}

// Close closes the connection.
func (s *Session) Close() error {
	s.end(nil)
	return s.ws.CloseNow()
}

func (s *Session) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

func (s *Session) send(ctx context.Context, pt ssmproto.PayloadType, payload []byte) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for {
		s.mu.Lock()
		full := s.out.Full()
		s.mu.Unlock()
		if !full {
			break
		}
		select {
		case <-s.space:
		case <-s.done:
			return errors.New("session closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	wire, err := ssmproto.Encode(ssmproto.Stream(ssmproto.InputStreamData, s.out.Next(), pt, payload))
	if err == nil {
		s.out.Add(wire, time.Now())
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.ws.Write(ctx, websocket.MessageBinary, wire)
}

func (s *Session) resend() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.mu.Lock()
			due := s.out.Due(now)
			s.mu.Unlock()
			for _, b := range due {
				s.ws.Write(context.Background(), websocket.MessageBinary, b)
			}
		}
	}
}

func (s *Session) read() {
	ctx := context.Background()
	for {
		typ, b, err := s.ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				err = nil
			}
			s.end(err)
			return
		}
		if typ != websocket.MessageBinary {
			continue
		}
		m, err := ssmproto.Decode(b)
		if err != nil {
			continue // the plugin drops what it cannot validate
		}
		switch m.Type {
		case ssmproto.Acknowledge:
			var a ssmproto.AcknowledgeContent
			if json.Unmarshal(m.Payload, &a) == nil {
				s.mu.Lock()
				s.out.Ack(a.SequenceNumber)
				s.mu.Unlock()
				select {
				case s.space <- struct{}{}:
				default:
				}
			}
		case ssmproto.ChannelClosed:
			var c ssmproto.ChannelClosedPayload
			json.Unmarshal(m.Payload, &c)
			s.closedAs = c.Output
			s.end(nil)
			s.ws.Close(websocket.StatusNormalClosure, "")
			return
		case ssmproto.OutputStreamData:
			s.mu.Lock()
			deliver, ack := s.in.Receive(m)
			s.mu.Unlock()
			if ack {
				ab, _ := ssmproto.Encode(ssmproto.Ack(m))
				s.ws.Write(ctx, websocket.MessageBinary, ab)
			}
			for _, d := range deliver {
				s.deliver(ctx, d)
			}
		}
	}
}

func (s *Session) deliver(ctx context.Context, m ssmproto.Message) {
	switch m.PayloadType {
	case ssmproto.HandshakeRequest:
		var req ssmproto.HandshakeRequestPayload
		json.Unmarshal(m.Payload, &req)
		resp := ssmproto.HandshakeResponsePayload{ClientVersion: s.opt.ClientVersion, ProcessedClientActions: []ssmproto.ProcessedClientAction{}}
		for _, a := range req.RequestedClientActions {
			p := ssmproto.ProcessedClientAction{ActionType: a.ActionType, ActionStatus: ssmproto.ActionSuccess}
			if a.ActionType != ssmproto.ActionSessionType {
				p.ActionStatus = ssmproto.ActionUnsupported
				p.Error = "Unsupported action " + a.ActionType
				resp.Errors = append(resp.Errors, p.Error)
			}
			resp.ProcessedClientActions = append(resp.ProcessedClientActions, p)
		}
		b, _ := json.Marshal(resp)
		go s.send(ctx, ssmproto.HandshakeResponse, b)
	case ssmproto.HandshakeComplete:
		select {
		case <-s.ready:
		default:
			close(s.ready)
		}
	case ssmproto.Output, ssmproto.StdErr:
		s.opt.Output.Write(m.Payload)
	case ssmproto.ExitCode:
		if n, err := strconv.Atoi(string(m.Payload)); err == nil {
			s.exitCode = &n
		}
	}
}
