package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/controlplane"
)

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, 2, "", "Usage: minato"},
		{"help", []string{"help"}, 0, "", "Commands:"},
		{"version", []string{"version"}, 0, "minato ", ""},
		{"unknown command", []string{"fly"}, 2, "", `unknown command "fly"`},
		{"bad flag", []string{"up", "--no-such-flag"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"version", "extra"}, 2, "", "unexpected arguments"},
		{"flag help", []string{"up", "-h"}, 0, "", "-api-addr"},
		{"bad log level", []string{"up", "--log-level", "loud", "--data-dir", "unused"}, 1, "", "--log-level"},
		{"bad profile name", []string{"server", "--write-aws-profile", "a b", "--data-dir", "unused"}, 1, "", "--write-aws-profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.wantStdout) || !strings.Contains(errb.String(), tt.wantStderr) {
				t.Fatalf("stdout %q want %q; stderr %q want %q", out.String(), tt.wantStdout, errb.String(), tt.wantStderr)
			}
		})
	}
}

func TestPrintReady(t *testing.T) {
	info := controlplane.Info{APIURL: "http://127.0.0.1:7400", Region: "ap-northeast-1", AccountID: "000000000000",
		DataDir: "/data", AgentTokenFile: "/data/agent-token",
		Key: controlplane.AccessKey{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "se/cr+et"}}
	var b bytes.Buffer
	printReady(&b, info, readyOptions{command: "up"})
	out := b.String()
	for _, want := range []string{
		"export AWS_ACCESS_KEY_ID=AKIAEXAMPLE\n", "export AWS_SECRET_ACCESS_KEY=se/cr+et\n",
		"export AWS_REGION=ap-northeast-1\n", "export AWS_DEFAULT_REGION=ap-northeast-1\n",
		"export AWS_ENDPOINT_URL=http://127.0.0.1:7400\n",
		"aws --endpoint-url http://127.0.0.1:7400 ecs list-clusters", "Agent token  /data/agent-token",
		"[profile minato]\n  region = ap-northeast-1\n  endpoint_url = http://127.0.0.1:7400\n",
		"[minato]\n  aws_access_key_id = AKIAEXAMPLE\n  aws_secret_access_key = se/cr+et\n",
		"minato up --write-aws-profile minato",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ready message lacks %q:\n%s", want, out)
		}
	}
	// Nothing that is pasted carries a comment after a value: the AWS
	// clients' config parser keeps it as part of the value.
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") && strings.Contains(l, "#") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			t.Errorf("inline comment in a line to paste: %q", l)
		}
	}
	if strings.Contains(out, "Agents join with") {
		t.Errorf("up with a local agent prints the join command:\n%s", out)
	}

	b.Reset()
	info.AgentTokenFile, info.AgentToken = "", "mnt-given"
	printReady(&b, info, readyOptions{command: "server", joinHint: true, profile: "dev", configFile: "/h/config", credsFile: "/h/credentials"})
	out = b.String()
	for _, want := range []string{"from $MINATO_AGENT_TOKEN", "--token mnt-given", "aws --profile dev ecs list-clusters",
		"[dev] in /h/credentials", "[profile dev] in /h/config"} {
		if !strings.Contains(out, want) {
			t.Errorf("server ready message lacks %q:\n%s", want, out)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"AKIA0": "AKIA0", "a/b+c=": "a/b+c=", "http://127.0.0.1:7400": "http://127.0.0.1:7400",
		"": "''", "a b": "'a b'", "it's": `'it'\''s'`, "$HOME": "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
