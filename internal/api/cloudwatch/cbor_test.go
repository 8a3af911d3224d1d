package cloudwatch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/fxamacker/cbor/v2"

	"github.com/minato-project/minato/internal/api/cloudwatch"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/metricstore"
	"github.com/minato-project/minato/internal/store/bolt"
)

// newFullServer serves CloudWatch with alarms (a state store) in all three
// protocols.
func newFullServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ms, err := metricstore.Open(filepath.Join(dir, "metrics.db"), metricstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := cloudwatch.New(cloudwatch.Config{Metrics: ms, Store: st})
	srv := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(awsproto.Principal{
		AccessKeyID: testKey, SecretAccessKey: testSecret, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:root"})})
	srv.RegisterQuery(api.QueryService())
	srv.RegisterJSON(api.JSONService())
	srv.RegisterCBOR(api.CBORService())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestGoSDKSpeaksCBOR drives CloudWatch with the current AWS SDK for Go
// v2, which sends Smithy RPC v2 CBOR: numbers, timestamps (tag 1) and
// lists both ways, and a modeled error.
func TestGoSDKSpeaksCBOR(t *testing.T) {
	url := newFullServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sawCBOR bool
	c := cw.New(cw.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		HTTPClient: httpFunc(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" && r.URL.Path == "/service/GraniteServiceVersion20100801/operation/"+opOf(r) {
				sawCBOR = true
			}
			return http.DefaultClient.Do(r)
		})})
	now := time.Now().UTC()
	at := now.Add(-2 * time.Minute).Truncate(time.Second)
	_, err := c.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Latency"), Value: aws.Float64(12.5), Unit: types.StandardUnitMilliseconds, Timestamp: aws.Time(at),
			Dimensions: []types.Dimension{{Name: aws.String("Service"), Value: aws.String("web")}}},
		{MetricName: aws.String("Latency"), Value: aws.Float64(27.5), Unit: types.StandardUnitMilliseconds, Timestamp: aws.Time(at),
			Dimensions: []types.Dimension{{Name: aws.String("Service"), Value: aws.String("web")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !sawCBOR {
		t.Fatal("the SDK did not send RPC v2 CBOR; this test no longer tests it")
	}
	st, err := c.GetMetricStatistics(ctx, &cw.GetMetricStatisticsInput{Namespace: aws.String("App"), MetricName: aws.String("Latency"),
		Dimensions: []types.Dimension{{Name: aws.String("Service"), Value: aws.String("web")}},
		StartTime:  aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Minute)), Period: aws.Int32(60),
		Statistics: []types.Statistic{types.StatisticAverage, types.StatisticSampleCount}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Datapoints) != 1 || *st.Datapoints[0].Average != 20 || *st.Datapoints[0].SampleCount != 2 ||
		!st.Datapoints[0].Timestamp.Equal(at.Truncate(time.Minute)) || st.Datapoints[0].Unit != types.StandardUnitMilliseconds {
		t.Errorf("GetMetricStatistics = %+v", st.Datapoints)
	}
	_, err = c.PutMetricAlarm(ctx, &cw.PutMetricAlarmInput{AlarmName: aws.String("high"), Namespace: aws.String("App"), MetricName: aws.String("Latency"),
		Statistic: types.StatisticAverage, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(100),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, AlarmActions: []string{"arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetAlarmState(ctx, &cw.SetAlarmStateInput{AlarmName: aws.String("high"), StateValue: types.StateValueAlarm, StateReason: aws.String("test")}); err != nil {
		t.Fatal(err)
	}
	al, err := c.DescribeAlarms(ctx, &cw.DescribeAlarmsInput{AlarmNames: []string{"high"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(al.MetricAlarms) != 1 || al.MetricAlarms[0].StateValue != types.StateValueAlarm || *al.MetricAlarms[0].Threshold != 100 ||
		al.MetricAlarms[0].StateUpdatedTimestamp == nil || time.Since(*al.MetricAlarms[0].StateUpdatedTimestamp) > time.Minute ||
		len(al.MetricAlarms[0].AlarmActions) != 1 {
		t.Errorf("DescribeAlarms = %+v", al.MetricAlarms)
	}

	// A modeled error: the SDK finds its type from __type and its code
	// from x-amzn-query-error, as with AWS.
	_, err = c.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Latency"), Value: aws.Float64(math.Inf(1))}}})
	var ipv *types.InvalidParameterValueException
	if !errors.As(err, &ipv) || ipv.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("an infinite value: %v; want InvalidParameterValueException with code InvalidParameterValue", err)
	}
	// An unmodeled one (the model's validation) keeps its Query code.
	_, err = c.GetMetricStatistics(ctx, &cw.GetMetricStatisticsInput{Namespace: aws.String(":bad"), MetricName: aws.String("Latency"),
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), Period: aws.Int32(60), Statistics: []types.Statistic{types.StatisticSum}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Errorf("no namespace: %v", err)
	}
}

type httpFunc func(*http.Request) (*http.Response, error)

func (f httpFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func opOf(r *http.Request) string {
	const p = "/service/GraniteServiceVersion20100801/operation/"
	if len(r.URL.Path) > len(p) {
		return r.URL.Path[len(p):]
	}
	return ""
}

// botocoreBody builds a request body byte by byte as botocore 1.43's
// RpcV2CBORSerializer writes it: definite-length maps, strings, doubles as
// float64 (0xfb), timestamps as tag 1 around whole seconds.
func botocoreBody(at time.Time) []byte {
	var b bytes.Buffer
	str := func(s string) {
		if len(s) < 24 {
			b.WriteByte(0x60 | byte(len(s)))
		} else {
			b.WriteByte(0x78)
			b.WriteByte(byte(len(s)))
		}
		b.WriteString(s)
	}
	b.WriteByte(0xa2) // {Namespace, MetricData}
	str("Namespace")
	str("Boto")
	str("MetricData")
	b.WriteByte(0x81) // [ one datum ]
	b.WriteByte(0xa4) // {MetricName, Value, Timestamp, Dimensions}
	str("MetricName")
	str("Jobs")
	str("Value")
	b.WriteByte(0xfb)
	var f [8]byte
	binary.BigEndian.PutUint64(f[:], math.Float64bits(3))
	b.Write(f[:])
	str("Timestamp")
	b.WriteByte(0xc1) // tag 1
	b.WriteByte(0x1a) // uint32
	var u [4]byte
	binary.BigEndian.PutUint32(u[:], uint32(at.Unix()))
	b.Write(u[:])
	str("Dimensions")
	b.WriteByte(0x81)
	b.WriteByte(0xa2)
	str("Name")
	str("Queue")
	str("Value")
	str("q1")
	return b.Bytes()
}

// TestBotocoreCBORRequests sends the bytes and headers botocore 1.43 sends
// for CloudWatch, and reads the replies as its parser does.
func TestBotocoreCBORRequests(t *testing.T) {
	url := newFullServer(t)
	call := func(op string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/service/GraniteServiceVersion20100801/operation/"+op, bytes.NewReader(body))
		req.Header.Set("smithy-protocol", "rpc-v2-cbor")
		req.Header.Set("Accept", "application/cbor")
		if len(body) > 0 {
			req.Header.Set("Content-Type", "application/cbor")
		}
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, req,
			hex.EncodeToString(sum[:]), "monitoring", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	resp, body := call("PutMetricData", botocoreBody(at))
	if resp.StatusCode != 200 || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("Content-Type") != "application/cbor" {
		t.Fatalf("PutMetricData: %d %v %x", resp.StatusCode, resp.Header, body)
	}
	// ListMetrics with an empty input map (a0), as botocore sends it.
	resp, body = call("ListMetrics", []byte{0xa0})
	var list struct {
		Metrics []struct {
			Namespace, MetricName string
			Dimensions            []struct{ Name, Value string }
		}
	}
	if err := cbor.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list.Metrics) != 1 ||
		list.Metrics[0].MetricName != "Jobs" || list.Metrics[0].Dimensions[0].Value != "q1" {
		t.Fatalf("ListMetrics: %d %v %+v", resp.StatusCode, err, list)
	}
	// GetMetricStatistics: the reply's timestamps are tag 1.
	var q bytes.Buffer
	enc, _ := cbor.EncOptions{Time: cbor.TimeUnix, TimeTag: cbor.EncTagRequired}.EncMode()
	_ = enc.NewEncoder(&q).Encode(map[string]any{"Namespace": "Boto", "MetricName": "Jobs",
		"Dimensions": []map[string]string{{"Name": "Queue", "Value": "q1"}},
		"StartTime":  at.Add(-time.Hour), "EndTime": at.Add(time.Hour), "Period": 60, "Statistics": []string{"Sum"}})
	resp, body = call("GetMetricStatistics", q.Bytes())
	var stats struct {
		Label      string
		Datapoints []struct {
			Timestamp cbor.RawTag
			Sum       float64
		}
	}
	if err := cbor.Unmarshal(body, &stats); err != nil || resp.StatusCode != 200 || len(stats.Datapoints) != 1 {
		t.Fatalf("GetMetricStatistics: %d %v %x", resp.StatusCode, err, body)
	}
	dp := stats.Datapoints[0]
	var secs uint64
	if dp.Timestamp.Number != 1 || cbor.Unmarshal(dp.Timestamp.Content, &secs) != nil || int64(secs) != at.Truncate(time.Minute).Unix() || dp.Sum != 3 {
		t.Errorf("datapoint %+v: want Timestamp tag 1 around %d, Sum 3", dp, at.Truncate(time.Minute).Unix())
	}

	// Errors: the shape in __type, the Query code in x-amzn-query-error.
	resp, body = call("DescribeAlarms", mustCBOR(t, map[string]any{"AlarmNames": []string{"a"}, "AlarmNamePrefix": "b"}))
	var e struct {
		Type    string `cbor:"__type"`
		Message string `cbor:"message"`
	}
	if err := cbor.Unmarshal(body, &e); err != nil || resp.StatusCode != 400 ||
		e.Type != "com.amazonaws.cloudwatch#InvalidParameterCombinationException" ||
		resp.Header.Get("X-Amzn-Query-Error") != "InvalidParameterCombination;Sender" || e.Message == "" {
		t.Errorf("error: %d %v %+v %v", resp.StatusCode, err, e, resp.Header)
	}
	// Not CBOR at all, and an unknown operation.
	resp, _ = call("PutMetricData", []byte{0xff, 0x00})
	if resp.StatusCode != 400 {
		t.Errorf("garbage body: %d", resp.StatusCode)
	}
	resp, body = call("NoSuchOperation", []byte{0xa0})
	if err := cbor.Unmarshal(body, &e); err != nil || resp.StatusCode != 404 || e.Type != "com.amazonaws.cloudwatch#UnknownOperationException" {
		t.Errorf("unknown operation: %d %v %+v", resp.StatusCode, err, e)
	}
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
