package ecr_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	ecrapi "github.com/minato-project/minato/internal/api/ecr"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/registry/registrytest"
	"github.com/minato-project/minato/internal/store/bolt"
)

const (
	testKey    = "AKIAECRTEST000000001"
	testSecret = "ecr-test-secret"
	account    = "123456789012"
)

var ctx = context.Background()

type env struct {
	t    *testing.T
	c    *ecr.Client
	reg  *registry.Registry
	host string
	dir  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Dir: filepath.Join(dir, "registry"), Store: st, AccountID: account})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	api := ecrapi.New(ecrapi.Config{Store: st, Registry: reg})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: account, ARN: "arn:aws:iam::" + account + ":root"})})
	srv.RegisterJSON(api.Service())
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg.Handler())
	mux.Handle("/", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "http://")
	reg.SetEndpoint("http", host)
	c := ecr.New(ecr.Options{Region: "ap-northeast-1", BaseEndpoint: aws.String(ts.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, "")})
	return &env{t: t, c: c, reg: reg, host: host, dir: dir}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func message(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// login returns a registry client logged in with a token of
// GetAuthorizationToken, as docker login does with it.
func (e *env) login() *registrytest.Client {
	e.t.Helper()
	out, err := e.c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) != 1 {
		e.t.Fatalf("GetAuthorizationToken: %v", err)
	}
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	user, pass, ok := strings.Cut(string(b), ":")
	if err != nil || !ok {
		e.t.Fatalf("token %q does not decode to user:password", b)
	}
	return &registrytest.Client{Base: "http://" + e.host, User: user, Pass: pass}
}

func (e *env) create(name string, mut types.ImageTagMutability) *types.Repository {
	e.t.Helper()
	out, err := e.c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name), ImageTagMutability: mut})
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return out.Repository
}

func (e *env) push(rc *registrytest.Client, repo, tag string, img registrytest.Image) {
	e.t.Helper()
	code, body, err := rc.Push(repo, tag, img)
	if err != nil || code != http.StatusCreated {
		e.t.Fatalf("push %s:%s: %v %d %s", repo, tag, err, code, body)
	}
}

// setPushedAt sets when an image counts as pushed (its revision link's
// time, which is where the registry reads it).
func (e *env) setPushedAt(repo string, d digest.Digest, at time.Time) {
	e.t.Helper()
	p := filepath.Join(e.dir, "registry", "storage", "docker", "registry", "v2", "repositories", repo, "_manifests", "revisions", "sha256", d.Encoded(), "link")
	if err := os.Chtimes(p, at, at); err != nil {
		e.t.Fatal(err)
	}
}

func TestRepositories(t *testing.T) {
	e := newEnv(t)
	out, err := e.c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("team/web"),
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		EncryptionConfiguration:    &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms},
		Tags:                       []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Repository
	if aws.ToString(r.RepositoryUri) != e.host+"/team/web" || aws.ToString(r.RepositoryArn) != "arn:aws:ecr:ap-northeast-1:"+account+":repository/team/web" ||
		aws.ToString(r.RegistryId) != account || r.ImageTagMutability != types.ImageTagMutabilityImmutable || !r.ImageScanningConfiguration.ScanOnPush ||
		r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeKms || aws.ToString(r.EncryptionConfiguration.KmsKey) == "" || r.CreatedAt == nil {
		t.Fatalf("repository %+v", r)
	}
	_, err = e.c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")})
	if code(err) != "RepositoryAlreadyExistsException" || message(err) != "The repository with name 'team/web' already exists in the registry with id '123456789012'" {
		t.Fatalf("create twice: %v", err)
	}
	for _, bad := range []string{"My-App", "a", "-app", "app-", "app//x", "app/", strings.Repeat("a", 257), "app:v1"} {
		if _, err := e.c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(bad)}); code(err) != "InvalidParameterException" {
			t.Errorf("create %q: %v", bad, err)
		}
	}
	if _, err := e.c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("x1"),
		ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion}); code(err) != "InvalidParameterException" {
		t.Fatalf("exclusions: %v", err)
	}
	for _, n := range []string{"a1", "b1", "c1", "d1"} {
		e.create(n, "")
	}
	// Paginated, in name order.
	var names []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := e.c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil || len(out.Repositories) > 2 || pages > 5 {
			t.Fatalf("describe page: %v %d", err, len(out.Repositories))
		}
		for _, r := range out.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if want := []string{"a1", "b1", "c1", "d1", "team/web"}; !slices.Equal(names, want) {
		t.Fatalf("repositories %v, want %v", names, want)
	}
	_, err = e.c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"a1", "nope"}})
	if code(err) != "RepositoryNotFoundException" || !strings.Contains(message(err), "'nope'") {
		t.Fatalf("describe a missing one: %v", err)
	}
	if _, err := e.c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: aws.String("junk")}); code(err) != "InvalidParameterException" {
		t.Fatalf("bad token: %v", err)
	}

	mut, err := e.c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("a1"), ImageTagMutability: types.ImageTagMutabilityImmutable})
	if err != nil || mut.ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Fatalf("mutability: %v", err)
	}
	if _, err := e.c.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{RepositoryName: aws.String("a1"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true}}); err != nil {
		t.Fatal(err)
	}
	d, _ := e.c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"a1"}})
	if d.Repositories[0].ImageTagMutability != types.ImageTagMutabilityImmutable || !d.Repositories[0].ImageScanningConfiguration.ScanOnPush {
		t.Fatalf("after updates: %+v", d.Repositories[0])
	}

	// Tags.
	arn := aws.ToString(r.RepositoryArn)
	if _, err := e.c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: &arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("tags: %v %+v", err, tags)
	}
	if _, err := e.c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: &arn, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}); code(err) != "InvalidTagParameterException" {
		t.Fatalf("aws: tag: %v", err)
	}
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	if _, err := e.c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: &arn, Tags: many}); code(err) != "TooManyTagsException" {
		t.Fatalf("51 tags: %v", err)
	}
	if _, err := e.c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:ap-northeast-1:" + account + ":repository/nope")}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("tags of a missing repository: %v", err)
	}
	if _, err := e.c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("not-an-arn")}); code(err) != "InvalidParameterException" {
		t.Fatalf("bad ARN: %v", err)
	}

	// Repository policy: stored and returned.
	if _, err := e.c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("a1")}); code(err) != "RepositoryPolicyNotFoundException" {
		t.Fatalf("no policy: %v", err)
	}
	const policy = `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"]}]}`
	if _, err := e.c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("a1"), PolicyText: aws.String("{not json")}); code(err) != "InvalidParameterException" {
		t.Fatalf("bad policy: %v", err)
	}
	if _, err := e.c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("a1"), PolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	gp, err := e.c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("a1")})
	if err != nil || aws.ToString(gp.PolicyText) != policy {
		t.Fatalf("get policy: %v", err)
	}
	if _, err := e.c.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("a1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("a1")}); code(err) != "RepositoryPolicyNotFoundException" {
		t.Fatalf("delete twice: %v", err)
	}

	if _, err := e.c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("b1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("b1")}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestAuthorizationToken(t *testing.T) {
	e := newEnv(t)
	out, err := e.c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	ad := out.AuthorizationData[0]
	if aws.ToString(ad.ProxyEndpoint) != "http://"+e.host || time.Until(aws.ToTime(ad.ExpiresAt)) < 11*time.Hour || time.Until(aws.ToTime(ad.ExpiresAt)) > 12*time.Hour {
		t.Fatalf("authorization data %+v", ad)
	}
	rc := e.login()
	if rc.User != "AWS" {
		t.Fatalf("user %q", rc.User)
	}
	if resp, body, err := rc.Do(http.MethodGet, "/v2/", nil, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("registry with the token: %v %d %s", err, resp.StatusCode, body)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	e.create("app", "")
	rc := e.login()
	one, two := registrytest.NewImage(100, 200), registrytest.NewImage(300)
	e.push(rc, "app", "v1", one)
	e.push(rc, "app", "stable", one)
	e.push(rc, "app", "v2", two)
	e.push(rc, "app", "v2", registrytest.NewImage(50)) // two loses its tag

	list := func(status types.TagStatus) []string {
		t.Helper()
		var ids []string
		p := ecr.NewListImagesPaginator(e.c, &ecr.ListImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(1),
			Filter: &types.ListImagesFilter{TagStatus: status}})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range out.ImageIds {
				ids = append(ids, aws.ToString(id.ImageDigest)[:12]+":"+aws.ToString(id.ImageTag))
			}
		}
		return ids
	}
	if got := list(types.TagStatusTagged); len(got) != 3 {
		t.Fatalf("tagged: %v", got)
	}
	if got := list(types.TagStatusUntagged); !slices.Equal(got, []string{two.Digest.String()[:12] + ":"}) {
		t.Fatalf("untagged: %v", got)
	}
	if got := list(""); len(got) != 4 {
		t.Fatalf("all: %v", got)
	}

	d, err := e.c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("stable")}}})
	if err != nil || len(d.ImageDetails) != 1 {
		t.Fatalf("describe stable: %v", err)
	}
	img := d.ImageDetails[0]
	if aws.ToString(img.ImageDigest) != one.Digest.String() || !slices.Equal(img.ImageTags, []string{"stable", "v1"}) ||
		aws.ToInt64(img.ImageSizeInBytes) != 300 || aws.ToString(img.ImageManifestMediaType) != registrytest.MediaTypeManifest ||
		aws.ToString(img.ArtifactMediaType) != registrytest.MediaTypeConfig || time.Since(aws.ToTime(img.ImagePushedAt)) > time.Minute ||
		aws.ToString(img.RegistryId) != account || aws.ToString(img.RepositoryName) != "app" {
		t.Fatalf("detail %+v", img)
	}
	_, err = e.c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v9")}}})
	if code(err) != "ImageNotFoundException" ||
		message(err) != "The image with imageId {imageDigest:'null', imageTag:'v9'} does not exist within the repository with name 'app' in the registry with id '123456789012'" {
		t.Fatalf("describe a missing tag: %v", err)
	}
	n := 0
	for p := ecr.NewDescribeImagesPaginator(e.c, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), MaxResults: aws.Int32(2)}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.ImageDetails)
	}
	if n != 3 {
		t.Fatalf("%d images described, want 3", n)
	}
	if _, err := e.c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("nope")}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("images of a missing repository: %v", err)
	}

	bg, err := e.c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("v1")}, {ImageTag: aws.String("nope")}, {ImageDigest: aws.String(two.Digest.String()), ImageTag: aws.String("v1")}, {}}})
	if err != nil || len(bg.Images) != 1 || aws.ToString(bg.Images[0].ImageManifest) != string(one.Manifest) || len(bg.Failures) != 3 {
		t.Fatalf("batch get: %v %+v", err, bg)
	}
	if bg.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound || bg.Failures[1].FailureCode != types.ImageFailureCodeImageTagDoesNotMatchDigest ||
		bg.Failures[2].FailureCode != types.ImageFailureCodeMissingDigestAndTag {
		t.Fatalf("failures %+v", bg.Failures)
	}

	// PutImage: a known manifest under a new tag, then pulled with docker's protocol.
	pi, err := e.c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(two.Manifest)), ImageTag: aws.String("again")})
	if err != nil || aws.ToString(pi.Image.ImageId.ImageDigest) != two.Digest.String() {
		t.Fatalf("put image: %v", err)
	}
	if n, err := rc.Pull("app", "again"); err != nil || n < 300 {
		t.Fatalf("pull a put image: %v %d", err, n)
	}
	_, err = e.c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(two.Manifest)), ImageTag: aws.String("again")})
	if code(err) != "ImageAlreadyExistsException" {
		t.Fatalf("put again: %v", err)
	}
	_, err = e.c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(two.Manifest)), ImageTag: aws.String("x"),
		ImageDigest: aws.String(one.Digest.String())})
	if code(err) != "ImageDigestDoesNotMatchException" {
		t.Fatalf("wrong digest: %v", err)
	}
	_, err = e.c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app"), ImageManifest: aws.String(string(registrytest.NewImage(10).Manifest)), ImageTag: aws.String("y")})
	if code(err) != "LayersNotFoundException" {
		t.Fatalf("missing layers: %v", err)
	}

	// BatchDeleteImage: a tag of several removes the tag only; the last
	// tag takes the image; a digest takes it with all its tags.
	del, err := e.c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("stable")}, {ImageTag: aws.String("v1")}, {ImageDigest: aws.String(two.Digest.String())}, {ImageTag: aws.String("gone")},
		{ImageDigest: aws.String("bad digest")}}})
	if err != nil || len(del.ImageIds) != 3 || len(del.Failures) != 2 || del.Failures[1].FailureCode != types.ImageFailureCodeInvalidImageDigest {
		t.Fatalf("batch delete: %v %+v", err, del)
	}
	if got := list(""); len(got) != 1 {
		t.Fatalf("after delete: %v", got)
	}

	_, err = e.c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app")})
	if code(err) != "RepositoryNotEmptyException" {
		t.Fatalf("delete a repository with images: %v", err)
	}
	if _, err := e.c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app"), Force: true}); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := rc.PutManifest("app", "v1", registrytest.MediaTypeManifest, one.Manifest); code != http.StatusNotFound || registrytest.ErrorCode(body) != "NAME_UNKNOWN" {
		t.Fatalf("push to a deleted repository: %d %s", code, body)
	}
	// A new repository of the same name starts empty.
	e.create("app", "")
	if got := list(""); len(got) != 0 {
		t.Fatalf("recreated repository holds %v", got)
	}
}

const seedPolicy = `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Keep last 10 images",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["v"],
        "countType": "imageCountMoreThan",
        "countNumber": 10
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`

func TestLifecyclePolicy(t *testing.T) {
	e := newEnv(t)
	e.create("my-app", "")
	rc := e.login()
	if _, err := e.c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("my-app")}); code(err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("no policy: %v", err)
	}
	bad := strings.Replace(seedPolicy, `"tagged"`, `"sometimes"`, 1)
	_, err := e.c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("my-app"), LifecyclePolicyText: aws.String(bad)})
	if code(err) != "InvalidParameterException" ||
		!strings.HasPrefix(message(err), "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ") {
		t.Fatalf("bad policy: %v", err)
	}
	base := time.Now().Add(-time.Hour)
	var pushed []string
	for i := 1; i <= 13; i++ {
		img := registrytest.NewImage(32)
		e.push(rc, "my-app", fmt.Sprintf("v%d", i), img)
		e.setPushedAt("my-app", img.Digest, base.Add(time.Duration(i)*time.Minute))
		pushed = append(pushed, img.Digest.String())
	}
	// A preview of a policy not yet set.
	sp, err := e.c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String("my-app"), LifecyclePolicyText: aws.String(seedPolicy)})
	if err != nil || sp.Status != types.LifecyclePolicyPreviewStatusComplete {
		t.Fatalf("start preview: %v", err)
	}
	var previewed []string
	for p := ecr.NewGetLifecyclePolicyPreviewPaginator(e.c, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: aws.String("my-app"), MaxResults: aws.Int32(2)}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out.Summary == nil || aws.ToInt32(out.Summary.ExpiringImageTotalCount) != 3 || out.Status != types.LifecyclePolicyPreviewStatusComplete {
			t.Fatalf("preview %+v", out)
		}
		for _, r := range out.PreviewResults {
			if r.Action.Type != types.ImageActionTypeExpire || aws.ToInt32(r.AppliedRulePriority) != 1 {
				t.Fatalf("result %+v", r)
			}
			previewed = append(previewed, aws.ToString(r.ImageDigest))
		}
	}
	if !slices.Equal(previewed, pushed[:3]) {
		t.Fatalf("preview expires %v, want the three oldest %v", previewed, pushed[:3])
	}
	// Set the policy: it runs within seconds.
	if _, err := e.c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("my-app"), LifecyclePolicyText: aws.String(seedPolicy)}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go e.reg.Run(runCtx)
	e.reg.PolicyChanged("my-app")
	deadline := time.Now().Add(60 * time.Second)
	var left []types.ImageIdentifier
	for {
		out, err := e.c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("my-app")})
		if err != nil {
			t.Fatal(err)
		}
		if left = out.ImageIds; len(left) == 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) != 10 {
		t.Fatalf("%d images left, want 10", len(left))
	}
	for _, id := range left {
		if slices.Contains(pushed[:3], aws.ToString(id.ImageDigest)) {
			t.Fatalf("an expired image is still there: %v", aws.ToString(id.ImageTag))
		}
	}
	// The run records when it ran after it has deleted the images: wait
	// for that too.
	var gl *ecr.GetLifecyclePolicyOutput
	for {
		gl, err = e.c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("my-app")})
		if err != nil || gl.LastEvaluatedAt != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || gl.LastEvaluatedAt == nil || !strings.Contains(aws.ToString(gl.LifecyclePolicyText), `"tagPrefixList":["v"]`) {
		t.Fatalf("get policy: %v %+v", err, gl)
	}
	if _, err := e.c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String("my-app")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String("my-app")}); code(err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("preview without a policy: %v", err)
	}
}
