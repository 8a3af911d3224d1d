package ssm

import (
	"context"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/execsession"
	ssm "github.com/minato-project/minato/internal/model/ssmtypes"
)

// Sessions are the ECS Exec sessions the session-manager-plugin ends and
// resumes through SSM (internal/execsession).
type Sessions interface {
	Terminate(id string) error
	Resume(id string) (string, error)
}

var _ Sessions = (*execsession.Manager)(nil)

// TerminateSession ends a session. Like SSM, it answers with the session's
// ID whether or not the session was still going.
func (a *API) TerminateSession(_ context.Context, _ *awsproto.Call, in *ssm.TerminateSessionRequest) (*ssm.TerminateSessionResponse, error) {
	if a.sessions != nil {
		a.sessions.Terminate(in.SessionId)
	}
	return &ssm.TerminateSessionResponse{SessionId: in.SessionId}, nil
}

// ResumeSession gives a session that is not over a new token for its
// stream; for one that is over, no token (the plugin then says the session
// timed out).
func (a *API) ResumeSession(_ context.Context, c *awsproto.Call, in *ssm.ResumeSessionRequest) (*ssm.ResumeSessionResponse, error) {
	if a.sessions == nil {
		return nil, core.Errorf(core.KindNotFound, ssm.ErrCodeDoesNotExistException, "Session %s does not exist.", in.SessionId)
	}
	tok, err := a.sessions.Resume(in.SessionId)
	if err != nil {
		return &ssm.ResumeSessionResponse{SessionId: in.SessionId}, nil
	}
	scheme := "ws"
	if c.TLS {
		scheme = "wss"
	}
	return &ssm.ResumeSessionResponse{SessionId: in.SessionId, TokenValue: tok, StreamUrl: scheme + "://" + c.Host + execsession.PathStream + in.SessionId}, nil
}
