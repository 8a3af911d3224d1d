package sts_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/minato-project/minato/internal/api/sts"
	"github.com/minato-project/minato/internal/awsproto"
)

func TestGetCallerIdentity(t *testing.T) {
	keys := awsproto.NewStaticKeys(
		awsproto.Principal{AccessKeyID: "AKIAROOT000000000001", SecretAccessKey: "root-secret",
			AccountID: "000000000001", ARN: "arn:aws:iam::000000000001:root", UserID: "000000000001"},
		awsproto.Principal{AccessKeyID: "AKIAUSER000000000002", SecretAccessKey: "user-secret",
			AccountID: "000000000002", ARN: "arn:aws:iam::000000000002:user/deploy", UserID: "AIDAUSER000000000002"},
	)
	srv := awsproto.NewServer(awsproto.Config{Keys: keys})
	srv.RegisterQuery(sts.Service())
	ts := httptest.NewServer(srv)
	defer ts.Close()

	for _, tc := range []struct {
		key, secret, account, arn, user string
	}{
		{"AKIAROOT000000000001", "root-secret", "000000000001", "arn:aws:iam::000000000001:root", "000000000001"},
		{"AKIAUSER000000000002", "user-secret", "000000000002", "arn:aws:iam::000000000002:user/deploy", "AIDAUSER000000000002"},
	} {
		c := awssts.New(awssts.Options{
			Region:       "ap-northeast-1",
			BaseEndpoint: aws.String(ts.URL),
			Credentials:  credentials.NewStaticCredentialsProvider(tc.key, tc.secret, ""),
		})
		out, err := c.GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		if aws.ToString(out.Account) != tc.account || aws.ToString(out.Arn) != tc.arn || aws.ToString(out.UserId) != tc.user {
			t.Errorf("%s: got %s %s %s", tc.key, aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId))
		}
	}
}
