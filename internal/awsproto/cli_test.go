package awsproto_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLIPath is the aws CLI v2 (Debian's awscli). An `aws` found earlier on
// PATH may be a v1 shim, so the tests never look it up by name.
const awsCLIPath = "/usr/bin/aws"

// runAWS runs the aws CLI against url with the given secret and a clean
// environment (no profile, config or credentials files).
func runAWS(t *testing.T, url, secret string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipped (runs the aws CLI); run without -short to include it")
	}
	if _, statErr := os.Stat(awsCLIPath); statErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required when CI=true: %v", awsCLIPath, statErr)
		}
		t.Skipf("%s not installed (apt-get install awscli); skipping the aws CLI test", awsCLIPath)
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, awsCLIPath,
		append([]string{"--endpoint-url", url, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"AWS_ACCESS_KEY_ID=" + testKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1",
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestAWSCLIGetCallerIdentity(t *testing.T) {
	f := newFixture(t, nil)
	stdout, stderr, err := runAWS(t, f.URL, testSecret, "sts", "get-caller-identity")
	if err != nil {
		t.Fatalf("aws sts get-caller-identity: %v\n%s\nserver log:\n%s", err, stderr, f.Logs)
	}
	var got struct{ UserId, Account, Arn string }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if got.Account != testAccount || got.Arn != testARN || got.UserId != testUserID {
		t.Errorf("got %+v", got)
	}
}

func TestAWSCLIECSListClusters(t *testing.T) {
	f := newFixture(t, nil)
	stdout, stderr, err := runAWS(t, f.URL, testSecret, "ecs", "list-clusters", "--no-paginate")
	if err != nil {
		t.Fatalf("aws ecs list-clusters: %v\n%s\nserver log:\n%s", err, stderr, f.Logs)
	}
	mustContain(t, "output", stdout, "arn:aws:ecs:us-east-1:123456789012:cluster/c0")
}

func TestAWSCLIBadSecret(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"sts", "get-caller-identity"}, []string{"An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity operation",
			"The request signature we calculated does not match the signature you provided."}},
		{[]string{"ecs", "list-clusters"}, []string{"An error occurred (InvalidSignatureException) when calling the ListClusters operation"}},
	} {
		_, stderr, err := runAWS(t, f.URL, "wrong-secret", tc.args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%v: want a failing exit, got %v\n%s", tc.args, err, stderr)
		}
		mustContain(t, "stderr", stderr, tc.want...)
	}
}

// The aws CLI calling services minato does not serve prints that minato
// does not serve them, whatever their protocol: REST-JSON (EKS, App Mesh),
// JSON (CodeDeploy) and Query (CloudFormation); never a parse error.
// (With AWS_MAX_ATTEMPTS=1 the CLI adds "(reached max retries: 0)" after
// the operation's name.)
func TestAWSCLIUnservedServices(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"eks", "list-clusters"}, []string{"An error occurred (UnknownOperationException) when calling the ListClusters operation",
			": minato does not serve the Amazon EKS API (signing name eks); see docs/compatibility.md"}},
		{[]string{"eks", "delete-cluster", "--name", "x"}, []string{"(UnknownOperationException) when calling the DeleteCluster operation",
			": minato does not serve the Amazon EKS API (signing name eks)"}},
		{[]string{"appmesh", "list-meshes"}, []string{"(UnknownOperationException) when calling the ListMeshes operation",
			": minato does not serve the AWS App Mesh API (signing name appmesh)"}},
		{[]string{"appmesh", "create-mesh", "--mesh-name", "my-mesh"}, []string{": minato does not serve the AWS App Mesh API"}},
		{[]string{"deploy", "list-applications"}, []string{"(UnknownOperationException) when calling the ListApplications operation",
			": minato does not serve the AWS CodeDeploy API (signing name codedeploy)"}},
		{[]string{"cloudformation", "list-stacks"}, []string{"An error occurred (InvalidAction) when calling the ListStacks operation",
			": minato does not serve the AWS CloudFormation API (signing name cloudformation); see docs/compatibility.md"}},
		{[]string{"s3api", "list-buckets"}, []string{"(InvalidAction) when calling the ListBuckets operation",
			": minato does not serve the Amazon S3 API (signing name s3)"}},
	} {
		_, stderr, err := runAWS(t, f.URL, testSecret, tc.args...)
		if err == nil {
			t.Errorf("aws %s succeeded", strings.Join(tc.args, " "))
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("aws %s:\n%s\nwant %q", strings.Join(tc.args, " "), stderr, w)
			}
		}
	}
}
