package secretsmanager_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	smapi "github.com/minato-project/minato/internal/api/secretsmanager"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

const (
	testKey    = "AKIASMTEST0000000001"
	testSecret = "secretsmanager-test-secret"
	testRegion = "ap-northeast-1"
)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

type env struct {
	c     *secretsmanager.Client
	st    store.Store
	clock *clock
	path  string
}

// newEnv serves the API over a real bbolt store on a loopback server and
// returns a client of the real AWS SDK for Go v2.
func newEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := secretstore.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC()}
	api := smapi.New(smapi.Config{Store: st, Keys: secretstore.NewKeyring(key), Clock: clk})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:root"})})
	srv.RegisterJSON(api.Service())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c := secretsmanager.New(secretsmanager.Options{
		Region: testRegion, BaseEndpoint: aws.String(ts.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		RetryMaxAttempts: 1,
	})
	return &env{c: c, st: st, clock: clk, path: path}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if code(err) != want {
		t.Fatalf("error %v: want %s", err, want)
	}
}

var ctx = context.Background()

func TestCreateGetByNameAndARNs(t *testing.T) {
	e := newEnv(t)
	out, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("db-credentials"), SecretString: aws.String(`{"host":"db","port":5432}`),
		Description: aws.String("the database"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arnRE := regexp.MustCompile(`^arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-credentials-[A-Za-z0-9]{6}$`)
	if !arnRE.MatchString(aws.ToString(out.ARN)) || aws.ToString(out.VersionId) == "" {
		t.Fatalf("create: %+v", out)
	}
	partial := "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-credentials"
	for _, id := range []string{"db-credentials", aws.ToString(out.ARN), partial} {
		g, err := e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if aws.ToString(g.SecretString) != `{"host":"db","port":5432}` || aws.ToString(g.ARN) != aws.ToString(out.ARN) ||
			!slices.Equal(g.VersionStages, []string{"AWSCURRENT"}) || g.CreatedDate == nil {
			t.Fatalf("get %s: %+v", id, g)
		}
	}
	// A full ARN with another suffix is another secret.
	_, err = e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(partial + "-AAAAAA")})
	wantCode(t, err, "ResourceNotFoundException")

	_, err = e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db-credentials"), SecretString: aws.String("x")})
	wantCode(t, err, "ResourceExistsException")
	_, err = e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("x"), SecretBinary: []byte{1}})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bad name!")})
	wantCode(t, err, "InvalidParameterException")

	// Binary secrets.
	bin := []byte{0, 1, 2, 255}
	if _, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin}); err != nil {
		t.Fatal(err)
	}
	g, err := e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil || !bytes.Equal(g.SecretBinary, bin) || g.SecretString != nil {
		t.Fatalf("binary: %v %+v", err, g)
	}

	// A secret without a value has no AWSCURRENT yet.
	if _, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
	wantCode(t, err, "ResourceNotFoundException")

	d, err := e.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db-credentials")})
	if err != nil || aws.ToString(d.Description) != "the database" || len(d.Tags) != 1 || len(d.VersionIdsToStages) != 1 || d.LastAccessedDate == nil {
		t.Fatalf("describe: %v %+v", err, d)
	}

	b, err := e.c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"db-credentials", "bin", "nope"}})
	if err != nil || len(b.SecretValues) != 2 || len(b.Errors) != 1 || aws.ToString(b.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Fatalf("batch: %v %+v", err, b)
	}
	b, err = e.c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"db-"}}}})
	if err != nil || len(b.SecretValues) != 1 || aws.ToString(b.SecretValues[0].Name) != "db-credentials" {
		t.Fatalf("batch by filter: %v %+v", err, b)
	}
}

func TestVersionsAndStages(t *testing.T) {
	e := newEnv(t)
	c1, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
	if err != nil || !slices.Equal(p2.VersionStages, []string{"AWSCURRENT"}) {
		t.Fatalf("put: %v %+v", err, p2)
	}
	get := func(in *secretsmanager.GetSecretValueInput) string {
		t.Helper()
		in.SecretId = aws.String("s")
		g, err := e.c.GetSecretValue(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(g.SecretString)
	}
	if get(&secretsmanager.GetSecretValueInput{}) != "v2" || get(&secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSPREVIOUS")}) != "v1" ||
		get(&secretsmanager.GetSecretValueInput{VersionId: c1.VersionId}) != "v1" {
		t.Fatal("stages after put")
	}
	// AWSPENDING on a new version leaves AWSCURRENT where it is.
	tok := "11111111-2222-3333-4444-555555555555"
	p3, err := e.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v3"),
		ClientRequestToken: aws.String(tok), VersionStages: []string{"AWSPENDING"}})
	if err != nil || aws.ToString(p3.VersionId) != tok {
		t.Fatalf("put pending: %v %+v", err, p3)
	}
	if get(&secretsmanager.GetSecretValueInput{}) != "v2" || get(&secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSPENDING")}) != "v3" {
		t.Fatal("pending")
	}
	// The same token again is an idempotent retry with the same value,
	// and an error with another.
	if _, err := e.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v3"),
		ClientRequestToken: aws.String(tok), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("other"),
		ClientRequestToken: aws.String(tok)})
	wantCode(t, err, "ResourceExistsException")

	// Move AWSCURRENT to the pending version: the old current becomes
	// AWSPREVIOUS. Moving it without naming where it is now fails.
	_, err = e.c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(tok)})
	wantCode(t, err, "InvalidParameterException")
	if _, err := e.c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(tok), RemoveFromVersionId: p2.VersionId}); err != nil {
		t.Fatal(err)
	}
	if get(&secretsmanager.GetSecretValueInput{}) != "v3" || get(&secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSPREVIOUS")}) != "v2" {
		t.Fatal("after moving AWSCURRENT")
	}

	// UpdateSecret with a value adds an AWSCURRENT version; without one it
	// changes only the description.
	u, err := e.c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("s"), SecretString: aws.String("v4"), Description: aws.String("d")})
	if err != nil || u.VersionId == nil || get(&secretsmanager.GetSecretValueInput{}) != "v4" {
		t.Fatalf("update: %v %+v", err, u)
	}
	u, err = e.c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("s"), Description: aws.String("")})
	if err != nil || u.VersionId != nil {
		t.Fatalf("update description: %v %+v", err, u)
	}

	l, err := e.c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s")})
	if err != nil || len(l.Versions) != 2 {
		t.Fatalf("versions: %v %+v", err, l)
	}
	l, err = e.c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(3)})
	if err != nil || len(l.Versions) != 3 || l.NextToken == nil {
		t.Fatalf("versions with deprecated: %v %+v", err, l)
	}
	l, err = e.c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true), NextToken: l.NextToken})
	if err != nil || len(l.Versions) != 1 || l.NextToken != nil {
		t.Fatalf("versions page 2: %v %+v", err, l)
	}
	d, err := e.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil || d.Description != nil {
		t.Fatalf("describe: %v %+v", err, d)
	}
}

func TestDeleteRestoreAndRecoveryWindow(t *testing.T) {
	e := newEnv(t)
	if _, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	for _, days := range []int64{6, 31} {
		_, err := e.c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(days)})
		wantCode(t, err, "InvalidParameterException")
	}
	_, err := e.c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	wantCode(t, err, "InvalidParameterException")

	d, err := e.c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
	if err != nil || d.DeletionDate == nil || d.DeletionDate.Sub(e.clock.t).Round(time.Second) != 30*24*time.Hour {
		t.Fatalf("delete: %v %+v", err, d)
	}
	// Scheduled for deletion: the value cannot be read or changed.
	_, err = e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")
	_, err = e.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("w")})
	wantCode(t, err, "InvalidRequestException")
	_, err = e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("w")})
	wantCode(t, err, "InvalidRequestException")
	desc, err := e.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil || desc.DeletedDate == nil {
		t.Fatalf("describe deleted: %v %+v", err, desc)
	}
	ls, err := e.c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if err != nil || len(ls.SecretList) != 0 {
		t.Fatalf("list hides deleted: %v %+v", err, ls)
	}
	ls, err = e.c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	if err != nil || len(ls.SecretList) != 1 {
		t.Fatalf("list planned: %v %+v", err, ls)
	}
	if _, err := e.c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if g, err := e.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil || aws.ToString(g.SecretString) != "v" {
		t.Fatalf("after restore: %v", err)
	}

	// Past the recovery window the secret is gone and its name free.
	if _, err := e.c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.t = e.clock.t.Add(7*24*time.Hour + time.Second)
	_, err = e.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("new")}); err != nil {
		t.Fatal(err)
	}

	// Force delete: gone at once.
	if _, err := e.c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("s")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestListFiltersPaginationAndTags(t *testing.T) {
	e := newEnv(t)
	for i, name := range []string{"app/db", "app/api-key", "other", "app/cache", "zeta"} {
		e.clock.t = e.clock.t.Add(time.Second)
		tags := []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
		if i%2 == 1 {
			tags = nil
		}
		if _, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v"), Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := secretsmanager.NewListSecretsPaginator(e.c, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.SecretList {
			names = append(names, aws.ToString(s.Name))
		}
	}
	if pages != 3 || !slices.Equal(names, []string{"app/db", "app/api-key", "other", "app/cache", "zeta"}) {
		t.Fatalf("pages %d: %v", pages, names)
	}
	list := func(f ...types.Filter) []string {
		t.Helper()
		out, err := e.c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: f, SortOrder: types.SortOrderTypeAsc})
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, s := range out.SecretList {
			n = append(n, aws.ToString(s.Name))
		}
		return n
	}
	if got := list(types.Filter{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}); !slices.Equal(got, []string{"app/db", "app/api-key", "app/cache"}) {
		t.Fatalf("name filter: %v", got)
	}
	if got := list(types.Filter{Key: types.FilterNameStringTypeName, Values: []string{"!app/"}}); !slices.Equal(got, []string{"other", "zeta"}) {
		t.Fatalf("negated name filter: %v", got)
	}
	if got := list(types.Filter{Key: types.FilterNameStringTypeTagKey, Values: []string{"team"}}); !slices.Equal(got, []string{"app/db", "other", "zeta"}) {
		t.Fatalf("tag filter: %v", got)
	}
	_, err := e.c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: aws.String("garbage")})
	wantCode(t, err, "InvalidNextTokenException")

	if _, err := e.c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("other"),
		Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("team"), Value: aws.String("b")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("other"), TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	d, err := e.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("other")})
	if err != nil || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "b" {
		t.Fatalf("tags: %v %+v", err, d.Tags)
	}
	_, err = e.c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("nope"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}})
	wantCode(t, err, "ResourceNotFoundException")

	pw, err := e.c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(20), ExcludePunctuation: aws.Bool(true)})
	if err != nil || !regexp.MustCompile(`^[A-Za-z0-9]{20}$`).MatchString(aws.ToString(pw.RandomPassword)) {
		t.Fatalf("random password: %v %+v", err, pw)
	}
}

// The state store holds no secret value in the clear.
func TestStoreFileHasNoPlaintext(t *testing.T) {
	e := newEnv(t)
	const value = "plaintext-canary-7f3a9c"
	if _, err := e.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("canary"), SecretString: aws.String(value)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("canary"), SecretString: aws.String(value + "-2")}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := readFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(value)) || !bytes.Contains(b, []byte("canary")) {
		t.Fatal("the store file holds the plaintext value (or not the secret at all)")
	}
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
