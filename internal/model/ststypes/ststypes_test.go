package ststypes

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/minato-project/minato/internal/model/shape"
)

func TestGetCallerIdentityXML(t *testing.T) {
	env := NewGetCallerIdentityResponseEnvelope(&GetCallerIdentityResponse{
		UserId: "AIDAEXAMPLE", Account: "123456789012", Arn: "arn:aws:iam::123456789012:user/alice",
	}, "req-1")
	b, err := xml.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	want := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
		`<GetCallerIdentityResult><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>` +
		`<Arn>arn:aws:iam::123456789012:user/alice</Arn></GetCallerIdentityResult>` +
		`<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back GetCallerIdentityResponseEnvelope
	if err := xml.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if *back.Result != *env.Result || back.ResponseMetadata.RequestID != "req-1" {
		t.Errorf("round trip: %+v", back)
	}
}

// queryNames maps the query parameter names a struct accepts, taken from
// the first segment of each field's xml tag, to the field.
func queryNames(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
		first, _, _ := strings.Cut(name, ">")
		out[first] = f
	}
	return out
}

// TestAgainstSDK has the real AWS SDK for Go v2 call AssumeRole on a server
// that answers with the generated envelope: the parameter names the SDK
// sends must be the ones the xml tags name, and the SDK must read the XML.
func TestAgainstSDK(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	var form map[string][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form = r.PostForm
		env := NewAssumeRoleResponseEnvelope(&AssumeRoleResponse{
			Credentials: &Credentials{
				AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "s3cr3t", SessionToken: "tok",
				Expiration: shape.NewTimestamp(expires),
			},
			AssumedRoleUser:  &AssumedRoleUser{AssumedRoleId: "AROA:sess", Arn: "arn:aws:sts::123456789012:assumed-role/r/sess"},
			PackedPolicySize: aws.Int32(0),
		}, "req-2")
		w.Header().Set("Content-Type", "text/xml")
		_ = xml.NewEncoder(w).Encode(env)
	}))
	defer srv.Close()

	client := sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	out, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn:           aws.String("arn:aws:iam::123456789012:role/r"),
		RoleSessionName:   aws.String("sess"),
		DurationSeconds:   aws.Int32(900),
		Tags:              []sdktypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
		PolicyArns:        []sdktypes.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}},
		TransitiveTagKeys: []string{"team"},
	})
	if err != nil {
		t.Fatal(err)
	}

	if form["Action"][0] != "AssumeRole" || form["Version"][0] != APIVersion {
		t.Errorf("Action/Version = %v %v", form["Action"], form["Version"])
	}
	names := queryNames(reflect.TypeFor[AssumeRoleRequest]())
	for key := range form {
		if key == "Action" || key == "Version" {
			continue
		}
		first, rest, _ := strings.Cut(key, ".")
		f, ok := names[first]
		if !ok {
			t.Errorf("SDK sent %s, which no xml tag of AssumeRoleRequest names", key)
			continue
		}
		if _, item, isList := strings.Cut(f.Tag.Get("xml"), ">"); isList {
			item, _, _ = strings.Cut(item, ",")
			if !strings.HasPrefix(rest, item+".") {
				t.Errorf("SDK sent %s, tag of %s is %q", key, f.Name, f.Tag.Get("xml"))
			}
		}
	}
	for _, k := range []string{"RoleArn", "DurationSeconds", "Tags.member.1.Key", "PolicyArns.member.1.arn", "TransitiveTagKeys.member.1"} {
		if _, ok := form[k]; !ok {
			t.Errorf("SDK did not send %s (sent %v)", k, form)
		}
	}

	c := out.Credentials
	//lint:ignore SA1019 PackedPolicySize is the output's integer member; the SDK still decodes it
	packed := out.PackedPolicySize
	if aws.ToString(c.AccessKeyId) != "ASIAEXAMPLE" || !aws.ToTime(c.Expiration).Equal(expires) ||
		aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/r/sess" ||
		packed == nil || *packed != 0 {
		t.Errorf("SDK read %+v %+v %v", c, out.AssumedRoleUser, packed)
	}
}

func TestErrorsAndValidate(t *testing.T) {
	if ErrCodeMalformedPolicyDocumentException != "MalformedPolicyDocument" {
		t.Errorf("code = %s", ErrCodeMalformedPolicyDocumentException)
	}
	if e := Errors["IDPRejectedClaimException"]; e.HTTPStatusCode != 403 || e.Fault || e.Code != "IDPRejectedClaim" {
		t.Errorf("IDPRejectedClaim = %+v", e)
	}
	req := AssumeRoleRequest{RoleArn: "arn:aws:iam::1:role/r", Tags: []Tag{{Key: "k"}, {Value: "v"}}}
	if err := req.Validate(); err == nil || err.Error() != "RoleSessionName: is required" {
		t.Errorf("Validate = %v", err)
	}
	req.RoleSessionName = "s" // the model's minimum is 2
	if err := req.Validate(); err == nil || err.Error() != "RoleSessionName: must have length greater than or equal to 2" {
		t.Errorf("Validate = %v", err)
	}
	// Tags[0] has an empty Value, which the model allows (min 0) and which
	// cannot be told from an absent one; Tags[1] lacks its Key.
	req.RoleSessionName = "sess"
	if err := req.Validate(); err == nil || err.Error() != "Tags[1].Key: is required" {
		t.Errorf("Validate = %v", err)
	}
}
