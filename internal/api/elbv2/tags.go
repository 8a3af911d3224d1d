package elbv2

import (
	"context"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// maxTags is ELBv2's limit of tags per resource.
const maxTags = 50

func checkTag(k, v string) error {
	if k == "" || len(k) > 128 {
		return validationErr("Tag key '%s' must be 1 to 128 characters long", k)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return validationErr("Tag key '%s' cannot begin with 'aws:': the prefix is reserved", k)
	}
	if len(v) > 256 {
		return validationErr("The value of tag '%s' cannot be longer than 256 characters", k)
	}
	return nil
}

func errTooManyTags() error {
	return errf(core.KindInvalid, elbv2types.ErrCodeTooManyTagsException, "A resource can have at most %d tags", maxTags)
}

// checkNewTags checks the tags of a create request.
func checkNewTags(in []elbv2types.Tag) ([]state.ELBTag, error) {
	if len(in) > maxTags {
		return nil, errTooManyTags()
	}
	var out []state.ELBTag
	for _, t := range in {
		if err := checkTag(t.Key, t.Value); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(x state.ELBTag) bool { return x.Key == t.Key }) {
			return nil, errf(core.KindInvalid, elbv2types.ErrCodeDuplicateTagKeysException, "Tag key '%s' is specified more than once", t.Key)
		}
		out = append(out, state.ELBTag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}

// tagged is the records one tags request reads and writes, by store key:
// a listener and its default rule share one record.
type tagged struct {
	a    *API
	recs map[string]*taggedRec
	keys []string
}

type taggedRec struct {
	rev int64
	val any // *state.LoadBalancer, *state.TargetGroup, *state.Listener or *state.Rule
}

// tags returns the tags of the resource arnStr, for reading and writing.
func (tg *tagged) tags(ctx context.Context, arnStr string) (*[]state.ELBTag, error) {
	p, ok := parseARN(arnStr)
	if !ok {
		return nil, validationErr("'%s' is not a valid Elastic Load Balancing resource ARN", arnStr)
	}
	load := func(key string, get func(context.Context) (any, int64, error)) (*taggedRec, error) {
		if r, ok := tg.recs[key]; ok {
			return r, nil
		}
		v, rev, err := get(ctx)
		if err != nil {
			return nil, err
		}
		r := &taggedRec{rev: rev, val: v}
		tg.recs[key] = r
		tg.keys = append(tg.keys, key)
		return r, nil
	}
	a := tg.a
	switch p.kind {
	case kindLoadBalancer:
		r, err := load(state.LoadBalancerKey(p.lbID), func(ctx context.Context) (any, int64, error) {
			it, err := a.loadBalancer(ctx, arnStr)
			return &it.Value, it.ModRevision, err
		})
		if err != nil {
			return nil, err
		}
		l := r.val.(*state.LoadBalancer)
		if l.ARN != arnStr {
			return nil, errLBNotFound()
		}
		return &l.Tags, nil
	case kindTargetGroup:
		r, err := load(state.TargetGroupKey(p.tgID), func(ctx context.Context) (any, int64, error) {
			it, err := a.targetGroup(ctx, arnStr)
			return &it.Value, it.ModRevision, err
		})
		if err != nil {
			return nil, err
		}
		g := r.val.(*state.TargetGroup)
		if g.ARN != arnStr {
			return nil, errTGNotFound()
		}
		return &g.Tags, nil
	case kindListener:
		r, err := load(state.ListenerKey(p.lbID, p.listenerID), func(ctx context.Context) (any, int64, error) {
			it, err := a.listener(ctx, arnStr)
			return &it.Value, it.ModRevision, err
		})
		if err != nil {
			return nil, err
		}
		l := r.val.(*state.Listener)
		if l.ARN != arnStr {
			return nil, errListenerNotFound()
		}
		return &l.Tags, nil
	default: // kindRule
		ref, err := a.rule(ctx, arnStr)
		if err != nil {
			return nil, err
		}
		if ref.Rule == nil {
			r, err := load(ref.Listener.Key, func(context.Context) (any, int64, error) {
				v := ref.Listener.Value
				return &v, ref.Listener.ModRevision, nil
			})
			if err != nil {
				return nil, err
			}
			return &r.val.(*state.Listener).DefaultRuleTags, nil
		}
		r, err := load(ref.Rule.Key, func(context.Context) (any, int64, error) {
			v := ref.Rule.Value
			return &v, ref.Rule.ModRevision, nil
		})
		if err != nil {
			return nil, err
		}
		return &r.val.(*state.Rule).Tags, nil
	}
}

// commit writes every record read, under conditions on their revisions.
func (tg *tagged) commit(ctx context.Context) error {
	t := &txn{}
	for _, k := range tg.keys {
		r := tg.recs[k]
		t.update(k, r.rev, r.val)
	}
	return tg.a.commit(ctx, t)
}

func checkResourceArns(arns []string) error {
	if len(arns) == 0 {
		return validationErr("At least one resource ARN must be specified")
	}
	if len(arns) > 20 {
		return validationErr("At most 20 resource ARNs can be specified")
	}
	return nil
}

// AddTags adds tags to resources, replacing the values of keys they have.
func (a *API) AddTags(ctx context.Context, _ *awsproto.Call, in *elbv2types.AddTagsInput) (*elbv2types.AddTagsOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkResourceArns(in.ResourceArns); err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, validationErr("At least one tag must be specified")
	}
	add, err := checkNewTags(in.Tags)
	if err != nil {
		return nil, err
	}
	err = store.RetryConflicts(ctx, func() error {
		tg := &tagged{a: a, recs: map[string]*taggedRec{}}
		for _, arnStr := range in.ResourceArns {
			tags, err := tg.tags(ctx, arnStr)
			if err != nil {
				return err
			}
			for _, t := range add {
				if i := slices.IndexFunc(*tags, func(x state.ELBTag) bool { return x.Key == t.Key }); i >= 0 {
					(*tags)[i].Value = t.Value
				} else {
					*tags = append(*tags, t)
				}
			}
			if len(*tags) > maxTags {
				return errTooManyTags()
			}
		}
		return tg.commit(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.AddTagsOutput{}, nil
}

// RemoveTags removes tags from resources by key.
func (a *API) RemoveTags(ctx context.Context, _ *awsproto.Call, in *elbv2types.RemoveTagsInput) (*elbv2types.RemoveTagsOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkResourceArns(in.ResourceArns); err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, validationErr("At least one tag key must be specified")
	}
	err := store.RetryConflicts(ctx, func() error {
		tg := &tagged{a: a, recs: map[string]*taggedRec{}}
		for _, arnStr := range in.ResourceArns {
			tags, err := tg.tags(ctx, arnStr)
			if err != nil {
				return err
			}
			*tags = slices.DeleteFunc(*tags, func(x state.ELBTag) bool { return slices.Contains(in.TagKeys, x.Key) })
		}
		return tg.commit(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.RemoveTagsOutput{}, nil
}

// DescribeTags returns the tags of resources.
func (a *API) DescribeTags(ctx context.Context, _ *awsproto.Call, in *elbv2types.DescribeTagsInput) (*elbv2types.DescribeTagsOutput, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkResourceArns(in.ResourceArns); err != nil {
		return nil, err
	}
	tg := &tagged{a: a, recs: map[string]*taggedRec{}}
	out := &elbv2types.DescribeTagsOutput{TagDescriptions: []elbv2types.TagDescription{}}
	for _, arnStr := range in.ResourceArns {
		tags, err := tg.tags(ctx, arnStr)
		if err != nil {
			return nil, err
		}
		d := elbv2types.TagDescription{ResourceArn: arnStr, Tags: []elbv2types.Tag{}}
		for _, t := range *tags {
			d.Tags = append(d.Tags, elbv2types.Tag{Key: t.Key, Value: t.Value})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
	return out, nil
}
