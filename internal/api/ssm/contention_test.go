package ssm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	ssmapi "github.com/minato-project/minato/internal/api/ssm"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// Many callers overwriting one parameter at once all succeed with the
// versions 1..n, and the server never answers 500: the writes of one
// parameter queue instead of racing for its record (none loses a race),
// and a race lost too often would be ThrottlingException, which the SDK
// retries.
func TestPutParameterContended(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cc := &conflictCounter{Store: st}
	key, _ := secretstore.GenerateKey()
	api := ssmapi.New(ssmapi.Config{Store: cc, Keys: secretstore.NewKeyring(key)})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:root"})})
	srv.RegisterJSON(api.Service())
	var failures atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		srv.ServeHTTP(sw, r)
		if sw.status >= 500 {
			failures.Add(1)
		}
	}))
	t.Cleanup(ts.Close)
	c := ssm.New(ssm.Options{Region: "ap-northeast-1", BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts, o.MaxBackoff, o.RateLimiter = 10, 200*time.Millisecond, ratelimit.None
		})})

	const n = 64
	versions := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/hot"), Value: aws.String("v"),
				Type: types.ParameterTypeString, Overwrite: aws.Bool(true)})
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			versions[i] = out.Version
		})
	}
	wg.Wait()
	if f := failures.Load(); f > 0 {
		t.Errorf("%d answers were HTTP 5xx", f)
	}
	if c := cc.conflicts.Load(); c > 0 {
		t.Errorf("%d writes lost a race for the parameter", c)
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions %v are not 1..%d", versions, n)
		}
	}
}

// conflictCounter is a store that counts the transactions that lost a
// compare-and-swap race.
type conflictCounter struct {
	store.Store
	conflicts atomic.Int64
}

func (c *conflictCounter) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	rev, err := c.Store.Txn(ctx, conds, ops)
	if errors.Is(err, store.ErrConflict) {
		c.conflicts.Add(1)
	}
	return rev, err
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
