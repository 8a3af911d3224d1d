package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
)

// client speaks the agent protocol to the control plane: to one of its
// servers, and to the next one when that one does not answer or answers
// with a server error (it is stopping, or cut off from the others). Every
// server accepts the same token and answers the same protocol from the
// same state, so that a request can go to any of them.
type client struct {
	bases []string
	cur   atomic.Int64 // index in bases of the server in use
	log   *slog.Logger
	token string
	http  *http.Client
	// refused is called when the control plane refuses the token (401):
	// the agent stops, since retrying cannot help.
	refused func()
}

// Servers splits a --server value into the control-plane URLs it names
// (several, comma-separated, for several servers).
func Servers(s string) []string {
	var out []string
	for u := range strings.SplitSeq(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, strings.TrimSuffix(u, "/"))
		}
	}
	return out
}

func newClient(server, token, caFile string, log *slog.Logger) (*client, error) {
	bases := Servers(server)
	if len(bases) == 0 {
		return nil, fmt.Errorf("no control plane URL in %q", server)
	}
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
	return &client{bases: bases, log: log, token: token, http: &http.Client{Transport: tr, Timeout: agentproto.PollTimeout + 15*time.Second}}, nil
}

// server returns the server in use and its index.
func (c *client) server() (string, int64) {
	i := c.cur.Load()
	return c.bases[i%int64(len(c.bases))], i
}

// failover moves to the next server after server i failed (unless another
// request moved already).
func (c *client) failover(i int64, why error) {
	if len(c.bases) > 1 && c.cur.CompareAndSwap(i, i+1) {
		next, _ := c.server()
		if c.log != nil {
			c.log.Warn("control-plane server unavailable; moving to the next", "from", c.bases[i%int64(len(c.bases))], "to", next, "err", why)
		}
	}
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
	base, i := c.server()
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.failover(i, err)
		}
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
		if resp.StatusCode >= 500 {
			c.failover(i, fmt.Errorf("%s: %s", resp.Status, e.Error))
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
