package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/minato-project/minato/internal/runtime"
)

// imageError is an image that cannot be had. Its text is Docker's, which
// the agent shows after "CannotPullContainerError: "; it matches
// runtime.ErrImageNotFound and the underlying error with errors.Is.
type imageError struct {
	msg string
	err error
}

func (e *imageError) Error() string   { return e.msg }
func (e *imageError) Unwrap() []error { return []error{runtime.ErrImageNotFound, e.err} }

// EnsureImage uses a local image as is and pulls anything else, with auth
// when given; with auth.Refresh it pulls a local image too, and keeps
// using the local one if that pull fails.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, auth *runtime.RegistryAuth) error {
	img, err := r.cli.ImageInspect(ctx, ref)
	local := err == nil
	if local && (auth == nil || !auth.Refresh) {
		return nil // a local image is used as it is, and never cleaned up by minato
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %q: %w", ref, err)
	}
	opts := image.PullOptions{}
	if auth != nil {
		ac := registry.AuthConfig{Username: auth.Username, Password: auth.Password}
		if named, err := reference.ParseNormalizedNamed(ref); err == nil {
			ac.ServerAddress = reference.Domain(named)
		}
		enc, err := registry.EncodeAuthConfig(ac)
		if err != nil {
			return fmt.Errorf("encode registry auth: %w", err)
		}
		opts.RegistryAuth = enc
	}
	rc, err := r.cli.ImagePull(ctx, ref, opts)
	if err == nil {
		err = readStream(rc)
		rc.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pull %q: %w", ref, ctx.Err())
		}
		if local {
			r.log.Warn("pull failed; using the local image", "image", ref, "err", err)
			r.markUsed(img.ID)
			return nil
		}
		return &imageError{msg: err.Error(), err: err}
	}
	img, err = r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return &imageError{msg: fmt.Sprintf("image %s not present after pull: %v", ref, err), err: err}
	}
	r.markUsed(img.ID)
	return nil
}

func (r *Runtime) markUsed(id string) {
	r.mu.Lock()
	r.used[id] = struct{}{}
	r.mu.Unlock()
}

// ListImages returns the local images minato uses: those EnsureImage made
// available in this process, those of minato's containers and those minato
// built (the pause image). Images of other people's containers are never
// listed, so a cleanup cannot remove them; InUse counts every container.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	imgs, err := r.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range cs {
		inUse[c.ImageID] = true
	}
	// Only images this runtime pulled are minato's to clean up, as the ECS
	// agent cleans only what it pulled: a local image a task used stays.
	ours := map[string]bool{}
	r.mu.Lock()
	for id := range r.used {
		ours[id] = true
	}
	r.mu.Unlock()
	var out []runtime.Image
	for _, img := range imgs {
		if !ours[img.ID] {
			continue
		}
		var tags []string
		for _, t := range img.RepoTags {
			if t != "<none>:<none>" {
				tags = append(tags, t)
			}
		}
		out = append(out, runtime.Image{
			ID:       img.ID,
			Tags:     tags,
			Created:  time.Unix(img.Created, 0),
			InUse:    inUse[img.ID],
			SizeByte: img.Size,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// RemoveImage removes an image (by reference or ID) that no container
// uses. A missing image is not an error; one in use is refused by Docker.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	img, err := r.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove image %q: %w", ref, err)
	}
	_, err = r.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		if cerrdefs.IsConflict(err) {
			return fmt.Errorf("remove image %q: in use: %w", ref, err)
		}
		return fmt.Errorf("remove image %q: %w", ref, err)
	}
	if _, err := r.cli.ImageInspect(ctx, img.ID); cerrdefs.IsNotFound(err) {
		r.mu.Lock()
		delete(r.used, img.ID)
		r.mu.Unlock()
	}
	return nil
}

// readStream drains a Docker JSON progress stream (pull, import, build)
// and returns the first error it reports.
func readStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
