package agentproto

import "github.com/minato-project/minato/internal/model/ecstypes"

// PathSecrets is where an agent fetches the secret values of a task it is
// about to start: the environment variables of its containers' secrets,
// the registry credentials of their repositoryCredentials, and how to pull
// the images of minato's own registry. The control
// plane answers only for a task assigned to the asking instance, and only
// for that task's definition. Nothing of the answer is stored or logged on
// either side.
const PathSecrets = "/minato/agent/v1/secrets"

// SecretsRequest asks for the secrets of one task.
type SecretsRequest struct {
	Cluster    string `json:"cluster"`
	InstanceID string `json:"instanceId"`
	TaskID     string `json:"taskId"`
}

// SecretsResponse holds a task's secret values by container name, or, when
// one could not be resolved, Error: why, naming the secret and never a
// value. The task then fails to start with stoppedReason
// "ResourceInitializationError: unable to pull secrets or registry auth: "
// followed by Error.
type SecretsResponse struct {
	Containers map[string]ContainerSecrets `json:"containers,omitzero"`
	Error      string                      `json:"error,omitzero"`
}

// ContainerSecrets are the secret values of one container.
type ContainerSecrets struct {
	// Env are the secrets' environment variables, in definition order.
	Env []ecstypes.KeyValuePair `json:"env,omitzero"`
	// RegistryAuth is the private registry login of the container's
	// repositoryCredentials, or a token of minato's registry when
	// RegistryImage is set.
	RegistryAuth *RegistryAuth `json:"registryAuth,omitzero"`
	// RegistryImage, when set, is the image to pull and run in place of
	// the definition's, which names an image of minato's own registry (by
	// its repositoryUri, or by an ECR-style name of a repository minato
	// has). It is the repository and reference ("my-app:v1"); the agent
	// prefixes the host and port of the server it talks to, where the
	// registry is served.
	RegistryImage string `json:"registryImage,omitzero"`
}

// RegistryAuth is a registry username and password.
type RegistryAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// SecretsFailurePrefix starts the stoppedReason of a task whose secrets
// could not be had, as in ECS.
const SecretsFailurePrefix = "ResourceInitializationError: unable to pull secrets or registry auth: "
