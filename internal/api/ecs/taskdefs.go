package ecs

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/taskdef"
)

// familyRecord keeps a family's revision counter and how many of its
// revisions are ACTIVE.
type familyRecord struct {
	Family         string `json:"family"`
	LatestRevision int32  `json:"latestRevision"`
	Active         int    `json:"active"`
}

const (
	tdActive           = ecstypes.TaskDefinitionStatusActive
	tdInactive         = ecstypes.TaskDefinitionStatusInactive
	tdDeleteInProgress = ecstypes.TaskDefinitionStatusDeleteInProgress
)

// taskDefRef resolves "family", "family:revision" or a task definition ARN.
func taskDefRef(ref string) (family string, rev int32, ok bool) {
	if arn.IsARN(ref) {
		p, err := arn.Parse(ref)
		rest, isTD := strings.CutPrefix(p.Resource, "task-definition/")
		if err != nil || p.Service != "ecs" || !isTD {
			return "", 0, false
		}
		ref = rest
	}
	return taskdef.SplitFamilyRevision(ref)
}

func taskDefARN(scope arn.Scope, family string, rev int32) string {
	return scope.New("ecs", "task-definition/"+family+":"+strconv.Itoa(int(rev)))
}

func render(scope arn.Scope, td ecstypes.TaskDefinition) ecstypes.TaskDefinition {
	td.TaskDefinitionArn = taskDefARN(scope, td.Family, td.Revision)
	return td
}

// RegisterTaskDefinition validates a task definition and stores it as the
// next revision of its family.
func (a *API) RegisterTaskDefinition(ctx context.Context, c *awsproto.Call, in *ecstypes.RegisterTaskDefinitionRequest) (*ecstypes.RegisterTaskDefinitionResponse, error) {
	td, err := taskdef.Build(in)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	td.Status = tdActive
	td.RegisteredAt = shape.NewTimestamp(a.now())
	td.RegisteredBy = c.Principal.ARN
	fkey := state.FamilyKey(in.Family)
	err = a.serial.Do(ctx, fkey, func() error {
		fam, err := state.Get[familyRecord](ctx, a.store, fkey)
		if err != nil && !state.IsNotFound(err) {
			return err
		}
		f := fam.Value
		f.Family = in.Family
		f.LatestRevision++
		f.Active++
		td.Revision = f.LatestRevision
		fb, err := state.Encode(f)
		if err != nil {
			return err
		}
		tb, err := state.Encode(state.TaskDef{TaskDefinition: td, Tags: in.Tags})
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx,
			[]store.Cond{{Key: fkey, ModRevision: fam.ModRevision}},
			[]store.Op{store.Put(fkey, fb), store.Put(state.TaskDefKey(in.Family, td.Revision), tb)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.RegisterTaskDefinitionResponse{TaskDefinition: new(render(scopeOf(c), td)), Tags: in.Tags}, nil
}

// lookupTaskDef finds the revision a reference names; a bare family names
// its latest ACTIVE revision.
func (a *API) lookupTaskDef(ctx context.Context, ref string) (state.Item[state.TaskDef], error) {
	family, rev, ok := taskDefRef(ref)
	if !ok {
		return state.Item[state.TaskDef]{}, clientErr("Invalid revision number. Number: %s", ref)
	}
	if rev > 0 {
		it, err := state.Get[state.TaskDef](ctx, a.store, state.TaskDefKey(family, rev))
		if state.IsNotFound(err) {
			return it, clientErr("Unable to describe task definition.")
		}
		return it, err
	}
	its, err := state.List[state.TaskDef](ctx, a.store, state.TaskDefFamilyPrefix(family), store.ListOptions{})
	if err != nil {
		return state.Item[state.TaskDef]{}, err
	}
	for i := len(its) - 1; i >= 0; i-- {
		if its[i].Value.TaskDefinition.Status == tdActive {
			return its[i], nil
		}
	}
	return state.Item[state.TaskDef]{}, clientErr("Unable to describe task definition.")
}

// DescribeTaskDefinition describes one revision.
func (a *API) DescribeTaskDefinition(ctx context.Context, c *awsproto.Call, in *ecstypes.DescribeTaskDefinitionRequest) (*ecstypes.DescribeTaskDefinitionResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	it, err := a.lookupTaskDef(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := &ecstypes.DescribeTaskDefinitionResponse{TaskDefinition: new(render(scopeOf(c), it.Value.TaskDefinition))}
	if slices.Contains(in.Include, ecstypes.TaskDefinitionFieldTags) {
		out.Tags = nonNil(it.Value.Tags)
	}
	return out, nil
}

// ListTaskDefinitions lists revision ARNs by family and revision.
func (a *API) ListTaskDefinitions(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTaskDefinitionsRequest) (*ecstypes.ListTaskDefinitionsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit, ok := paging.Limit(in.MaxResults, 100, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	status := in.Status
	if status == "" {
		status = tdActive
	}
	prefix := state.TaskDefsPrefix()
	if in.FamilyPrefix != "" {
		// ECS matches familyPrefix against whole family names here.
		prefix = state.TaskDefFamilyPrefix(in.FamilyPrefix)
	}
	its, err := state.List[state.TaskDef](ctx, a.store, prefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(its))
	for _, it := range its {
		if it.Value.TaskDefinition.Status == status {
			keys = append(keys, it.Key)
		}
	}
	if in.Sort == ecstypes.SortOrderDesc {
		slices.Reverse(keys)
	}
	page, next := pageKeys(keys, after, limit, in.Sort == ecstypes.SortOrderDesc)
	scope := scopeOf(c)
	out := &ecstypes.ListTaskDefinitionsResponse{TaskDefinitionArns: []string{}, NextToken: next}
	for _, k := range page {
		family, rev, _ := state.ParseTaskDefKey(k)
		out.TaskDefinitionArns = append(out.TaskDefinitionArns, taskDefARN(scope, family, rev))
	}
	return out, nil
}

// pageKeys returns the page of sorted keys that follows after, and the
// token for the next page. desc says the keys are in descending order.
func pageKeys(keys []string, after string, limit int, desc bool) ([]string, string) {
	start := 0
	if after != "" {
		start = len(keys)
		for i, k := range keys {
			if (!desc && k > after) || (desc && k < after) {
				start = i
				break
			}
		}
	}
	end := min(start+limit, len(keys))
	next := ""
	if end < len(keys) {
		next = paging.Encode(keys[end-1])
	}
	return keys[start:end], next
}

// ListTaskDefinitionFamilies lists family names by prefix and status.
func (a *API) ListTaskDefinitionFamilies(ctx context.Context, c *awsproto.Call, in *ecstypes.ListTaskDefinitionFamiliesRequest) (*ecstypes.ListTaskDefinitionFamiliesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit, ok := paging.Limit(in.MaxResults, 100, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("Invalid nextToken.")
	}
	status := in.Status
	if status == "" {
		status = ecstypes.TaskDefinitionFamilyStatusActive
	}
	page, next, err := a.scan(ctx, state.FamiliesPrefix()+in.FamilyPrefix, after, limit, func(kv store.KV) (bool, error) {
		it, err := state.Get[familyRecord](ctx, a.store, kv.Key)
		if err != nil {
			return false, err
		}
		switch status {
		case ecstypes.TaskDefinitionFamilyStatusActive:
			return it.Value.Active > 0, nil
		case ecstypes.TaskDefinitionFamilyStatusInactive:
			return it.Value.Active == 0, nil
		default:
			return true, nil
		}
	})
	if err != nil {
		return nil, err
	}
	out := &ecstypes.ListTaskDefinitionFamiliesResponse{Families: []string{}, NextToken: next}
	for _, kv := range page {
		out.Families = append(out.Families, state.LastSegment(kv.Key))
	}
	return out, nil
}

// setTaskDefStatus moves one revision from one status to another and keeps
// the family's ACTIVE count in step, in one transaction.
func (a *API) setTaskDefStatus(ctx context.Context, family string, rev int32, change func(*ecstypes.TaskDefinition) error) (ecstypes.TaskDefinition, error) {
	var td ecstypes.TaskDefinition
	key, fkey := state.TaskDefKey(family, rev), state.FamilyKey(family)
	err := a.serial.Do(ctx, fkey, func() error {
		it, err := state.Get[state.TaskDef](ctx, a.store, key)
		if state.IsNotFound(err) {
			return clientErr("The specified task definition does not exist.")
		}
		if err != nil {
			return err
		}
		fam, err := state.Get[familyRecord](ctx, a.store, fkey)
		if err != nil {
			return err
		}
		rec := it.Value
		wasActive := rec.TaskDefinition.Status == tdActive
		if err := change(&rec.TaskDefinition); err != nil {
			return err
		}
		td = rec.TaskDefinition
		if wasActive && td.Status != tdActive {
			fam.Value.Active--
		}
		tb, err := state.Encode(rec)
		if err != nil {
			return err
		}
		fb, err := state.Encode(fam.Value)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx,
			[]store.Cond{{Key: key, ModRevision: it.ModRevision}, {Key: fkey, ModRevision: fam.ModRevision}},
			[]store.Op{store.Put(key, tb), store.Put(fkey, fb)})
		return err
	})
	return td, err
}

// DeregisterTaskDefinition marks a revision INACTIVE.
func (a *API) DeregisterTaskDefinition(ctx context.Context, c *awsproto.Call, in *ecstypes.DeregisterTaskDefinitionRequest) (*ecstypes.DeregisterTaskDefinitionResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	family, rev, ok := taskDefRef(in.TaskDefinition)
	if !ok || rev == 0 {
		return nil, clientErr("Invalid revision number. Number: %s. Specify the task definition as family:revision or as its full ARN.", in.TaskDefinition)
	}
	now := a.now()
	td, err := a.setTaskDefStatus(ctx, family, rev, func(td *ecstypes.TaskDefinition) error {
		if td.Status == tdActive {
			td.Status = tdInactive
			td.DeregisteredAt = shape.NewTimestamp(now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.DeregisterTaskDefinitionResponse{TaskDefinition: new(render(scopeOf(c), td))}, nil
}

// DeleteTaskDefinitions requests deletion of up to 10 INACTIVE revisions.
// minato keeps them as DELETE_IN_PROGRESS, as ECS shows them until the
// last task that uses them is gone.
func (a *API) DeleteTaskDefinitions(ctx context.Context, c *awsproto.Call, in *ecstypes.DeleteTaskDefinitionsRequest) (*ecstypes.DeleteTaskDefinitionsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if len(in.TaskDefinitions) > 10 {
		return nil, invalidParam("At most 10 task definitions can be deleted at once.")
	}
	scope := scopeOf(c)
	now := a.now()
	out := &ecstypes.DeleteTaskDefinitionsResponse{TaskDefinitions: []ecstypes.TaskDefinition{}, Failures: []ecstypes.Failure{}}
	for _, ref := range in.TaskDefinitions {
		family, rev, ok := taskDefRef(ref)
		if !ok || rev == 0 {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: ref, Reason: "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."})
			continue
		}
		td, err := a.setTaskDefStatus(ctx, family, rev, func(td *ecstypes.TaskDefinition) error {
			if td.Status == tdActive {
				return clientErr("The specified task definition is still in ACTIVE status. Please deregister the target and try again.")
			}
			if td.Status == tdInactive {
				td.Status = tdDeleteInProgress
				td.DeleteRequestedAt = shape.NewTimestamp(now)
			}
			return nil
		})
		if err != nil {
			if e, ok := core.AsError(err); ok && e.Kind != core.KindInternal {
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: taskDefARN(scope, family, rev), Reason: e.Message})
				continue
			}
			return nil, err
		}
		out.TaskDefinitions = append(out.TaskDefinitions, render(scope, td))
	}
	return out, nil
}
