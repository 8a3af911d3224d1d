package ssm

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	ssm "github.com/minato-project/minato/internal/model/ssmtypes"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// PutParameter creates a parameter, or with Overwrite adds a version.
func (a *API) PutParameter(ctx context.Context, c *awsproto.Call, in *ssm.PutParameterRequest) (*ssm.PutParameterResult, error) {
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	tier := in.Tier
	switch tier {
	case "", ssm.ParameterTierIntelligentTiering:
		tier = ssm.ParameterTierStandard
	}
	limit := maxValueLen
	if tier == ssm.ParameterTierAdvanced {
		limit = maxAdvValue
	}
	if len(in.Value) > limit {
		return nil, validation("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.")
	}
	if in.KeyId != "" && in.Type != ssm.ParameterTypeSecureString {
		return nil, validation("KeyId is required for SecureString type parameter only.")
	}
	overwrite := isTrue(in.Overwrite)
	if overwrite && len(in.Tags) > 0 {
		return nil, validation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	switch in.DataType {
	case "", "text", "aws:ec2:image", "aws:ssm:integration":
	default:
		return nil, validation("The following data type is not supported: %s (Data type names are all lowercase.)", in.DataType)
	}
	if in.AllowedPattern != "" {
		// The model's limit (1024 characters) is checked before the handler
		// runs; checked again here, before compiling, so that no path
		// compiles an oversized pattern.
		if utf8.RuneCountInString(in.AllowedPattern) > maxPatternLen {
			return nil, validation("1 validation error detected: Value at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
		}
		re, err := regexp.Compile(in.AllowedPattern)
		if err != nil {
			return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidAllowedPatternException, "The allowed pattern is not a valid regular expression.")
		}
		if !re.MatchString(in.Value) {
			return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeParameterPatternMismatchException,
				"Parameter value, cannot be validated against allowedPattern: %s", in.AllowedPattern)
		}
	}
	key := state.ParameterKey(in.Name)
	var version int64
	err := a.serial.Do(ctx, key, func() error {
		var p state.Parameter
		cond := store.MustNotExist(key)
		it, err := state.Get[state.Parameter](ctx, a.store, key)
		switch {
		case err == nil && len(it.Value.Versions) > 0:
			if !overwrite {
				return core.Errorf(core.KindConflict, ssm.ErrCodeParameterAlreadyExists,
					"The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
			}
			p, cond = it.Value, store.MustBeAt(key, it.ModRevision)
		case err == nil:
			cond = store.MustBeAt(key, it.ModRevision)
		case !state.IsNotFound(err):
			return err
		}
		if p.Name == "" {
			if in.Type == "" {
				return validation("A parameter type is required when you create a parameter.")
			}
			p = state.Parameter{Name: in.Name}
			for _, t := range in.Tags {
				p.Tags = append(p.Tags, state.SecretTag{Key: t.Key, Value: t.Value})
			}
		}
		v := state.ParameterVersion{Version: 1, Type: string(in.Type), Description: in.Description,
			AllowedPattern: in.AllowedPattern, KeyID: in.KeyId, Tier: string(tier), DataType: orDefault(in.DataType, "text"),
			ModifiedAt: a.now(), ModifiedBy: c.Principal.ARN}
		if n := len(p.Versions); n > 0 {
			last := p.Versions[n-1]
			v.Version = last.Version + 1
			if v.Type == "" {
				v.Type = last.Type
			}
			if in.Description == "" {
				v.Description = last.Description
			}
			if in.AllowedPattern == "" {
				v.AllowedPattern = last.AllowedPattern
			}
			if in.Tier == "" && last.Tier == string(ssm.ParameterTierAdvanced) {
				v.Tier = last.Tier // a parameter never goes back to Standard
			}
		}
		if v.Type == string(ssm.ParameterTypeSecureString) && v.KeyID == "" {
			v.KeyID = "alias/aws/ssm"
		}
		if v.Type != string(ssm.ParameterTypeSecureString) {
			v.KeyID = ""
		}
		if v.AllowedPattern != "" && v.AllowedPattern != in.AllowedPattern {
			if re, err := regexp.Compile(v.AllowedPattern); err == nil && !re.MatchString(in.Value) {
				return core.Errorf(core.KindInvalid, ssm.ErrCodeParameterPatternMismatchException,
					"Parameter value, cannot be validated against allowedPattern: %s", v.AllowedPattern)
			}
		}
		sealed, err := a.vault.SealParameter(p.Name, v.Version, in.Value)
		if err != nil {
			return err
		}
		v.Value = sealed
		p.Versions = append(p.Versions, v)
		if len(p.Versions) > maxVersions {
			if len(p.Versions[0].Labels) > 0 {
				return core.Errorf(core.KindConflict, ssm.ErrCodeParameterMaxVersionLimitExceeded,
					"You attempted to create a new version of %s by calling the PutParameter API with the overwrite flag. Version %d, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.", p.Name, p.Versions[0].Version)
			}
			p.Versions = slices.Delete(p.Versions, 0, 1)
		}
		b, err := state.Encode(p)
		if err != nil {
			return err
		}
		if _, err := a.store.Txn(ctx, []store.Cond{cond}, []store.Op{store.Put(key, b)}); err != nil {
			return err
		}
		version = v.Version
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ssm.PutParameterResult{Version: version, Tier: tier}, nil
}

// read finds a parameter by name, ARN or name:selector and picks the
// version the selector names.
func (a *API) read(ctx context.Context, name string) (state.Parameter, state.ParameterVersion, string, error) {
	ref := secretstore.ParseParameterName(name)
	if ref.Name == "" || len(ref.Name) > maxNameLen {
		return state.Parameter{}, state.ParameterVersion{}, "", validation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length between 1 and 2048")
	}
	it, err := a.vault.FindParameter(ctx, ref.Name)
	if err != nil {
		return state.Parameter{}, state.ParameterVersion{}, "", err
	}
	v, err := secretstore.ParameterVersion(it.Value, ref)
	if err != nil {
		return state.Parameter{}, state.ParameterVersion{}, "", err
	}
	sel := ""
	if ref.Version != 0 || ref.Label != "" {
		sel = ":" + strings.TrimPrefix(name[len(name)-len(selectorText(ref)):], ":")
	}
	return it.Value, v, sel, nil
}

func selectorText(ref secretstore.ParameterRef) string {
	if ref.Label != "" {
		return ref.Label
	}
	return strconv.FormatInt(ref.Version, 10)
}

// GetParameter returns one parameter.
func (a *API) GetParameter(ctx context.Context, c *awsproto.Call, in *ssm.GetParameterRequest) (*ssm.GetParameterResult, error) {
	p, v, sel, err := a.read(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	wp, err := a.wireParameter(c, p, v, sel, isTrue(in.WithDecryption))
	if err != nil {
		return nil, err
	}
	return &ssm.GetParameterResult{Parameter: &wp}, nil
}

// GetParameters returns up to ten parameters; names not found are listed
// in InvalidParameters.
func (a *API) GetParameters(ctx context.Context, c *awsproto.Call, in *ssm.GetParametersRequest) (*ssm.GetParametersResult, error) {
	if len(in.Names) < 1 || len(in.Names) > maxBatchSize {
		return nil, validation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	out := &ssm.GetParametersResult{Parameters: []ssm.Parameter{}, InvalidParameters: []string{}}
	seen := map[string]bool{}
	for _, name := range in.Names {
		if seen[name] {
			continue
		}
		seen[name] = true
		p, v, sel, err := a.read(ctx, name)
		if core.IsKind(err, core.KindNotFound) {
			out.InvalidParameters = append(out.InvalidParameters, name)
			continue
		}
		if err != nil {
			return nil, err
		}
		wp, err := a.wireParameter(c, p, v, sel, isTrue(in.WithDecryption))
		if err != nil {
			return nil, err
		}
		out.Parameters = append(out.Parameters, wp)
	}
	return out, nil
}

// GetParametersByPath returns the parameters under a path: those one
// level below it, or every level with Recursive.
func (a *API) GetParametersByPath(ctx context.Context, c *awsproto.Call, in *ssm.GetParametersByPathRequest) (*ssm.GetParametersByPathResult, error) {
	path := in.Path
	if !strings.HasPrefix(path, "/") || (path != "/" && !nameRE.MatchString(path)) || strings.Contains(path, "//") {
		return nil, validation("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
	}
	if strings.Count(path, "/") > maxLevels {
		return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeHierarchyLevelLimitExceededException, "A hierarchy can have a maximum of 15 levels.")
	}
	limit, ok := paging.Limit(in.MaxResults, 10, 10)
	if !ok {
		return nil, validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidNextToken, "The specified token isn't valid.")
	}
	match, err := compileStringFilters(in.ParameterFilters, true)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	recursive := isTrue(in.Recursive)
	out := &ssm.GetParametersByPathResult{Parameters: []ssm.Parameter{}}
	err = a.scan(ctx, state.ParameterKey(prefix), after, func(key string, p state.Parameter) (bool, error) {
		rest := strings.TrimPrefix(p.Name, prefix)
		if !recursive && strings.Contains(rest, "/") {
			return true, nil
		}
		v := p.Versions[len(p.Versions)-1]
		if !match(p, v) {
			return true, nil
		}
		if len(out.Parameters) == limit {
			out.NextToken = paging.Encode(after)
			return false, nil
		}
		wp, err := a.wireParameter(c, p, v, "", isTrue(in.WithDecryption))
		if err != nil {
			return false, err
		}
		out.Parameters = append(out.Parameters, wp)
		after = key
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scan calls f on each parameter whose key starts with prefix, after key
// after, in key order, until f returns false.
func (a *API) scan(ctx context.Context, prefix, after string, f func(key string, p state.Parameter) (bool, error)) error {
	for {
		kvs, _, err := a.store.List(ctx, prefix, store.ListOptions{After: after, Limit: 100})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var p state.Parameter
			if err := jsonUnmarshal(kv.Value, &p); err != nil {
				return err
			}
			after = kv.Key
			if len(p.Versions) == 0 {
				continue
			}
			more, err := f(kv.Key, p)
			if err != nil || !more {
				return err
			}
		}
		if len(kvs) < 100 {
			return nil
		}
	}
}

// DeleteParameter deletes a parameter and all its versions.
func (a *API) DeleteParameter(ctx context.Context, _ *awsproto.Call, in *ssm.DeleteParameterRequest) (*struct{}, error) {
	found, err := a.delete(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNotFound()
	}
	return &struct{}{}, nil
}

func (a *API) delete(ctx context.Context, name string) (bool, error) {
	found := false
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.vault.FindParameter(ctx, name)
		if core.IsKind(err, core.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Delete(it.Key)}); err != nil {
			return err
		}
		found = true
		return nil
	})
	return found, err
}

// DeleteParameters deletes up to ten parameters.
func (a *API) DeleteParameters(ctx context.Context, _ *awsproto.Call, in *ssm.DeleteParametersRequest) (*ssm.DeleteParametersResult, error) {
	if len(in.Names) < 1 || len(in.Names) > maxBatchSize {
		return nil, validation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	out := &ssm.DeleteParametersResult{DeletedParameters: []string{}, InvalidParameters: []string{}}
	for _, name := range in.Names {
		found, err := a.delete(ctx, name)
		if err != nil {
			return nil, err
		}
		if found {
			out.DeletedParameters = append(out.DeletedParameters, name)
		} else {
			out.InvalidParameters = append(out.InvalidParameters, name)
		}
	}
	return out, nil
}

func metadata(c *awsproto.Call, p state.Parameter, v state.ParameterVersion) ssm.ParameterMetadata {
	return ssm.ParameterMetadata{
		Name: p.Name, ARN: paramARN(c, p.Name), Type: ssm.ParameterType(v.Type), KeyId: v.KeyID,
		LastModifiedDate: ts(v.ModifiedAt), LastModifiedUser: v.ModifiedBy, Description: v.Description,
		AllowedPattern: v.AllowedPattern, Version: v.Version, Tier: ssm.ParameterTier(orDefault(v.Tier, "Standard")),
		Policies: []ssm.ParameterInlinePolicy{}, DataType: orDefault(v.DataType, "text"),
	}
}

// DescribeParameters lists parameters' metadata (never values).
func (a *API) DescribeParameters(ctx context.Context, c *awsproto.Call, in *ssm.DescribeParametersRequest) (*ssm.DescribeParametersResult, error) {
	if len(in.Filters) > 0 && len(in.ParameterFilters) > 0 {
		return nil, validation("You can use either Filters or ParameterFilters in a single request.")
	}
	limit, ok := paging.Limit(in.MaxResults, 50, 50)
	if !ok {
		return nil, validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidNextToken, "The specified token isn't valid.")
	}
	filters := in.ParameterFilters
	for _, f := range in.Filters {
		filters = append(filters, ssm.ParameterStringFilter{Key: string(f.Key), Option: "Equals", Values: f.Values})
	}
	match, err := compileStringFilters(filters, false)
	if err != nil {
		return nil, err
	}
	out := &ssm.DescribeParametersResult{Parameters: []ssm.ParameterMetadata{}}
	err = a.scan(ctx, state.ParametersPrefix(), after, func(key string, p state.Parameter) (bool, error) {
		v := p.Versions[len(p.Versions)-1]
		if !match(p, v) {
			return true, nil
		}
		if len(out.Parameters) == limit {
			out.NextToken = paging.Encode(after)
			return false, nil
		}
		out.Parameters = append(out.Parameters, metadata(c, p, v))
		after = key
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetParameterHistory lists every version of a parameter, oldest first.
func (a *API) GetParameterHistory(ctx context.Context, c *awsproto.Call, in *ssm.GetParameterHistoryRequest) (*ssm.GetParameterHistoryResult, error) {
	limit, ok := paging.Limit(in.MaxResults, 50, 50)
	if !ok {
		return nil, validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50")
	}
	start := 0
	if in.NextToken != "" {
		after, ok := paging.Decode(in.NextToken)
		n, err := strconv.Atoi(after)
		if !ok || err != nil || n < 0 {
			return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidNextToken, "The specified token isn't valid.")
		}
		start = n
	}
	it, err := a.vault.FindParameter(ctx, secretstore.ParseParameterName(in.Name).Name)
	if err != nil {
		return nil, err
	}
	p := it.Value
	out := &ssm.GetParameterHistoryResult{Parameters: []ssm.ParameterHistory{}}
	for i := start; i < len(p.Versions); i++ {
		if len(out.Parameters) == limit {
			out.NextToken = paging.Encode(strconv.Itoa(i))
			break
		}
		v := p.Versions[i]
		val, err := a.wireValue(p, v, isTrue(in.WithDecryption))
		if err != nil {
			return nil, err
		}
		m := metadata(c, p, v)
		out.Parameters = append(out.Parameters, ssm.ParameterHistory{
			Name: p.Name, Type: m.Type, KeyId: m.KeyId, LastModifiedDate: m.LastModifiedDate, LastModifiedUser: m.LastModifiedUser,
			Description: m.Description, Value: val, AllowedPattern: m.AllowedPattern, Version: v.Version, Labels: v.Labels,
			Tier: m.Tier, Policies: m.Policies, DataType: m.DataType,
		})
	}
	return out, nil
}

// compileStringFilters returns the predicate of ParameterStringFilters.
// Keys: Name, Type, KeyId, Tier, DataType, Path (DescribeParameters only),
// Label; options Equals and BeginsWith (Name), Recursive and OneLevel
// (Path).
func compileStringFilters(filters []ssm.ParameterStringFilter, byPath bool) (func(state.Parameter, state.ParameterVersion) bool, error) {
	type pred func(state.Parameter, state.ParameterVersion) bool
	var preds []pred
	for _, f := range filters {
		if len(f.Values) == 0 && f.Key != "Label" {
			return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterValue, "The filter %s needs at least one value.", f.Key)
		}
		values := f.Values
		opt := orDefault(f.Option, "Equals")
		var field func(state.Parameter, state.ParameterVersion) string
		switch f.Key {
		case "Name":
			if byPath {
				return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterKey, "The following filter key is not valid: Name. Valid filter keys include: [Type, KeyId, Label].")
			}
			field = func(p state.Parameter, _ state.ParameterVersion) string { return p.Name }
		case "Type":
			field = func(_ state.Parameter, v state.ParameterVersion) string { return v.Type }
		case "KeyId":
			field = func(_ state.Parameter, v state.ParameterVersion) string { return v.KeyID }
		case "Tier":
			field = func(_ state.Parameter, v state.ParameterVersion) string { return orDefault(v.Tier, "Standard") }
		case "DataType":
			field = func(_ state.Parameter, v state.ParameterVersion) string { return orDefault(v.DataType, "text") }
		case "Label":
			preds = append(preds, func(_ state.Parameter, v state.ParameterVersion) bool {
				return slices.ContainsFunc(values, func(l string) bool { return slices.Contains(v.Labels, l) })
			})
			continue
		case "Path":
			if byPath {
				return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterKey, "The following filter key is not valid: Path. Valid filter keys include: [Type, KeyId, Label].")
			}
			if opt == "Equals" {
				opt = "OneLevel"
			}
			if opt != "OneLevel" && opt != "Recursive" {
				return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterOption, "The filter option %s is not valid for key Path. Valid options include: [Recursive, OneLevel].", opt)
			}
			recursive := opt == "Recursive"
			preds = append(preds, func(p state.Parameter, _ state.ParameterVersion) bool {
				return slices.ContainsFunc(values, func(path string) bool {
					prefix := strings.TrimSuffix(path, "/") + "/"
					rest, ok := strings.CutPrefix(p.Name, prefix)
					return ok && (recursive || !strings.Contains(rest, "/"))
				})
			})
			continue
		default:
			if strings.HasPrefix(f.Key, "tag:") {
				tag := strings.TrimPrefix(f.Key, "tag:")
				preds = append(preds, func(p state.Parameter, _ state.ParameterVersion) bool {
					return slices.ContainsFunc(p.Tags, func(t state.SecretTag) bool {
						return t.Key == tag && (len(values) == 0 || slices.Contains(values, t.Value))
					})
				})
				continue
			}
			return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterKey, "The following filter key is not valid: %s.", f.Key)
		}
		switch opt {
		case "Equals", "BeginsWith":
		case "Contains":
			if f.Key != "Name" {
				return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterOption, "The filter option Contains is valid for key Name only.")
			}
		default:
			return nil, core.Errorf(core.KindInvalid, ssm.ErrCodeInvalidFilterOption, "The following filter option is not valid: %s. Valid options include: [Equals, BeginsWith].", opt)
		}
		preds = append(preds, func(p state.Parameter, v state.ParameterVersion) bool {
			got := field(p, v)
			return slices.ContainsFunc(values, func(want string) bool {
				switch opt {
				case "BeginsWith":
					return strings.HasPrefix(got, want)
				case "Contains":
					return strings.Contains(got, want)
				}
				return got == want
			})
		})
	}
	return func(p state.Parameter, v state.ParameterVersion) bool {
		for _, f := range preds {
			if !f(p, v) {
				return false
			}
		}
		return true
	}, nil
}
