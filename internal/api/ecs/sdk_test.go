package ecs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/agentserver"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

const (
	testKey    = "AKIAECSTEST000000001"
	testSecret = "ecs-test-secret"
	agentToken = "agent-token"
)

// sdkEnv is the ECS API over a real bbolt store behind the real protocol
// server on loopback, and a client of the real AWS SDK for Go v2.
type sdkEnv struct {
	api *ecsapi.API
	st  store.Store
	c   *ecs.Client
	// agentURL serves the agent protocol on the same store, as
	// minato server does.
	agentURL string
	// failures counts the API's answers with an HTTP status of 500 or
	// more, which the SDK's retries would hide.
	failures atomic.Int64
}

// newSDKEnv starts the API. attempts is the SDK's RetryMaxAttempts (1: no
// retry, so that a test sees every error the server answers).
func newSDKEnv(t *testing.T, attempts int) *sdkEnv {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	view := clusterview.New(st, nil)
	viewDone := make(chan struct{})
	go func() { view.Run(ctx); close(viewDone) }()
	t.Cleanup(func() { cancel(); <-viewDone })
	agents := liveness.New(core.SystemClock{}, time.Minute)
	api := ecsapi.New(ecsapi.Config{Store: view.Store(), View: view, Agents: agents, Logger: slog.New(slog.DiscardHandler)})
	if err := api.EnsureDefaultCluster(context.Background()); err != nil {
		t.Fatal(err)
	}
	as := agentserver.New(agentserver.Config{Store: view.Store(), View: view, Agents: agents, Clock: core.SystemClock{},
		Token: agentToken, Scope: arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, Logger: slog.New(slog.DiscardHandler)})
	ats := httptest.NewServer(as.Handler())
	t.Cleanup(ats.Close)
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"})})
	srv.RegisterJSON(api.Service())
	e := &sdkEnv{api: api, st: view.Store(), agentURL: ats.URL}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		srv.ServeHTTP(sw, r)
		if sw.status >= 500 {
			e.failures.Add(1)
		}
	}))
	t.Cleanup(ts.Close)
	e.c = ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 200 * time.Millisecond
			o.RateLimiter = ratelimit.None // many callers at once on purpose
		}),
	})
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// apiCode is the AWS error code of err, or "" if err is not an API error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// registerAgent registers a host with cluster through the agent protocol,
// as an agent does, and returns the HTTP status and the instance ID.
func (e *sdkEnv) registerAgent(ctx context.Context, cluster string) (int, string, error) {
	body, err := json.Marshal(agentproto.RegisterRequest{Cluster: cluster, Hostname: "host",
		Resources: agentproto.Resources{CPU: 1024, MemoryMiB: 1024}})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.agentURL+agentproto.PathRegister, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+agentToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out agentproto.RegisterResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return 0, "", err
		}
	}
	return resp.StatusCode, out.InstanceID, nil
}
