package awsproto_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/shape"
	model "github.com/minato-project/minato/internal/model/ststypes"
)

// TestQueryRoundTrip drives a Query service that decodes lists, lists of
// structs and pointers with DecodeForm and answers with nested structs and
// a timestamp, through the real STS client.
func TestQueryRoundTrip(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"a+b c&d=é"}}}]}`
	var got model.AssumeRoleRequest
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterQuery(awsproto.QueryService{
		SigningName:  model.SigningName,
		Version:      model.APIVersion,
		XMLNamespace: model.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"AssumeRole": awsproto.Op(func(_ context.Context, c *awsproto.Call, in *model.AssumeRoleRequest) (*model.AssumeRoleResponse, error) {
				got = *in
				if in.Policy == "bad" {
					return nil, core.Errorf(core.KindInvalid, "MalformedPolicyDocument", "The policy is not valid JSON.")
				}
				return &model.AssumeRoleResponse{
					Credentials: &model.Credentials{AccessKeyId: "ASIATEMP", SecretAccessKey: "s", SessionToken: "tok",
						Expiration: shape.NewTimestamp(expires)},
					AssumedRoleUser:  &model.AssumedRoleUser{AssumedRoleId: "AROA:sess", Arn: "arn:aws:sts::" + c.Principal.AccountID + ":assumed-role/r/sess"},
					PackedPolicySize: aws.Int32(6),
				}, nil
			}),
		},
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := stsClient(ts.URL, goodCreds())

	out, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn:           aws.String("arn:aws:iam::123456789012:role/r"),
		RoleSessionName:   aws.String("sess"),
		DurationSeconds:   aws.Int32(900),
		Policy:            aws.String(policy),
		PolicyArns:        []ststypes.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::aws:policy/A")}, {Arn: aws.String("arn:aws:iam::aws:policy/B")}},
		Tags:              []ststypes.Tag{{Key: aws.String("team"), Value: aws.String("core")}, {Key: aws.String("env"), Value: aws.String("")}},
		TransitiveTagKeys: []string{"team"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := model.AssumeRoleRequest{
		RoleArn: "arn:aws:iam::123456789012:role/r", RoleSessionName: "sess", DurationSeconds: aws.Int32(900),
		Policy:            policy,
		PolicyArns:        []model.PolicyDescriptorType{{Arn: "arn:aws:iam::aws:policy/A"}, {Arn: "arn:aws:iam::aws:policy/B"}},
		Tags:              []model.Tag{{Key: "team", Value: "core"}, {Key: "env", Value: ""}},
		TransitiveTagKeys: []string{"team"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
	//lint:ignore SA1019 PackedPolicySize is the output's integer member; the SDK still decodes it
	packed := out.PackedPolicySize
	if !aws.ToTime(out.Credentials.Expiration).Equal(expires) || aws.ToString(out.Credentials.SessionToken) != "tok" ||
		aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/r/sess" || aws.ToInt32(packed) != 6 {
		t.Errorf("output: %+v %+v", out.Credentials, out.AssumedRoleUser)
	}

	_, err = c.AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), RoleSessionName: aws.String("sess"), Policy: aws.String("bad"),
	})
	var mp *ststypes.MalformedPolicyDocumentException
	if !errors.As(err, &mp) {
		t.Errorf("want typed MalformedPolicyDocumentException, got %v", err)
	}
	apiError(t, err, "MalformedPolicyDocument", 400)
}

func TestQueryValidationError(t *testing.T) {
	s := awsproto.NewServer(awsproto.Config{Keys: awsproto.NewStaticKeys(testPrincipal)})
	s.RegisterQuery(awsproto.QueryService{
		SigningName: "sts", Version: "2011-06-15", XMLNamespace: model.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"AssumeRole": awsproto.Op(func(context.Context, *awsproto.Call, *model.AssumeRoleRequest) (*model.AssumeRoleResponse, error) {
				return &model.AssumeRoleResponse{}, nil
			}),
		},
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	r := do(t, signed(t, "POST", ts.URL, []byte("Action=AssumeRole&Version=2011-06-15&DurationSeconds=forever"), formHeaders, "sts", goodCreds(), time.Now()))
	if r.Status != 400 {
		t.Errorf("status %d", r.Status)
	}
	mustContain(t, "body", r.Body, "<Code>ValidationError</Code>", "DurationSeconds")
}
