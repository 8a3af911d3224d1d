package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/ssmclient"
)

// lockedBuffer collects a session's output for the test to read.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// runExecTask runs one task of the test image (serving HTTP) with
// enableExecuteCommand as given, and waits for it to run.
func runExecTask(t *testing.T, n *node, family string, enable bool) string {
	t.Helper()
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(family), EnableExecuteCommand: enable})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("run-task: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	waitTaskStatus(t, n, arn, "RUNNING", 90*time.Second)
	return arn
}

// openExec calls ExecuteCommand and opens the session with the protocol
// client, as the session-manager-plugin would.
func openExec(t *testing.T, ctx context.Context, n *node, task, command string, out *lockedBuffer) *ssmclient.Session {
	t.Helper()
	res, err := n.ecs().ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Task: aws.String(task), Command: aws.String(command), Interactive: true})
	if err != nil {
		t.Fatalf("execute-command %q: %v", command, err)
	}
	s := res.Session
	if !strings.HasPrefix(aws.ToString(s.StreamUrl), "ws://"+n.addr+"/") || aws.ToString(s.TokenValue) == "" {
		t.Fatalf("session %+v", s)
	}
	sess, err := ssmclient.Dial(ctx, aws.ToString(s.SessionId), aws.ToString(s.StreamUrl), aws.ToString(s.TokenValue), ssmclient.Options{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func waitOutput(t *testing.T, ctx context.Context, out *lockedBuffer, want string) {
	t.Helper()
	for !strings.Contains(out.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ECS Exec end to end: managedAgents, an echo, an interactive session with
// a window size and an exit code, a 10 MB output, tokens of other
// sessions refused, a task without enableExecuteCommand refused, and a
// task that stops mid-session. The image is FROM scratch: testapp's repl
// mode stands in for a shell.
func TestExecSessions(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "execapp", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	task := runExecTask(t, n, "execapp", true)
	other := runExecTask(t, n, "execapp", true)

	agents := describeTask(t, n, task).Containers[0].ManagedAgents
	if len(agents) != 1 || agents[0].Name != types.ManagedAgentNameExecuteCommandAgent || aws.ToString(agents[0].LastStatus) != "RUNNING" {
		t.Errorf("managedAgents: %+v", agents)
	}

	t.Run("echo", func(t *testing.T) {
		var out lockedBuffer
		sess := openExec(t, ctx, n, task, "/testapp echo 'hello  exec'", &out)
		code, err := sess.Wait(ctx)
		if err != nil || code != 0 || !strings.Contains(out.String(), "hello  exec") {
			t.Fatalf("exit %d, %v, output %q", code, err, out.String())
		}
	})

	t.Run("interactive", func(t *testing.T) {
		var out lockedBuffer
		sess := openExec(t, ctx, n, task, "/testapp repl", &out)
		<-sess.Ready()
		sess.Resize(ctx, 123, 45)
		waitOutput(t, ctx, &out, "$ ")
		// The window size reaches the TTY before the next line is read.
		for !strings.Contains(out.String(), "45 123") {
			sess.Send(ctx, []byte("size\r"))
			waitOutput(t, ctx, &out, "\n$ ")
			if ctx.Err() != nil {
				t.Fatal("no window size")
			}
		}
		sess.Send(ctx, []byte("echo round trip\r"))
		waitOutput(t, ctx, &out, "round trip\r\n")
		sess.Send(ctx, []byte("exit 7\r"))
		code, err := sess.Wait(ctx)
		if err != nil || code != 7 {
			t.Fatalf("exit %d, %v", code, err)
		}
	})

	t.Run("10MB", func(t *testing.T) {
		const size = 10 << 20
		var out lockedBuffer
		start := time.Now()
		sess := openExec(t, ctx, n, task, "/testapp big 10485760", &out)
		code, err := sess.Wait(ctx)
		if err != nil || code != 0 {
			t.Fatalf("exit %d, %v", code, err)
		}
		got := strings.ReplaceAll(out.String(), "\r", "")
		if len(got) != size || strings.Trim(got, "x\n") != "" {
			t.Fatalf("got %d bytes (without the TTY's \\r), want %d", len(got), size)
		}
		t.Logf("10 MiB through exec in %v", time.Since(start))
	})

	t.Run("tokens", func(t *testing.T) {
		a, err := n.ecs().ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Task: aws.String(task), Command: aws.String("/testapp repl"), Interactive: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := n.ecs().ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Task: aws.String(other), Command: aws.String("/testapp repl"), Interactive: true})
		if err != nil {
			t.Fatal(err)
		}
		// The other task's token on this task's stream.
		sess, err := ssmclient.Dial(ctx, aws.ToString(a.Session.SessionId), aws.ToString(a.Session.StreamUrl), aws.ToString(b.Session.TokenValue), ssmclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, closed, _ := sess.Result(); !strings.Contains(closed, "not valid") {
			t.Errorf("another task's token: closed with %q", closed)
		}
		select {
		case <-sess.Ready():
			t.Error("the handshake ran with another task's token")
		default:
		}
	})

	t.Run("not enabled", func(t *testing.T) {
		plain := runExecTask(t, n, "execapp", false)
		_, err := n.ecs().ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Task: aws.String(plain), Command: aws.String("/testapp echo x"), Interactive: true})
		var ipe *types.InvalidParameterException
		if !errors.As(err, &ipe) || !strings.Contains(err.Error(), "execute command was not enabled") {
			t.Errorf("ExecuteCommand on a task without enableExecuteCommand: %v", err)
		}
	})

	t.Run("minato exec", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, minatoBin, "exec", "--endpoint-url", n.url(), "--region", testRegion, "--task", taskID(task), "--command", "/testapp repl")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret,
			"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
		cmd.Stdin = strings.NewReader("echo via minato exec\nexit 3\n")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(so.String(), "via minato exec\r\n") {
			t.Fatalf("minato exec: %v\nstdout %q\nstderr %q", err, so.String(), se.String())
		}
	})

	t.Run("task stops mid-session", func(t *testing.T) {
		var out lockedBuffer
		sess := openExec(t, ctx, n, other, "/testapp repl", &out)
		<-sess.Ready()
		waitOutput(t, ctx, &out, "$ ")
		if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(other)}); err != nil {
			t.Fatal(err)
		}
		code, err := sess.Wait(ctx)
		if err != nil || code == 0 {
			t.Fatalf("a session on a stopped task ended with %d, %v", code, err)
		}
		t.Logf("the session ended with exit code %d as the task stopped", code)
	})
}
