package cloudwatch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/minato-project/minato/internal/api/cloudwatch"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/metricstore"
)

const (
	testKey    = "AKIACWTEST0000000001"
	testSecret = "cloudwatch-test-secret"
	awsCLIPath = "/usr/bin/aws" // the aws CLI v2; an aws earlier on PATH may be v1
)

func newServer(t *testing.T) string {
	t.Helper()
	st, err := metricstore.Open(filepath.Join(t.TempDir(), "metrics.db"), metricstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := cloudwatch.New(cloudwatch.Config{Metrics: st})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:root"})})
	srv.RegisterQuery(api.QueryService())
	srv.RegisterJSON(api.JSONService())
	srv.RegisterCBOR(api.CBORService())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

func runAWS(t *testing.T, url string, args ...string) (string, string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipped (runs the aws CLI)")
	}
	if _, err := os.Stat(awsCLIPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required when CI=true: %v", awsCLIPath, err)
		}
		t.Skipf("%s not installed; skipping the aws CLI test", awsCLIPath)
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, awsCLIPath, append([]string{"--endpoint-url", url, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8", "AWS_ACCESS_KEY_ID=" + testKey, "AWS_SECRET_ACCESS_KEY=" + testSecret,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// TestAWSCLI drives the API with the aws CLI v2, which speaks the Query
// protocol to CloudWatch.
func TestAWSCLI(t *testing.T) {
	url := newServer(t)
	now := time.Now().UTC()
	ts := now.Add(-2 * time.Minute).Format(time.RFC3339)
	for _, v := range []string{"10", "30"} {
		if _, stderr, err := runAWS(t, url, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Latency",
			"--dimensions", "Service=web", "--value", v, "--unit", "Milliseconds", "--timestamp", ts); err != nil {
			t.Fatalf("put-metric-data: %v\n%s", err, stderr)
		}
	}
	_, stderr, err := runAWS(t, url, "cloudwatch", "put-metric-data", "--namespace", "App", "--metric-name", "Latency", "--value", "NaN")
	if err == nil || !strings.Contains(stderr, "InvalidParameterValue") {
		t.Errorf("NaN: %v %s", err, stderr)
	}
	stdout, stderr, err := runAWS(t, url, "cloudwatch", "get-metric-statistics", "--namespace", "App", "--metric-name", "Latency",
		"--dimensions", "Name=Service,Value=web", "--start-time", now.Add(-time.Hour).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
		"--period", "3600", "--statistics", "Average", "Maximum", "SampleCount")
	if err != nil {
		t.Fatalf("get-metric-statistics: %v\n%s", err, stderr)
	}
	var stats struct {
		Label      string
		Datapoints []struct {
			Average, Maximum, SampleCount float64
			Unit, Timestamp               string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &stats); err != nil {
		t.Fatal(err, stdout)
	}
	if stats.Label != "Latency" || len(stats.Datapoints) != 1 || stats.Datapoints[0].Average != 20 || stats.Datapoints[0].Maximum != 30 ||
		stats.Datapoints[0].SampleCount != 2 || stats.Datapoints[0].Unit != "Milliseconds" {
		t.Errorf("get-metric-statistics = %s", stdout)
	}
	stdout, stderr, err = runAWS(t, url, "cloudwatch", "list-metrics", "--namespace", "App")
	if err != nil || !strings.Contains(stdout, `"MetricName": "Latency"`) || !strings.Contains(stdout, `"Value": "web"`) {
		t.Errorf("list-metrics: %v %s %s", err, stdout, stderr)
	}
	stdout, stderr, err = runAWS(t, url, "cloudwatch", "get-metric-data", "--start-time", now.Add(-time.Hour).Format(time.RFC3339),
		"--end-time", now.Add(time.Minute).Format(time.RFC3339), "--metric-data-queries",
		`[{"Id":"l","MetricStat":{"Metric":{"Namespace":"App","MetricName":"Latency","Dimensions":[{"Name":"Service","Value":"web"}]},"Period":60,"Stat":"Sum"}}]`)
	if err != nil || !strings.Contains(stdout, `"Values": [`) || !strings.Contains(stdout, "40.0") {
		t.Errorf("get-metric-data: %v %s %s", err, stdout, stderr)
	}
}

// TestJSON10 calls the API in AWS JSON 1.0, as SDKs that pick that
// protocol send it.
func TestJSON10(t *testing.T) {
	url := newServer(t)
	call := func(op, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "GraniteServiceVersion20100801."+op)
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, req,
			hex.EncodeToString(sum[:]), "monitoring", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now().Unix()
	code, body := call("PutMetricData", `{"Namespace":"App","MetricData":[{"MetricName":"Hits","Value":5,"Timestamp":`+itoa(now-60)+`}]}`)
	if code != 200 {
		t.Fatalf("PutMetricData: %d %s", code, body)
	}
	code, body = call("PutMetricData", `{"Namespace":"App","MetricData":[{"MetricName":"Hits","Value":1e300}]}`)
	if code != 400 || !strings.Contains(body, `"__type":"InvalidParameterValue"`) {
		t.Errorf("huge value: %d %s", code, body)
	}
	code, body = call("GetMetricStatistics", `{"Namespace":"App","MetricName":"Hits","StartTime":`+itoa(now-3600)+`,"EndTime":`+itoa(now+60)+`,"Period":3600,"Statistics":["Sum"]}`)
	if code != 200 || !bytes.Contains([]byte(body), []byte(`"Sum":5`)) {
		t.Errorf("GetMetricStatistics: %d %s", code, body)
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
