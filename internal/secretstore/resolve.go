package secretstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
)

// Ref is a parsed valueFrom of a task definition's secrets (or a
// repositoryCredentials.credentialsParameter).
type Ref struct {
	// Service is "secretsmanager" for a Secrets Manager ARN, "ssm" for an
	// SSM parameter ARN, and "" for a bare name: a parameter by that name,
	// else a secret by that name.
	Service string
	// ID is the secret's ARN (without the JSON key part) or the name.
	ID string
	// JSONKey, VersionStage and VersionID are the optional parts of
	// arn:...:secret:NAME:json-key:version-stage:version-id.
	JSONKey, VersionStage, VersionID string
}

// ParseValueFrom parses a valueFrom the way ECS reads it:
//
//   - arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[-SUFFIX] — the
//     whole secret (full or partial ARN);
//   - the same followed by :json-key:version-stage:version-id, each part
//     optional ("arn:...:secret:db:host::") — one key of a JSON secret;
//   - arn:aws:ssm:REGION:ACCOUNT:parameter/NAME — an SSM parameter;
//   - a bare name ("/copilot/app/env/secrets/db", "db-password") — an SSM
//     parameter, or else a secret, of that name.
func ParseValueFrom(s string) (Ref, error) {
	if s == "" {
		return Ref{}, errors.New("valueFrom is empty")
	}
	if !arn.IsARN(s) {
		return Ref{ID: s}, nil
	}
	a, err := arn.Parse(s)
	if err != nil {
		return Ref{}, fmt.Errorf("valueFrom %s is not a valid ARN", s)
	}
	switch a.Service {
	case "ssm":
		if !strings.HasPrefix(a.Resource, "parameter/") {
			return Ref{}, fmt.Errorf("valueFrom %s is not an SSM parameter ARN", s)
		}
		return Ref{Service: "ssm", ID: s}, nil
	case "secretsmanager":
		parts := strings.Split(a.Resource, ":")
		if parts[0] != "secret" || len(parts) < 2 || parts[1] == "" || len(parts) > 5 {
			return Ref{}, fmt.Errorf("valueFrom %s is not a Secrets Manager secret ARN", s)
		}
		a.Resource = "secret:" + parts[1]
		r := Ref{Service: "secretsmanager", ID: a.String()}
		if len(parts) > 2 {
			r.JSONKey = parts[2]
		}
		if len(parts) > 3 {
			r.VersionStage = parts[3]
		}
		if len(parts) > 4 {
			r.VersionID = parts[4]
		}
		return r, nil
	}
	return Ref{}, fmt.Errorf("valueFrom %s names neither Secrets Manager nor SSM Parameter Store", s)
}

// Resolve returns the value valueFrom names. Its errors name the secret or
// parameter and never hold a value; their text follows what the ECS agent
// reports after "unable to pull secrets or registry auth: ".
func (v *Vault) Resolve(ctx context.Context, valueFrom string) (string, error) {
	ref, err := ParseValueFrom(valueFrom)
	if err != nil {
		return "", err
	}
	switch ref.Service {
	case "secretsmanager":
		return v.resolveSecret(ctx, ref)
	case "ssm":
		return v.resolveParameter(ctx, ref.ID)
	}
	val, err := v.resolveParameter(ctx, ref.ID)
	if err == nil || !core.IsKind(err, core.KindNotFound) {
		return val, err
	}
	if _, ferr := v.FindSecret(ctx, ref.ID); ferr == nil {
		return v.resolveSecret(ctx, ref)
	}
	return "", err
}

func (v *Vault) resolveSecret(ctx context.Context, ref Ref) (string, error) {
	fail := func(err error) error {
		if ce, ok := core.AsError(err); ok {
			err = errors.New(ce.Code + ": " + ce.Message)
		}
		return fmt.Errorf("execution resource retrieval failed: unable to retrieve secret from asm: failed to fetch secret %s from secrets manager: %w", ref.ID, err)
	}
	it, err := v.FindSecret(ctx, ref.ID)
	if err != nil {
		return "", fail(err)
	}
	sec := it.Value
	if !sec.DeletedAt.IsZero() {
		return "", fail(ErrMarkedForDeletion())
	}
	ver, err := SecretVersion(sec, ref.VersionID, ref.VersionStage)
	if err != nil {
		return "", fail(err)
	}
	b, err := v.OpenSecret(sec, ver)
	if err != nil {
		return "", fail(err)
	}
	if ver.Binary && ref.JSONKey == "" {
		return "", fail(errors.New("the secret is binary (SecretBinary); ECS injects SecretString values only"))
	}
	if ref.JSONKey == "" {
		return string(b), nil
	}
	val, err := JSONKey(b, ref.JSONKey)
	if err != nil {
		return "", fmt.Errorf("execution resource retrieval failed: unable to retrieve secret from asm: secret %s: %w", ref.ID, err)
	}
	return val, nil
}

// JSONKey returns the value of key in a JSON object secret: a string as
// is, anything else (a number, a nested object) as its JSON text. Errors
// never quote the secret.
func JSONKey(secret []byte, key string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(secret, &obj); err != nil {
		return "", fmt.Errorf("retrieved secret from Secrets Manager is not a JSON object, so it has no json key %s", key)
	}
	raw, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("retrieved secret from Secrets Manager did not contain json key %s", key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	return string(bytes.TrimSpace(raw)), nil
}

func (v *Vault) resolveParameter(ctx context.Context, id string) (string, error) {
	ref := ParseParameterName(id)
	fail := func(err error) error {
		if core.IsKind(err, core.KindNotFound) {
			return core.Errorf(core.KindNotFound, "", "execution resource retrieval failed: unable to retrieve secrets from ssm: invalid parameters: %s", id)
		}
		return fmt.Errorf("execution resource retrieval failed: unable to retrieve secrets from ssm: parameter %s: %w", id, err)
	}
	it, err := v.FindParameter(ctx, ref.Name)
	if err != nil {
		return "", fail(err)
	}
	ver, err := ParameterVersion(it.Value, ref)
	if err != nil {
		return "", fail(err)
	}
	return v.OpenParameter(it.Value, ver)
}

// ErrMarkedForDeletion is Secrets Manager's answer to using a secret that
// is scheduled for deletion.
func ErrMarkedForDeletion() error {
	return core.Errorf(core.KindInvalid, "InvalidRequestException",
		"You can't perform this operation on the secret because it was marked for deletion.")
}
