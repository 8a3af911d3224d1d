package state

import "time"

// Key prefixes of the secret store's records. A Secrets Manager secret is
// one record (its versions inline); so is an SSM parameter. Names, ARNs,
// stages and dates are kept in plaintext; every value is a Sealed
// ciphertext (internal/secretstore).
const (
	secretsPrefix    = "secretsmanager/secrets/"
	parametersPrefix = "ssm/parameters/"
)

// SecretKey is where the Secrets Manager secret name is kept.
func SecretKey(name string) string { return secretsPrefix + name }

// SecretsPrefix is the prefix of every secret.
func SecretsPrefix() string { return secretsPrefix }

// ParameterKey is where the SSM parameter name is kept. Hierarchical names
// ("/app/prod/db") keep their slashes, so that a path is a key prefix.
func ParameterKey(name string) string { return parametersPrefix + name }

// ParametersPrefix is the prefix of every parameter.
func ParametersPrefix() string { return parametersPrefix }

// Sealed is a value encrypted by envelope encryption: Ciphertext is the
// value under a data key of its own (AES-256-GCM), and WrappedKey is that
// data key encrypted under the master key named by KeyID. Rotating the
// master key rewrites WrappedKey and KeyID only.
type Sealed struct {
	KeyID      string `json:"kid"`
	WrappedKey []byte `json:"wk"` // nonce || AES-GCM(master, data key)
	Ciphertext []byte `json:"ct"` // nonce || AES-GCM(data key, value)
}

// Secret is a Secrets Manager secret.
type Secret struct {
	Name        string          `json:"name"`
	ARN         string          `json:"arn"`
	Description string          `json:"description,omitzero"`
	KmsKeyID    string          `json:"kmsKeyId,omitzero"`
	Type        string          `json:"type,omitzero"`
	Tags        []SecretTag     `json:"tags,omitzero"`
	CreatedAt   time.Time       `json:"createdAt"`
	ChangedAt   time.Time       `json:"changedAt"`
	AccessedAt  time.Time       `json:"accessedAt,omitzero"`
	DeletedAt   time.Time       `json:"deletedAt,omitzero"`  // set while scheduled for deletion
	DeletionAt  time.Time       `json:"deletionAt,omitzero"` // when it goes for good
	Versions    []SecretVersion `json:"versions,omitzero"`
}

// SecretVersion is one version of a secret's value.
type SecretVersion struct {
	ID         string    `json:"id"`
	Stages     []string  `json:"stages,omitzero"`
	CreatedAt  time.Time `json:"createdAt"`
	AccessedAt time.Time `json:"accessedAt,omitzero"`
	Binary     bool      `json:"binary,omitzero"` // SecretBinary rather than SecretString
	Value      Sealed    `json:"value"`
}

// SecretTag is a key/value tag of a secret or parameter.
type SecretTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Parameter is an SSM Parameter Store parameter.
type Parameter struct {
	Name     string             `json:"name"`
	Tags     []SecretTag        `json:"tags,omitzero"`
	Versions []ParameterVersion `json:"versions"` // oldest first; the last is current
}

// ParameterVersion is one version of a parameter.
type ParameterVersion struct {
	Version        int64     `json:"version"`
	Type           string    `json:"type"` // String, StringList, SecureString
	Description    string    `json:"description,omitzero"`
	AllowedPattern string    `json:"allowedPattern,omitzero"`
	KeyID          string    `json:"keyId,omitzero"` // the KMS key ID a SecureString names
	Tier           string    `json:"tier,omitzero"`
	DataType       string    `json:"dataType,omitzero"`
	Labels         []string  `json:"labels,omitzero"`
	ModifiedAt     time.Time `json:"modifiedAt"`
	ModifiedBy     string    `json:"modifiedBy,omitzero"`
	Value          Sealed    `json:"value"`
}
