package registry

import (
	"context"
	"fmt"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	ecr "github.com/minato-project/minato/internal/model/ecrtypes"
	"github.com/minato-project/minato/internal/state"
)

// namespace is distribution's namespace with ECR's rules, applied to the
// HTTP API and to the ECR API alike:
//
//   - a repository exists only once CreateRepository made it: any other
//     name is NAME_UNKNOWN, as ECR answers a push to a repository that
//     does not exist;
//   - in an IMMUTABLE repository a tag, once pushed, never moves: a
//     manifest put under a tag that names another image is TAG_INVALID;
//   - every manifest put is noted for garbage collection (gc.go).
type namespace struct {
	distribution.Namespace
	reg *Registry
}

func (n *namespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	if checked, _ := ctx.Value(repoChecked{}).(string); checked != name.Name() {
		if _, err := n.reg.repository(ctx, name.Name()); err != nil {
			return nil, err
		}
	}
	repo, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &repository{Repository: repo, reg: n.reg}, nil
}

// repository reads the ECR record of repository name; a missing one is
// the registry protocol's NAME_UNKNOWN with ECR's message.
func (r *Registry) repository(ctx context.Context, name string) (state.ECRRepository, error) {
	it, err := state.Get[state.ECRRepository](ctx, r.cfg.Store, state.ECRRepositoryKey(name))
	if state.IsNotFound(err) {
		return state.ECRRepository{}, errcode.ErrorCodeNameUnknown.WithMessage(fmt.Sprintf(
			"The repository with name '%s' does not exist in the registry with id '%s'", name, r.cfg.AccountID))
	}
	if err != nil {
		return state.ECRRepository{}, fmt.Errorf("registry: read repository %s: %w", name, err)
	}
	return it.Value, nil
}

type repository struct {
	distribution.Repository
	reg *Registry
}

func (r *repository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return &manifests{ManifestService: ms, repo: r}, nil
}

type manifests struct {
	distribution.ManifestService
	repo *repository
}

func (m *manifests) Put(ctx context.Context, man distribution.Manifest, options ...distribution.ManifestServiceOption) (digest.Digest, error) {
	if tag := tagOption(options); tag != "" {
		if err := m.checkImmutable(ctx, tag, man); err != nil {
			return "", err
		}
	}
	dgst, err := m.ManifestService.Put(ctx, man, options...)
	if err == nil {
		m.repo.reg.gc.noteManifest(dgst, man)
	}
	return dgst, err
}

// checkImmutable refuses to move tag of an immutable repository to
// another image. Putting the image the tag already names again is
// allowed, as ECR allows it. The caller holds the tag's lock (keyedMutex),
// so no other put of the tag runs between this check and the tagging.
func (m *manifests) checkImmutable(ctx context.Context, tag string, man distribution.Manifest) error {
	name := m.repo.Named().Name()
	rec, err := m.repo.reg.repository(ctx, name)
	if err != nil {
		return err
	}
	if rec.ImageTagMutability != string(ecr.ImageTagMutabilityImmutable) {
		return nil
	}
	desc, err := m.repo.Tags(ctx).Get(ctx, tag)
	if err != nil {
		return nil // the tag is new (or unreadable, and then the put fails on it)
	}
	_, payload, err := man.Payload()
	if err != nil {
		return err
	}
	if desc.Digest == digest.FromBytes(payload) {
		return nil
	}
	return errcode.ErrorCodeTagInvalid.WithMessage(immutableMessage(tag, name))
}

func immutableMessage(tag, repo string) string {
	return fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, repo)
}

func tagOption(options []distribution.ManifestServiceOption) string {
	for _, o := range options {
		if t, ok := o.(distribution.WithTagOption); ok {
			return t.Tag
		}
	}
	return ""
}
