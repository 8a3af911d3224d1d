package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	ecr "github.com/minato-project/minato/internal/model/ecrtypes"
	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/registry/lifecyclepolicy"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// GetAuthorizationToken issues a registry token: base64 of "AWS:<token>",
// good for twelve hours, for docker login against minato's registry.
func (a *API) GetAuthorizationToken(_ context.Context, _ *awsproto.Call, in *ecr.GetAuthorizationTokenRequest) (*ecr.GetAuthorizationTokenResponse, error) {
	n := max(1, len(in.RegistryIds)) // one registry, whatever IDs are asked for
	out := &ecr.GetAuthorizationTokenResponse{}
	for range n {
		tok, exp := a.reg.IssueToken()
		out.AuthorizationData = append(out.AuthorizationData, ecr.AuthorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte(registry.TokenUser + ":" + tok)),
			ExpiresAt:          ts(exp), ProxyEndpoint: a.reg.Endpoint(),
		})
	}
	return out, nil
}

// checkPolicy parses a lifecycle policy as PutLifecyclePolicy checks it.
func checkPolicy(text string) error {
	_, err := lifecyclepolicy.Parse(text)
	var pe *lifecyclepolicy.Error
	if errors.As(err, &pe) {
		return invalid("LifecyclePolicyText", pe.Error())
	}
	return err
}

func errNoPolicy(c *awsproto.Call, repo string) error {
	return core.Errorf(core.KindNotFound, ecr.ErrCodeLifecyclePolicyNotFoundException,
		"Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, c.Principal.AccountID)
}

// PutLifecyclePolicy sets a repository's lifecycle policy. It runs within
// seconds, then after every push and every hour.
func (a *API) PutLifecyclePolicy(ctx context.Context, c *awsproto.Call, in *ecr.PutLifecyclePolicyRequest) (*ecr.PutLifecyclePolicyResponse, error) {
	if err := checkPolicy(in.LifecyclePolicyText); err != nil {
		return nil, err
	}
	text := lifecyclepolicy.Canonical(in.LifecyclePolicyText)
	rec, err := a.updateRepo(ctx, c, in.RepositoryName, func(r *state.ECRRepository) error {
		r.LifecyclePolicy = text
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.reg.PolicyChanged(rec.Name)
	return &ecr.PutLifecyclePolicyResponse{RegistryId: c.Principal.AccountID, RepositoryName: rec.Name, LifecyclePolicyText: text}, nil
}

// GetLifecyclePolicy returns a repository's lifecycle policy.
func (a *API) GetLifecyclePolicy(ctx context.Context, c *awsproto.Call, in *ecr.GetLifecyclePolicyRequest) (*ecr.GetLifecyclePolicyResponse, error) {
	it, err := a.getRepo(ctx, c, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	r := it.Value
	if r.LifecyclePolicy == "" {
		return nil, errNoPolicy(c, r.Name)
	}
	return &ecr.GetLifecyclePolicyResponse{RegistryId: c.Principal.AccountID, RepositoryName: r.Name,
		LifecyclePolicyText: r.LifecyclePolicy, LastEvaluatedAt: ts(r.LifecycleEvaluatedAt)}, nil
}

// DeleteLifecyclePolicy removes a repository's lifecycle policy.
func (a *API) DeleteLifecyclePolicy(ctx context.Context, c *awsproto.Call, in *ecr.DeleteLifecyclePolicyRequest) (*ecr.DeleteLifecyclePolicyResponse, error) {
	var old state.ECRRepository
	_, err := a.updateRepo(ctx, c, in.RepositoryName, func(r *state.ECRRepository) error {
		if r.LifecyclePolicy == "" {
			return errNoPolicy(c, r.Name)
		}
		old = *r
		r.LifecyclePolicy = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecr.DeleteLifecyclePolicyResponse{RegistryId: c.Principal.AccountID, RepositoryName: old.Name,
		LifecyclePolicyText: old.LifecyclePolicy, LastEvaluatedAt: ts(old.LifecycleEvaluatedAt)}, nil
}

// StartLifecyclePolicyPreview evaluates a policy (the one given, else the
// repository's) against the repository's images as they are, with the
// evaluation the expiry itself uses, and keeps the outcome for
// GetLifecyclePolicyPreview. It completes before it returns.
func (a *API) StartLifecyclePolicyPreview(ctx context.Context, c *awsproto.Call, in *ecr.StartLifecyclePolicyPreviewRequest) (*ecr.StartLifecyclePolicyPreviewResponse, error) {
	var text string
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.getRepo(ctx, c, in.RepositoryName)
		if err != nil {
			return err
		}
		if text = in.LifecyclePolicyText; text == "" {
			if text = it.Value.LifecyclePolicy; text == "" {
				return errNoPolicy(c, in.RepositoryName)
			}
		}
		if err := checkPolicy(text); err != nil {
			return err
		}
		text = lifecyclepolicy.Canonical(text)
		expiries, err := a.reg.EvaluatePolicy(ctx, in.RepositoryName, text)
		if err != nil {
			return err
		}
		pv := state.ECRLifecyclePreview{Repository: in.RepositoryName, PolicyText: text,
			Status: string(ecr.LifecyclePolicyPreviewStatusComplete), StartedAt: a.now()}
		for _, e := range expiries {
			pv.Results = append(pv.Results, state.ECRPreviewResult{Digest: e.Image.Digest, Tags: e.Image.Tags,
				PushedAt: e.Image.PushedAt, RulePriority: e.RulePriority})
		}
		b, err := state.Encode(pv)
		if err != nil {
			return err
		}
		// Written only while the repository is still the one read above.
		_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)},
			[]store.Op{store.Put(state.ECRPreviewKey(in.RepositoryName), b)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecr.StartLifecyclePolicyPreviewResponse{RegistryId: c.Principal.AccountID, RepositoryName: in.RepositoryName,
		LifecyclePolicyText: text, Status: ecr.LifecyclePolicyPreviewStatusComplete}, nil
}

// GetLifecyclePolicyPreview returns the last preview's results, a page at
// a time, oldest image first.
func (a *API) GetLifecyclePolicyPreview(ctx context.Context, c *awsproto.Call, in *ecr.GetLifecyclePolicyPreviewRequest) (*ecr.GetLifecyclePolicyPreviewResponse, error) {
	if _, err := a.getRepo(ctx, c, in.RepositoryName); err != nil {
		return nil, err
	}
	it, err := state.Get[state.ECRLifecyclePreview](ctx, a.store, state.ECRPreviewKey(in.RepositoryName))
	if state.IsNotFound(err) {
		return nil, core.Errorf(core.KindNotFound, ecr.ErrCodeLifecyclePolicyPreviewNotFoundException,
			"There is no lifecycle policy preview for the repository with name '%s' in the registry with id '%s'", in.RepositoryName, c.Principal.AccountID)
	}
	if err != nil {
		return nil, err
	}
	pv := it.Value
	if len(in.ImageIds) > 0 && (in.NextToken != "" || in.MaxResults != 0) {
		return nil, invalid("imageIds", "imageIds cannot be specified with maxResults or nextToken")
	}
	out := &ecr.GetLifecyclePolicyPreviewResponse{RegistryId: c.Principal.AccountID, RepositoryName: in.RepositoryName,
		LifecyclePolicyText: pv.PolicyText, Status: ecr.LifecyclePolicyPreviewStatus(pv.Status),
		PreviewResults: []ecr.LifecyclePolicyPreviewResult{},
		Summary:        &ecr.LifecyclePolicyPreviewSummary{ExpiringImageTotalCount: int32(len(pv.Results))}}
	start := 0
	if in.NextToken != "" {
		after, err := decodeToken(in.NextToken)
		n, cerr := strconv.Atoi(after)
		if err != nil || cerr != nil || n < 0 {
			return nil, invalid("nextToken", "Invalid NextToken")
		}
		start = n
	}
	limit := pageSize(in.MaxResults, defaultPageSize)
	for i := start; i < len(pv.Results); i++ {
		r := pv.Results[i]
		if !previewSelected(r, in) {
			continue
		}
		if len(out.PreviewResults) == limit {
			out.NextToken = paging.Encode(strconv.Itoa(i))
			break
		}
		out.PreviewResults = append(out.PreviewResults, ecr.LifecyclePolicyPreviewResult{
			ImageTags: r.Tags, ImageDigest: r.Digest, ImagePushedAt: ts(r.PushedAt),
			Action: &ecr.LifecyclePolicyRuleAction{Type: ecr.ImageActionTypeExpire}, AppliedRulePriority: int32(r.RulePriority),
		})
	}
	return out, nil
}

// previewSelected reports whether a preview result passes the request's
// imageIds and filter.
func previewSelected(r state.ECRPreviewResult, in *ecr.GetLifecyclePolicyPreviewRequest) bool {
	if in.Filter != nil {
		switch in.Filter.TagStatus {
		case ecr.TagStatusTagged:
			if len(r.Tags) == 0 {
				return false
			}
		case ecr.TagStatusUntagged:
			if len(r.Tags) > 0 {
				return false
			}
		}
	}
	if len(in.ImageIds) == 0 {
		return true
	}
	return slices.ContainsFunc(in.ImageIds, func(id ecr.ImageIdentifier) bool {
		return (id.ImageDigest == "" || id.ImageDigest == r.Digest) && (id.ImageTag == "" || slices.Contains(r.Tags, id.ImageTag))
	})
}
