package ecr

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	ecr "github.com/minato-project/minato/internal/model/ecrtypes"
	"github.com/minato-project/minato/internal/registry"
)

// digestRE is the form of an image digest ECR accepts.
var digestRE = regexp.MustCompile(`^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$`)

// images lists the images of a repository that exists.
func (a *API) images(ctx context.Context, c *awsproto.Call, repo string) ([]registry.Image, error) {
	if _, err := a.getRepo(ctx, c, repo); err != nil {
		return nil, err
	}
	return a.reg.Images(ctx, repo)
}

// tagStatus reports whether img passes a TAGGED/UNTAGGED/ANY filter.
func tagStatus(img registry.Image, status ecr.TagStatus) bool {
	switch status {
	case ecr.TagStatusTagged:
		return len(img.Tags) > 0
	case ecr.TagStatusUntagged:
		return len(img.Tags) == 0
	}
	return true
}

// ListImages lists image IDs: one per tag of a tagged image, one (digest
// only) per untagged image, in digest then tag order.
func (a *API) ListImages(ctx context.Context, c *awsproto.Call, in *ecr.ListImagesRequest) (*ecr.ListImagesResponse, error) {
	imgs, err := a.images(ctx, c, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	status := ecr.TagStatusAny
	if in.Filter != nil && in.Filter.TagStatus != "" {
		status = in.Filter.TagStatus
	}
	limit := pageSize(in.MaxResults, defaultPageSize)
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ecr.ListImagesResponse{ImageIds: []ecr.ImageIdentifier{}}
	for _, img := range imgs {
		if !tagStatus(img, status) {
			continue
		}
		ids := []ecr.ImageIdentifier{{ImageDigest: img.Digest}}
		if len(img.Tags) > 0 {
			ids = ids[:0]
			for _, t := range img.Tags {
				ids = append(ids, ecr.ImageIdentifier{ImageDigest: img.Digest, ImageTag: t})
			}
		}
		for _, id := range ids {
			key := id.ImageDigest + "|" + id.ImageTag
			if key <= after {
				continue
			}
			if len(out.ImageIds) == limit {
				out.NextToken = paging.Encode(after)
				return out, nil
			}
			out.ImageIds = append(out.ImageIds, id)
			after = key
		}
	}
	return out, nil
}

// idText renders an image ID as ECR's messages do.
func idText(id ecr.ImageIdentifier) string {
	d, t := "null", "null"
	if id.ImageDigest != "" {
		d = id.ImageDigest
	}
	if id.ImageTag != "" {
		t = id.ImageTag
	}
	return fmt.Sprintf("{imageDigest:'%s', imageTag:'%s'}", d, t)
}

// find returns the image an ID names, or a failure code and reason.
func find(imgs []registry.Image, id ecr.ImageIdentifier) (registry.Image, ecr.ImageFailureCode, string) {
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return registry.Image{}, ecr.ImageFailureCodeMissingDigestAndTag, "Invalid request parameters: both tag and digest cannot be null"
	case id.ImageDigest != "" && !digestRE.MatchString(id.ImageDigest):
		return registry.Image{}, ecr.ImageFailureCodeInvalidImageDigest, "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
	}
	for _, img := range imgs {
		byDigest := id.ImageDigest == "" || img.Digest == id.ImageDigest
		byTag := id.ImageTag == "" || slices.Contains(img.Tags, id.ImageTag)
		if byDigest && byTag {
			return img, "", ""
		}
		if id.ImageDigest != "" && id.ImageTag != "" && (byDigest || byTag) {
			return registry.Image{}, ecr.ImageFailureCodeImageTagDoesNotMatchDigest, "Invalid image tag/digest combination"
		}
	}
	return registry.Image{}, ecr.ImageFailureCodeImageNotFound, "Requested image not found"
}

// DescribeImages describes the images the IDs name, or every image (that
// passes the filter) a page at a time.
func (a *API) DescribeImages(ctx context.Context, c *awsproto.Call, in *ecr.DescribeImagesRequest) (*ecr.DescribeImagesResponse, error) {
	imgs, err := a.images(ctx, c, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &ecr.DescribeImagesResponse{ImageDetails: []ecr.ImageDetail{}}
	if len(in.ImageIds) > 0 {
		if in.NextToken != "" || in.MaxResults != 0 || in.Filter != nil {
			return nil, invalid("imageIds", "imageIds cannot be specified with maxResults, nextToken or filter")
		}
		seen := map[string]bool{}
		for _, id := range in.ImageIds {
			img, code, reason := find(imgs, id)
			if code == ecr.ImageFailureCodeImageNotFound {
				return nil, core.Errorf(core.KindNotFound, ecr.ErrCodeImageNotFoundException,
					"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
					idText(id), in.RepositoryName, c.Principal.AccountID)
			}
			if code != "" {
				return nil, invalid("imageIds", reason)
			}
			if !seen[img.Digest] {
				seen[img.Digest] = true
				out.ImageDetails = append(out.ImageDetails, detail(c, in.RepositoryName, img))
			}
		}
		return out, nil
	}
	status := ecr.TagStatusAny
	if in.Filter != nil && in.Filter.TagStatus != "" {
		status = in.Filter.TagStatus
	}
	limit := pageSize(in.MaxResults, defaultPageSize)
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		if img.Digest <= after || !tagStatus(img, status) {
			continue
		}
		if len(out.ImageDetails) == limit {
			out.NextToken = paging.Encode(after)
			break
		}
		out.ImageDetails = append(out.ImageDetails, detail(c, in.RepositoryName, img))
		after = img.Digest
	}
	return out, nil
}

func sha256Digest(b []byte) string { return digest.FromBytes(b).String() }

func detail(c *awsproto.Call, repo string, img registry.Image) ecr.ImageDetail {
	return ecr.ImageDetail{
		RegistryId: c.Principal.AccountID, RepositoryName: repo, ImageDigest: img.Digest, ImageTags: img.Tags,
		ImageSizeInBytes: img.Size, ImagePushedAt: ts(img.PushedAt), ImageManifestMediaType: img.MediaType,
		ArtifactMediaType: img.ArtifactMediaType, ImageStatus: ecr.ImageStatusActive,
	}
}

// BatchGetImage returns the manifests the IDs name; those it cannot find
// are failures, not an error.
func (a *API) BatchGetImage(ctx context.Context, c *awsproto.Call, in *ecr.BatchGetImageRequest) (*ecr.BatchGetImageResponse, error) {
	imgs, err := a.images(ctx, c, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &ecr.BatchGetImageResponse{Images: []ecr.Image{}, Failures: []ecr.ImageFailure{}}
	for _, id := range in.ImageIds {
		img, code, reason := find(imgs, id)
		if code == "" {
			body, mt, d, err := a.reg.Manifest(ctx, in.RepositoryName, img.Digest)
			switch {
			case errors.Is(err, registry.ErrImageNotFound):
				code, reason = ecr.ImageFailureCodeImageNotFound, "Requested image not found"
			case err != nil:
				return nil, err
			default:
				rid := ecr.ImageIdentifier{ImageDigest: d, ImageTag: id.ImageTag}
				out.Images = append(out.Images, ecr.Image{RegistryId: c.Principal.AccountID, RepositoryName: in.RepositoryName,
					ImageId: &rid, ImageManifest: string(body), ImageManifestMediaType: mt})
				continue
			}
		}
		fid := id
		out.Failures = append(out.Failures, ecr.ImageFailure{ImageId: &fid, FailureCode: code, FailureReason: reason})
	}
	return out, nil
}

// BatchDeleteImage deletes images and tags. An ID with a digest deletes
// the image with all its tags; an ID with a tag only removes the tag, and
// the image with it when it was its last tag, as in ECR. An image an index
// of the repository lists cannot be deleted while the index exists.
func (a *API) BatchDeleteImage(ctx context.Context, c *awsproto.Call, in *ecr.BatchDeleteImageRequest) (*ecr.BatchDeleteImageResponse, error) {
	imgs, err := a.images(ctx, c, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	listed := map[string]string{} // child digest -> index digest
	for _, img := range imgs {
		for _, ch := range img.Children {
			listed[ch] = img.Digest
		}
	}
	out := &ecr.BatchDeleteImageResponse{ImageIds: []ecr.ImageIdentifier{}, Failures: []ecr.ImageFailure{}}
	fail := func(id ecr.ImageIdentifier, code ecr.ImageFailureCode, reason string) {
		out.Failures = append(out.Failures, ecr.ImageFailure{ImageId: &id, FailureCode: code, FailureReason: reason})
	}
	for _, id := range in.ImageIds {
		img, code, reason := find(imgs, id)
		if code != "" {
			fail(id, code, reason)
			continue
		}
		whole := id.ImageDigest != "" || len(img.Tags) <= 1
		if idx, ok := listed[img.Digest]; ok && whole {
			fail(id, ecr.ImageFailureCodeImageReferencedByManifestList, "Requested image referenced by manifest list: ["+idx+"]")
			continue
		}
		if whole {
			err = a.reg.DeleteImage(ctx, in.RepositoryName, img.Digest)
		} else {
			err = a.reg.Untag(ctx, in.RepositoryName, id.ImageTag)
		}
		if errors.Is(err, registry.ErrImageNotFound) {
			fail(id, ecr.ImageFailureCodeImageNotFound, "Requested image not found")
			continue
		}
		if err != nil {
			return nil, err
		}
		// Later IDs of the batch see what this one did.
		i := slices.IndexFunc(imgs, func(x registry.Image) bool { return x.Digest == img.Digest })
		if whole {
			imgs = slices.Delete(imgs, i, i+1)
		} else {
			imgs[i].Tags = slices.DeleteFunc(slices.Clone(imgs[i].Tags), func(t string) bool { return t == id.ImageTag })
		}
		out.ImageIds = append(out.ImageIds, ecr.ImageIdentifier{ImageDigest: img.Digest, ImageTag: id.ImageTag})
	}
	return out, nil
}

// PutImage stores a manifest whose layers were pushed.
func (a *API) PutImage(ctx context.Context, c *awsproto.Call, in *ecr.PutImageRequest) (*ecr.PutImageResponse, error) {
	if in.ImageManifest == "" {
		return nil, invalid("imageManifest", "imageManifest is required")
	}
	if _, err := a.getRepo(ctx, c, in.RepositoryName); err != nil {
		return nil, err
	}
	if in.ImageDigest != "" {
		if !digestRE.MatchString(in.ImageDigest) || !strings.HasPrefix(in.ImageDigest, "sha256:") {
			return nil, invalid("imageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
		}
		if d := sha256Digest([]byte(in.ImageManifest)); d != in.ImageDigest {
			return nil, core.Errorf(core.KindInvalid, ecr.ErrCodeImageDigestDoesNotMatchException,
				"Provided image digest '%s' does not match the calculated image digest '%s'", in.ImageDigest, d)
		}
	}
	img, err := a.reg.PutImage(ctx, in.RepositoryName, in.ImageTag, in.ImageManifestMediaType, []byte(in.ImageManifest))
	if err != nil {
		return nil, err
	}
	return &ecr.PutImageResponse{Image: &ecr.Image{RegistryId: c.Principal.AccountID, RepositoryName: in.RepositoryName,
		ImageId:       &ecr.ImageIdentifier{ImageDigest: img.Digest, ImageTag: in.ImageTag},
		ImageManifest: in.ImageManifest, ImageManifestMediaType: img.MediaType}}, nil
}
