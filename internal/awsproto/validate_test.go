package awsproto_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/model/logstypes"
	"github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/model/ssmtypes"
	"github.com/minato-project/minato/internal/model/ststypes"
)

// never is an operation that must not run: Op has to refuse its input first.
func never[In, Out any](ran *atomic.Int32) awsproto.Handler {
	return awsproto.Op(func(context.Context, *awsproto.Call, *In) (*Out, error) {
		ran.Add(1)
		return new(Out), nil
	})
}

// TestOpRefusesWhatTheModelRefuses sends, through each service's real SDK
// client, one request that breaks a limit of the AWS model, to a server
// whose handlers must not run: the request is refused before them, with the
// service's validation error and AWS's message, the value cut short.
func TestOpRefusesWhatTheModelRefuses(t *testing.T) {
	var ran atomic.Int32
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterJSON(awsproto.JSONService{SigningName: ecstypes.SigningName, TargetPrefix: ecstypes.TargetPrefix, Ops: map[string]awsproto.JSONHandler{
		"TagResource": never[ecstypes.TagResourceRequest, ecstypes.TagResourceResponse](&ran)}})
	s.RegisterJSON(awsproto.JSONService{SigningName: logstypes.SigningName, TargetPrefix: logstypes.TargetPrefix, Ops: map[string]awsproto.JSONHandler{
		"FilterLogEvents": never[logstypes.FilterLogEventsRequest, logstypes.FilterLogEventsResponse](&ran)}})
	s.RegisterJSON(awsproto.JSONService{SigningName: ssmtypes.SigningName, TargetPrefix: ssmtypes.TargetPrefix, Ops: map[string]awsproto.JSONHandler{
		"PutParameter": never[ssmtypes.PutParameterRequest, ssmtypes.PutParameterResult](&ran)}})
	s.RegisterJSON(awsproto.JSONService{SigningName: secretsmanagertypes.SigningName, TargetPrefix: secretsmanagertypes.TargetPrefix, Ops: map[string]awsproto.JSONHandler{
		"GetSecretValue": never[secretsmanagertypes.GetSecretValueRequest, secretsmanagertypes.GetSecretValueResponse](&ran)}})
	s.RegisterQuery(awsproto.QueryService{SigningName: elbv2types.SigningName, Version: elbv2types.APIVersion, XMLNamespace: elbv2types.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"ModifyTargetGroup": never[elbv2types.ModifyTargetGroupInput, elbv2types.ModifyTargetGroupOutput](&ran)}})
	s.RegisterQuery(awsproto.QueryService{SigningName: ststypes.SigningName, Version: ststypes.APIVersion, XMLNamespace: ststypes.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"AssumeRole": never[ststypes.AssumeRoleRequest, ststypes.AssumeRoleResponse](&ran)}})
	ts := httptest.NewServer(s)
	defer ts.Close()

	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(testPrincipal.AccessKeyID, testPrincipal.SecretAccessKey, "")}
	ctx := context.Background()
	long := func(n int) *string { return aws.String(strings.Repeat("x", n)) }
	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"ecs tag key", "InvalidParameterException",
			"1 validation error detected: Value 'xxx", // ... at 'tags.1.member.key' ...
			func() error {
				_, err := ecs.NewFromConfig(cfg).TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/c"),
					Tags: []ecssdk.Tag{{Key: long(129), Value: aws.String("v")}}})
				return err
			}},
		{"logs filterPattern", "InvalidParameterException",
			"at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024",
			func() error {
				_, err := cwl.NewFromConfig(cfg).FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/g"), FilterPattern: long(1025)})
				return err
			}},
		{"ssm allowedPattern 9 MiB", "ValidationException",
			"at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024",
			func() error {
				_, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("v"),
					AllowedPattern: long(9 << 20)})
				return err
			}},
		{"secretsmanager secretId", "ValidationException",
			"at 'secretId' failed to satisfy constraint: Member must have length less than or equal to 2048",
			func() error {
				_, err := sm.NewFromConfig(cfg).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: long(2049)})
				return err
			}},
		{"elbv2 health check path", "ValidationError",
			"at 'healthCheckPath' failed to satisfy constraint: Member must have length less than or equal to 1024",
			func() error {
				_, err := elb.NewFromConfig(cfg).ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{
					TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"), HealthCheckPath: long(1025)})
				return err
			}},
		{"sts role session name", "ValidationError",
			"at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64",
			func() error {
				_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/r"),
					RoleSessionName: long(65)})
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := apiError(t, tc.call(), tc.code, 400)
			if msg := ae.ErrorMessage(); !strings.Contains(msg, tc.msg) || !strings.HasPrefix(msg, "1 validation error detected: Value ") || len(msg) > 400 {
				t.Errorf("message %.500q, want one containing %q, at most 400 bytes", msg, tc.msg)
			}
		})
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d handlers ran", n)
	}
}

// TestOpPassesValidInput shows the same path lets a valid request through
// to its handler.
func TestOpPassesValidInput(t *testing.T) {
	var ran atomic.Int32
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterJSON(awsproto.JSONService{SigningName: logstypes.SigningName, TargetPrefix: logstypes.TargetPrefix, Ops: map[string]awsproto.JSONHandler{
		"FilterLogEvents": never[logstypes.FilterLogEventsRequest, logstypes.FilterLogEventsResponse](&ran)}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := cwl.New(cwl.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(testPrincipal.AccessKeyID, testPrincipal.SecretAccessKey, "")})
	if _, err := c.FilterLogEvents(context.Background(), &cwl.FilterLogEventsInput{LogGroupName: aws.String("/g"),
		FilterPattern: aws.String(strings.Repeat("x", 1024))}); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 1 {
		t.Error("the handler did not run")
	}
}
