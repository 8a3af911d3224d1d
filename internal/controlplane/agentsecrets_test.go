package controlplane_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/agentserver"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	smapi "github.com/minato-project/minato/internal/api/secretsmanager"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/liveness"
	"github.com/minato-project/minato/internal/model/ecstypes"
	sm "github.com/minato-project/minato/internal/model/secretsmanagertypes"
	rt "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/fake"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store/bolt"
)

// call is the request context of the API calls below.
var call = &awsproto.Call{Region: "us-east-1", Principal: awsproto.Principal{AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root"}}

// A task's secrets reach its container's environment, and its
// repositoryCredentials reach the runtime as registry auth for the pull;
// a credentials secret that does not exist fails the task before the
// pull. The secrets path answers only the agent the task is assigned to.
// The node's parts meet here: the ECS and Secrets Manager APIs, the agent
// server's secrets path and a real agent (on a fake runtime).
func TestSecretsAndRegistryAuth(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := core.SystemClock{}
	agents := liveness.New(clock, time.Minute)
	ecs := ecsapi.New(ecsapi.Config{Store: st, Clock: clock, Agents: agents})
	if err := ecs.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := secretstore.GenerateKey()
	ring := secretstore.NewKeyring(key)
	sms := smapi.New(smapi.Config{Store: st, Keys: ring})
	creds, err := sms.CreateSecret(ctx, call, &sm.CreateSecretRequest{Name: "registry-login", SecretString: `{"username":"robot","password":"reg-pw"}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sms.CreateSecret(ctx, call, &sm.CreateSecretRequest{Name: "api", SecretString: `{"token":"tok-123"}`}); err != nil {
		t.Fatal(err)
	}
	srv := agentserver.New(agentserver.Config{Store: st, Agents: agents, Clock: clock, Token: "tok",
		Scope: arn.Scope{Region: "us-east-1", AccountID: "000000000000"}, PollTimeout: 2 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("/minato/agent/", srv.Handler())
	mux.Handle("POST "+agentproto.PathSecrets, srv.SecretsHandler(&secretstore.Vault{Store: st, Keys: ring}))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	runtime := fake.New()
	var mu sync.Mutex
	var pulls []string
	var auths []*rt.RegistryAuth
	var env map[string]string
	runtime.Pull = func(_ context.Context, image string, auth *rt.RegistryAuth) error {
		mu.Lock()
		defer mu.Unlock()
		pulls = append(pulls, image)
		auths = append(auths, auth)
		return nil
	}
	runtime.Program = func(spec rt.ContainerSpec) fake.Program {
		return func(p *fake.Process) int {
			mu.Lock()
			env = p.Env()
			mu.Unlock()
			return fake.Sleep(p)
		}
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Config{Server: hs.URL, Token: "tok", DataDir: t.TempDir(), Runtime: runtime,
			StopTimeout: time.Second, CleanupWait: time.Minute, Logger: slog.New(slog.DiscardHandler),
			Ready: func(id string) { ready <- id }})
	}()
	defer func() { cancel(); <-done; st.Close() }()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not register")
	}

	register := func(family, credentials string) {
		t.Helper()
		mem := int32(64)
		cd := ecstypes.ContainerDefinition{Name: "app", Image: "registry.example.com/" + family + ":1", Memory: &mem,
			RepositoryCredentials: &ecstypes.RepositoryCredentials{CredentialsParameter: credentials},
			Secrets:               []ecstypes.Secret{{Name: "API_TOKEN", ValueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:api:token::"}}}
		if _, err := ecs.RegisterTaskDefinition(ctx, call, &ecstypes.RegisterTaskDefinitionRequest{Family: family, ContainerDefinitions: []ecstypes.ContainerDefinition{cd}}); err != nil {
			t.Fatal(err)
		}
	}
	waitTask := func(arn, status string) ecstypes.Task {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			out, err := ecs.DescribeTasks(ctx, call, &ecstypes.DescribeTasksRequest{Tasks: []string{arn}})
			if err != nil || len(out.Tasks) != 1 {
				t.Fatalf("describe: %v", err)
			}
			if out.Tasks[0].LastStatus == status {
				return out.Tasks[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s is %s, not %s (%s)", arn, out.Tasks[0].LastStatus, status, out.Tasks[0].StoppedReason)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	run := func(family string) string {
		t.Helper()
		out, err := ecs.RunTask(ctx, call, &ecstypes.RunTaskRequest{TaskDefinition: family})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("RunTask: %v %+v", err, out)
		}
		return out.Tasks[0].TaskArn
	}

	register("private", creds.ARN)
	taskARN := run("private")
	waitTask(taskARN, "RUNNING")
	mu.Lock()
	if len(auths) != 1 || auths[0] == nil || auths[0].Username != "robot" || auths[0].Password != "reg-pw" {
		t.Errorf("registry auth handed to the runtime: %+v", auths)
	}
	if env["API_TOKEN"] != "tok-123" {
		t.Errorf("container env: %v", env)
	}
	mu.Unlock()

	// The secrets of a task are for the agent that runs it only.
	body, _ := json.Marshal(agentproto.SecretsRequest{Cluster: "default", InstanceID: "someone-else", TaskID: taskARN[strings.LastIndex(taskARN, "/")+1:]})
	for _, tc := range []struct {
		token string
		want  int
	}{{"tok", http.StatusForbidden}, {"wrong", http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+agentproto.PathSecrets, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("secrets for another instance with token %q: %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}

	// Missing registry credentials: the task fails before the pull.
	missing := "arn:aws:secretsmanager:us-east-1:000000000000:secret:no-such-login"
	register("private-missing", missing)
	taskARN = run("private-missing")
	task := waitTask(taskARN, "STOPPED")
	if task.StopCode != ecstypes.TaskStopCodeTaskFailedToStart ||
		!strings.HasPrefix(task.StoppedReason, agentproto.SecretsFailurePrefix) || !strings.Contains(task.StoppedReason, missing) {
		t.Errorf("missing credentials: %s %q", task.StopCode, task.StoppedReason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pulls) != 1 {
		t.Errorf("pulls: %v", pulls)
	}
}
