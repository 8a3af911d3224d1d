package awsproto_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
)

// apiError asserts err is an AWS API error with the code and HTTP status.
func apiError(t *testing.T, err error, code string, status int) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Errorf("code = %q, want %q (%v)", ae.ErrorCode(), code, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("no HTTP response in %v", err)
	}
	if re.HTTPStatusCode() != status {
		t.Errorf("status = %d, want %d", re.HTTPStatusCode(), status)
	}
	if re.ServiceRequestID() == "" {
		t.Errorf("no request ID in %v", err)
	}
	return ae
}

func TestSTSGetCallerIdentity(t *testing.T) {
	f := newFixture(t, nil)
	out, err := stsClient(f.URL, goodCreds()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != testAccount || aws.ToString(out.Arn) != testARN || aws.ToString(out.UserId) != testUserID {
		t.Errorf("got account %q arn %q user %q", aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId))
	}
}

func TestECSListClusters(t *testing.T) {
	f := newFixture(t, nil)
	out, err := ecsClient(f.URL, goodCreds()).ListClusters(context.Background(), &ecs.ListClustersInput{MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"arn:aws:ecs:us-west-2:123456789012:cluster/c0", "arn:aws:ecs:us-west-2:123456789012:cluster/c1"}
	if strings.Join(out.ClusterArns, ",") != strings.Join(want, ",") {
		t.Errorf("clusterArns = %v, want %v", out.ClusterArns, want)
	}
}

func TestResponseHeaders(t *testing.T) {
	f := newFixture(t, nil)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	r := do(t, signed(t, "POST", f.URL, []byte(`{}`), jsonHeaders("ListClusters"), "ecs", goodCreds(), time.Now()))
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || !uuid.MatchString(r.Header.Get("X-Amzn-Requestid")) {
		t.Errorf("JSON reply: %d %v %s", r.Status, r.Header, r.Body)
	}
	r = do(t, signed(t, "POST", f.URL, []byte("Action=GetCallerIdentity&Version=2011-06-15"), formHeaders, "sts", goodCreds(), time.Now()))
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/xml" || !uuid.MatchString(r.Header.Get("X-Amzn-Requestid")) {
		t.Errorf("Query reply: %d %v %s", r.Status, r.Header, r.Body)
	}
	mustContain(t, "Query reply", r.Body, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`,
		"<RequestId>"+r.Header.Get("X-Amzn-Requestid")+"</RequestId>")
}

func TestUnknownAccessKey(t *testing.T) {
	f := newFixture(t, nil)
	creds := aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: testSecret}
	_, err := stsClient(f.URL, creds).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	ae := apiError(t, err, "InvalidClientTokenId", 403)
	if ae.ErrorMessage() != "The security token included in the request is invalid" {
		t.Errorf("message = %q", ae.ErrorMessage())
	}
	_, err = ecsClient(f.URL, creds).ListClusters(context.Background(), &ecs.ListClustersInput{})
	ae = apiError(t, err, "UnrecognizedClientException", 400)
	if ae.ErrorMessage() != "The security token included in the request is invalid." {
		t.Errorf("message = %q", ae.ErrorMessage())
	}
}

func TestWrongSecret(t *testing.T) {
	f := newFixture(t, nil)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "not-the-secret"}
	_, err := stsClient(f.URL, creds).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	ae := apiError(t, err, "SignatureDoesNotMatch", 403)
	mustContain(t, "message", ae.ErrorMessage(), "The request signature we calculated does not match the signature you provided.")
	_, err = ecsClient(f.URL, creds).ListClusters(context.Background(), &ecs.ListClustersInput{})
	apiError(t, err, "InvalidSignatureException", 400)
	mustContain(t, "logs", f.Logs.String(), "signature mismatch", "CANONICAL STRING")
	if strings.Contains(f.Logs.String(), testSecret) {
		t.Error("the secret key was logged")
	}
}

func TestTamperedBody(t *testing.T) {
	f := newFixture(t, nil)
	req := signed(t, "POST", f.URL, []byte(`{"maxResults":1}`), jsonHeaders("ListClusters"), "ecs", goodCreds(), time.Now())
	req.Body = http.NoBody
	req.ContentLength = 0
	r := do(t, req)
	if r.Status != 400 || !strings.Contains(r.Body, "InvalidSignatureException") {
		t.Errorf("got %d %s", r.Status, r.Body)
	}
}

func TestMissingAuthentication(t *testing.T) {
	f := newFixture(t, nil)

	req, _ := http.NewRequest("POST", f.URL, strings.NewReader(`{}`))
	for k, v := range jsonHeaders("ListClusters") {
		req.Header.Set(k, v)
	}
	r := do(t, req)
	if r.Status != 400 || r.Header.Get("X-Amzn-Errortype") != "MissingAuthenticationTokenException" {
		t.Errorf("JSON: %d %v", r.Status, r.Header)
	}
	if r.Body != `{"__type":"MissingAuthenticationTokenException","message":"Request is missing Authentication Token"}` {
		t.Errorf("JSON body: %s", r.Body)
	}

	req, _ = http.NewRequest("POST", f.URL, strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = do(t, req)
	if r.Status != 403 {
		t.Errorf("Query status %d", r.Status)
	}
	// The body, which names the version, is not read for an unsigned
	// request, so the reply cannot say which Query service it is from.
	mustContain(t, "Query body", r.Body, `<ErrorResponse>`,
		"<Type>Sender</Type>", "<Code>MissingAuthenticationToken</Code>",
		"<Message>Request is missing Authentication Token</Message>", "<RequestId>")

	req, _ = http.NewRequest("GET", f.URL+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	r = do(t, req)
	if r.Status != 403 {
		t.Errorf("Query GET status %d", r.Status)
	}
	mustContain(t, "Query GET", r.Body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`,
		"<Code>MissingAuthenticationToken</Code>")
}

func TestIncompleteSignature(t *testing.T) {
	f := newFixture(t, nil)
	for _, auth := range []string{
		"AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20240101/us-east-1/ecs/aws4_request",
		"AWS4-HMAC-SHA256 Credential=" + testKeyID + "/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00",
		"AWS " + testKeyID + ":c2lnbmF0dXJl",
	} {
		req, _ := http.NewRequest("POST", f.URL, strings.NewReader(`{}`))
		for k, v := range jsonHeaders("ListClusters") {
			req.Header.Set(k, v)
		}
		req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
		req.Header.Set("Authorization", auth)
		r := do(t, req)
		if r.Status != 400 || r.Header.Get("X-Amzn-Errortype") != "IncompleteSignatureException" {
			t.Errorf("%s: %d %s", auth, r.Status, r.Body)
		}
	}
}

func TestClockSkew(t *testing.T) {
	ctx := context.Background()
	skewed := func(d time.Duration) func(*awsproto.Config) {
		return func(c *awsproto.Config) {
			c.Clock = core.ClockFunc(func() time.Time { return time.Now().Add(d) })
		}
	}

	t.Run("server ahead", func(t *testing.T) {
		f := newFixture(t, skewed(20*time.Minute))
		_, err := ecsClient(f.URL, goodCreds()).ListClusters(ctx, &ecs.ListClustersInput{})
		ae := apiError(t, err, "InvalidSignatureException", 400)
		if !regexp.MustCompile(`^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$`).MatchString(ae.ErrorMessage()) {
			t.Errorf("message = %q", ae.ErrorMessage())
		}
		_, err = stsClient(f.URL, goodCreds()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		ae = apiError(t, err, "SignatureDoesNotMatch", 403)
		mustContain(t, "message", ae.ErrorMessage(), "Signature expired: ")
	})

	t.Run("client behind", func(t *testing.T) {
		f := newFixture(t, nil)
		_, err := ecsClient(f.URL, goodCreds(), func(o *ecs.Options) {
			o.HTTPSignerV4 = shiftedSigner{d: -20 * time.Minute, s: v4.NewSigner()}
		}).ListClusters(ctx, &ecs.ListClustersInput{})
		ae := apiError(t, err, "InvalidSignatureException", 400)
		mustContain(t, "message", ae.ErrorMessage(), "Signature expired: ", "- 15 min.)")
	})

	t.Run("client ahead", func(t *testing.T) {
		f := newFixture(t, nil)
		_, err := stsClient(f.URL, goodCreds(), func(o *sts.Options) {
			o.HTTPSignerV4 = shiftedSigner{d: 20 * time.Minute, s: v4.NewSigner()}
		}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		ae := apiError(t, err, "SignatureDoesNotMatch", 403)
		mustContain(t, "message", ae.ErrorMessage(), "Signature not yet current: ", "+ 15 min.)")
	})

	t.Run("within 15 minutes", func(t *testing.T) {
		f := newFixture(t, skewed(14*time.Minute))
		if _, err := ecsClient(f.URL, goodCreds()).ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SDK corrects skew from the Date header", func(t *testing.T) {
		// With its standard retryer the SDK reads the server's Date header,
		// sees the skew and retries with a corrected signing time.
		f := newFixture(t, skewed(30*time.Minute))
		c := ecs.New(ecs.Options{
			Region: "us-west-2", BaseEndpoint: aws.String(f.URL),
			Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		})
		if _, err := c.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnknownOperation(t *testing.T) {
	f := newFixture(t, nil)
	_, err := ecsClient(f.URL, goodCreds()).ListServices(context.Background(), &ecs.ListServicesInput{})
	apiError(t, err, "UnknownOperationException", 400)

	hdr := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "NoSuchService_20990101.Frobnicate"}
	r := do(t, signed(t, "POST", f.URL, []byte(`{}`), hdr, "ecs", goodCreds(), time.Now()))
	if r.Status != 400 || r.Header.Get("X-Amzn-Errortype") != "UnknownOperationException" {
		t.Errorf("unknown prefix: %d %s", r.Status, r.Body)
	}

	r = do(t, signed(t, "POST", f.URL, []byte("Action=Frobnicate&Version=2011-06-15"), formHeaders, "sts", goodCreds(), time.Now()))
	if r.Status != 400 {
		t.Errorf("unknown action status %d", r.Status)
	}
	mustContain(t, "unknown action", r.Body, "<Code>InvalidAction</Code>",
		"<Message>Could not find operation Frobnicate for version 2011-06-15</Message>")

	r = do(t, signed(t, "POST", f.URL, []byte("Action=GetCallerIdentity&Version=2099-01-01"), formHeaders, "sts", goodCreds(), time.Now()))
	mustContain(t, "wrong version", r.Body, "<Code>InvalidAction</Code>", "for version 2099-01-01")

	r = do(t, signed(t, "POST", f.URL, []byte("Version=2011-06-15"), formHeaders, "sts", goodCreds(), time.Now()))
	mustContain(t, "no action", r.Body, "<Code>MissingAction</Code>")
}

func TestWrongServiceScope(t *testing.T) {
	f := newFixture(t, nil)
	r := do(t, signed(t, "POST", f.URL, []byte(`{}`), jsonHeaders("ListClusters"), "logs", goodCreds(), time.Now()))
	if r.Status != 400 || !strings.Contains(r.Body, `Credential should be scoped to correct service: 'ecs'.`) {
		t.Errorf("got %d %s", r.Status, r.Body)
	}
}

func TestMalformedJSON(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"syntax", `{"maxResults": `, 400},
		{"not an object", `[1,2]`, 400},
		{"type mismatch", `{"maxResults":"ten"}`, 400},
		{"unknown fields are ignored", `{"maxResults":1,"someFutureField":{"a":[1]}}`, 200},
		{"empty body", ``, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, signed(t, "POST", f.URL, []byte(tc.body), jsonHeaders("ListClusters"), "ecs", goodCreds(), time.Now()))
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.status == 400 && r.Header.Get("X-Amzn-Errortype") != "SerializationException" {
				t.Errorf("error type %q: %s", r.Header.Get("X-Amzn-Errortype"), r.Body)
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	f := newFixture(t, func(c *awsproto.Config) { c.MaxBodyBytes = 1024 })
	_, err := ecsClient(f.URL, goodCreds()).ListClusters(context.Background(),
		&ecs.ListClustersInput{NextToken: aws.String(strings.Repeat("x", 4096))})
	apiError(t, err, "RequestEntityTooLargeException", 413)

	body := "Action=GetCallerIdentity&Version=2011-06-15&Pad=" + strings.Repeat("y", 2048)
	r := do(t, signed(t, "POST", f.URL, []byte(body), formHeaders, "sts", goodCreds(), time.Now()))
	if r.Status != 413 || !strings.Contains(r.Body, "<Code>RequestEntityTooLarge</Code>") {
		t.Errorf("query: %d %s", r.Status, r.Body)
	}

	// A chunked body (no Content-Length) is cut off while reading.
	req := signed(t, "POST", f.URL, []byte(strings.Repeat(" ", 4096)), jsonHeaders("ListClusters"), "ecs", goodCreds(), time.Now())
	req.ContentLength = -1
	r = do(t, req)
	if r.Status != 413 {
		t.Errorf("chunked: %d %s", r.Status, r.Body)
	}
}

func TestDomainErrors(t *testing.T) {
	f := newFixture(t, nil)
	c := ecsClient(f.URL, goodCreds())
	describe := func(name string) error {
		_, err := c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{name}})
		return err
	}

	err := describe("missing")
	var nf *ecstypes.ClusterNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("want typed ClusterNotFoundException, got %v", err)
	}
	apiError(t, err, "ClusterNotFoundException", 400)
	apiError(t, describe("throttle"), "ThrottlingException", 400)
	apiError(t, describe("unavailable"), "ServiceUnavailableException", 503)
	apiError(t, describe("teapot"), "TeapotException", 418)

	ae := apiError(t, describe("internal"), "ServerException", 500)
	if strings.Contains(ae.ErrorMessage(), "disk on fire") {
		t.Errorf("internal error leaked: %q", ae.ErrorMessage())
	}
	mustContain(t, "logs", f.Logs.String(), "disk on fire")

	apiError(t, describe("panic"), "ServerException", 500)
	mustContain(t, "logs", f.Logs.String(), "handler panicked", "handler exploded")

	out, err := c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{"nil"}})
	if err != nil || len(out.Clusters) != 0 {
		t.Errorf("nil output: %v %v", out, err)
	}
	out, err = c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{"web"}})
	if err != nil || len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].ClusterName) != "web" {
		t.Errorf("describe web: %v %v", out, err)
	}
}

func TestPresignedQuery(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	presign := func(at time.Time, expires string) string {
		u := f.URL + "/?Action=GetCallerIdentity&Version=2011-06-15"
		if expires != "" {
			u += "&X-Amz-Expires=" + expires
		}
		req, _ := http.NewRequest("GET", u, nil)
		signedURL, _, err := v4.NewSigner().PresignHTTP(ctx, goodCreds(), req,
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sts", "us-east-1", at)
		if err != nil {
			t.Fatal(err)
		}
		return signedURL
	}
	get := func(u string) rawResponse {
		req, _ := http.NewRequest("GET", u, nil)
		return do(t, req)
	}

	r := get(presign(time.Now(), ""))
	if r.Status != 200 || !strings.Contains(r.Body, "<Arn>"+testARN+"</Arn>") {
		t.Errorf("presigned: %d %s", r.Status, r.Body)
	}
	r = get(strings.Replace(presign(time.Now(), ""), "GetCallerIdentity", "GetSessionToken", 1))
	if r.Status != 403 || !strings.Contains(r.Body, "SignatureDoesNotMatch") {
		t.Errorf("tampered: %d %s", r.Status, r.Body)
	}
	// Signed 30 minutes ago but valid for an hour.
	if r = get(presign(time.Now().Add(-30*time.Minute), "3600")); r.Status != 200 {
		t.Errorf("within X-Amz-Expires: %d %s", r.Status, r.Body)
	}
	r = get(presign(time.Now().Add(-10*time.Minute), "60"))
	if r.Status != 403 || !strings.Contains(r.Body, "Signature expired") {
		t.Errorf("expired: %d %s", r.Status, r.Body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest("DELETE", f.URL, nil)
	if r := do(t, req); r.Status != 405 {
		t.Errorf("DELETE: %d %s", r.Status, r.Body)
	}
}

// A request signed for a service minato does not serve is answered in its
// protocol: JSON with __type and x-amzn-ErrorType for JSON and REST-JSON,
// an XML ErrorResponse for Query and REST-XML; a served service's unknown
// operation keeps its own error.
func TestUnservedService(t *testing.T) {
	f := newFixture(t, nil)
	const jsonMsg = `"message":"minato does not serve the Amazon EKS API (signing name eks); see docs/compatibility.md"`
	for _, tc := range []struct {
		name          string
		method, path  string
		body          string
		hdr           map[string]string
		service       string
		ctype, errTyp string
		want          []string
	}{
		{"REST-JSON GET", "GET", "/clusters", "", nil, "eks", "application/x-amz-json-1.1", "UnknownOperationException",
			[]string{`"__type":"UnknownOperationException"`, jsonMsg}},
		{"REST-JSON DELETE", "DELETE", "/clusters/x", "", nil, "eks", "application/x-amz-json-1.1", "UnknownOperationException", []string{jsonMsg}},
		{"REST-JSON PUT", "PUT", "/v20190125/meshes", `{"meshName":"m"}`, map[string]string{"Content-Type": "application/json"}, "appmesh",
			"application/x-amz-json-1.1", "UnknownOperationException", []string{"AWS App Mesh API (signing name appmesh)"}},
		{"JSON", "POST", "/", `{}`, map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "CodeDeploy_20141006.ListApplications"},
			"codedeploy", "application/x-amz-json-1.1", "UnknownOperationException", []string{"AWS CodeDeploy API (signing name codedeploy)"}},
		{"Query", "POST", "/", "Action=ListStacks&Version=2010-05-15", formHeaders, "cloudformation", "text/xml", "",
			[]string{"<Code>InvalidAction</Code>", "<Type>Sender</Type>", "AWS CloudFormation API (signing name cloudformation)"}},
		{"REST-XML", "GET", "/", "", nil, "s3", "text/xml", "", []string{"<Code>InvalidAction</Code>", "Amazon S3 API (signing name s3)"}},
		{"a name minato has no title for", "GET", "/things", "", nil, "frobnicator", "application/x-amz-json-1.1", "UnknownOperationException",
			[]string{"minato does not serve the frobnicator API (signing name frobnicator)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, signed(t, tc.method, f.URL+tc.path, []byte(tc.body), tc.hdr, tc.service, goodCreds(), time.Now()))
			if r.Status != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype) || r.Header.Get("X-Amzn-Errortype") != tc.errTyp {
				t.Fatalf("%d %s %q: %s", r.Status, r.Header.Get("Content-Type"), r.Header.Get("X-Amzn-Errortype"), r.Body)
			}
			mustContain(t, tc.name, r.Body, tc.want...)
		})
	}
	// An unknown key is refused as such, not told the service is missing.
	r := do(t, signed(t, "GET", f.URL+"/clusters", nil, nil, "eks", aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}, time.Now()))
	if r.Status == 400 && strings.Contains(r.Body, "does not serve") {
		t.Fatalf("an unknown key learnt what minato serves: %s", r.Body)
	}
}
