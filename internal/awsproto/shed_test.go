package awsproto

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const (
	shedKeyID  = "AKIAMINATOSHED000001"
	shedSecret = "shed/test/secret/key/000000000000000000"
)

// shedFixture is a server whose ListClusters blocks until released, so a
// test can fill the processing slots, and whose DescribeClusters and STS
// GetCallerIdentity answer at once.
type shedFixture struct {
	srv     *Server
	url     string
	entered chan struct{} // one value per ListClusters that got a slot
	gate    chan struct{} // closed: blocked ListClusters return
	once    sync.Once
}

func newShedFixture(t *testing.T, cfg Config) *shedFixture {
	t.Helper()
	f := &shedFixture{entered: make(chan struct{}, 1024), gate: make(chan struct{})}
	cfg.Keys = NewStaticKeys(Principal{AccessKeyID: shedKeyID, SecretAccessKey: shedSecret, AccountID: "123456789012",
		ARN: "arn:aws:iam::123456789012:root", UserID: "123456789012"})
	f.srv = NewServer(cfg)
	type empty struct{}
	type listOut struct {
		ClusterArns []string `json:"clusterArns"`
	}
	f.srv.RegisterJSON(JSONService{
		SigningName: "ecs", TargetPrefix: "AmazonEC2ContainerServiceV20141113", InternalErrorCode: "ServerException",
		Ops: map[string]JSONHandler{
			"ListClusters": Op(func(ctx context.Context, _ *Call, _ *empty) (*listOut, error) {
				f.entered <- struct{}{}
				select {
				case <-f.gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return &listOut{ClusterArns: []string{"arn:aws:ecs:us-east-1:123456789012:cluster/blocked"}}, nil
			}),
			"DescribeClusters": Op(func(context.Context, *Call, *empty) (*empty, error) { return &empty{}, nil }),
		},
	})
	type identity struct {
		Account string
		Arn     string
		UserId  string
	}
	f.srv.RegisterQuery(QueryService{
		SigningName: "sts", Version: "2011-06-15", XMLNamespace: "https://sts.amazonaws.com/doc/2011-06-15/",
		Actions: map[string]QueryHandler{
			"GetCallerIdentity": Op(func(_ context.Context, c *Call, _ *empty) (*identity, error) {
				return &identity{Account: c.Principal.AccountID, Arn: c.Principal.ARN, UserId: c.Principal.UserID}, nil
			}),
		},
	})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(func() {
		f.open()
		ts.Close()
	})
	f.url = ts.URL
	return f
}

// sign signs req, whose body is body, with the fixture's key.
func (f *shedFixture) sign(t *testing.T, req *http.Request, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: shedKeyID, SecretAccessKey: shedSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// open releases every blocked ListClusters (idempotent).
func (f *shedFixture) open() { f.once.Do(func() { close(f.gate) }) }

func (f *shedFixture) ecs() *ecs.Client {
	return ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.url),
		Credentials: credentials.NewStaticCredentialsProvider(shedKeyID, shedSecret, ""), Retryer: aws.NopRetryer{}})
}

func (f *shedFixture) sts() *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.url),
		Credentials: credentials.NewStaticCredentialsProvider(shedKeyID, shedSecret, ""), Retryer: aws.NopRetryer{}})
}

// block starts n ListClusters calls and returns once all n hold a slot; the
// returned channel yields their errors once they end.
func (f *shedFixture) block(t *testing.T, n int) <-chan error {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := f.ecs().ListClusters(context.Background(), &ecs.ListClustersInput{})
			errs <- err
		}()
	}
	for range n {
		select {
		case <-f.entered:
		case err := <-errs:
			t.Fatalf("a blocking call ended before it was released: %v", err)
		}
	}
	return errs
}

func wantThrottle(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || ae.ErrorMessage() != "Rate exceeded" {
		t.Fatalf("error = %v, want %s: Rate exceeded", err, code)
	}
	if got := retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err); got != aws.TrueTernary {
		t.Fatalf("the SDK does not see %v as a throttle (%v)", err, got)
	}
	if !retry.NewStandard().IsErrorRetryable(err) {
		t.Fatalf("the SDK's standard retryer does not retry %v", err)
	}
}

// With every slot taken and no queue, the next request is shed at once,
// in its protocol's shape; once the slots free up, requests are served.
func TestShedBeyondMaxInFlight(t *testing.T) {
	f := newShedFixture(t, Config{MaxInFlight: 2, MaxQueued: -1})
	errs := f.block(t, 2)

	_, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{})
	wantThrottle(t, err, "ThrottlingException")
	_, err = f.sts().GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	wantThrottle(t, err, "Throttling")

	// The raw JSON reply, as the brief of ThrottlingException says.
	req, _ := http.NewRequest(http.MethodPost, f.url+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeClusters")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	f.sign(t, req, []byte("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || string(body) != `{"__type":"ThrottlingException","message":"Rate exceeded"}` {
		t.Fatalf("raw throttle reply: %d %s", resp.StatusCode, body)
	}
	if got := f.srv.Shed(); got != 3 {
		t.Fatalf("Shed() = %d, want 3", got)
	}

	f.open()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("blocked call: %v", err)
		}
	}
	if _, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}); err != nil {
		t.Fatalf("after the slots freed: %v", err)
	}
}

// A request that finds every slot taken waits in the queue and is served
// when a slot frees; one that finds the queue full is shed.
func TestShedQueue(t *testing.T) {
	f := newShedFixture(t, Config{MaxInFlight: 1, MaxQueued: 1, QueueWait: 1 << 40})
	errs := f.block(t, 1)

	queued := make(chan error, 1)
	go func() {
		_, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{})
		queued <- err
	}()
	for f.srv.queued.Load() != 1 {
		select {
		case err := <-queued:
			t.Fatalf("the second request did not queue: %v", err)
		default:
		}
		runtime.Gosched()
	}
	_, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{})
	wantThrottle(t, err, "ThrottlingException")

	f.open()
	if err := <-errs; err != nil {
		t.Fatalf("blocked call: %v", err)
	}
	if err := <-queued; err != nil {
		t.Fatalf("the queued request: %v", err)
	}
	if got := f.srv.Shed(); got != 1 {
		t.Fatalf("Shed() = %d, want 1", got)
	}
}

// A negative MaxInFlight turns shedding off.
func TestShedOff(t *testing.T) {
	f := newShedFixture(t, Config{MaxInFlight: -1})
	errs := f.block(t, 3*DefaultMaxInFlight())
	if _, err := f.ecs().DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}); err != nil {
		t.Fatalf("with shedding off: %v", err)
	}
	f.open()
	for range 3 * DefaultMaxInFlight() {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
