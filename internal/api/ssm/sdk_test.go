package ssm_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	ssmapi "github.com/minato-project/minato/internal/api/ssm"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

const (
	testKey    = "AKIASSMTEST000000001"
	testSecret = "ssm-test-secret"
)

var ctx = context.Background()

func newClient(t *testing.T) (*ssm.Client, store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := secretstore.GenerateKey()
	api := ssmapi.New(ssmapi.Config{Store: st, Keys: secretstore.NewKeyring(key)})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:root"})})
	srv.RegisterJSON(api.Service())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ssm.New(ssm.Options{Region: "ap-northeast-1", BaseEndpoint: aws.String(ts.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, "")}), st, path
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestParameters(t *testing.T) {
	c, st, path := newClient(t)
	put := func(name, value string, typ types.ParameterType, overwrite bool) (*ssm.PutParameterOutput, error) {
		return c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(overwrite)})
	}
	const secret = "ssm-canary-value-91ac"
	for _, p := range []struct {
		name, value string
		typ         types.ParameterType
	}{
		{"/app/prod/db/password", secret, types.ParameterTypeSecureString},
		{"/app/prod/db/host", "db.internal", types.ParameterTypeString},
		{"/app/prod/hosts", "a,b,c", types.ParameterTypeStringList},
		{"/app/dev/db/host", "localhost", types.ParameterTypeString},
		{"plain", "top", types.ParameterTypeString},
	} {
		out, err := put(p.name, p.value, p.typ, false)
		if err != nil || out.Version != 1 || out.Tier != types.ParameterTierStandard {
			t.Fatalf("put %s: %v %+v", p.name, err, out)
		}
	}
	if _, err := put("/app/prod/db/host", "x", types.ParameterTypeString, false); code(err) != "ParameterAlreadyExists" {
		t.Fatalf("put again: %v", err)
	}
	if out, err := put("/app/prod/db/host", "db2.internal", "", true); err != nil || out.Version != 2 {
		t.Fatalf("overwrite: %v %+v", err, out)
	}
	for _, bad := range []string{"aws-thing", "/ssm/x", "no/leading", "bad name"} {
		if _, err := put(bad, "v", types.ParameterTypeString, false); code(err) != "ValidationException" {
			t.Fatalf("put %q: %v", bad, err)
		}
	}

	g, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/prod/db/password")})
	if err != nil || aws.ToString(g.Parameter.Value) == secret || g.Parameter.Type != types.ParameterTypeSecureString {
		t.Fatalf("SecureString without decryption: %v %+v", err, g.Parameter)
	}
	g, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/prod/db/password"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(g.Parameter.Value) != secret ||
		aws.ToString(g.Parameter.ARN) != "arn:aws:ssm:ap-northeast-1:123456789012:parameter/app/prod/db/password" {
		t.Fatalf("with decryption: %v %+v", err, g.Parameter)
	}
	g, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/prod/db/host:1")})
	if err != nil || aws.ToString(g.Parameter.Value) != "db.internal" || aws.ToString(g.Parameter.Selector) != ":1" {
		t.Fatalf("version selector: %v %+v", err, g.Parameter)
	}
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope")}); code(err) != "ParameterNotFound" {
		t.Fatalf("missing: %v", err)
	}
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/prod/db/host:9")}); code(err) != "ParameterVersionNotFound" {
		t.Fatalf("missing version: %v", err)
	}

	gs, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/app/prod/db/host", "plain", "/nope"}, WithDecryption: aws.Bool(true)})
	if err != nil || len(gs.Parameters) != 2 || !slices.Equal(gs.InvalidParameters, []string{"/nope"}) {
		t.Fatalf("get-parameters: %v %+v", err, gs)
	}

	byPath := func(path string, recursive bool, max int32) []string {
		t.Helper()
		var names []string
		p := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String(path), Recursive: aws.Bool(recursive),
			WithDecryption: aws.Bool(true), MaxResults: aws.Int32(max)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, prm := range out.Parameters {
				names = append(names, aws.ToString(prm.Name))
			}
		}
		return names
	}
	if got := byPath("/app", true, 2); !slices.Equal(got, []string{"/app/dev/db/host", "/app/prod/db/host", "/app/prod/db/password", "/app/prod/hosts"}) {
		t.Fatalf("recursive: %v", got)
	}
	if got := byPath("/app/prod", false, 10); !slices.Equal(got, []string{"/app/prod/hosts"}) {
		t.Fatalf("one level: %v", got)
	}
	if _, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("app")}); code(err) != "ValidationException" {
		t.Fatalf("bad path: %v", err)
	}

	h, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/prod/db/host")})
	if err != nil || len(h.Parameters) != 2 || aws.ToString(h.Parameters[0].Value) != "db.internal" || aws.ToString(h.Parameters[1].Value) != "db2.internal" {
		t.Fatalf("history: %v %+v", err, h)
	}
	d, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{
		{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/app/prod"}}}})
	if err != nil || len(d.Parameters) != 3 {
		t.Fatalf("describe: %v %+v", err, d)
	}
	d, err = c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{
		{Key: aws.String("Type"), Values: []string{"SecureString"}}}})
	if err != nil || len(d.Parameters) != 1 || aws.ToString(d.Parameters[0].KeyId) != "alias/aws/ssm" {
		t.Fatalf("describe by type: %v %+v", err, d)
	}

	if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("plain")}); code(err) != "ParameterNotFound" {
		t.Fatalf("delete again: %v", err)
	}
	dp, err := c.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: []string{"/app/dev/db/host", "/nope"}})
	if err != nil || !slices.Equal(dp.DeletedParameters, []string{"/app/dev/db/host"}) || !slices.Equal(dp.InvalidParameters, []string{"/nope"}) {
		t.Fatalf("delete-parameters: %v %+v", err, dp)
	}

	st.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("db2.internal")) || !strings.Contains(string(b), "/app/prod/db/password") {
		t.Fatal("the store file holds a parameter value in the clear")
	}
}

// TestOversizedAllowedPattern: a 9 MiB AllowedPattern is refused by the
// model's limit (1,024 characters) before any regexp is compiled, with a
// short message, and stores nothing. It used to cost 33 s and 1.35 GB.
func TestOversizedAllowedPattern(t *testing.T) {
	c, _, _ := newClient(t)
	_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String("v"),
		Type: types.ParameterTypeString, AllowedPattern: aws.String(strings.Repeat("(a|aa)*", 9<<20/7))})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || len(ae.ErrorMessage()) > 400 ||
		!strings.Contains(ae.ErrorMessage(), "at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024") {
		t.Fatalf("PutParameter with a 9 MiB pattern: %.600v", err)
	}
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/big")}); code(err) != "ParameterNotFound" {
		t.Errorf("GetParameter after the refusal: %v", err)
	}
	// At the limit, the pattern is compiled and applied.
	_, err = c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String("b"),
		Type: types.ParameterTypeString, AllowedPattern: aws.String("^(" + strings.Repeat("a", 1020) + ")$")})
	if code(err) != "ParameterPatternMismatchException" {
		t.Errorf("PutParameter with a 1,024-character pattern: %v", err)
	}
}
