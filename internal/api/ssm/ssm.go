// Package ssm serves the parts of the AWS Systems Manager API (JSON 1.1)
// that ECS tasks use: Parameter Store. Every parameter value — String,
// StringList and SecureString alike — is sealed by internal/secretstore
// before it reaches the state store; SecureString values are returned in
// clear only WithDecryption.
package ssm

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/shape"
	ssm "github.com/minato-project/minato/internal/model/ssmtypes"
	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// API is the Parameter Store service.
type API struct {
	vault *secretstore.Vault
	store store.Store
	clock core.Clock
	log   *slog.Logger
	// sessions are ECS Exec's (nil: none)
	sessions Sessions
	// serial queues this node's writes of one parameter, which would
	// otherwise race each other for its next version.
	serial store.Serial
}

// Config is what the API needs.
type Config struct {
	Store  store.Store
	Keys   *secretstore.Keyring
	Clock  core.Clock
	Logger *slog.Logger
	// Sessions are the ECS Exec sessions TerminateSession and
	// ResumeSession act on (nil: none).
	Sessions Sessions
}

// New returns the API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, sessions: cfg.Sessions}
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
		SigningName:       ssm.SigningName,
		TargetPrefix:      ssm.TargetPrefix,
		InternalErrorCode: ssm.ErrCodeInternalServerError,
		Ops: map[string]awsproto.JSONHandler{
			"PutParameter":        awsproto.Op(a.PutParameter),
			"GetParameter":        awsproto.Op(a.GetParameter),
			"GetParameters":       awsproto.Op(a.GetParameters),
			"GetParametersByPath": awsproto.Op(a.GetParametersByPath),
			"DeleteParameter":     awsproto.Op(a.DeleteParameter),
			"DeleteParameters":    awsproto.Op(a.DeleteParameters),
			"DescribeParameters":  awsproto.Op(a.DescribeParameters),
			"GetParameterHistory": awsproto.Op(a.GetParameterHistory),
			// sessions.go: ECS Exec's sessions
			"TerminateSession": awsproto.Op(a.TerminateSession),
			"ResumeSession":    awsproto.Op(a.ResumeSession),
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

func validation(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, "ValidationException", format, args...)
}

func errNotFound() error { return secretstore.ErrParameterNotFound() }

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

const (
	maxNameLen   = 2048
	maxLevels    = 15
	maxValueLen  = 4096
	maxAdvValue  = 8192
	maxVersions  = 100
	maxBatchSize = 10
	// maxPatternLen is the model's limit on AllowedPattern, in characters.
	maxPatternLen = 1024
)

// checkName validates a parameter name as Parameter Store does.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return validation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length between 1 and 2048")
	}
	if !nameRE.MatchString(name) {
		return validation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
	}
	if strings.Contains(name, "/") && !strings.HasPrefix(name, "/") {
		return validation("Parameter name must be a fully qualified name.")
	}
	if strings.Contains(name, "//") || (len(name) > 1 && strings.HasSuffix(name, "/")) {
		return validation("Parameter name must be a fully qualified name.")
	}
	first := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return validation("No access to reserved parameter name: %s.", name)
	}
	if strings.Count(name, "/") > maxLevels {
		return core.Errorf(core.KindInvalid, ssm.ErrCodeHierarchyLevelLimitExceededException,
			"A hierarchy can have a maximum of 15 levels.")
	}
	return nil
}

// paramARN is a parameter's ARN: arn:aws:ssm:REGION:ACCOUNT:parameter/a/b
// for /a/b, .../parameter/a for a.
func paramARN(c *awsproto.Call, name string) string {
	return arn.Scope{Region: c.Region, AccountID: c.Principal.AccountID}.New("ssm", "parameter/"+strings.TrimPrefix(name, "/"))
}

func ts(t time.Time) shape.Timestamp {
	if t.IsZero() {
		return shape.Timestamp{}
	}
	return shape.NewTimestamp(t)
}

// wireValue is what a read returns as a version's value: the plaintext,
// except for a SecureString read without decryption, which shows the
// sealed ciphertext (as Parameter Store shows the KMS ciphertext).
func (a *API) wireValue(p state.Parameter, v state.ParameterVersion, decrypt bool) (string, error) {
	if v.Type == string(ssm.ParameterTypeSecureString) && !decrypt {
		return base64.StdEncoding.EncodeToString(v.Value.Ciphertext), nil
	}
	return a.vault.OpenParameter(p, v)
}

func (a *API) wireParameter(c *awsproto.Call, p state.Parameter, v state.ParameterVersion, selector string, decrypt bool) (ssm.Parameter, error) {
	val, err := a.wireValue(p, v, decrypt)
	if err != nil {
		return ssm.Parameter{}, err
	}
	return ssm.Parameter{
		Name: p.Name, Type: ssm.ParameterType(v.Type), Value: val, Version: v.Version, Selector: selector,
		LastModifiedDate: ts(v.ModifiedAt), ARN: paramARN(c, p.Name), DataType: orDefault(v.DataType, "text"),
	}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func isTrue(b *bool) bool { return b != nil && *b }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
