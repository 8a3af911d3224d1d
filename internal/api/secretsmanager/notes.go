package secretsmanager

// Notes says, per implemented operation, what minato does differently
// from Secrets Manager, for the compatibility matrix (docs/compatibility.md).
var Notes = map[string]string{
	"CreateSecret": "Values are sealed with minato's master key (envelope AES-256-GCM); KmsKeyId is recorded, not used. " +
		"No replication (AddReplicaRegions: InvalidRequestException).",
	"GetSecretValue":      "By name, full ARN or partial ARN; VersionId and/or VersionStage (default AWSCURRENT).",
	"BatchGetSecretValue": "SecretIdList or Filters (as ListSecrets), up to 20.",
	"PutSecretValue":      "A ClientRequestToken that names an existing version is an idempotent retry with the same value, ResourceExistsException with another.",
	"DeleteSecret": "RecoveryWindowInDays 7–30 (default 30) or ForceDeleteWithoutRecovery. A secret past its deletion date is gone " +
		"(its name free again); DescribeSecret's DeletedDate is when DeleteSecret was called.",
	"ListSecrets": "Filters name, description, tag-key, tag-value, all (and `!` negation); sorted by created date unless SortBy.",
	"ListSecretVersionIds": "Newest first; versions without a staging label only with IncludeDeprecated. A secret keeps at most " +
		"100 versions; the oldest unlabelled ones go first.",
	"DescribeSecret":    "RotationEnabled is always false: minato does not rotate secrets.",
	"GetRandomPassword": "From crypto/rand.",
}
