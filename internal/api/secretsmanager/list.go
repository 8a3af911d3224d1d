package secretsmanager

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	sm "github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func core404(format string, args ...any) error {
	return core.Errorf(core.KindNotFound, sm.ErrCodeResourceNotFoundException, format, args...)
}

func apiError(id string, err error) sm.APIErrorType {
	if ce, ok := core.AsError(err); ok {
		return sm.APIErrorType{SecretId: id, ErrorCode: ce.Code, Message: ce.Message}
	}
	return sm.APIErrorType{SecretId: id, ErrorCode: sm.ErrCodeInternalServiceError, Message: "An error occurred on the server side."}
}

func versionsToStages(s state.Secret) map[string][]string {
	out := map[string][]string{}
	for _, v := range s.Versions {
		if len(v.Stages) > 0 {
			out[v.ID] = v.Stages
		}
	}
	return out
}

// DescribeSecret returns a secret's details, never its value. It answers
// for a secret scheduled for deletion too.
func (a *API) DescribeSecret(ctx context.Context, _ *awsproto.Call, in *sm.DescribeSecretRequest) (*sm.DescribeSecretResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	it, err := a.find(ctx, in.SecretId)
	if err != nil {
		return nil, err
	}
	s := it.Value
	return &sm.DescribeSecretResponse{
		ARN: s.ARN, Name: s.Name, Description: s.Description, KmsKeyId: s.KmsKeyID, Type: s.Type,
		RotationEnabled: new(false), LastChangedDate: ts(s.ChangedAt), LastAccessedDate: ts(s.AccessedAt),
		DeletedDate: ts(s.DeletedAt), Tags: wireTags(s.Tags), VersionIdsToStages: versionsToStages(s),
		CreatedDate: ts(s.CreatedAt),
	}, nil
}

func listEntry(s state.Secret) sm.SecretListEntry {
	return sm.SecretListEntry{
		ARN: s.ARN, Name: s.Name, Description: s.Description, KmsKeyId: s.KmsKeyID, Type: s.Type,
		RotationEnabled: new(false), LastChangedDate: ts(s.ChangedAt), LastAccessedDate: ts(s.AccessedAt),
		DeletedDate: ts(s.DeletedAt), Tags: wireTags(s.Tags), SecretVersionsToStages: versionsToStages(s),
		CreatedDate: ts(s.CreatedAt),
	}
}

// ListSecrets lists secrets (not those scheduled for deletion unless
// IncludePlannedDeletion), filtered and paginated, by creation date.
func (a *API) ListSecrets(ctx context.Context, _ *awsproto.Call, in *sm.ListSecretsRequest) (*sm.ListSecretsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalidParam("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100")
		}
		limit = int(*in.MaxResults)
	}
	planned := in.IncludePlannedDeletion != nil && *in.IncludePlannedDeletion
	page, next, err := a.listPage(ctx, in.Filters, planned, limit, in.NextToken, in.SortOrder, in.SortBy)
	if err != nil {
		return nil, err
	}
	out := &sm.ListSecretsResponse{SecretList: make([]sm.SecretListEntry, 0, len(page)), NextToken: next}
	for _, s := range page {
		out.SecretList = append(out.SecretList, listEntry(s))
	}
	return out, nil
}

// sortKey orders secrets in a listing; a page token resumes after one.
func sortKey(s state.Secret, by sm.SortByType) string {
	switch by {
	case sm.SortByTypeName:
		return s.Name
	case sm.SortByTypeLastChangedDate:
		return fmt.Sprintf("%020d\x00%s", s.ChangedAt.UnixNano(), s.Name)
	case sm.SortByTypeLastAccessedDate:
		return fmt.Sprintf("%020d\x00%s", s.AccessedAt.UnixNano(), s.Name)
	}
	return fmt.Sprintf("%020d\x00%s", s.CreatedAt.UnixNano(), s.Name)
}

func (a *API) listPage(ctx context.Context, filters []sm.Filter, planned bool, limit int, token string, order sm.SortOrderType, by ...sm.SortByType) ([]state.Secret, string, error) {
	after, ok := paging.Decode(token)
	if !ok {
		return nil, "", core.Errorf(core.KindInvalid, sm.ErrCodeInvalidNextTokenException, "The NextToken value is invalid.")
	}
	match, err := compileFilters(filters)
	if err != nil {
		return nil, "", err
	}
	sortBy := sm.SortByType("")
	if len(by) > 0 {
		sortBy = by[0]
	}
	kvs, _, err := a.store.List(ctx, state.SecretsPrefix(), store.ListOptions{})
	if err != nil {
		return nil, "", err
	}
	type row struct {
		key string
		s   state.Secret
	}
	var rows []row
	now := a.now()
	for _, kv := range kvs {
		s, err := decodeSecret(kv)
		if err != nil {
			return nil, "", err
		}
		if secretstore.Expired(s, now) || (!s.DeletedAt.IsZero() && !planned) || !match(s) {
			continue
		}
		rows = append(rows, row{sortKey(s, sortBy), s})
	}
	desc := order == sm.SortOrderTypeDesc
	slices.SortFunc(rows, func(x, y row) int {
		if desc {
			return strings.Compare(y.key, x.key)
		}
		return strings.Compare(x.key, y.key)
	})
	var page []state.Secret
	next := ""
	for _, r := range rows {
		if after != "" && ((!desc && r.key <= after) || (desc && r.key >= after)) {
			continue
		}
		if len(page) == limit {
			next = paging.Encode(sortKey(page[len(page)-1], sortBy))
			break
		}
		page = append(page, r.s)
	}
	return page, next, nil
}

// compileFilters returns the predicate of ListSecrets' filters: every
// filter must match, and a filter matches when one of its values does
// (a value starting with "!" matches when the rest does not).
func compileFilters(filters []sm.Filter) (func(state.Secret) bool, error) {
	if len(filters) > 10 {
		return nil, invalidParam("You can specify at most 10 filters.")
	}
	for _, f := range filters {
		if !f.Key.IsKnown() {
			return nil, invalidParam("1 validation error detected: Value '%s' at 'filters.key' failed to satisfy constraint: Member must satisfy enum value set: %v", f.Key, f.Key.Values())
		}
		if len(f.Values) == 0 && f.Key != sm.FilterNameStringTypeAll {
			return nil, invalidParam("Filter %s needs at least one value.", f.Key)
		}
	}
	return func(s state.Secret) bool {
		for _, f := range filters {
			ok := len(f.Values) == 0
			for _, v := range f.Values {
				neg := strings.HasPrefix(v, "!")
				v = strings.TrimPrefix(v, "!")
				if filterMatch(s, f.Key, v) != neg {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}, nil
}

func filterMatch(s state.Secret, key sm.FilterNameStringType, v string) bool {
	switch key {
	case sm.FilterNameStringTypeName:
		return strings.HasPrefix(s.Name, v)
	case sm.FilterNameStringTypeDescription:
		return strings.HasPrefix(strings.ToLower(s.Description), strings.ToLower(v))
	case sm.FilterNameStringTypeTagKey:
		return slices.ContainsFunc(s.Tags, func(t state.SecretTag) bool { return strings.HasPrefix(t.Key, v) })
	case sm.FilterNameStringTypeTagValue:
		return slices.ContainsFunc(s.Tags, func(t state.SecretTag) bool { return strings.HasPrefix(t.Value, v) })
	case sm.FilterNameStringTypePrimaryRegion, sm.FilterNameStringTypeOwningService:
		return false
	case sm.FilterNameStringTypeAll:
		for _, w := range strings.Fields(strings.ToLower(v)) {
			found := strings.Contains(strings.ToLower(s.Name), w) || strings.Contains(strings.ToLower(s.Description), w) ||
				slices.ContainsFunc(s.Tags, func(t state.SecretTag) bool {
					return strings.Contains(strings.ToLower(t.Key), w) || strings.Contains(strings.ToLower(t.Value), w)
				})
			if !found {
				return false
			}
		}
		return true
	}
	return false
}

// ListSecretVersionIds lists a secret's versions (those without a staging
// label only with IncludeDeprecated), newest first.
func (a *API) ListSecretVersionIds(ctx context.Context, _ *awsproto.Call, in *sm.ListSecretVersionIdsRequest) (*sm.ListSecretVersionIdsResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalidParam("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100")
		}
		limit = int(*in.MaxResults)
	}
	start := 0
	if in.NextToken != "" {
		after, ok := paging.Decode(in.NextToken)
		n, err := strconv.Atoi(after)
		if !ok || err != nil || n < 0 {
			return nil, core.Errorf(core.KindInvalid, sm.ErrCodeInvalidNextTokenException, "The NextToken value is invalid.")
		}
		start = n
	}
	it, err := a.find(ctx, in.SecretId)
	if err != nil {
		return nil, err
	}
	s := it.Value
	if err := live(s); err != nil {
		return nil, err
	}
	deprecated := in.IncludeDeprecated != nil && *in.IncludeDeprecated
	var all []sm.SecretVersionsListEntry
	for i := len(s.Versions) - 1; i >= 0; i-- {
		v := s.Versions[i]
		if len(v.Stages) == 0 && !deprecated {
			continue
		}
		all = append(all, sm.SecretVersionsListEntry{VersionId: v.ID, VersionStages: v.Stages,
			CreatedDate: ts(v.CreatedAt), LastAccessedDate: ts(v.AccessedAt)})
	}
	out := &sm.ListSecretVersionIdsResponse{ARN: s.ARN, Name: s.Name, Versions: []sm.SecretVersionsListEntry{}}
	if start < len(all) {
		end := min(start+limit, len(all))
		out.Versions = all[start:end]
		if end < len(all) {
			out.NextToken = paging.Encode(strconv.Itoa(end))
		}
	}
	return out, nil
}

// GetRandomPassword makes a random password as Secrets Manager does.
func (a *API) GetRandomPassword(_ context.Context, _ *awsproto.Call, in *sm.GetRandomPasswordRequest) (*sm.GetRandomPasswordResponse, error) {
	n := int64(32)
	if in.PasswordLength != nil {
		n = *in.PasswordLength
	}
	if n < 1 || n > 4096 {
		return nil, invalidParam("PasswordLength must be between 1 and 4096.")
	}
	is := func(p *bool) bool { return p != nil && *p }
	var classes []string
	if !is(in.ExcludeLowercase) {
		classes = append(classes, "abcdefghijklmnopqrstuvwxyz")
	}
	if !is(in.ExcludeUppercase) {
		classes = append(classes, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	}
	if !is(in.ExcludeNumbers) {
		classes = append(classes, "0123456789")
	}
	if !is(in.ExcludePunctuation) {
		classes = append(classes, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
	}
	if is(in.IncludeSpace) {
		classes = append(classes, " ")
	}
	for i, c := range classes {
		classes[i] = strings.Map(func(r rune) rune {
			if strings.ContainsRune(in.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, c)
	}
	classes = slices.DeleteFunc(classes, func(c string) bool { return c == "" })
	if len(classes) == 0 {
		return nil, invalidParam("The password can't be made: every character is excluded.")
	}
	requireEach := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	if requireEach && int64(len(classes)) > n {
		return nil, invalidParam("PasswordLength is too short to include every character type.")
	}
	all := strings.Join(classes, "")
	pick := func(set string) byte {
		i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		return set[i.Int64()]
	}
	for {
		b := make([]byte, n)
		for i := range b {
			b[i] = pick(all)
		}
		if !requireEach || slices.IndexFunc(classes, func(c string) bool { return !strings.ContainsAny(string(b), c) }) < 0 {
			return &sm.GetRandomPasswordResponse{RandomPassword: string(b)}, nil
		}
	}
}
