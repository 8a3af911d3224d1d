package awsproto_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ststypes"
)

const (
	testKeyID   = "AKIAMINATOTEST000001"
	testSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testAccount = "123456789012"
	testARN     = "arn:aws:iam::123456789012:user/tester"
	testUserID  = "AIDAMINATOTESTUSER01"
	ecsPrefix   = "AmazonEC2ContainerServiceV20141113"
)

var testPrincipal = awsproto.Principal{
	AccessKeyID: testKeyID, SecretAccessKey: testSecret,
	AccountID: testAccount, ARN: testARN, UserID: testUserID,
}

func goodCreds() aws.Credentials {
	return aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
}

// The test ECS service speaks real ECS operation names with small local
// types, so the real ECS client can call it.
type listClustersIn struct {
	MaxResults *int32  `json:"maxResults"`
	NextToken  *string `json:"nextToken"`
}

type listClustersOut struct {
	ClusterArns []string `json:"clusterArns"`
	NextToken   *string  `json:"nextToken,omitempty"`
}

type describeClustersIn struct {
	Clusters []string `json:"clusters"`
}

type cluster struct {
	ClusterArn  string `json:"clusterArn"`
	ClusterName string `json:"clusterName"`
	Status      string `json:"status"`
}

type describeClustersOut struct {
	Clusters []cluster `json:"clusters"`
}

// testSTSService is STS's GetCallerIdentity, as internal/api/sts serves it:
// the Query protocol's test service (the protocol is tested here without
// the API packages, which depend on it).
func testSTSService() awsproto.QueryService {
	return awsproto.QueryService{
		SigningName:  ststypes.SigningName,
		Version:      ststypes.APIVersion,
		XMLNamespace: ststypes.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"GetCallerIdentity": awsproto.Op(func(_ context.Context, c *awsproto.Call, _ *ststypes.GetCallerIdentityRequest) (*ststypes.GetCallerIdentityResponse, error) {
				p := c.Principal
				return &ststypes.GetCallerIdentityResponse{UserId: p.UserID, Account: p.AccountID, Arn: p.ARN}, nil
			}),
		},
	}
}

func testECSService() awsproto.JSONService {
	return awsproto.JSONService{
		SigningName:       "ecs",
		TargetPrefix:      ecsPrefix,
		InternalErrorCode: "ServerException",
		Ops: map[string]awsproto.JSONHandler{
			"ListClusters": awsproto.Op(func(ctx context.Context, c *awsproto.Call, in *listClustersIn) (*listClustersOut, error) {
				if cc, ok := awsproto.CallFromContext(ctx); !ok || cc != c {
					return nil, errors.New("CallFromContext does not return the call")
				}
				n := int32(1)
				if in.MaxResults != nil {
					n = *in.MaxResults
				}
				out := &listClustersOut{}
				for i := range n {
					out.ClusterArns = append(out.ClusterArns,
						"arn:aws:ecs:"+c.Region+":"+c.Principal.AccountID+":cluster/c"+string(rune('0'+i)))
				}
				return out, nil
			}),
			// DescribeClusters fails in the way its first cluster name says.
			"DescribeClusters": awsproto.Op(func(_ context.Context, c *awsproto.Call, in *describeClustersIn) (*describeClustersOut, error) {
				name := ""
				if len(in.Clusters) > 0 {
					name = in.Clusters[0]
				}
				switch name {
				case "missing":
					return nil, core.Errorf(core.KindNotFound, "ClusterNotFoundException", "Cluster not found.")
				case "internal":
					return nil, errors.New("disk on fire at /var/lib/minato")
				case "panic":
					panic("handler exploded")
				case "throttle":
					return nil, core.Errorf(core.KindThrottled, "ThrottlingException", "Rate exceeded")
				case "unavailable":
					return nil, core.Errorf(core.KindUnavailable, "ServiceUnavailableException", "try later")
				case "teapot":
					return nil, &core.Error{Kind: core.KindConflict, Code: "TeapotException", Message: "short and stout", Status: 418}
				case "nil":
					return nil, nil
				}
				return &describeClustersOut{Clusters: []cluster{{ClusterArn: "arn:aws:ecs:" + c.Region + ":" + testAccount + ":cluster/" + name, ClusterName: name, Status: "ACTIVE"}}}, nil
			}),
		},
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type fixture struct {
	URL  string
	Logs *logBuffer
}

// newFixture starts an httptest server with the test ECS service and STS.
func newFixture(t *testing.T, mod func(*awsproto.Config)) *fixture {
	t.Helper()
	logs := &logBuffer{}
	cfg := awsproto.Config{
		Keys:   awsproto.NewStaticKeys(testPrincipal),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	s := awsproto.NewServer(cfg)
	s.RegisterJSON(testECSService())
	s.RegisterQuery(testSTSService())
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &fixture{URL: ts.URL, Logs: logs}
}

func ecsClient(url string, creds aws.Credentials, opts ...func(*ecs.Options)) *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       "us-west-2",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
	}, opts...)
}

func stsClient(url string, creds aws.Credentials, opts ...func(*sts.Options)) *sts.Client {
	return sts.New(sts.Options{
		Region:       "eu-central-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
	}, opts...)
}

// signed builds a request signed with the SDK signer at time at.
func signed(t *testing.T, method, url string, body []byte, hdr map[string]string, service string, creds aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func jsonHeaders(op string) map[string]string {
	return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ecsPrefix + "." + op}
}

var formHeaders = map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

func do(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// shiftedSigner signs as a client whose clock is off by d.
type shiftedSigner struct {
	d time.Duration
	s *v4.Signer
}

func (s shiftedSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) error {
	return s.s.SignHTTP(ctx, creds, r, payloadHash, service, region, t.Add(s.d), opts...)
}
