package awsproto_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenTime is the signing time of the golden requests and the server's
// clock when replaying them.
var goldenTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

type goldenCase struct {
	name   string
	header map[string]string
	body   string
	creds  *aws.Credentials // nil: unsigned
	sigSvc string
}

func goldenCases() []goldenCase {
	good := goodCreds()
	bad := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "wrong"}
	unknown := aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: testSecret}
	stsForm := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	return []goldenCase{
		{"sts_get_caller_identity", stsForm, "Action=GetCallerIdentity&Version=2011-06-15", &good, "sts"},
		{"sts_invalid_action", stsForm, "Action=GetFrobnicated&Version=2011-06-15", &good, "sts"},
		{"sts_signature_does_not_match", stsForm, "Action=GetCallerIdentity&Version=2011-06-15", &bad, "sts"},
		{"sts_invalid_client_token_id", stsForm, "Action=GetCallerIdentity&Version=2011-06-15", &unknown, "sts"},
		{"sts_missing_authentication_token", stsForm, "Action=GetCallerIdentity&Version=2011-06-15", nil, ""},
		{"ecs_list_clusters", jsonHeaders("ListClusters"), `{"maxResults":2}`, &good, "ecs"},
		{"ecs_cluster_not_found", jsonHeaders("DescribeClusters"), `{"clusters":["missing"]}`, &good, "ecs"},
		{"ecs_server_exception", jsonHeaders("DescribeClusters"), `{"clusters":["internal"]}`, &good, "ecs"},
		{"ecs_unknown_operation", jsonHeaders("ListServices"), `{}`, &good, "ecs"},
		{"ecs_serialization_exception", jsonHeaders("ListClusters"), `{"maxResults":"two"}`, &good, "ecs"},
		{"ecs_unrecognized_client", jsonHeaders("ListClusters"), `{}`, &unknown, "ecs"},
		{"ecs_missing_authentication_token", jsonHeaders("ListClusters"), `{}`, nil, ""},
	}
}

// TestGolden replays the requests under testdata/golden and compares the
// replies. With -update it re-signs the requests and rewrites both files.
func TestGolden(t *testing.T) {
	s := awsproto.NewServer(awsproto.Config{
		Keys:         awsproto.NewStaticKeys(testPrincipal),
		Clock:        core.ClockFunc(func() time.Time { return goldenTime }),
		NewRequestID: func() string { return "00000000-0000-4000-8000-000000000000" },
	})
	s.RegisterJSON(testECSService())
	s.RegisterQuery(testSTSService())

	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			reqPath := filepath.Join("testdata", "golden", tc.name+".request")
			respPath := filepath.Join("testdata", "golden", tc.name+".response")
			if *update {
				writeFile(t, reqPath, buildGoldenRequest(t, tc))
			}
			raw, err := os.ReadFile(reqPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			got := dumpResponse(rec.Result())
			if *update {
				writeFile(t, respPath, got)
				return
			}
			want, err := os.ReadFile(respPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(want) != got {
				t.Errorf("reply differs from %s:\n--- got\n%s\n--- want\n%s", respPath, got, want)
			}
		})
	}
}

// buildGoldenRequest signs tc with the SDK signer at goldenTime and writes
// it as HTTP/1.1 with sorted headers.
func buildGoldenRequest(t *testing.T, tc goldenCase) string {
	t.Helper()
	req, err := http.NewRequest("POST", "http://minato.test:4566/", strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	if tc.creds != nil {
		sum := sha256.Sum256([]byte(tc.body))
		if err := v4.NewSigner().SignHTTP(context.Background(), *tc.creds, req, hex.EncodeToString(sum[:]),
			tc.sigSvc, "us-east-1", goldenTime); err != nil {
			t.Fatal(err)
		}
	}
	req.Header.Set("Content-Length", fmt.Sprint(len(tc.body)))
	var b strings.Builder
	fmt.Fprintf(&b, "POST / HTTP/1.1\nHost: %s\n", req.Host)
	writeHeaders(&b, req.Header)
	b.WriteString("\n" + tc.body)
	return b.String()
}

func dumpResponse(resp *http.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	writeHeaders(&b, resp.Header)
	body, _ := io.ReadAll(resp.Body)
	b.WriteString("\n")
	b.Write(body)
	return b.String()
}

func writeHeaders(b *strings.Builder, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s: %s\n", k, v)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
