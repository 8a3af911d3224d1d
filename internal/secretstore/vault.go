package secretstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/model/ssmtypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// Vault reads secrets and parameters from the state store and opens their
// values. The Secrets Manager and SSM APIs and the agent server share it.
type Vault struct {
	Store store.Store
	Keys  *Keyring
	Clock core.Clock
}

func (v *Vault) now() time.Time {
	if v.Clock == nil {
		return time.Now()
	}
	return v.Clock.Now()
}

// Errors, with the codes the APIs report.

// ErrSecretNotFound is Secrets Manager's answer for a secret that does not
// exist.
func ErrSecretNotFound() error {
	return core.Errorf(core.KindNotFound, secretsmanagertypes.ErrCodeResourceNotFoundException,
		"Secrets Manager can't find the specified secret.")
}

// ErrParameterNotFound is SSM's answer for a parameter that does not exist.
func ErrParameterNotFound() error {
	return core.Errorf(core.KindNotFound, ssmtypes.ErrCodeParameterNotFound, "")
}

func decodeKV[T any](kv store.KV) (T, error) {
	var v T
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return v, fmt.Errorf("secretstore: decode %q: %w", kv.Key, err)
	}
	return v, nil
}

// Expired reports whether a secret scheduled for deletion is past its
// deletion date: it is then gone, and its record is removed at the next
// write of its name.
func Expired(s state.Secret, now time.Time) bool {
	return !s.DeletionAt.IsZero() && !now.Before(s.DeletionAt)
}

// FindSecret finds a secret by name, full ARN or partial ARN (the ARN
// without its random suffix), as every Secrets Manager SecretId does.
// A secret past its deletion date is not found.
func (v *Vault) FindSecret(ctx context.Context, id string) (state.Item[state.Secret], error) {
	var none state.Item[state.Secret]
	names := []string{id}
	full := ""
	if arn.IsARN(id) {
		a, err := arn.Parse(id)
		if err != nil || a.Service != "secretsmanager" {
			return none, ErrSecretNotFound()
		}
		rest, ok := strings.CutPrefix(a.Resource, "secret:")
		if !ok || rest == "" {
			return none, ErrSecretNotFound()
		}
		names = names[:0]
		if i := len(rest) - 7; i > 0 && rest[i] == '-' {
			names = append(names, rest[:i])
			full = rest
		}
		names = append(names, rest)
	}
	for _, name := range names {
		kv, err := v.Store.Get(ctx, state.SecretKey(name))
		if state.IsNotFound(err) {
			continue
		}
		if err != nil {
			return none, err
		}
		s, err := decodeKV[state.Secret](kv)
		if err != nil {
			return none, err
		}
		if Expired(s, v.now()) {
			continue
		}
		// A full ARN must name this secret's suffix; a partial one names
		// the secret itself.
		if full != "" && name != full && !strings.HasSuffix(s.ARN, ":secret:"+full) {
			continue
		}
		return state.Item[state.Secret]{Key: kv.Key, Value: s, ModRevision: kv.ModRevision}, nil
	}
	return none, ErrSecretNotFound()
}

// Stage labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// SecretVersion picks a version of s by ID and/or stage (AWSCURRENT when
// neither is given).
func SecretVersion(s state.Secret, versionID, stage string) (state.SecretVersion, error) {
	if versionID == "" && stage == "" {
		stage = StageCurrent
	}
	for _, ver := range s.Versions {
		if versionID != "" && ver.ID != versionID {
			continue
		}
		if stage != "" && !contains(ver.Stages, stage) {
			continue
		}
		return ver, nil
	}
	if versionID != "" {
		return state.SecretVersion{}, core.Errorf(core.KindNotFound, secretsmanagertypes.ErrCodeResourceNotFoundException,
			"Secrets Manager can't find the specified secret value for VersionId: %s", versionID)
	}
	return state.SecretVersion{}, core.Errorf(core.KindNotFound, secretsmanagertypes.ErrCodeResourceNotFoundException,
		"Secrets Manager can't find the specified secret value for staging label: %s", stage)
}

// OpenSecret decrypts a version of secret s.
func (v *Vault) OpenSecret(s state.Secret, ver state.SecretVersion) ([]byte, error) {
	b, err := v.Keys.Open(ver.Value, SecretAAD(s.Name, ver.ID))
	if err != nil {
		return nil, core.Errorf(core.KindInternal, secretsmanagertypes.ErrCodeDecryptionFailure,
			"Secrets Manager can't decrypt the protected secret text using the provided KMS key.")
	}
	return b, nil
}

// SealSecret encrypts a value for version versionID of secret name.
func (v *Vault) SealSecret(name, versionID string, value []byte) (state.Sealed, error) {
	return v.Keys.Seal(value, SecretAAD(name, versionID))
}

// ParameterRef is a parameter name with an optional version or label
// selector (name:3, name:label).
type ParameterRef struct {
	Name    string
	Version int64  // 0: none
	Label   string // "": none
}

// ParseParameterName splits a parameter name or ARN and its selector. The
// ARN arn:aws:ssm:REGION:ACCOUNT:parameter/a/b names "/a/b";
// ...:parameter/a names "a" (or "/a", which Vault also tries).
func ParseParameterName(s string) ParameterRef {
	if arn.IsARN(s) {
		if a, err := arn.Parse(s); err == nil && a.Service == "ssm" {
			if r, ok := strings.CutPrefix(a.Resource, "parameter/"); ok {
				s = r
				if strings.Contains(r, "/") {
					s = "/" + r
				}
			}
		}
	}
	ref := ParameterRef{Name: s}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		ref.Name = s[:i]
		sel := s[i+1:]
		if n, err := strconv.ParseInt(sel, 10, 64); err == nil {
			ref.Version = n
		} else {
			ref.Label = sel
		}
	}
	return ref
}

// FindParameter reads a parameter by name (or ARN).
func (v *Vault) FindParameter(ctx context.Context, name string) (state.Item[state.Parameter], error) {
	var none state.Item[state.Parameter]
	names := []string{name}
	if !strings.HasPrefix(name, "/") && !strings.Contains(name, "/") {
		names = append(names, "/"+name) // an ARN's parameter/NAME may be /NAME
	}
	for _, n := range names {
		kv, err := v.Store.Get(ctx, state.ParameterKey(n))
		if state.IsNotFound(err) {
			continue
		}
		if err != nil {
			return none, err
		}
		p, err := decodeKV[state.Parameter](kv)
		if err != nil {
			return none, err
		}
		if len(p.Versions) == 0 {
			continue
		}
		return state.Item[state.Parameter]{Key: kv.Key, Value: p, ModRevision: kv.ModRevision}, nil
	}
	return none, ErrParameterNotFound()
}

// ParameterVersion picks the version ref selects (the newest by default).
func ParameterVersion(p state.Parameter, ref ParameterRef) (state.ParameterVersion, error) {
	if ref.Version == 0 && ref.Label == "" {
		return p.Versions[len(p.Versions)-1], nil
	}
	for _, ver := range p.Versions {
		if (ref.Version != 0 && ver.Version == ref.Version) || (ref.Label != "" && contains(ver.Labels, ref.Label)) {
			return ver, nil
		}
	}
	return state.ParameterVersion{}, core.Errorf(core.KindNotFound, ssmtypes.ErrCodeParameterVersionNotFound,
		"Systems Manager could not find version %s of %s. Verify the version and try again.", selector(ref), p.Name)
}

func selector(ref ParameterRef) string {
	if ref.Label != "" {
		return ref.Label
	}
	return strconv.FormatInt(ref.Version, 10)
}

// OpenParameter decrypts a version of parameter p.
func (v *Vault) OpenParameter(p state.Parameter, ver state.ParameterVersion) (string, error) {
	b, err := v.Keys.Open(ver.Value, ParameterAAD(p.Name, ver.Version))
	if err != nil {
		return "", core.Errorf(core.KindInternal, ssmtypes.ErrCodeInternalServerError, "The parameter value could not be decrypted.")
	}
	return string(b), nil
}

// SealParameter encrypts a value for version of parameter name.
func (v *Vault) SealParameter(name string, version int64, value string) (state.Sealed, error) {
	return v.Keys.Seal([]byte(value), ParameterAAD(name, version))
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
