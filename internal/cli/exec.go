package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"golang.org/x/term"

	"github.com/minato-project/minato/internal/ssmclient"
)

// exitCodeError makes Main exit with the code of a command run elsewhere,
// saying nothing.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// runExec is `minato exec`: ECS ExecuteCommand, then the session's stream
// through the SSM data channel protocol, as `aws ecs execute-command
// --interactive` with the session-manager-plugin does, but exiting with
// the command's exit code.
func runExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("exec", stderr)
	var cf connectFlags
	cf.register(fs)
	cluster := fs.String("cluster", "", "the task's cluster (default: default)")
	task := fs.String("task", "", "the task ID or ARN (required)")
	container := fs.String("container", "", "the container (required when the task has more than one)")
	command := fs.String("command", "/bin/sh", "the command to run, split into words as a shell would (no expansion)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *task == "" {
		fmt.Fprintln(stderr, "--task is required")
		return errUsage
	}
	cfg, err := cf.resolve(getenv)
	if err != nil {
		return err
	}
	client := cfg.ecs()
	out, err := client.ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Cluster: nonEmpty(*cluster), Task: task,
		Container: nonEmpty(*container), Command: command, Interactive: true})
	if err != nil {
		return err
	}
	s := out.Session
	return runSession(ctx, aws.ToString(s.SessionId), aws.ToString(s.StreamUrl), aws.ToString(s.TokenValue), os.Stdin, stdout, stderr)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// runSession runs a session on this terminal: raw mode when stdin is one,
// its size sent at the start and on every SIGWINCH. Input that is not a
// terminal is sent as it is, and its end as Ctrl-D.
func runSession(ctx context.Context, id, url, token string, stdin *os.File, stdout, stderr io.Writer) error {
	sess, err := ssmclient.Dial(ctx, id, url, token, ssmclient.Options{Output: stdout})
	if err != nil {
		return fmt.Errorf("open the session's stream: %w", err)
	}
	defer sess.Close()
	select {
	case <-sess.Ready():
	case <-sess.Done():
		_, closed, err := sess.Result()
		if closed != "" {
			return errors.New(closed)
		}
		return fmt.Errorf("the session ended before it started: %v", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	fd := int(stdin.Fd())
	if term.IsTerminal(fd) {
		old, err := term.MakeRaw(fd)
		if err == nil {
			defer term.Restore(fd, old)
		}
		resize := func() {
			if w, h, err := term.GetSize(fd); err == nil {
				sess.Resize(ctx, w, h)
			}
		}
		resize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				resize()
			}
		}()
	}
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := stdin.Read(buf)
			if n > 0 {
				if sess.Send(ctx, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				if !term.IsTerminal(fd) {
					sess.Send(ctx, []byte{4}) // Ctrl-D
				}
				return
			}
		}
	}()
	code, err := sess.Wait(ctx)
	if err != nil {
		return err
	}
	if _, closed, _ := sess.Result(); closed != "" {
		fmt.Fprintf(stderr, "\r\n%s\r\n", closed)
	}
	if code != 0 {
		return &exitCodeError{code}
	}
	return nil
}

// awsSettings is where an API call goes and with which keys.
type awsSettings struct {
	region, endpoint     string
	keyID, secret, token string
}

// resolveAWS finds the region, endpoint and keys as the AWS CLI does: flags,
// then the environment, then the profile in the shared config files.
func resolveAWS(profile, region, endpoint string, getenv func(string) string) (awsSettings, error) {
	if profile == "" {
		profile = getenv("AWS_PROFILE")
	}
	named := profile != ""
	if profile == "" {
		profile = "default"
	}
	s := awsSettings{region: region, endpoint: endpoint}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v != "" {
				return v
			}
		}
		return ""
	}
	s.region = first(s.region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	s.endpoint = first(s.endpoint, getenv("AWS_ENDPOINT_URL_ECS"), getenv("AWS_ENDPOINT_URL"))
	if !named {
		s.keyID, s.secret, s.token = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
	}
	config, creds, err := awsConfigPaths(getenv)
	if err != nil && (s.keyID == "" || s.region == "" || s.endpoint == "") {
		return s, err
	}
	header := "profile " + profile
	if profile == "default" {
		header = "default"
	}
	conf := readINISection(config, header)
	cred := readINISection(creds, profile)
	s.region = first(s.region, conf["region"], "us-east-1")
	s.endpoint = first(s.endpoint, conf["endpoint_url"])
	if s.keyID == "" {
		s.keyID, s.secret, s.token = first(cred["aws_access_key_id"], conf["aws_access_key_id"]),
			first(cred["aws_secret_access_key"], conf["aws_secret_access_key"]), first(cred["aws_session_token"], conf["aws_session_token"])
	}
	switch {
	case s.endpoint == "":
		return s, errors.New("no endpoint: give --endpoint-url, set $AWS_ENDPOINT_URL, or use a profile with endpoint_url (minato up --write-aws-profile)")
	case s.keyID == "" || s.secret == "":
		return s, fmt.Errorf("no credentials: set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, or use a profile with keys (profile %q)", profile)
	}
	return s, nil
}

// readINISection returns the top-level keys of [header] in an AWS config
// file ("" and missing files: none).
func readINISection(path, header string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if name, ok := iniHeader(l); ok {
			in = name == header
			continue
		}
		if !in || isContinuation(l) {
			continue
		}
		if k, ok := iniKeyName(l); ok {
			_, v, _ := strings.Cut(l, "=")
			if !strings.Contains(l, "=") {
				_, v, _ = strings.Cut(l, ":")
			}
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
