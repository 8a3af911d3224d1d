package ecr

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	ecr "github.com/minato-project/minato/internal/model/ecrtypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

const (
	maxTags         = 50
	defaultPageSize = 100
)

// CreateRepository creates a repository. Whatever storage a repository of
// the same name left behind (a push that raced its deletion) is cleared
// first, so that a new repository starts empty.
func (a *API) CreateRepository(ctx context.Context, c *awsproto.Call, in *ecr.CreateRepositoryRequest) (*ecr.CreateRepositoryResponse, error) {
	mut, err := mutability(in.ImageTagMutability, len(in.ImageTagMutabilityExclusionFilters))
	if err != nil {
		return nil, err
	}
	rec := state.ECRRepository{Name: in.RepositoryName, RegistryID: c.Principal.AccountID, CreatedAt: a.now(),
		ImageTagMutability: mut, EncryptionType: string(ecr.EncryptionTypeAes256)}
	if in.ImageScanningConfiguration != nil {
		rec.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	if e := in.EncryptionConfiguration; e != nil {
		rec.EncryptionType, rec.KMSKey = string(e.EncryptionType), e.KmsKey
		if e.EncryptionType == ecr.EncryptionTypeAes256 && e.KmsKey != "" {
			return nil, invalid("encryptionConfiguration.kmsKey", "KMS key cannot be specified when the encryption type is AES256")
		}
		if e.EncryptionType != ecr.EncryptionTypeAes256 && e.KmsKey == "" {
			rec.KMSKey = arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}.New("kms", "alias/aws/ecr")
		}
	}
	if rec.Tags, err = mergeTags(nil, in.Tags); err != nil {
		return nil, err
	}
	key := state.ECRRepositoryKey(rec.Name)
	err = a.serial.Do(ctx, key, func() error {
		if _, err := a.store.Get(ctx, key); err == nil {
			return core.Errorf(core.KindConflict, ecr.ErrCodeRepositoryAlreadyExistsException,
				"The repository with name '%s' already exists in the registry with id '%s'", rec.Name, c.Principal.AccountID)
		} else if !state.IsNotFound(err) {
			return err
		}
		if err := a.reg.ClearRepository(ctx, rec.Name); err != nil {
			return err
		}
		b, err := state.Encode(rec)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{store.MustNotExist(key)}, []store.Op{store.Put(key, b)})
		return err
	})
	if err != nil {
		return nil, err
	}
	r := a.wireRepo(c, rec)
	return &ecr.CreateRepositoryResponse{Repository: &r}, nil
}

// mutability checks an imageTagMutability: MUTABLE (the default) or
// IMMUTABLE. The *_WITH_EXCLUSION settings are not served.
func mutability(m ecr.ImageTagMutability, exclusions int) (string, error) {
	switch m {
	case "":
		m = ecr.ImageTagMutabilityMutable
	case ecr.ImageTagMutabilityMutable, ecr.ImageTagMutabilityImmutable:
	default:
		return "", invalid("imageTagMutability", "minato supports MUTABLE and IMMUTABLE; tag mutability exclusion filters are not supported")
	}
	if exclusions > 0 {
		return "", invalid("imageTagMutabilityExclusionFilters", "minato does not support tag mutability exclusion filters")
	}
	return string(m), nil
}

// DescribeRepositories describes the named repositories, or all of them a
// page at a time.
func (a *API) DescribeRepositories(ctx context.Context, c *awsproto.Call, in *ecr.DescribeRepositoriesRequest) (*ecr.DescribeRepositoriesResponse, error) {
	out := &ecr.DescribeRepositoriesResponse{Repositories: []ecr.Repository{}}
	if len(in.RepositoryNames) > 0 {
		if in.NextToken != "" || in.MaxResults != 0 {
			return nil, invalid("maxResults", "maxResults and nextToken cannot be specified with repositoryNames")
		}
		for _, name := range in.RepositoryNames {
			it, err := a.getRepo(ctx, c, name)
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, a.wireRepo(c, it.Value))
		}
		return out, nil
	}
	limit := pageSize(in.MaxResults, defaultPageSize)
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	if after != "" {
		after = state.ECRRepositoryKey(after)
	}
	items, err := state.List[state.ECRRepository](ctx, a.store, state.ECRRepositoriesPrefix(), store.ListOptions{After: after, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		if i == limit {
			out.NextToken = paging.Encode(items[i-1].Value.Name)
			break
		}
		out.Repositories = append(out.Repositories, a.wireRepo(c, it.Value))
	}
	return out, nil
}

// DeleteRepository deletes a repository; one that holds images only with
// force, and then its images too.
func (a *API) DeleteRepository(ctx context.Context, c *awsproto.Call, in *ecr.DeleteRepositoryRequest) (*ecr.DeleteRepositoryResponse, error) {
	key := state.ECRRepositoryKey(in.RepositoryName)
	var rec state.ECRRepository
	err := a.serial.Do(ctx, key, func() error {
		it, err := a.getRepo(ctx, c, in.RepositoryName)
		if err != nil {
			return err
		}
		rec = it.Value
		if !in.Force {
			imgs, err := a.reg.Images(ctx, rec.Name)
			if err != nil {
				return err
			}
			if len(imgs) > 0 {
				return core.Errorf(core.KindConflict, ecr.ErrCodeRepositoryNotEmptyException,
					"The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images",
					rec.Name, c.Principal.AccountID)
			}
		}
		// Storage first: a crash in between leaves an empty repository,
		// never images of a repository that is gone.
		if err := a.reg.ClearRepository(ctx, rec.Name); err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(key, it.ModRevision)},
			[]store.Op{store.Delete(key), store.Delete(state.ECRPreviewKey(rec.Name))})
		return err
	})
	if err != nil {
		return nil, err
	}
	r := a.wireRepo(c, rec)
	return &ecr.DeleteRepositoryResponse{Repository: &r}, nil
}

// PutImageTagMutability sets a repository's tag mutability.
func (a *API) PutImageTagMutability(ctx context.Context, c *awsproto.Call, in *ecr.PutImageTagMutabilityRequest) (*ecr.PutImageTagMutabilityResponse, error) {
	mut, err := mutability(in.ImageTagMutability, len(in.ImageTagMutabilityExclusionFilters))
	if err != nil {
		return nil, err
	}
	if in.ImageTagMutability == "" {
		return nil, invalid("imageTagMutability", "imageTagMutability is required")
	}
	rec, err := a.updateRepo(ctx, c, in.RepositoryName, func(r *state.ECRRepository) error {
		r.ImageTagMutability = mut
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecr.PutImageTagMutabilityResponse{RegistryId: c.Principal.AccountID, RepositoryName: rec.Name,
		ImageTagMutability: ecr.ImageTagMutability(rec.ImageTagMutability)}, nil
}

// PutImageScanningConfiguration records whether images are to be scanned
// on push (minato scans nothing).
func (a *API) PutImageScanningConfiguration(ctx context.Context, c *awsproto.Call, in *ecr.PutImageScanningConfigurationRequest) (*ecr.PutImageScanningConfigurationResponse, error) {
	if in.ImageScanningConfiguration == nil {
		return nil, invalid("imageScanningConfiguration", "imageScanningConfiguration is required")
	}
	rec, err := a.updateRepo(ctx, c, in.RepositoryName, func(r *state.ECRRepository) error {
		r.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecr.PutImageScanningConfigurationResponse{RegistryId: c.Principal.AccountID, RepositoryName: rec.Name,
		ImageScanningConfiguration: &ecr.ImageScanningConfiguration{ScanOnPush: rec.ScanOnPush}}, nil
}

// SetRepositoryPolicy stores a repository's permissions policy. minato
// keeps it and returns it; it does not evaluate it.
func (a *API) SetRepositoryPolicy(ctx context.Context, c *awsproto.Call, in *ecr.SetRepositoryPolicyRequest) (*ecr.SetRepositoryPolicyResponse, error) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(in.PolicyText), &doc); err != nil {
		return nil, invalid("PolicyText", "Invalid repository policy provided")
	}
	if _, ok := doc["Statement"]; !ok {
		return nil, invalid("PolicyText", "Invalid repository policy provided: the policy has no Statement")
	}
	rec, err := a.updateRepo(ctx, c, in.RepositoryName, func(r *state.ECRRepository) error {
		r.RepositoryPolicy = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecr.SetRepositoryPolicyResponse{RegistryId: c.Principal.AccountID, RepositoryName: rec.Name, PolicyText: rec.RepositoryPolicy}, nil
}

func errNoRepoPolicy(c *awsproto.Call, name string) error {
	return core.Errorf(core.KindNotFound, ecr.ErrCodeRepositoryPolicyNotFoundException,
		"Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", name, c.Principal.AccountID)
}

// GetRepositoryPolicy returns a repository's permissions policy.
func (a *API) GetRepositoryPolicy(ctx context.Context, c *awsproto.Call, in *ecr.GetRepositoryPolicyRequest) (*ecr.GetRepositoryPolicyResponse, error) {
	it, err := a.getRepo(ctx, c, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if it.Value.RepositoryPolicy == "" {
		return nil, errNoRepoPolicy(c, in.RepositoryName)
	}
	return &ecr.GetRepositoryPolicyResponse{RegistryId: c.Principal.AccountID, RepositoryName: it.Value.Name, PolicyText: it.Value.RepositoryPolicy}, nil
}

// DeleteRepositoryPolicy removes a repository's permissions policy.
func (a *API) DeleteRepositoryPolicy(ctx context.Context, c *awsproto.Call, in *ecr.DeleteRepositoryPolicyRequest) (*ecr.DeleteRepositoryPolicyResponse, error) {
	var text string
	_, err := a.updateRepo(ctx, c, in.RepositoryName, func(r *state.ECRRepository) error {
		if r.RepositoryPolicy == "" {
			return errNoRepoPolicy(c, in.RepositoryName)
		}
		text, r.RepositoryPolicy = r.RepositoryPolicy, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecr.DeleteRepositoryPolicyResponse{RegistryId: c.Principal.AccountID, RepositoryName: in.RepositoryName, PolicyText: text}, nil
}

// mergeTags adds tags to have, replacing the values of keys it has.
func mergeTags(have []state.ECRTag, add []ecr.Tag) ([]state.ECRTag, error) {
	out := slices.Clone(have)
	for _, t := range add {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return nil, core.Errorf(core.KindInvalid, ecr.ErrCodeInvalidTagParameterException,
				"Tag keys must be 1 to 128 characters long and tag values at most 256 characters long.")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, core.Errorf(core.KindInvalid, ecr.ErrCodeInvalidTagParameterException,
				"Tag keys starting with 'aws:' are reserved for AWS use.")
		}
		if i := slices.IndexFunc(out, func(x state.ECRTag) bool { return x.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, state.ECRTag{Key: t.Key, Value: t.Value})
		}
	}
	if len(out) > maxTags {
		return nil, core.Errorf(core.KindInvalid, ecr.ErrCodeTooManyTagsException,
			"A repository can have at most %d tags; this request would make %d.", maxTags, len(out))
	}
	return out, nil
}

// tagTarget is the repository a resourceArn names.
func tagTarget(c *awsproto.Call, resource string) (string, error) {
	a, err := arn.Parse(resource)
	name, ok := strings.CutPrefix(a.Resource, "repository/")
	if err != nil || a.Service != "ecr" || !ok || name == "" {
		return "", invalid("resourceArn", "Invalid ARN: "+resource)
	}
	if a.AccountID != c.Principal.AccountID {
		return "", errRepoNotFound(c, name)
	}
	return name, nil
}

// TagResource adds tags to a repository.
func (a *API) TagResource(ctx context.Context, c *awsproto.Call, in *ecr.TagResourceRequest) (*struct{}, error) {
	name, err := tagTarget(c, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = a.updateRepo(ctx, c, name, func(r *state.ECRRepository) error {
		tags, err := mergeTags(r.Tags, in.Tags)
		r.Tags = tags
		return err
	})
	if err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// UntagResource removes tags from a repository.
func (a *API) UntagResource(ctx context.Context, c *awsproto.Call, in *ecr.UntagResourceRequest) (*struct{}, error) {
	name, err := tagTarget(c, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = a.updateRepo(ctx, c, name, func(r *state.ECRRepository) error {
		r.Tags = slices.DeleteFunc(slices.Clone(r.Tags), func(t state.ECRTag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// ListTagsForResource lists a repository's tags.
func (a *API) ListTagsForResource(ctx context.Context, c *awsproto.Call, in *ecr.ListTagsForResourceRequest) (*ecr.ListTagsForResourceResponse, error) {
	name, err := tagTarget(c, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	it, err := a.getRepo(ctx, c, name)
	if err != nil {
		return nil, err
	}
	out := &ecr.ListTagsForResourceResponse{Tags: []ecr.Tag{}}
	for _, t := range it.Value.Tags {
		out.Tags = append(out.Tags, ecr.Tag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}

// pageSize is a maxResults (0: absent) or def.
func pageSize(maxResults int32, def int) int {
	if maxResults <= 0 {
		return def
	}
	return int(maxResults)
}

// decodeToken reads a nextToken minato issued.
func decodeToken(tok string) (string, error) {
	after, ok := paging.Decode(tok)
	if !ok {
		return "", invalid("nextToken", "Invalid NextToken")
	}
	return after, nil
}
