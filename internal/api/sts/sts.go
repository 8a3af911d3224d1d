// Package sts serves the parts of the AWS Security Token Service that
// clients of minato need: GetCallerIdentity, which the aws CLI, Terraform
// and deploy scripts call to learn who they are. It speaks the Query
// protocol through awsproto.
package sts

import (
	"context"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/model/ststypes"
)

// Service returns the STS Query service, to register with
// awsproto.Server.RegisterQuery.
func Service() awsproto.QueryService {
	return awsproto.QueryService{
		SigningName:  ststypes.SigningName,
		Version:      ststypes.APIVersion,
		XMLNamespace: ststypes.XMLNamespace,
		Actions: map[string]awsproto.QueryHandler{
			"GetCallerIdentity": awsproto.Op(getCallerIdentity),
		},
	}
}

// getCallerIdentity answers with the principal whose key signed the request.
func getCallerIdentity(_ context.Context, c *awsproto.Call, _ *ststypes.GetCallerIdentityRequest) (*ststypes.GetCallerIdentityResponse, error) {
	p := c.Principal
	return &ststypes.GetCallerIdentityResponse{UserId: p.UserID, Account: p.AccountID, Arn: p.ARN}, nil
}
