package awsproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/minato-project/minato/internal/core"
)

// Benchmarks of the SigV4 check every API request pays. bench/README.md
// lists them with the other benchmarks.

var benchPrincipal = Principal{
	AccessKeyID: "AKIAMINATOBENCH00001", SecretAccessKey: "bench/secret/key/for/the/benchmarks/0000",
	AccountID: "000000000000", ARN: "arn:aws:iam::000000000000:root", UserID: "000000000000",
}

// benchRunTaskBody is a RunTask request as the AWS SDK for Go v2 sends it.
var benchRunTaskBody = []byte(`{"cluster":"default","count":10,"placementConstraints":[{"expression":"attribute:ecs.instance-type =~ m5.*","type":"memberOf"}],"taskDefinition":"sim-app"}`)

var benchSignedAt = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// benchSignedRequest returns a JSON 1.1 request signed by the SDK's signer
// with the headers the SDK signs (its invocation ID and retry headers,
// content length and type, host, date and target).
func benchSignedRequest(b *testing.B, body []byte) *http.Request {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:7400/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.RunTask")
	r.Header.Set("Amz-Sdk-Invocation-Id", "5f1c3c51-8b5d-4f0e-9a53-2a64d1c6a1f0")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7 os/linux lang/go#1.26 api/ecs#1.104.1")
	r.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: benchPrincipal.AccessKeyID, SecretAccessKey: benchPrincipal.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "ecs", "us-east-1", benchSignedAt); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSigV4Verify parses the Authorization header of a signed RunTask
// request and checks its signature, as every API request is checked.
func BenchmarkSigV4Verify(b *testing.B) {
	s := NewServer(Config{Keys: NewStaticKeys(benchPrincipal), Clock: core.ClockFunc(func() time.Time { return benchSignedAt })})
	r := benchSignedRequest(b, benchRunTaskBody)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sr, werr := parseAuth(r)
		if werr != nil || sr == nil {
			b.Fatalf("parseAuth: %v", werr)
		}
		pr, ok := s.keys.Lookup(sr.accessKeyID)
		if !ok {
			b.Fatal("unknown key")
		}
		if werr := checkTime(sr, s.clock.Now(), s.maxSkew, ProtocolJSON); werr != nil {
			b.Fatal(werr.message)
		}
		if werr := s.verifySignature(ctx, "bench", r, benchRunTaskBody, sr, pr, ProtocolJSON); werr != nil {
			b.Fatalf("verify: %s %s", werr.code(ProtocolJSON), werr.message)
		}
	}
}

// BenchmarkServeSignedJSON is one whole signed JSON 1.1 request through the
// protocol server to a handler that answers {}: body read, SigV4 check,
// routing, decoding, encoding. The difference to BenchmarkSigV4Verify is
// the protocol's own cost.
func BenchmarkServeSignedJSON(b *testing.B) {
	s := NewServer(Config{Keys: NewStaticKeys(benchPrincipal), Clock: core.ClockFunc(func() time.Time { return benchSignedAt }),
		NewRequestID: func() string { return "00000000-0000-0000-0000-000000000000" }})
	type in struct {
		Cluster        string `json:"cluster"`
		Count          int    `json:"count"`
		TaskDefinition string `json:"taskDefinition"`
	}
	type out struct{}
	s.RegisterJSON(JSONService{SigningName: "ecs", TargetPrefix: "AmazonEC2ContainerServiceV20141113", Ops: map[string]JSONHandler{
		"RunTask": Op(func(_ context.Context, _ *Call, _ *in) (*out, error) { return &out{}, nil }),
	}})
	signed := benchSignedRequest(b, benchRunTaskBody)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:7400/", bytes.NewReader(benchRunTaskBody))
		r.Header = signed.Header.Clone()
		r.ContentLength = int64(len(benchRunTaskBody))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(len(benchRunTaskBody)), "req-bytes")
}

// BenchmarkSigV4VerifyBody is BenchmarkSigV4Verify over bodies of growing
// size: the payload hash is the part that grows.
func BenchmarkSigV4VerifyBody(b *testing.B) {
	s := NewServer(Config{Keys: NewStaticKeys(benchPrincipal), Clock: core.ClockFunc(func() time.Time { return benchSignedAt })})
	for _, n := range []int{1 << 10, 64 << 10} {
		b.Run(strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
			body := bytes.Repeat([]byte(" "), n)
			copy(body, benchRunTaskBody)
			r := benchSignedRequest(b, body)
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sr, werr := parseAuth(r)
				if werr != nil {
					b.Fatal(werr.message)
				}
				if werr := s.verifySignature(ctx, "bench", r, body, sr, benchPrincipal, ProtocolJSON); werr != nil {
					b.Fatalf("verify: %s", werr.message)
				}
			}
		})
	}
}
