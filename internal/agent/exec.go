package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/minato-project/minato/internal/agentproto"
	rt "github.com/minato-project/minato/internal/runtime"
)

// execLoop long-polls the control plane for ECS Exec sessions to run on this
// host and runs each (runExec) until ctx ends.
func (a *Agent) execLoop(ctx context.Context) {
	ex, ok := a.cfg.Runtime.(rt.Execer)
	if !ok {
		return // this runtime cannot exec
	}
	for attempt := 0; ctx.Err() == nil; {
		var out agentproto.ExecWaitResponse
		q := url.Values{"instance": {a.instance}}
		err := a.client.do(ctx, http.MethodGet, agentproto.PathExecWait+"?"+q.Encode(), nil, &out)
		if err != nil {
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusNotFound {
				return // an older control plane without exec
			}
			if ctx.Err() == nil {
				sleep(ctx, backoff(attempt))
			}
			attempt++
			continue
		}
		attempt = 0
		for _, req := range out.Sessions {
			go a.runExec(ctx, ex, req)
		}
	}
}

// runExec runs one session: the command in the task's container through the
// runtime's exec with a TTY, its terminal relayed over a WebSocket to the
// control plane until the command exits or the control plane closes it.
func (a *Agent) runExec(ctx context.Context, ex rt.Execer, req agentproto.ExecRequest) {
	log := a.log.With("session", req.SessionID, "task", req.TaskID, "container", req.Container)
	base, _ := a.client.server()
	u, err := url.Parse(base)
	if err != nil {
		log.Error("exec: bad server URL", "err", err)
		return
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = agentproto.PathExecAttach
	u.RawQuery = url.Values{"session": {req.SessionID}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, _, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: a.client.http.Transport},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + a.client.token}},
	})
	cancel()
	if err != nil {
		log.Warn("exec: cannot attach to the control plane", "err", err)
		return
	}
	conn.SetReadLimit(1 << 20)
	defer conn.CloseNow()
	finish := func(res agentproto.ExecResult) {
		b, _ := json.Marshal(res)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn.Write(wctx, websocket.MessageBinary, append([]byte{agentproto.ExecExit}, b...))
		conn.Close(websocket.StatusNormalClosure, "")
		cancel()
	}
	id, err := a.execContainer(ctx, req)
	if err != nil {
		finish(agentproto.ExecResult{ExitCode: -1, Error: err.Error()})
		return
	}
	proc, err := ex.Exec(ctx, id, rt.ExecSpec{Cmd: req.Command, Cols: req.Cols, Rows: req.Rows})
	if err != nil {
		finish(agentproto.ExecResult{ExitCode: -1, Error: err.Error()})
		return
	}
	defer proc.Close()
	log.Info("exec session started", "command", strings.Join(req.Command, " "))
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	// Input: the control plane's frames to the process.
	go func() {
		defer stop()
		for {
			_, b, err := conn.Read(sctx)
			if err != nil || len(b) == 0 {
				return
			}
			switch b[0] {
			case agentproto.ExecInput:
				if _, err := proc.Write(b[1:]); err != nil {
					return
				}
			case agentproto.ExecResize:
				var sz agentproto.ExecSize
				if json.Unmarshal(b[1:], &sz) == nil && sz.Cols > 0 && sz.Rows > 0 {
					proc.Resize(sctx, sz.Cols, sz.Rows)
				}
			case agentproto.ExecClose:
				proc.Close()
				return
			}
		}
	}()
	// Output: the process's terminal to the control plane; the WebSocket's
	// flow control holds the process back when the client reads slowly.
	buf := make([]byte, 32<<10)
	buf[0] = agentproto.ExecOutput
	for {
		n, rerr := proc.Read(buf[1:])
		if n > 0 {
			if err := conn.Write(sctx, websocket.MessageBinary, buf[:1+n]); err != nil {
				log.Info("exec session detached", "err", err)
				return
			}
		}
		if rerr != nil {
			break
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	code, err := proc.Wait(wctx)
	cancel()
	res := agentproto.ExecResult{ExitCode: code}
	if err != nil {
		res = agentproto.ExecResult{ExitCode: -1, Error: err.Error()}
	}
	log.Info("exec session ended", "exitCode", res.ExitCode)
	finish(res)
}

// execContainer finds the running container of a session.
func (a *Agent) execContainer(ctx context.Context, req agentproto.ExecRequest) (string, error) {
	cs, err := a.cfg.Runtime.List(ctx, map[string]string{rt.LabelTask: req.TaskID, rt.LabelContainer: req.Container})
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Running {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("container %s of task %s is not running on this host", req.Container, req.TaskID)
}
