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
	var b bytes.Buffer
	printReady(&b, controlplane.Info{APIURL: "http://127.0.0.1:7400", Region: "ap-northeast-1", AccountID: "000000000000",
		Key: controlplane.AccessKey{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret"}})
	for _, want := range []string{
		"export AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "export AWS_SECRET_ACCESS_KEY=secret", "export AWS_REGION=ap-northeast-1",
		"aws --endpoint-url http://127.0.0.1:7400 ecs list-clusters", "[profile minato]", "aws_secret_access_key = secret",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("ready message lacks %q:\n%s", want, b.String())
		}
	}
}
