// Package secretsmanager serves the AWS Secrets Manager API (JSON 1.1):
// secrets with versions and staging labels, tags, and deletion with a
// recovery window. Values are sealed by internal/secretstore before they
// reach the state store, and opened only to answer GetSecretValue and
// BatchGetSecretValue.
package secretsmanager

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	sm "github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// API is the Secrets Manager service.
type API struct {
	vault *secretstore.Vault
	store store.Store
	clock core.Clock
	log   *slog.Logger
}

// Config is what the API needs.
type Config struct {
	Store  store.Store
	Keys   *secretstore.Keyring
	Clock  core.Clock
	Logger *slog.Logger
}

// New returns the API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.vault = &secretstore.Vault{Store: cfg.Store, Keys: cfg.Keys, Clock: a.clock}
	return a
}

// Service returns the JSON 1.1 service to register.
func (a *API) Service() awsproto.JSONService {
	return awsproto.JSONService{
		SigningName:       sm.SigningName,
		TargetPrefix:      sm.TargetPrefix,
		InternalErrorCode: sm.ErrCodeInternalServiceError,
		Ops: map[string]awsproto.JSONHandler{
			"CreateSecret":             awsproto.Op(a.CreateSecret),
			"GetSecretValue":           awsproto.Op(a.GetSecretValue),
			"BatchGetSecretValue":      awsproto.Op(a.BatchGetSecretValue),
			"PutSecretValue":           awsproto.Op(a.PutSecretValue),
			"UpdateSecret":             awsproto.Op(a.UpdateSecret),
			"UpdateSecretVersionStage": awsproto.Op(a.UpdateSecretVersionStage),
			"DescribeSecret":           awsproto.Op(a.DescribeSecret),
			"ListSecrets":              awsproto.Op(a.ListSecrets),
			"ListSecretVersionIds":     awsproto.Op(a.ListSecretVersionIds),
			"DeleteSecret":             awsproto.Op(a.DeleteSecret),
			"RestoreSecret":            awsproto.Op(a.RestoreSecret),
			"TagResource":              awsproto.Op(a.TagResource),
			"UntagResource":            awsproto.Op(a.UntagResource),
			"GetRandomPassword":        awsproto.Op(a.GetRandomPassword),
		},
	}
}

// Implemented lists the operations served, for the compatibility matrix.
func (a *API) Implemented() []string {
	var out []string
	for name := range a.Service().Ops {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (a *API) now() time.Time { return a.clock.Now().UTC() }

// Errors, named as the model names them.

func invalidParam(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, sm.ErrCodeInvalidParameterException, format, args...)
}

func invalidRequest(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, sm.ErrCodeInvalidRequestException, format, args...)
}

func errExists(format string, args ...any) error {
	return core.Errorf(core.KindConflict, sm.ErrCodeResourceExistsException, format, args...)
}

func validate(v interface{ Validate() error }) error {
	if err := v.Validate(); err != nil {
		return invalidParam("%v", err)
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return invalidParam("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	return nil
}

func checkSecretID(id string) error {
	if len(id) < 1 || len(id) > 2048 {
		return invalidParam("1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must have length between 1 and 2048")
	}
	return nil
}

// checkToken validates a ClientRequestToken (the version ID to create).
func checkToken(tok string) error {
	if tok != "" && (len(tok) < 32 || len(tok) > 64) {
		return invalidParam("ClientRequestToken must be 32-64 characters long.")
	}
	return nil
}

// newARN returns a secret's ARN, with the random six-character suffix
// Secrets Manager adds to every name.
func newARN(c *awsproto.Call, name string) string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [6]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}.New("secretsmanager", "secret:"+name+"-"+string(b[:]))
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// find reads a live secret.
func (a *API) find(ctx context.Context, id string) (state.Item[state.Secret], error) {
	if err := checkSecretID(id); err != nil {
		return state.Item[state.Secret]{}, err
	}
	return a.vault.FindSecret(ctx, id)
}

// update applies f to the secret id names and writes it back with a
// compare-and-swap, retrying a lost race. f may return errSkipWrite to
// write nothing.
func (a *API) update(ctx context.Context, id string, f func(s *state.Secret) error) (state.Secret, error) {
	var out state.Secret
	err := store.RetryConflicts(ctx, func() error {
		it, err := a.find(ctx, id)
		if err != nil {
			return err
		}
		s := it.Value
		if err := f(&s); err != nil {
			if errors.Is(err, errSkipWrite) {
				out = s
				return nil
			}
			return err
		}
		b, err := state.Encode(s)
		if err != nil {
			return err
		}
		if _, err := a.store.Txn(ctx, []store.Cond{store.MustBeAt(it.Key, it.ModRevision)}, []store.Op{store.Put(it.Key, b)}); err != nil {
			return err
		}
		out = s
		return nil
	})
	if err != nil {
		return state.Secret{}, err
	}
	return out, nil
}

var errSkipWrite = errors.New("no change")

func ts(t time.Time) shape.Timestamp {
	if t.IsZero() {
		return shape.Timestamp{}
	}
	return shape.NewTimestamp(t)
}
