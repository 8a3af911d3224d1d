package awsproto_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/minato-project/minato/internal/awsproto"
)

// Invalid UTF-8 is refused, not decoded into U+FFFD: two different names
// would become one.
func TestInvalidUTF8(t *testing.T) {
	f := newFixture(t, nil)
	r := do(t, signed(t, "POST", f.URL, []byte("{\"clusters\":[\"web\xff\"]}"), jsonHeaders("DescribeClusters"), "ecs", goodCreds(), time.Now()))
	if r.Status != 400 || r.Header.Get("X-Amzn-Errortype") != "SerializationException" {
		t.Errorf("JSON: %d %s", r.Status, r.Body)
	}
	// Valid UTF-8 beyond ASCII passes.
	r = do(t, signed(t, "POST", f.URL, []byte(`{"clusters":["港"]}`), jsonHeaders("DescribeClusters"), "ecs", goodCreds(), time.Now()))
	if r.Status != 200 || !strings.Contains(r.Body, "港") {
		t.Errorf("JSON with UTF-8: %d %s", r.Status, r.Body)
	}

	for _, form := range []string{
		"Action=GetCallerIdentity&Version=2011-06-15&Extra=ab%FF",
		"Action=GetCallerIdentity&Version=2011-06-15&%FE=x",
	} {
		r = do(t, signed(t, "POST", f.URL, []byte(form), formHeaders, "sts", goodCreds(), time.Now()))
		if r.Status != 404 {
			t.Errorf("%s: status %d", form, r.Status)
		}
		mustContain(t, form, r.Body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`,
			"<Code>MalformedQueryString</Code>", "not valid UTF-8")
	}
	req := signed(t, "GET", f.URL+"/?Action=GetCallerIdentity&Version=2011-06-15&Extra=%C3%28", nil, nil, "sts", goodCreds(), time.Now())
	if r = do(t, req); r.Status != 404 || !strings.Contains(r.Body, "<Code>MalformedQueryString</Code>") {
		t.Errorf("GET: %d %s", r.Status, r.Body)
	}
}

// Two Authorization headers are refused, even if both carry the same valid
// signature.
func TestDuplicateAuthorization(t *testing.T) {
	f := newFixture(t, nil)
	req := signed(t, "POST", f.URL, []byte(`{}`), jsonHeaders("ListClusters"), "ecs", goodCreds(), time.Now())
	req.Header.Add("Authorization", req.Header.Get("Authorization"))
	r := do(t, req)
	if r.Status != 400 || r.Header.Get("X-Amzn-Errortype") != "IncompleteSignatureException" {
		t.Errorf("JSON: %d %s", r.Status, r.Body)
	}

	req = signed(t, "POST", f.URL, []byte("Action=GetCallerIdentity&Version=2011-06-15"), formHeaders, "sts", goodCreds(), time.Now())
	req.Header.Add("Authorization", req.Header.Get("Authorization"))
	r = do(t, req)
	if r.Status != 400 {
		t.Errorf("Query status %d", r.Status)
	}
	mustContain(t, "Query", r.Body, "<Code>IncompleteSignature</Code>", "more than one Authorization header")
}

// An error does not send a megabyte of the caller's input back.
func TestErrorsClipCallerInput(t *testing.T) {
	huge := strings.Repeat("A", 1<<20)
	check := func(t *testing.T, what string, status int, body string) {
		t.Helper()
		if status != 400 || len(body) > 2048 || !strings.Contains(body, "AAAA…") {
			t.Errorf("%s: %d, %d bytes: %.300s", what, status, len(body), body)
		}
	}

	// A megabyte X-Amz-Target: an http.Server refuses headers that large,
	// so the handler is called directly.
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterJSON(testECSService())
	s.RegisterQuery(testSTSService())
	hdr := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ecsPrefix + "." + huge}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, signed(t, "POST", "http://minato.test/", []byte(`{}`), hdr, "ecs", goodCreds(), time.Now()))
	check(t, "X-Amz-Target", rec.Code, rec.Body.String())
	if !strings.Contains(rec.Body.String(), "UnknownOperationException") {
		t.Errorf("X-Amz-Target: %.300s", rec.Body.String())
	}

	f := newFixture(t, nil)
	r := do(t, signed(t, "POST", f.URL, []byte("Action="+huge+"&Version=2011-06-15"), formHeaders, "sts", goodCreds(), time.Now()))
	check(t, "Action", r.Status, r.Body)
	mustContain(t, "Action", r.Body, "<Code>InvalidAction</Code>")
	if len(f.Logs.String()) > 64<<10 {
		t.Errorf("the log holds %d bytes after two requests", len(f.Logs.String()))
	}
}

// The per-request log line is DEBUG, also for client errors; a server
// error is logged at ERROR.
func TestRequestLogLevels(t *testing.T) {
	logs := &logBuffer{}
	f := newFixture(t, func(c *awsproto.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	c := ecsClient(f.URL, goodCreds())
	ctx := context.Background()
	if _, err := c.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"missing"}})
	apiError(t, err, "ClusterNotFoundException", 400)
	_, err = ecsClient(f.URL, aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "wrong"}).ListClusters(ctx, &ecs.ListClustersInput{})
	apiError(t, err, "InvalidSignatureException", 400)
	req, _ := http.NewRequest("POST", f.URL, strings.NewReader(`{}`))
	do(t, req)
	if strings.Contains(logs.String(), "aws request") {
		t.Errorf("requests that succeeded or failed for the client are logged above DEBUG:\n%s", logs.String())
	}

	_, err = c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"internal"}})
	apiError(t, err, "ServerException", 500)
	mustContain(t, "log", logs.String(), `level=ERROR msg="aws request"`, "status=500")
}
