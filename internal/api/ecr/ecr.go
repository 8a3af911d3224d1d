// Package ecr serves the Amazon ECR API (JSON 1.1) over minato's embedded
// registry: repositories, their settings, tags and policies live in the
// state store (internal/state); images live in the registry's storage and
// are read and changed through internal/registry, so that what `docker
// push` stored is what DescribeImages shows, and what PutImage stored is
// what `docker pull` gets. Lifecycle policies are checked here and run by
// the registry.
package ecr

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	ecr "github.com/minato-project/minato/internal/model/ecrtypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/registry"
	"github.com/minato-project/minato/internal/registry/lifecyclepolicy"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Registry is what the API needs of the image registry
// (*registry.Registry).
type Registry interface {
	Host() string
	Endpoint() string
	IssueToken() (string, time.Time)
	Images(ctx context.Context, repo string) ([]registry.Image, error)
	Manifest(ctx context.Context, repo, ref string) (body []byte, mediaType, digest string, err error)
	PutImage(ctx context.Context, repo, tag, mediaType string, body []byte) (registry.Image, error)
	DeleteImage(ctx context.Context, repo, digest string) error
	Untag(ctx context.Context, repo, tag string) error
	ClearRepository(ctx context.Context, repo string) error
	EvaluatePolicy(ctx context.Context, repo, text string) ([]lifecyclepolicy.Expiry, error)
	PolicyChanged(repo string)
}

var _ Registry = (*registry.Registry)(nil)

// API is the ECR service.
type API struct {
	store store.Store
	reg   Registry
	clock core.Clock
	log   *slog.Logger
	// serial queues this node's changes of one repository: creating and
	// deleting one must not interleave with each other or with updates.
	serial store.Serial
}

// Config is what the API needs.
type Config struct {
	Store    store.Store
	Registry Registry
	Clock    core.Clock
	Logger   *slog.Logger
}

// New returns the API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, reg: cfg.Registry, clock: cfg.Clock, log: cfg.Logger}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Service returns the JSON 1.1 service to register.
func (a *API) Service() awsproto.JSONService {
	return awsproto.JSONService{
		SigningName:       ecr.SigningName,
		TargetPrefix:      ecr.TargetPrefix,
		InternalErrorCode: ecr.ErrCodeServerException,
		Ops: map[string]awsproto.JSONHandler{
			"CreateRepository":              awsproto.Op(a.CreateRepository),
			"DescribeRepositories":          awsproto.Op(a.DescribeRepositories),
			"DeleteRepository":              awsproto.Op(a.DeleteRepository),
			"PutImageTagMutability":         awsproto.Op(a.PutImageTagMutability),
			"PutImageScanningConfiguration": awsproto.Op(a.PutImageScanningConfiguration),
			"ListImages":                    awsproto.Op(a.ListImages),
			"DescribeImages":                awsproto.Op(a.DescribeImages),
			"BatchGetImage":                 awsproto.Op(a.BatchGetImage),
			"BatchDeleteImage":              awsproto.Op(a.BatchDeleteImage),
			"PutImage":                      awsproto.Op(a.PutImage),
			"GetAuthorizationToken":         awsproto.Op(a.GetAuthorizationToken),
			"PutLifecyclePolicy":            awsproto.Op(a.PutLifecyclePolicy),
			"GetLifecyclePolicy":            awsproto.Op(a.GetLifecyclePolicy),
			"DeleteLifecyclePolicy":         awsproto.Op(a.DeleteLifecyclePolicy),
			"StartLifecyclePolicyPreview":   awsproto.Op(a.StartLifecyclePolicyPreview),
			"GetLifecyclePolicyPreview":     awsproto.Op(a.GetLifecyclePolicyPreview),
			"SetRepositoryPolicy":           awsproto.Op(a.SetRepositoryPolicy),
			"GetRepositoryPolicy":           awsproto.Op(a.GetRepositoryPolicy),
			"DeleteRepositoryPolicy":        awsproto.Op(a.DeleteRepositoryPolicy),
			"TagResource":                   awsproto.Op(a.TagResource),
			"UntagResource":                 awsproto.Op(a.UntagResource),
			"ListTagsForResource":           awsproto.Op(a.ListTagsForResource),
		},
	}
}

// Implemented lists the operations served, for the compatibility matrix.
func (a *API) Implemented() []string {
	var out []string
	for name := range a.Service().Ops {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (a *API) now() time.Time { return a.clock.Now().UTC() }

func ts(t time.Time) shape.Timestamp {
	if t.IsZero() {
		return shape.Timestamp{}
	}
	return shape.NewTimestamp(t)
}

// invalid is ECR's InvalidParameterException, in its wording: "Invalid
// parameter at 'member' failed to satisfy constraint: '...'".
func invalid(member, constraint string) error {
	return core.Errorf(core.KindInvalid, ecr.ErrCodeInvalidParameterException,
		"Invalid parameter at '%s' failed to satisfy constraint: '%s'", member, constraint)
}

func errRepoNotFound(c *awsproto.Call, name string) error {
	return core.Errorf(core.KindNotFound, ecr.ErrCodeRepositoryNotFoundException,
		"The repository with name '%s' does not exist in the registry with id '%s'", name, c.Principal.AccountID)
}

// repoARN is a repository's ARN: arn:aws:ecr:REGION:ACCOUNT:repository/NAME.
func repoARN(c *awsproto.Call, name string) string {
	return arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}.New("ecr", "repository/"+name)
}

// getRepo reads a repository record.
func (a *API) getRepo(ctx context.Context, c *awsproto.Call, name string) (state.Item[state.ECRRepository], error) {
	it, err := state.Get[state.ECRRepository](ctx, a.store, state.ECRRepositoryKey(name))
	if state.IsNotFound(err) {
		return it, errRepoNotFound(c, name)
	}
	return it, err
}

// updateRepo applies f to a repository record and writes it back, retrying
// lost races.
func (a *API) updateRepo(ctx context.Context, c *awsproto.Call, name string, f func(*state.ECRRepository) error) (state.ECRRepository, error) {
	var out state.ECRRepository
	err := a.serial.Do(ctx, state.ECRRepositoryKey(name), func() error {
		it, err := a.getRepo(ctx, c, name)
		if err != nil {
			return err
		}
		rec := it.Value
		if err := f(&rec); err != nil {
			return err
		}
		b, err := state.Encode(rec)
		if err != nil {
			return err
		}
		if _, err := a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Put(it.Key, b)}); err != nil {
			return err
		}
		out = rec
		return nil
	})
	return out, err
}

// wireRepo renders a repository record.
func (a *API) wireRepo(c *awsproto.Call, r state.ECRRepository) ecr.Repository {
	enc := &ecr.EncryptionConfiguration{EncryptionType: ecr.EncryptionType(r.EncryptionType), KmsKey: r.KMSKey}
	return ecr.Repository{
		RepositoryArn: repoARN(c, r.Name), RegistryId: c.Principal.AccountID, RepositoryName: r.Name,
		RepositoryUri: a.reg.Host() + "/" + r.Name, CreatedAt: ts(r.CreatedAt),
		ImageTagMutability:         ecr.ImageTagMutability(r.ImageTagMutability),
		ImageScanningConfiguration: &ecr.ImageScanningConfiguration{ScanOnPush: r.ScanOnPush},
		EncryptionConfiguration:    enc,
	}
}
