package ecs

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/taskdef"
)

const maxTags = 50

// checkTags applies ECS's tag rules to tags added to a resource.
func checkTags(tags []ecstypes.Tag) error {
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch n := utf8.RuneCountInString(t.Key); {
		case n < 1 || n > 128:
			return invalidParam("Tag keys must be between 1 and 128 characters long.")
		case utf8.RuneCountInString(t.Value) > 256:
			return invalidParam("Tag values must be at most 256 characters long.")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return invalidParam("Tag keys starting with 'aws:' are reserved for AWS use.")
		case seen[t.Key]:
			return invalidParam("Duplicate tag key %q.", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > maxTags {
		return invalidParam("A resource can have at most %d tags.", maxTags)
	}
	return nil
}

// mergeTags returns have with add applied: existing keys are overwritten.
func mergeTags(have, add []ecstypes.Tag) ([]ecstypes.Tag, error) {
	out := append([]ecstypes.Tag(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value = t.Value
				replaced = true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		return nil, core.Errorf(core.KindInvalid, ecstypes.ErrCodeLimitExceededException, "A resource can have at most %d tags.", maxTags)
	}
	return out, nil
}

func removeTags(have []ecstypes.Tag, keys []string) []ecstypes.Tag {
	out := have[:0:0]
	for _, t := range have {
		drop := false
		for _, k := range keys {
			drop = drop || t.Key == k
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

// editTags applies edit to the tags of the resource an ARN names; a nil
// edit only reads them.
func (a *API) editTags(ctx context.Context, resourceARN string, edit func([]ecstypes.Tag) ([]ecstypes.Tag, error)) ([]ecstypes.Tag, error) {
	parsed, err := arn.Parse(resourceARN)
	if err != nil || parsed.Service != "ecs" {
		return nil, invalidParam("The ARN provided is invalid: %q.", resourceARN)
	}
	kind, name, _ := strings.Cut(parsed.Resource, "/")
	var key string
	switch kind {
	case "cluster":
		key = state.ClusterKey(name)
	case "task-definition":
		family, rev, ok := taskdef.SplitFamilyRevision(name)
		if !ok || rev == 0 {
			return nil, invalidParam("The ARN provided is invalid: %q.", resourceARN)
		}
		key = state.TaskDefKey(family, rev)
	case "container-instance":
		cluster, id, ok := parseInstanceARN(resourceARN)
		if !ok || cluster == "" {
			return nil, invalidParam("The ARN provided is invalid: %q. Use the long ARN format, with the cluster name.", resourceARN)
		}
		key = state.ContainerInstanceKey(cluster, id)
	case "service":
		k, ok := serviceTagKey(resourceARN)
		if !ok {
			return nil, invalidParam("The ARN provided is invalid: %q. Use the long ARN format, with the cluster name.", resourceARN)
		}
		key = k
	case "task":
		cluster, id, err := taskRef(resourceARN)
		if err != nil || cluster == "" {
			return nil, invalidParam("The ARN provided is invalid: %q. Use the long ARN format, with the cluster name.", resourceARN)
		}
		key = state.TaskKey(cluster, id)
	default:
		return nil, invalidParam("Tags are not supported for resource type %q in minato yet.", kind)
	}
	switch kind {
	case "cluster":
		return editTagsAt(ctx, a, key, errClusterNotFound(),
			func(c *ecstypes.Cluster) *[]ecstypes.Tag {
				if c.Status != clusterActive {
					return nil
				}
				return &c.Tags
			}, edit)
	case "container-instance":
		return editTagsAt(ctx, a, key, errResourceNotFound(),
			func(ci *state.ContainerInstance) *[]ecstypes.Tag {
				if ci.Status == instanceInactive {
					return nil
				}
				return &ci.Tags
			}, edit)
	case "service":
		return editTagsAt(ctx, a, key, errResourceNotFound(), serviceTags, edit)
	case "task":
		// A task record is the task domain's to write.
		cluster, id, _ := taskRef(resourceARN)
		tags, found, err := a.tasks.EditTags(ctx, cluster, id, edit)
		if err == nil && !found {
			err = errResourceNotFound()
		}
		return tags, err
	default:
		return editTagsAt(ctx, a, key, errResourceNotFound(),
			func(r *state.TaskDef) *[]ecstypes.Tag { return &r.Tags }, edit)
	}
}

// editTagsAt applies edit to the tags of the record at key; a nil edit
// only reads them. tagsOf returns nil when the record cannot be tagged.
func editTagsAt[T any](ctx context.Context, a *API, key string, notFound error, tagsOf func(*T) *[]ecstypes.Tag,
	edit func([]ecstypes.Tag) ([]ecstypes.Tag, error)) ([]ecstypes.Tag, error) {
	var tags []ecstypes.Tag
	err := a.serial.Do(ctx, key, func() error {
		it, err := state.Get[T](ctx, a.store, key)
		if state.IsNotFound(err) {
			return notFound
		}
		if err != nil {
			return err
		}
		field := tagsOf(&it.Value)
		if field == nil {
			return notFound
		}
		if edit == nil {
			tags = *field
			return nil
		}
		if tags, err = edit(*field); err != nil {
			return err
		}
		*field = tags
		return a.put(ctx, key, it.ModRevision, it.Value)
	})
	return tags, err
}

// put writes v at key if key is still at rev (0: must not exist).
func (a *API) put(ctx context.Context, key string, rev int64, v any) error {
	b, err := state.Encode(v)
	if err != nil {
		return err
	}
	_, err = a.store.Txn(ctx, []store.Cond{{Key: key, ModRevision: rev}}, []store.Op{store.Put(key, b)})
	return err
}

// TagResource adds or overwrites tags on a cluster or task definition.
func (a *API) TagResource(ctx context.Context, c *awsproto.Call, in *ecstypes.TagResourceRequest) (*ecstypes.TagResourceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := a.editTags(ctx, in.ResourceArn, func(have []ecstypes.Tag) ([]ecstypes.Tag, error) {
		return mergeTags(have, in.Tags)
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.TagResourceResponse{}, nil
}

// UntagResource removes tags by key.
func (a *API) UntagResource(ctx context.Context, c *awsproto.Call, in *ecstypes.UntagResourceRequest) (*ecstypes.UntagResourceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	_, err := a.editTags(ctx, in.ResourceArn, func(have []ecstypes.Tag) ([]ecstypes.Tag, error) {
		return removeTags(have, in.TagKeys), nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.UntagResourceResponse{}, nil
}

// ListTagsForResource returns a resource's tags.
func (a *API) ListTagsForResource(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTagsForResourceRequest) (*ecstypes.ListTagsForResourceResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	tags, err := a.editTags(ctx, in.ResourceArn, nil)
	if err != nil {
		return nil, err
	}
	return &ecstypes.ListTagsForResourceResponse{Tags: nonNil(tags)}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
