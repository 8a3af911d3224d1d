package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Against an in-process `minato up`, the verbs find the node through its
// data dir alone; `logs -f` prints each event once as it arrives and ends
// with exit 0 when interrupted.
func TestVerbsAgainstALocalNode(t *testing.T) {
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	dir := t.TempDir()
	up := startMain(t, "up", "--no-agent", "--data-dir", dir, "--api-addr", "127.0.0.1:0")
	up.waitFor("minato is up", 60*time.Second)

	cf := connectFlags{dataDir: dir}
	cfg, err := cf.resolve(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, apiURLFile)); !strings.Contains(up.out.String(), strings.TrimSpace(string(b))) || len(b) == 0 {
		t.Fatalf("api-url %q is not the URL the node printed", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, logs := cfg.ecs(), cfg.logs()
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: []ecstypes.ContainerDefinition{{
		Name: aws.String("app"), Image: aws.String("web:1"), Memory: aws.Int32(64),
		LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs", "awslogs-region": "us-east-1"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	stream := "ecs/app/0123456789abcdef0123456789abcdef"
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/web")}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/ecs/web"), LogStreamName: &stream}); err != nil {
		t.Fatal(err)
	}
	put := func(msgs ...string) {
		t.Helper()
		var evs []logstypes.InputLogEvent
		for _, m := range msgs {
			evs = append(evs, logstypes.InputLogEvent{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String(m)})
		}
		if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/ecs/web"), LogStreamName: &stream, LogEvents: evs}); err != nil {
			t.Fatal(err)
		}
	}
	put("first line", "second line")

	// status and ps, as JSON.
	var out, errOut syncBuffer
	if code := Main(ctx, []string{"status", "--data-dir", dir, "--output", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	var st statusReport
	if err := json.Unmarshal([]byte(out.String()), &st); err != nil || len(st.Services) != 1 || st.Services[0].Name != "web" ||
		st.Servers == nil || len(st.Clusters) != 1 || st.Clusters[0].Name != "default" {
		t.Fatalf("status: %v %+v\n%s", err, st, out.String())
	}
	var psOut syncBuffer
	if code := Main(ctx, []string{"ps", "--data-dir", dir}, &psOut, &errOut); code != 0 || psOut.String() != "No tasks.\n" {
		t.Fatalf("ps: exit %d %q %s", code, psOut.String(), errOut.String())
	}

	// logs -f: what is there, then what comes, each once.
	lf := startMain(t, "logs", "web", "-f", "--poll", "20ms", "--data-dir", dir)
	lf.waitFor("second line", 30*time.Second)
	put("third line")
	lf.waitFor("third line", 30*time.Second)
	put("fourth line")
	lf.waitFor("fourth line", 30*time.Second)
	if code := lf.stop(); code != 0 {
		t.Fatalf("logs -f ended with %d on interrupt: %s", code, lf.errOut)
	}
	got := lf.out.String()
	for _, l := range []string{"first line", "second line", "third line", "fourth line"} {
		if n := strings.Count(got, l); n != 1 {
			t.Errorf("%q printed %d times:\n%s", l, n, got)
		}
	}
	if !strings.Contains(got, " app/01234567 first line") {
		t.Errorf("the line does not name its container and task:\n%s", got)
	}
}
