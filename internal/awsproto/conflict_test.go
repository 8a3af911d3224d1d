package awsproto_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/minato-project/minato/internal/awsproto"
	model "github.com/minato-project/minato/internal/model/ststypes"
	"github.com/minato-project/minato/internal/store"
)

// A write that lost its compare-and-swap race more often than its handler
// retried it (store.ErrConflict surviving, wrapped, to the reply) is the
// throttling error with HTTP 400 in both protocols, never a 500; the
// SDKs retry it on their own.
func TestExhaustedConflictIsThrottling(t *testing.T) {
	var calls atomic.Int32
	conflict := func() error {
		calls.Add(1)
		return fmt.Errorf("ecs: write cluster %q: %w", "web", store.ErrConflict)
	}
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterJSON(awsproto.JSONService{SigningName: "ecs", TargetPrefix: ecsPrefix, InternalErrorCode: "ServerException",
		Ops: map[string]awsproto.JSONHandler{
			"DescribeClusters": awsproto.Op(func(context.Context, *awsproto.Call, *describeClustersIn) (*describeClustersOut, error) {
				return nil, conflict()
			}),
		}})
	s.RegisterQuery(awsproto.QueryService{SigningName: model.SigningName, Version: model.APIVersion, XMLNamespace: model.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"GetCallerIdentity": awsproto.Op(func(context.Context, *awsproto.Call, *model.GetCallerIdentityRequest) (*model.GetCallerIdentityResponse, error) {
				return nil, conflict()
			}),
		}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	ctx := context.Background()

	_, err := ecsClient(ts.URL, goodCreds()).DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web"}})
	ae := apiError(t, err, "ThrottlingException", 400)
	if strings.Contains(ae.ErrorMessage(), "store:") {
		t.Errorf("the store's error leaked: %q", ae.ErrorMessage())
	}
	_, err = stsClient(ts.URL, goodCreds()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	apiError(t, err, "Throttling", 400)

	// The SDK's standard retryer retries it.
	calls.Store(0)
	retrying := func(o *ecs.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts, so.RateLimiter, so.MaxBackoff = 3, ratelimit.None, 1
		})
	}
	_, err = ecsClient(ts.URL, goodCreds(), retrying).DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web"}})
	apiError(t, err, "ThrottlingException", 400)
	if n := calls.Load(); n != 3 {
		t.Errorf("the SDK sent the request %d times, want 3", n)
	}
}

// A store that cannot serve now (store.ErrUnavailable: a server cut off
// from the majority) is AWS's ServiceUnavailable, HTTP 503, in both
// protocols: the SDKs retry it, and nothing of the store leaks.
func TestStoreUnavailableIs503(t *testing.T) {
	unavailable := fmt.Errorf("ecs: read cluster %q: %w", "web", fmt.Errorf("store/etcd: get: %w: etcdserver: no leader", store.ErrUnavailable))
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterJSON(awsproto.JSONService{SigningName: "ecs", TargetPrefix: ecsPrefix, InternalErrorCode: "ServerException",
		Ops: map[string]awsproto.JSONHandler{
			"DescribeClusters": awsproto.Op(func(context.Context, *awsproto.Call, *describeClustersIn) (*describeClustersOut, error) {
				return nil, unavailable
			}),
		}})
	s.RegisterQuery(awsproto.QueryService{SigningName: model.SigningName, Version: model.APIVersion, XMLNamespace: model.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"GetCallerIdentity": awsproto.Op(func(context.Context, *awsproto.Call, *model.GetCallerIdentityRequest) (*model.GetCallerIdentityResponse, error) {
				return nil, unavailable
			}),
		}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	ctx := context.Background()
	_, err := ecsClient(ts.URL, goodCreds()).DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web"}})
	ae := apiError(t, err, "ServiceUnavailable", 503)
	if strings.Contains(ae.ErrorMessage(), "store") || strings.Contains(ae.ErrorMessage(), "etcd") {
		t.Errorf("the store's error leaked: %q", ae.ErrorMessage())
	}
	_, err = stsClient(ts.URL, goodCreds()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	apiError(t, err, "ServiceUnavailable", 503)
}
