package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
)

// client speaks the agent protocol to the control plane.
type client struct {
	base  string
	token string
	http  *http.Client
	// refused is called when the control plane refuses the token (401):
	// the agent stops, since retrying cannot help.
	refused func()
}

func newClient(server, token, caFile string) (*client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &client{base: server, token: token, http: &http.Client{Transport: tr, Timeout: agentproto.PollTimeout + 15*time.Second}}, nil
}

func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		if resp.StatusCode == http.StatusUnauthorized && c.refused != nil {
			c.refused()
		}
		return &statusError{code: resp.StatusCode, msg: e.Error}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return fmt.Sprintf("control plane: %d %s", e.code, e.msg) }

func (c *client) register(ctx context.Context, req agentproto.RegisterRequest) (agentproto.RegisterResponse, error) {
	var out agentproto.RegisterResponse
	err := c.do(ctx, http.MethodPost, agentproto.PathRegister, req, &out)
	return out, err
}

func (c *client) poll(ctx context.Context, cluster, instance string, since int64) (agentproto.PollResponse, error) {
	var out agentproto.PollResponse
	q := url.Values{"cluster": {cluster}, "instance": {instance}, "since": {strconv.FormatInt(since, 10)}}
	err := c.do(ctx, http.MethodGet, agentproto.PathPoll+"?"+q.Encode(), nil, &out)
	return out, err
}

func (c *client) report(ctx context.Context, r agentproto.Report) error {
	return c.do(ctx, http.MethodPost, agentproto.PathReport, r, nil)
}
