package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/distribution/reference"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
)

func (c *client) secrets(ctx context.Context, req agentproto.SecretsRequest) (agentproto.SecretsResponse, error) {
	var out agentproto.SecretsResponse
	err := c.do(ctx, http.MethodPost, agentproto.PathSecrets, req, &out)
	return out, err
}

// needsSecrets reports whether a task definition has secrets or registry
// credentials to fetch, or an image that may be in minato's registry.
func needsSecrets(td ecstypes.TaskDefinition) bool {
	for _, c := range td.ContainerDefinitions {
		if len(c.Secrets) > 0 || (c.RepositoryCredentials != nil && c.RepositoryCredentials.CredentialsParameter != "") ||
			onRegistry(c.Image) {
			return true
		}
	}
	return false
}

// onRegistry reports whether image names a registry host: only then may
// it be an image of minato's registry (its repositoryUri, or an ECR-style
// name), which the control plane says how to pull. Docker Hub names and
// local images ("my-app:latest") are not.
func onRegistry(image string) bool {
	named, err := reference.ParseNormalizedNamed(image)
	return err == nil && reference.Domain(named) != "docker.io"
}

// loadSecrets fetches the task's secret values from the control plane,
// just before its containers are created; they are kept in memory only
// until then. A failure returns the task's stoppedReason, which names the
// secret and never a value.
func (r *runner) loadSecrets(ctx context.Context) (reason string) {
	if !needsSecrets(r.base.Definition) {
		return ""
	}
	req := agentproto.SecretsRequest{Cluster: r.base.Cluster, InstanceID: r.a.instance, TaskID: r.base.TaskID}
	var resp agentproto.SecretsResponse
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return agentproto.SecretsFailurePrefix + ctx.Err().Error()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		resp, err = r.a.client.secrets(ctx, req)
		var se *statusError
		if err == nil || (errors.As(err, &se) && se.code < 500) {
			break
		}
	}
	if err != nil {
		return agentproto.SecretsFailurePrefix + "unable to fetch them from the control plane: " + err.Error()
	}
	if resp.Error != "" {
		return agentproto.SecretsFailurePrefix + resp.Error
	}
	r.secrets = resp.Containers
	for name, cs := range resp.Containers {
		if cs.RegistryImage != "" {
			r.setImage(name, r.a.registryHost+"/"+cs.RegistryImage)
		}
	}
	return ""
}

// image is the image container name runs: its definition's, or where
// minato's registry serves it (loadSecrets).
func (r *runner) image(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if img, ok := r.images[name]; ok {
		return img
	}
	return r.defs[name].Image
}

func (r *runner) setImage(name, image string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.images == nil {
		r.images = map[string]string{}
	}
	r.images[name] = image
}

// secretEnv is the environment the secrets of container name add.
func (r *runner) secretEnv(name string) []ecstypes.KeyValuePair {
	return r.secrets[name].Env
}

// registryAuth is the registry login of container name, if it has one.
func (r *runner) registryAuth(name string) *rt.RegistryAuth {
	if cs := r.secrets[name]; cs.RegistryAuth != nil {
		return &rt.RegistryAuth{Username: cs.RegistryAuth.Username, Password: cs.RegistryAuth.Password, Refresh: cs.RegistryImage != ""}
	}
	return nil
}
