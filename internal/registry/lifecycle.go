package registry

import (
	"context"
	"errors"
	"slices"

	"github.com/minato-project/minato/internal/registry/lifecyclepolicy"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// EvaluatePolicy returns the images of repository repo that the lifecycle
// policy text would expire now, oldest first. The preview
// (StartLifecyclePolicyPreview) and the expiry itself both use it, so they
// agree.
func (r *Registry) EvaluatePolicy(ctx context.Context, repo, text string) ([]lifecyclepolicy.Expiry, error) {
	p, err := lifecyclepolicy.Parse(text)
	if err != nil {
		return nil, err
	}
	images, err := r.Images(ctx, repo)
	if err != nil {
		return nil, err
	}
	return p.Evaluate(PolicyImages(images), r.clock.Now()), nil
}

// PolicyImages are the images a lifecycle policy decides on: every image
// but those an index (manifest list) of the repository lists, which ECR
// keeps as long as their index (BatchDeleteImage refuses them with
// ImageReferencedByManifestList); once the index is gone they are images
// of their own, untagged.
func PolicyImages(images []Image) []lifecyclepolicy.Image {
	listed := map[string]bool{}
	for _, img := range images {
		for _, c := range img.Children {
			listed[c] = true
		}
	}
	out := make([]lifecyclepolicy.Image, 0, len(images))
	for _, img := range images {
		if !listed[img.Digest] {
			out = append(out, lifecyclepolicy.Image{Digest: img.Digest, Tags: slices.Clone(img.Tags), PushedAt: img.PushedAt})
		}
	}
	return out
}

// Expire runs the lifecycle policy of repository repo, if it has one, and
// returns the images it deleted.
func (r *Registry) Expire(ctx context.Context, repo string) ([]lifecyclepolicy.Expiry, error) {
	it, err := state.Get[state.ECRRepository](ctx, r.cfg.Store, state.ECRRepositoryKey(repo))
	if state.IsNotFound(err) {
		return nil, nil
	}
	if err != nil || it.Value.LifecyclePolicy == "" {
		return nil, err
	}
	expiries, err := r.EvaluatePolicy(ctx, repo, it.Value.LifecyclePolicy)
	if err != nil {
		return nil, err
	}
	var done []lifecyclepolicy.Expiry
	for _, e := range expiries {
		if err := r.DeleteImage(ctx, repo, e.Image.Digest); err != nil && !errors.Is(err, ErrImageNotFound) {
			return done, err
		}
		done = append(done, e)
	}
	now := r.clock.Now()
	err = store.RetryConflicts(ctx, func() error {
		it, err := state.Get[state.ECRRepository](ctx, r.cfg.Store, state.ECRRepositoryKey(repo))
		if err != nil {
			return err
		}
		rec := it.Value
		rec.LifecycleEvaluatedAt = now
		b, err := state.Encode(rec)
		if err != nil {
			return err
		}
		_, err = r.cfg.Store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Put(it.Key, b)})
		return err
	})
	if state.IsNotFound(err) {
		err = nil // deleted meanwhile
	}
	return done, err
}

func (r *Registry) expireLogged(ctx context.Context, repo string) {
	done, err := r.Expire(ctx, repo)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("lifecycle policy", "repository", repo, "err", err)
	}
	if len(done) > 0 {
		r.log.Info("lifecycle policy expired images", "repository", repo, "images", len(done))
	}
}

// expireAll runs every repository's lifecycle policy.
func (r *Registry) expireAll(ctx context.Context) {
	after := ""
	for ctx.Err() == nil {
		items, err := state.List[state.ECRRepository](ctx, r.cfg.Store, state.ECRRepositoriesPrefix(), store.ListOptions{After: after, Limit: 100})
		if err != nil {
			r.log.Warn("lifecycle policies: list repositories", "err", err)
			return
		}
		for _, it := range items {
			after = it.Key
			if it.Value.LifecyclePolicy != "" {
				r.expireLogged(ctx, it.Value.Name)
			}
		}
		if len(items) < 100 {
			return
		}
	}
}
