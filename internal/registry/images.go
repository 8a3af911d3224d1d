package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minato-project/minato/internal/core"
	ecr "github.com/minato-project/minato/internal/model/ecrtypes"
)

// The registry's storage is the one source of truth of images: the ECR
// API reads and changes images only through these methods, which read and
// change that storage through distribution, so an image pushed with docker
// is in DescribeImages as soon as the push is acknowledged, and an image
// put with PutImage can be pulled at once.

// ErrImageNotFound is a digest or tag that names no image of a repository.
var ErrImageNotFound = errors.New("registry: image not found")

// Image is one image (manifest) of a repository.
type Image struct {
	Digest string
	Tags   []string // sorted
	// Size is the sum of the layers' sizes (for an index, the largest of
	// its images'), as ECR's imageSizeInBytes.
	Size              int64
	PushedAt          time.Time // when the manifest was last put
	MediaType         string    // the manifest's
	ArtifactMediaType string    // the config's
	// Children are the manifests an index (manifest list) lists.
	Children []string
}

// manifestDoc is what listing needs of a manifest or index.
type manifestDoc struct {
	Config *struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Layers []struct {
		Size int64 `json:"size"`
	} `json:"layers"`
	Manifests []struct {
		Digest string `json:"digest"`
	} `json:"manifests"`
}

func (r *Registry) repo(ctx context.Context, name string) (distribution.Repository, error) {
	named, err := reference.WithName(name)
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, ecr.ErrCodeInvalidParameterException, "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*''")
	}
	return r.base.Repository(ctx, named)
}

// Images lists the images of repository name, by digest.
func (r *Registry) Images(ctx context.Context, name string) ([]Image, error) {
	repo, err := r.repo(ctx, name)
	if err != nil {
		return nil, err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	byDigest := map[string]*Image{}
	var out []*Image
	err = ms.(distribution.ManifestEnumerator).Enumerate(ctx, func(d digest.Digest) error {
		img, err := r.describe(ctx, ms, name, d)
		if errors.Is(err, ErrImageNotFound) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		byDigest[img.Digest] = &img
		out = append(out, &img)
		return nil
	})
	if err != nil && !isPathNotFound(err) {
		return nil, fmt.Errorf("registry: list images of %s: %w", name, err)
	}
	tags, err := r.tagMap(ctx, repo)
	if err != nil {
		return nil, err
	}
	for tag, d := range tags {
		if img := byDigest[d]; img != nil {
			img.Tags = append(img.Tags, tag)
		}
	}
	images := make([]Image, 0, len(out))
	for _, img := range out {
		slices.Sort(img.Tags)
		if len(img.Children) > 0 {
			for _, c := range img.Children {
				if ci := byDigest[c]; ci != nil {
					img.Size = max(img.Size, ci.Size)
				}
			}
		}
		images = append(images, *img)
	}
	slices.SortFunc(images, func(a, b Image) int { return strings.Compare(a.Digest, b.Digest) })
	return images, nil
}

// describe reads one image, without its tags.
func (r *Registry) describe(ctx context.Context, ms distribution.ManifestService, repo string, d digest.Digest) (Image, error) {
	m, err := ms.Get(ctx, d)
	if err != nil {
		if isUnknown(err) {
			return Image{}, ErrImageNotFound
		}
		return Image{}, fmt.Errorf("registry: read manifest %s of %s: %w", d, repo, err)
	}
	mt, payload, err := m.Payload()
	if err != nil {
		return Image{}, err
	}
	img := Image{Digest: d.String(), MediaType: mt}
	var doc manifestDoc
	if json.Unmarshal(payload, &doc) == nil {
		if doc.Config != nil {
			img.ArtifactMediaType = doc.Config.MediaType
		}
		for _, l := range doc.Layers {
			img.Size += l.Size
		}
		for _, c := range doc.Manifests {
			img.Children = append(img.Children, c.Digest)
		}
	}
	fi, err := r.driver.Stat(ctx, revisionLinkPath(repo, d))
	if err != nil {
		if isPathNotFound(err) {
			return Image{}, ErrImageNotFound
		}
		return Image{}, err
	}
	img.PushedAt = fi.ModTime().UTC()
	return img, nil
}

// tagMap returns every tag of repo and the digest it names.
func (r *Registry) tagMap(ctx context.Context, repo distribution.Repository) (map[string]string, error) {
	ts := repo.Tags(ctx)
	all, err := ts.All(ctx)
	if err != nil {
		var unknown distribution.ErrRepositoryUnknown
		if errors.As(err, &unknown) || isPathNotFound(err) {
			return map[string]string{}, nil
		}
		return nil, fmt.Errorf("registry: list tags of %s: %w", repo.Named().Name(), err)
	}
	out := make(map[string]string, len(all))
	for _, tag := range all {
		desc, err := ts.Get(ctx, tag)
		if err != nil {
			if isUnknown(err) {
				continue // untagged while listing
			}
			return nil, err
		}
		out[tag] = desc.Digest.String()
	}
	return out, nil
}

// Manifest returns the manifest a digest or tag of repository name names:
// its bytes, media type and digest.
func (r *Registry) Manifest(ctx context.Context, name, ref string) ([]byte, string, string, error) {
	repo, err := r.repo(ctx, name)
	if err != nil {
		return nil, "", "", err
	}
	d, err := digest.Parse(ref)
	if err != nil {
		desc, err := repo.Tags(ctx).Get(ctx, ref)
		if err != nil {
			if isUnknown(err) {
				return nil, "", "", ErrImageNotFound
			}
			return nil, "", "", err
		}
		d = desc.Digest
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, "", "", err
	}
	m, err := ms.Get(ctx, d)
	if err != nil {
		if isUnknown(err) {
			return nil, "", "", ErrImageNotFound
		}
		return nil, "", "", err
	}
	mt, payload, err := m.Payload()
	return payload, mt, d.String(), err
}

// PutImage stores a manifest in repository name, tagged tag unless tag is
// "", as ECR's PutImage: the layers it names must have been pushed,
// an immutable tag never moves, and putting an image that is already there
// under the same tag is ImageAlreadyExistsException.
func (r *Registry) PutImage(ctx context.Context, name, tag, mediaType string, body []byte) (Image, error) {
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return Image{}, invalidParam("ImageManifest", "Invalid JSON syntax")
	}
	if mediaType == "" {
		mediaType = head.MediaType
	}
	if mediaType == "" {
		return Image{}, invalidParam("imageManifestMediaType", "the manifest has no mediaType: imageManifestMediaType is required")
	}
	man, desc, err := distribution.UnmarshalManifest(mediaType, body)
	if err != nil {
		return Image{}, invalidParam("ImageManifest", err.Error())
	}
	named, err := reference.WithName(name)
	if err != nil {
		return Image{}, err
	}
	if tag != "" {
		unlock := r.tags.lock(name + ":" + tag)
		defer unlock()
	}
	leave := r.gc.enter()
	defer leave()
	repo, err := r.ns.Repository(ctx, named)
	if err != nil {
		return Image{}, err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return Image{}, err
	}
	exists, err := ms.Exists(ctx, desc.Digest)
	if err != nil {
		return Image{}, err
	}
	if exists && tag != "" {
		cur, err := repo.Tags(ctx).Get(ctx, tag)
		exists = err == nil && cur.Digest == desc.Digest
	}
	if exists {
		return Image{}, core.Errorf(core.KindConflict, ecr.ErrCodeImageAlreadyExistsException,
			"Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'",
			desc.Digest, tag, name, r.cfg.AccountID)
	}
	var opts []distribution.ManifestServiceOption
	if tag != "" {
		opts = append(opts, distribution.WithTag(tag))
	}
	if _, err := ms.Put(ctx, man, opts...); err != nil {
		return Image{}, r.putError(name, man, err)
	}
	if tag != "" {
		if err := repo.Tags(ctx).Tag(ctx, tag, v1.Descriptor{Digest: desc.Digest, MediaType: desc.MediaType, Size: desc.Size}); err != nil {
			return Image{}, fmt.Errorf("registry: tag %s:%s: %w", name, tag, err)
		}
	}
	if err := r.durable.Flush(); err != nil {
		return Image{}, fmt.Errorf("registry: make the image durable: %w", err)
	}
	r.pushed(name)
	raw, err := r.repo(ctx, name)
	if err != nil {
		return Image{}, err
	}
	rms, err := raw.Manifests(ctx)
	if err != nil {
		return Image{}, err
	}
	img, err := r.describe(ctx, rms, name, desc.Digest)
	if err == nil && tag != "" {
		img.Tags = []string{tag}
	}
	return img, err
}

// putError turns a failed manifest put into ECR's error.
func (r *Registry) putError(repo string, man distribution.Manifest, err error) error {
	var ver distribution.ErrManifestVerification
	if errors.As(err, &ver) {
		var missing []string
		for _, e := range ver {
			var bu distribution.ErrManifestBlobUnknown
			if errors.As(e, &bu) {
				missing = append(missing, bu.Digest.String())
			}
		}
		if len(missing) > 0 {
			mt, _, _ := man.Payload()
			if mt == v1.MediaTypeImageIndex || strings.Contains(mt, "manifest.list") {
				return core.Errorf(core.KindInvalid, ecr.ErrCodeReferencedImagesNotFoundException,
					"Manifests with digests '[%s]' required for pushing image into repository with name '%s' in registry with id '%s' do not exist",
					strings.Join(missing, ", "), repo, r.cfg.AccountID)
			}
			return core.Errorf(core.KindInvalid, ecr.ErrCodeLayersNotFoundException,
				"Layers with digests '[%s]' required for pushing image into repository with name '%s' in registry with id '%s' do not exist",
				strings.Join(missing, ", "), repo, r.cfg.AccountID)
		}
		return invalidParam("ImageManifest", ver.Error())
	}
	var ec errcode.Error
	if errors.As(err, &ec) && ec.Code == errcode.ErrorCodeTagInvalid {
		return core.Errorf(core.KindConflict, ecr.ErrCodeImageTagAlreadyExistsException, "%s", ec.Message)
	}
	return fmt.Errorf("registry: put manifest in %s: %w", repo, err)
}

func invalidParam(member, constraint string) error {
	return core.Errorf(core.KindInvalid, ecr.ErrCodeInvalidParameterException,
		"Invalid parameter at '%s' failed to satisfy constraint: '%s'", member, constraint)
}

// DeleteImage removes image d of repository name with every tag that
// names it. Its blobs go with the next garbage collections.
func (r *Registry) DeleteImage(ctx context.Context, name, d string) error {
	dg, err := digest.Parse(d)
	if err != nil {
		return ErrImageNotFound
	}
	repo, err := r.repo(ctx, name)
	if err != nil {
		return err
	}
	ts := repo.Tags(ctx)
	// Tags first: a crash in between leaves an untagged image, never a tag
	// naming a deleted one.
	tags, err := ts.Lookup(ctx, v1.Descriptor{Digest: dg})
	if err != nil && !isUnknown(err) && !isPathNotFound(err) {
		return err
	}
	for _, t := range tags {
		if err := ts.Untag(ctx, t); err != nil && !isUnknown(err) && !isPathNotFound(err) {
			return err
		}
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return err
	}
	if err := ms.Delete(ctx, dg); err != nil {
		if isUnknown(err) || isPathNotFound(err) {
			return ErrImageNotFound
		}
		return err
	}
	return r.durable.Flush()
}

// Untag removes tag from repository name.
func (r *Registry) Untag(ctx context.Context, name, tag string) error {
	repo, err := r.repo(ctx, name)
	if err != nil {
		return err
	}
	if err := repo.Tags(ctx).Untag(ctx, tag); err != nil {
		if isUnknown(err) || isPathNotFound(err) {
			return ErrImageNotFound
		}
		return err
	}
	return r.durable.Flush()
}

// ClearRepository removes every image, tag, layer link and upload of
// repository name from storage (a repository named name/x is left alone).
// DeleteRepository calls it, and so does CreateRepository, for what a
// push that raced a delete may have left.
func (r *Registry) ClearRepository(ctx context.Context, name string) error {
	if _, err := reference.WithName(name); err != nil {
		return err
	}
	if err := storage.NewVacuum(ctx, r.driver).RemoveRepository(name); err != nil {
		return err
	}
	return r.durable.Flush()
}

// isUnknown reports whether err says a manifest, tag or blob is not there.
func isUnknown(err error) bool {
	var (
		tu distribution.ErrTagUnknown
		mu distribution.ErrManifestUnknown
		mr distribution.ErrManifestUnknownRevision
	)
	return errors.As(err, &tu) || errors.As(err, &mu) || errors.As(err, &mr) ||
		errors.Is(err, distribution.ErrBlobUnknown) || isPathNotFound(err)
}
