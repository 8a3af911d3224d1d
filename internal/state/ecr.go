package state

import "time"

// Key prefixes of the ECR records. A repository is one record, with its
// settings and policies inline; its images are not records: they live in
// the registry's storage (internal/registry), which is their one source of
// truth. A lifecycle policy preview is a record of its own beside the
// repository, so that a large preview does not make every read of the
// repository slow.
const (
	ecrReposPrefix    = "ecr/repositories/"
	ecrPreviewsPrefix = "ecr/lifecycle-previews/"
)

// ECRRepositoryKey is where the ECR repository name is kept. Names keep
// their slashes ("team/web"), so key order is name order.
func ECRRepositoryKey(name string) string { return ecrReposPrefix + name }

// ECRRepositoriesPrefix is the prefix of every ECR repository.
func ECRRepositoriesPrefix() string { return ecrReposPrefix }

// ECRRepositoryName is the repository name of an ECRRepositoryKey.
func ECRRepositoryName(key string) string { return key[len(ecrReposPrefix):] }

// ECRPreviewKey is where the last lifecycle policy preview of repository
// name is kept.
func ECRPreviewKey(name string) string { return ecrPreviewsPrefix + name }

// ECRRepository is an ECR repository: its settings, tags and policies.
// ARNs and URIs are not stored; they depend on the caller's region and the
// registry's address.
type ECRRepository struct {
	Name       string    `json:"name"`
	RegistryID string    `json:"registryId"` // the account ID
	CreatedAt  time.Time `json:"createdAt"`
	// ImageTagMutability is MUTABLE or IMMUTABLE (ECR's newer
	// *_WITH_EXCLUSION values are refused by the API).
	ImageTagMutability string `json:"imageTagMutability"`
	ScanOnPush         bool   `json:"scanOnPush,omitzero"`
	// EncryptionType is AES256 or KMS; KMSKey the key a KMS one names.
	// Both are recorded, not used: the registry's storage is the data
	// directory's.
	EncryptionType string   `json:"encryptionType"`
	KMSKey         string   `json:"kmsKey,omitzero"`
	Tags           []ECRTag `json:"tags,omitzero"`
	// LifecyclePolicy is the policy text as given ("" when none);
	// LifecycleEvaluatedAt is when it last ran.
	LifecyclePolicy      string    `json:"lifecyclePolicy,omitzero"`
	LifecycleEvaluatedAt time.Time `json:"lifecycleEvaluatedAt,omitzero"`
	// RepositoryPolicy is the repository's permissions policy text,
	// stored and returned; minato does not evaluate it.
	RepositoryPolicy string `json:"repositoryPolicy,omitzero"`
}

// ECRTag is a key/value tag of an ECR repository.
type ECRTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ECRLifecyclePreview is the outcome of the last
// StartLifecyclePolicyPreview of a repository: the images the policy
// would expire when it ran.
type ECRLifecyclePreview struct {
	Repository string             `json:"repository"`
	PolicyText string             `json:"policyText"`
	Status     string             `json:"status"` // COMPLETE or FAILED
	StartedAt  time.Time          `json:"startedAt"`
	Results    []ECRPreviewResult `json:"results,omitzero"`
}

// ECRPreviewResult is one image a preview would expire.
type ECRPreviewResult struct {
	Digest       string    `json:"digest"`
	Tags         []string  `json:"tags,omitzero"`
	PushedAt     time.Time `json:"pushedAt"`
	RulePriority int       `json:"rulePriority"`
}
