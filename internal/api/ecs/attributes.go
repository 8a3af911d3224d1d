package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// ECS's attribute limits (API reference: Attribute, PutAttributes,
// DeleteAttributes, AttributeLimitExceededException).
const (
	maxAttributesPerCall = 10
	maxCustomAttributes  = 10
	attributeTargetType  = ecstypes.TargetTypeContainerInstance
	attributeNameChars   = `A-Za-z0-9\-_/\\.`
	attributeValueChars  = `A-Za-z0-9\-_.@/\\: `
	attributeTokenSep    = "\n" // between instance key and attribute name in a ListAttributes token
)

var (
	attributeNameRE  = regexp.MustCompile(`^[` + attributeNameChars + `]{1,128}$`)
	attributeValueRE = regexp.MustCompile(`^[` + attributeValueChars + `]{1,128}$`)
)

// builtinAttribute reports whether name is one of the attributes the agent
// sets (ecs.* and com.amazonaws.ecs.capability.*). Only the others are
// custom attributes, of which an instance may have 10.
func builtinAttribute(name string) bool {
	return strings.HasPrefix(name, "ecs.") || strings.HasPrefix(name, "com.amazonaws.ecs.")
}

func checkAttributeName(name string) error {
	if !attributeNameRE.MatchString(name) {
		return invalidParam("Attribute name %q is invalid. It must be 1 to 128 letters (uppercase and lowercase), numbers, "+
			"hyphens (-), underscores (_), forward slashes (/), back slashes (\\) or periods (.).", name)
	}
	return nil
}

func checkAttributeValue(value string) error {
	if value == "" {
		return nil // the value is optional
	}
	if !attributeValueRE.MatchString(value) || strings.HasPrefix(value, " ") || strings.HasSuffix(value, " ") {
		return invalidParam("Attribute value %q is invalid. It must be 1 to 128 letters (uppercase and lowercase), numbers, "+
			"hyphens (-), underscores (_), periods (.), at signs (@), forward slashes (/), back slashes (\\), colons (:) "+
			"or spaces, and cannot start or end with a space.", value)
	}
	return nil
}

// attributeTarget resolves the container instance an attribute names.
func attributeTarget(cluster string, at ecstypes.Attribute) (instanceRef, error) {
	if at.TargetId == "" {
		return instanceRef{}, invalidParam("Attribute %q has no targetId. Name the container instance by ID or ARN.", at.Name)
	}
	if !arn.IsARN(at.TargetId) && at.TargetType == "" {
		return instanceRef{}, invalidParam("targetType is required when targetId is not a full ARN (targetId %q).", at.TargetId)
	}
	return resolveInstance(cluster, at.TargetId)
}

func errTargetNotFound(targetID, cluster string) error {
	return core.Errorf(core.KindNotFound, ecstypes.ErrCodeTargetNotFoundException,
		"The specified target wasn't found: %s is not a container instance of cluster %s.", targetID, cluster)
}

// checkAttributeCall applies the checks shared by PutAttributes and
// DeleteAttributes and groups the attributes by target, in request order.
func checkAttributeCall(cluster string, attrs []ecstypes.Attribute, verb string, withValue bool) ([]instanceRef, map[string][]ecstypes.Attribute, error) {
	if len(attrs) == 0 {
		return nil, nil, invalidParam("Attributes cannot be empty.")
	}
	if len(attrs) > maxAttributesPerCall {
		return nil, nil, invalidParam("At most %d attributes can be %s in a single call.", maxAttributesPerCall, verb)
	}
	var targets []instanceRef
	byTarget := map[string][]ecstypes.Attribute{}
	for _, at := range attrs {
		if err := checkAttributeName(at.Name); err != nil {
			return nil, nil, err
		}
		if withValue {
			if err := checkAttributeValue(at.Value); err != nil {
				return nil, nil, err
			}
		}
		r, err := attributeTarget(cluster, at)
		if err != nil {
			return nil, nil, err
		}
		if r.elsewhere {
			return nil, nil, errTargetNotFound(at.TargetId, cluster)
		}
		if _, ok := byTarget[r.id]; !ok {
			targets = append(targets, r)
		}
		byTarget[r.id] = append(byTarget[r.id], at)
	}
	return targets, byTarget, nil
}

// editAttributes applies edit to the attributes of each target instance
// and writes all of them in one transaction, or none.
func (a *API) editAttributes(ctx context.Context, cluster string, targets []instanceRef,
	edit func(ci *state.ContainerInstance) error) error {
	return store.RetryConflicts(ctx, func() error {
		conds := make([]store.Cond, 0, len(targets))
		ops := make([]store.Op, 0, len(targets))
		for _, r := range targets {
			it, found, err := a.getInstance(ctx, cluster, r)
			if err != nil {
				return err
			}
			if !found || it.Value.Status == instanceInactive {
				return errTargetNotFound(r.ref, cluster)
			}
			ci := it.Value
			ci.Attributes = slices.Clone(ci.Attributes)
			if err := edit(&ci); err != nil {
				return err
			}
			b, err := state.Encode(ci)
			if err != nil {
				return err
			}
			conds = append(conds, store.Cond{Key: it.Key, ModRevision: it.ModRevision})
			ops = append(ops, store.Put(it.Key, b))
		}
		_, err := a.store.Txn(ctx, conds, ops)
		return err
	})
}

func customAttributes(attrs []ecstypes.Attribute) int {
	n := 0
	for _, at := range attrs {
		if !builtinAttribute(at.Name) {
			n++
		}
	}
	return n
}

// PutAttributes creates or replaces attributes of container instances. All
// of them are applied, or none.
func (a *API) PutAttributes(ctx context.Context, c *awsproto.Call, in *ecstypes.PutAttributesRequest) (*ecstypes.PutAttributesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	targets, byTarget, err := checkAttributeCall(cluster, in.Attributes, "put", true)
	if err != nil {
		return nil, err
	}
	err = a.editAttributes(ctx, cluster, targets, func(ci *state.ContainerInstance) error {
		before := customAttributes(ci.Attributes)
		for _, at := range byTarget[ci.ID] {
			i := slices.IndexFunc(ci.Attributes, func(have ecstypes.Attribute) bool { return have.Name == at.Name })
			set := ecstypes.Attribute{Name: at.Name, Value: at.Value}
			if i >= 0 {
				ci.Attributes[i] = set
			} else {
				ci.Attributes = append(ci.Attributes, set)
			}
		}
		if after := customAttributes(ci.Attributes); after > maxCustomAttributes && after > before {
			return core.Errorf(core.KindInvalid, ecstypes.ErrCodeAttributeLimitExceededException,
				"You can apply up to %d custom attributes for each resource; container instance %s would have %d.",
				maxCustomAttributes, ci.ID, after)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.PutAttributesResponse{Attributes: in.Attributes}, nil
}

// DeleteAttributes removes attributes from container instances by name.
// Removing an attribute an instance does not have is not an error.
func (a *API) DeleteAttributes(ctx context.Context, c *awsproto.Call, in *ecstypes.DeleteAttributesRequest) (*ecstypes.DeleteAttributesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	cluster := cl.Value.ClusterName
	targets, byTarget, err := checkAttributeCall(cluster, in.Attributes, "deleted", false)
	if err != nil {
		return nil, err
	}
	err = a.editAttributes(ctx, cluster, targets, func(ci *state.ContainerInstance) error {
		for _, at := range byTarget[ci.ID] {
			ci.Attributes = slices.DeleteFunc(ci.Attributes, func(have ecstypes.Attribute) bool { return have.Name == at.Name })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.DeleteAttributesResponse{Attributes: in.Attributes}, nil
}

// ListAttributes lists the attributes of a cluster's container instances,
// one entry per attribute per instance, ordered by instance ID and then by
// attribute name.
func (a *API) ListAttributes(ctx context.Context, c *awsproto.Call, in *ecstypes.ListAttributesRequest) (*ecstypes.ListAttributesResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	cl, err := a.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, invalidParam("attributeValue can only be used together with attributeName.")
	}
	limit, ok := paging.Limit(in.MaxResults, 100, 100)
	if !ok {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	after, ok := paging.Decode(in.NextToken)
	startKey, afterName, found := strings.Cut(after, attributeTokenSep)
	if !ok || (after != "" && (!found || afterName == "")) {
		return nil, invalidParam("Invalid nextToken.")
	}
	cluster := cl.Value.ClusterName
	prefix := state.ContainerInstancesPrefix(cluster)
	if after != "" && !strings.HasPrefix(startKey, prefix) {
		return nil, invalidParam("Invalid nextToken.")
	}
	scope := scopeOf(c)
	out := &ecstypes.ListAttributesResponse{Attributes: []ecstypes.Attribute{}}

	// add appends the matching attributes of one instance; it reports
	// false once the page is full, with out.NextToken set.
	var lastKey, lastName string
	add := func(key string, value []byte, afterName string) (bool, error) {
		var ci state.ContainerInstance
		if err := json.Unmarshal(value, &ci); err != nil {
			return false, fmt.Errorf("ecs: decode %q: %w", key, err)
		}
		if ci.Status == instanceInactive {
			return true, nil
		}
		attrs := slices.Clone(ci.Attributes)
		slices.SortFunc(attrs, func(x, y ecstypes.Attribute) int { return strings.Compare(x.Name, y.Name) })
		for _, at := range attrs {
			if afterName != "" && at.Name <= afterName {
				continue
			}
			if in.AttributeName != "" && at.Name != in.AttributeName {
				continue
			}
			if in.AttributeValue != "" && at.Value != in.AttributeValue {
				continue
			}
			if len(out.Attributes) == limit {
				out.NextToken = paging.Encode(lastKey + attributeTokenSep + lastName)
				return false, nil
			}
			out.Attributes = append(out.Attributes, ecstypes.Attribute{
				Name: at.Name, Value: at.Value, TargetType: attributeTargetType,
				TargetId: instanceARN(scope, cluster, ci.ID),
			})
			lastKey, lastName = key, at.Name
		}
		return true, nil
	}

	from := ""
	if after != "" {
		// Finish the instance the last page ended in, then go on after it.
		kv, err := a.store.Get(ctx, startKey)
		switch {
		case err == nil:
			more, err := add(kv.Key, kv.Value, afterName)
			if err != nil || !more {
				return out, err
			}
		case !state.IsNotFound(err):
			return nil, err
		}
		from = startKey
	}
	const chunk = 256
	for {
		kvs, _, err := a.store.List(ctx, prefix, store.ListOptions{After: from, Limit: chunk})
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			more, err := add(kv.Key, kv.Value, "")
			if err != nil {
				return nil, err
			}
			if !more {
				return out, nil
			}
		}
		if len(kvs) < chunk {
			return out, nil
		}
		from = kvs[len(kvs)-1].Key
	}
}
