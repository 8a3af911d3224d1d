package secretsmanager

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	sm "github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

const (
	stageCurrent  = secretstore.StageCurrent
	stagePrevious = secretstore.StagePrevious
	// maxVersions is how many versions a secret keeps; past it, the
	// oldest versions without a staging label go.
	maxVersions = 100
	maxValue    = 65536
)

// value checks that exactly one of SecretString and SecretBinary is set
// (or, when optional, neither) and returns it.
func value(str string, bin []byte, optional bool) (v []byte, binary, set bool, err error) {
	switch {
	case str != "" && len(bin) > 0:
		return nil, false, false, invalidParam("You can't specify both a binary secret value and a string secret value in the same secret.")
	case str != "":
		if len(str) > maxValue {
			return nil, false, false, invalidParam("1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536")
		}
		return []byte(str), false, true, nil
	case len(bin) > 0:
		if len(bin) > maxValue {
			return nil, false, false, invalidParam("1 validation error detected: Value at 'secretBinary' failed to satisfy constraint: Member must have length less than or equal to 65536")
		}
		return bin, true, true, nil
	case optional:
		return nil, false, false, nil
	}
	return nil, false, false, invalidParam("You must provide either SecretString or SecretBinary.")
}

func checkTags(tags []sm.Tag) error {
	if len(tags) > 50 {
		return invalidParam("A resource can have at most 50 tags.")
	}
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			return invalidParam("Tag keys must be 1-128 characters and tag values at most 256 characters.")
		}
	}
	return nil
}

func mergeTags(have []state.SecretTag, add []sm.Tag) []state.SecretTag {
	out := slices.Clone(have)
	for _, t := range add {
		i := slices.IndexFunc(out, func(x state.SecretTag) bool { return x.Key == t.Key })
		if i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, state.SecretTag{Key: t.Key, Value: t.Value})
		}
	}
	return out
}

func wireTags(tags []state.SecretTag) []sm.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]sm.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, sm.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

// moveStage attaches stage to version to and takes it off every other
// version. Moving AWSCURRENT labels the version that had it AWSPREVIOUS.
func moveStage(s *state.Secret, stage, to string) {
	oldCurrent := ""
	for i := range s.Versions {
		v := &s.Versions[i]
		if v.ID == to {
			continue
		}
		if j := slices.Index(v.Stages, stage); j >= 0 {
			v.Stages = slices.Delete(v.Stages, j, j+1)
			if stage == stageCurrent {
				oldCurrent = v.ID
			}
		}
	}
	if oldCurrent != "" {
		moveStage(s, stagePrevious, oldCurrent)
	}
	for i := range s.Versions {
		if v := &s.Versions[i]; v.ID == to && !slices.Contains(v.Stages, stage) {
			v.Stages = append(v.Stages, stage)
		}
	}
}

// removeStage takes stage off version from.
func removeStage(s *state.Secret, stage, from string) {
	for i := range s.Versions {
		if v := &s.Versions[i]; v.ID == from {
			v.Stages = slices.DeleteFunc(v.Stages, func(x string) bool { return x == stage })
		}
	}
}

// addVersion adds a version carrying stages, moves those stages to it,
// and drops the oldest unlabelled versions past maxVersions.
func addVersion(s *state.Secret, ver state.SecretVersion, stages []string) {
	ver.Stages = nil
	s.Versions = append(s.Versions, ver)
	for _, st := range stages {
		moveStage(s, st, ver.ID)
	}
	for len(s.Versions) > maxVersions {
		i := slices.IndexFunc(s.Versions, func(v state.SecretVersion) bool { return len(v.Stages) == 0 })
		if i < 0 {
			break
		}
		s.Versions = slices.Delete(s.Versions, i, i+1)
	}
}

func versionByID(s *state.Secret, id string) *state.SecretVersion {
	for i := range s.Versions {
		if s.Versions[i].ID == id {
			return &s.Versions[i]
		}
	}
	return nil
}

// newVersion seals value as a new version of s. A version ID that exists
// already is accepted again only with the same value (an idempotent
// retry): reused reports that.
func (a *API) newVersion(s *state.Secret, token string, val []byte, binary bool) (ver state.SecretVersion, reused bool, err error) {
	id := token
	if id == "" {
		id = newUUID()
	}
	if old := versionByID(s, id); old != nil {
		prev, err := a.vault.OpenSecret(*s, *old)
		if err != nil {
			return ver, false, err
		}
		if old.Binary != binary || !bytes.Equal(prev, val) {
			return ver, false, errExists("You can't modify an existing version, you can only create a new version.")
		}
		return *old, true, nil
	}
	sealed, err := a.vault.SealSecret(s.Name, id, val)
	if err != nil {
		return ver, false, err
	}
	return state.SecretVersion{ID: id, CreatedAt: a.now(), Binary: binary, Value: sealed}, false, nil
}

// CreateSecret creates a secret, with a first version when a value is
// given.
func (a *API) CreateSecret(ctx context.Context, c *awsproto.Call, in *sm.CreateSecretRequest) (*sm.CreateSecretResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if len(in.Description) > 2048 {
		return nil, invalidParam("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if len(in.AddReplicaRegions) > 0 {
		return nil, invalidRequest("minato does not replicate secrets to other regions.")
	}
	val, binary, hasValue, err := value(in.SecretString, in.SecretBinary, true)
	if err != nil {
		return nil, err
	}
	key := state.SecretKey(in.Name)
	var out *sm.CreateSecretResponse
	err = store.RetryConflicts(ctx, func() error {
		cond := store.MustNotExist(key)
		kv, err := a.store.Get(ctx, key)
		switch {
		case err == nil:
			old, err := decodeSecret(kv)
			if err != nil {
				return err
			}
			if !secretstore.Expired(old, a.now()) {
				if !old.DeletedAt.IsZero() {
					return invalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.")
				}
				return errExists("The operation failed because the secret %s already exists.", in.Name)
			}
			cond = store.MustBeAt(key, kv.ModRevision) // gone for good: reuse the name
		case !state.IsNotFound(err):
			return err
		}
		now := a.now()
		s := state.Secret{Name: in.Name, ARN: newARN(c, in.Name), Description: in.Description, KmsKeyID: in.KmsKeyId,
			Type: in.Type, CreatedAt: now, ChangedAt: now}
		s.Tags = mergeTags(nil, in.Tags)
		out = &sm.CreateSecretResponse{ARN: s.ARN, Name: s.Name}
		if hasValue {
			ver, _, err := a.newVersion(&s, in.ClientRequestToken, val, binary)
			if err != nil {
				return err
			}
			addVersion(&s, ver, []string{stageCurrent})
			out.VersionId = ver.ID
		}
		b, err := state.Encode(s)
		if err != nil {
			return err
		}
		_, err = a.store.Txn(ctx, []store.Cond{cond}, []store.Op{store.Put(key, b)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeSecret(kv store.KV) (state.Secret, error) {
	var s state.Secret
	err := jsonUnmarshal(kv.Value, &s)
	return s, err
}

// live fails for a secret scheduled for deletion.
func live(s state.Secret) error {
	if !s.DeletedAt.IsZero() {
		return secretstore.ErrMarkedForDeletion()
	}
	return nil
}

// GetSecretValue returns a version's value: AWSCURRENT unless VersionId or
// VersionStage says otherwise.
func (a *API) GetSecretValue(ctx context.Context, _ *awsproto.Call, in *sm.GetSecretValueRequest) (*sm.GetSecretValueResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	it, err := a.find(ctx, in.SecretId)
	if err != nil {
		return nil, err
	}
	entry, err := a.secretValue(it.Value, in.VersionId, in.VersionStage)
	if err != nil {
		return nil, err
	}
	a.touch(ctx, it, entry.VersionId)
	out := sm.GetSecretValueResponse(entry)
	return &out, nil
}

func (a *API) secretValue(s state.Secret, versionID, stage string) (sm.SecretValueEntry, error) {
	if err := live(s); err != nil {
		return sm.SecretValueEntry{}, err
	}
	ver, err := secretstore.SecretVersion(s, versionID, stage)
	if err != nil {
		return sm.SecretValueEntry{}, err
	}
	b, err := a.vault.OpenSecret(s, ver)
	if err != nil {
		return sm.SecretValueEntry{}, err
	}
	out := sm.SecretValueEntry{ARN: s.ARN, Name: s.Name, VersionId: ver.ID, VersionStages: ver.Stages, CreatedDate: ts(ver.CreatedAt)}
	if ver.Binary {
		out.SecretBinary = b
	} else {
		out.SecretString = string(b)
	}
	return out, nil
}

// touch records the day a secret version was last read, as Secrets
// Manager does (its LastAccessedDate has a day's resolution). It writes
// at most once a day per secret and gives up on a lost race.
func (a *API) touch(ctx context.Context, it state.Item[state.Secret], versionID string) {
	day := a.now().Truncate(24 * time.Hour)
	s := it.Value
	v := versionByID(&s, versionID)
	if s.AccessedAt.Equal(day) && (v == nil || v.AccessedAt.Equal(day)) {
		return
	}
	s.Versions = slices.Clone(s.Versions)
	v = versionByID(&s, versionID)
	s.AccessedAt = day
	if v != nil {
		v.AccessedAt = day
	}
	b, err := state.Encode(s)
	if err != nil {
		return
	}
	a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Put(it.Key, b)})
}

// BatchGetSecretValue returns the current values of up to 20 secrets,
// named or found by filters.
func (a *API) BatchGetSecretValue(ctx context.Context, c *awsproto.Call, in *sm.BatchGetSecretValueRequest) (*sm.BatchGetSecretValueResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if (len(in.SecretIdList) > 0) == (len(in.Filters) > 0) {
		return nil, invalidParam("Either 'SecretIdList' or 'Filters' must be specified, but not both.")
	}
	out := &sm.BatchGetSecretValueResponse{SecretValues: []sm.SecretValueEntry{}, Errors: []sm.APIErrorType{}}
	if len(in.SecretIdList) > 0 {
		if len(in.SecretIdList) > 20 {
			return nil, invalidParam("1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to 20")
		}
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, invalidParam("MaxResults and NextToken go with Filters, not SecretIdList.")
		}
		for _, id := range in.SecretIdList {
			it, err := a.find(ctx, id)
			var e sm.SecretValueEntry
			if err == nil {
				e, err = a.secretValue(it.Value, "", "")
			}
			if err != nil {
				out.Errors = append(out.Errors, apiError(id, err))
				continue
			}
			a.touch(ctx, it, e.VersionId)
			out.SecretValues = append(out.SecretValues, e)
		}
		return out, nil
	}
	limit := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 20 {
			return nil, invalidParam("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 20")
		}
		limit = int(*in.MaxResults)
	}
	page, next, err := a.listPage(ctx, in.Filters, false, limit, in.NextToken, "")
	if err != nil {
		return nil, err
	}
	for _, s := range page {
		e, err := a.secretValue(s, "", "")
		if err != nil {
			out.Errors = append(out.Errors, apiError(s.Name, err))
			continue
		}
		out.SecretValues = append(out.SecretValues, e)
	}
	out.NextToken = next
	return out, nil
}

// PutSecretValue adds a version with a new value; it takes the labels in
// VersionStages (default AWSCURRENT) from the versions that had them.
func (a *API) PutSecretValue(ctx context.Context, _ *awsproto.Call, in *sm.PutSecretValueRequest) (*sm.PutSecretValueResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	val, binary, _, err := value(in.SecretString, in.SecretBinary, false)
	if err != nil {
		return nil, err
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	if err := checkStages(stages); err != nil {
		return nil, err
	}
	var ver state.SecretVersion
	s, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if err := live(*s); err != nil {
			return err
		}
		v, reused, err := a.newVersion(s, in.ClientRequestToken, val, binary)
		if err != nil {
			return err
		}
		ver = v
		if reused {
			return errSkipWrite
		}
		addVersion(s, v, stages)
		s.ChangedAt = a.now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	stagesNow := ver.Stages
	if v := versionByID(&s, ver.ID); v != nil {
		stagesNow = v.Stages
	}
	return &sm.PutSecretValueResponse{ARN: s.ARN, Name: s.Name, VersionId: ver.ID, VersionStages: stagesNow}, nil
}

func checkStages(stages []string) error {
	if len(stages) > 20 {
		return invalidParam("A version can have at most 20 staging labels.")
	}
	for _, st := range stages {
		if len(st) < 1 || len(st) > 256 {
			return invalidParam("Staging labels must be 1-256 characters.")
		}
	}
	return nil
}

// updateSecretInput is UpdateSecretRequest with Description as a pointer:
// an empty description clears it, an absent one leaves it.
type updateSecretInput struct {
	sm.UpdateSecretRequest
	Description *string `json:"Description"`
}

// UpdateSecret changes a secret's description or KMS key and, given a
// value, adds a version that becomes AWSCURRENT.
func (a *API) UpdateSecret(ctx context.Context, _ *awsproto.Call, in *updateSecretInput) (*sm.UpdateSecretResponse, error) {
	if err := validate(&in.UpdateSecretRequest); err != nil {
		return nil, err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > 2048 {
		return nil, invalidParam("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	val, binary, hasValue, err := value(in.SecretString, in.SecretBinary, true)
	if err != nil {
		return nil, err
	}
	verID := ""
	s, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if err := live(*s); err != nil {
			return err
		}
		if in.Description != nil {
			s.Description = *in.Description
		}
		if in.KmsKeyId != "" {
			s.KmsKeyID = in.KmsKeyId
		}
		if in.Type != "" {
			s.Type = in.Type
		}
		s.ChangedAt = a.now()
		if !hasValue {
			return nil
		}
		v, reused, err := a.newVersion(s, in.ClientRequestToken, val, binary)
		if err != nil {
			return err
		}
		verID = v.ID
		if !reused {
			addVersion(s, v, []string{stageCurrent})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sm.UpdateSecretResponse{ARN: s.ARN, Name: s.Name, VersionId: verID}, nil
}

// UpdateSecretVersionStage moves a staging label between versions, or
// removes it.
func (a *API) UpdateSecretVersionStage(ctx context.Context, _ *awsproto.Call, in *sm.UpdateSecretVersionStageRequest) (*sm.UpdateSecretVersionStageResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkStages([]string{in.VersionStage}); err != nil {
		return nil, err
	}
	s, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if err := live(*s); err != nil {
			return err
		}
		holder := ""
		for _, v := range s.Versions {
			if slices.Contains(v.Stages, in.VersionStage) {
				holder = v.ID
			}
		}
		if in.MoveToVersionId != "" && versionByID(s, in.MoveToVersionId) == nil {
			return core404("Secrets Manager can't find the specified secret version: %s", in.MoveToVersionId)
		}
		if in.RemoveFromVersionId != "" && versionByID(s, in.RemoveFromVersionId) == nil {
			return core404("Secrets Manager can't find the specified secret version: %s", in.RemoveFromVersionId)
		}
		if holder != "" && holder != in.MoveToVersionId && in.RemoveFromVersionId != holder {
			return invalidParam("The staging label %s is currently attached to version %s. You must specify the version to remove it from with RemoveFromVersionId.", in.VersionStage, holder)
		}
		if in.RemoveFromVersionId != "" && holder != in.RemoveFromVersionId {
			return invalidParam("The staging label %s is not attached to version %s.", in.VersionStage, in.RemoveFromVersionId)
		}
		if in.MoveToVersionId == "" && in.VersionStage == stageCurrent {
			return invalidParam("You can't remove the staging label AWSCURRENT from a version; move it to another version instead.")
		}
		if in.MoveToVersionId != "" {
			moveStage(s, in.VersionStage, in.MoveToVersionId)
		} else {
			removeStage(s, in.VersionStage, in.RemoveFromVersionId)
		}
		s.ChangedAt = a.now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sm.UpdateSecretVersionStageResponse{ARN: s.ARN, Name: s.Name}, nil
}

// DeleteSecret schedules a secret for deletion after a recovery window,
// or deletes it at once.
func (a *API) DeleteSecret(ctx context.Context, _ *awsproto.Call, in *sm.DeleteSecretRequest) (*sm.DeleteSecretResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, invalidParam("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, invalidParam("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	if force {
		var gone state.Secret
		err := store.RetryConflicts(ctx, func() error {
			it, err := a.find(ctx, in.SecretId)
			if err != nil {
				return err
			}
			gone = it.Value
			_, err = a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Delete(it.Key)})
			return err
		})
		if err != nil {
			return nil, err
		}
		return &sm.DeleteSecretResponse{ARN: gone.ARN, Name: gone.Name, DeletionDate: ts(a.now())}, nil
	}
	s, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if !s.DeletedAt.IsZero() {
			return invalidRequest("You can't perform this operation on the secret because it was already scheduled for deletion.")
		}
		now := a.now()
		s.DeletedAt = now
		s.DeletionAt = now.Add(time.Duration(days) * 24 * time.Hour)
		s.ChangedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sm.DeleteSecretResponse{ARN: s.ARN, Name: s.Name, DeletionDate: ts(s.DeletionAt)}, nil
}

// RestoreSecret cancels a scheduled deletion.
func (a *API) RestoreSecret(ctx context.Context, _ *awsproto.Call, in *sm.RestoreSecretRequest) (*sm.RestoreSecretResponse, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	s, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if s.DeletedAt.IsZero() {
			return errSkipWrite
		}
		s.DeletedAt, s.DeletionAt = time.Time{}, time.Time{}
		s.ChangedAt = a.now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sm.RestoreSecretResponse{ARN: s.ARN, Name: s.Name}, nil
}

// TagResource adds or replaces tags.
func (a *API) TagResource(ctx context.Context, _ *awsproto.Call, in *sm.TagResourceRequest) (*struct{}, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if err := live(*s); err != nil {
			return err
		}
		s.Tags = mergeTags(s.Tags, in.Tags)
		if len(s.Tags) > 50 {
			return invalidParam("A resource can have at most 50 tags.")
		}
		return nil
	})
	return nil, err
}

// UntagResource removes tags by key.
func (a *API) UntagResource(ctx context.Context, _ *awsproto.Call, in *sm.UntagResourceRequest) (*struct{}, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	_, err := a.update(ctx, in.SecretId, func(s *state.Secret) error {
		if err := live(*s); err != nil {
			return err
		}
		s.Tags = slices.DeleteFunc(slices.Clone(s.Tags), func(t state.SecretTag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	return nil, err
}
