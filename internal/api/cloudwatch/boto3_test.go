package cloudwatch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// boto3Script calls CloudWatch as a Python program does, with the
// protocol the installed botocore picks (1.43 prefers JSON 1.0 to the
// model's first, RPC v2 CBOR), or with CBOR put first ("cbor"), and prints
// the wire protocol and what it read back.
const boto3Script = `
import datetime, sys
import botocore.model, botocore.session
if sys.argv[2] == "cbor":
    # botocore prefers JSON to CBOR when a model lists both (its
    # PRIORITY_ORDERED_SUPPORTED_PROTOCOLS); put CBOR first to drive its
    # real RPC v2 CBOR serializer and parser.
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("smithy-rpc-v2-cbor",) + tuple(
        p for p in botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS if p != "smithy-rpc-v2-cbor")
s = botocore.session.get_session()
c = s.create_client("cloudwatch", region_name="us-east-1", endpoint_url=sys.argv[1])
wire = set()
def sent(request, **kw):
    h = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    wire.add("cbor" if h.get("smithy-protocol") == "rpc-v2-cbor" else "json" if "x-amz-target" in h else "query")
c.meta.events.register("before-send", sent)
now = datetime.datetime.now(datetime.timezone.utc)
c.put_metric_data(Namespace="Py", MetricData=[{"MetricName": "Jobs", "Value": 4.5, "Timestamp": now - datetime.timedelta(minutes=1),
    "Dimensions": [{"Name": "Queue", "Value": "q1"}]}])
r = c.get_metric_statistics(Namespace="Py", MetricName="Jobs", Dimensions=[{"Name": "Queue", "Value": "q1"}],
    StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=1), Period=3600, Statistics=["Sum"])
dp = r["Datapoints"][0]
print("sum", dp["Sum"], "timestamp-type", type(dp["Timestamp"]).__name__)
c.put_metric_alarm(AlarmName="py-high", Namespace="Py", MetricName="Jobs", Statistic="Average", Period=60, EvaluationPeriods=1,
    Threshold=10.0, ComparisonOperator="GreaterThanThreshold")
a = c.describe_alarms(AlarmNames=["py-high"])["MetricAlarms"][0]
print("alarm", a["AlarmName"], a["StateValue"], float(a["Threshold"]))
try:
    c.put_metric_data(Namespace="Py", MetricData=[{"MetricName": "Jobs", "Value": float("nan")}])
except c.exceptions.ClientError as e:
    print("error", e.response["Error"]["Code"])
print("wire", ",".join(sorted(wire)))
`

// TestBoto3 drives CloudWatch with the botocore installed on this machine
// (Debian's python3-botocore), skipped where there is none.
func TestBoto3(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipped (runs python3)")
	}
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 with botocore is required when CI=true: %v", err)
		}
		t.Skipf("python3 with botocore not installed: %v", err)
	}
	for _, mode := range []string{"default", "cbor"} {
		t.Run(mode, func(t *testing.T) { runBoto3(t, mode) })
	}
}

func runBoto3(t *testing.T, mode string) {
	url := newFullServer(t)
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", boto3Script, url, mode)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "AWS_ACCESS_KEY_ID=" + testKey, "AWS_SECRET_ACCESS_KEY=" + testSecret,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	got := string(out)
	t.Logf("%s", got)
	for _, want := range []string{"sum 4.5 timestamp-type datetime", "alarm py-high INSUFFICIENT_DATA 10.0"} {
		if !strings.Contains(got, want) {
			t.Errorf("boto3 output lacks %q:\n%s", want, got)
		}
	}
	// NaN travels as a CBOR float, which is refused as CloudWatch refuses
	// it. In JSON 1.0 botocore sends the string "NaN", which minato's JSON
	// decoder does not take for a number yet (SerializationException).
	switch {
	case mode == "cbor" && !strings.Contains(got, "wire cbor\n"):
		t.Errorf("botocore did not send CBOR:\n%s", got)
	case strings.Contains(got, "wire cbor\n"):
		if !strings.Contains(got, "error InvalidParameterValue") {
			t.Errorf("NaN in CBOR: want InvalidParameterValue:\n%s", got)
		}
	case strings.Contains(got, "wire json\n"):
		t.Logf("this botocore sends JSON 1.0 to CloudWatch by default")
	default:
		t.Errorf("unexpected wire protocol:\n%s", got)
	}
}
