package agentserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
)

// SecretResolver returns the value a valueFrom names. Its errors name the
// secret and never hold a value (secretstore.Vault is one).
type SecretResolver interface {
	Resolve(ctx context.Context, valueFrom string) (string, error)
}

// ImageResolver says whether image, as a task definition names it, is an
// image of minato's registry: then ref is its repository and reference
// ("my-app:v1") and login the registry token to pull it with; ref is ""
// for any other image.
type ImageResolver interface {
	ResolveImage(ctx context.Context, image string) (ref string, login *agentproto.RegistryAuth, err error)
}

// SecretsHandler returns the handler of agentproto.PathSecrets: it
// resolves, with r, the secrets and registry credentials of one task's
// definition, for the agent of the instance the task is assigned to. The
// values go into the reply only; nothing is logged or stored.
func (s *Server) SecretsHandler(r SecretResolver) http.Handler {
	return s.auth(func(_ http.ResponseWriter, req *http.Request) (any, error) {
		var in agentproto.SecretsRequest
		if err := decode(req, &in); err != nil {
			return nil, err
		}
		return s.taskSecrets(req.Context(), r, in)
	})
}

func (s *Server) taskSecrets(ctx context.Context, r SecretResolver, in agentproto.SecretsRequest) (agentproto.SecretsResponse, error) {
	var out agentproto.SecretsResponse
	if in.Cluster == "" || in.InstanceID == "" || in.TaskID == "" {
		return out, badRequest("cluster, instanceId and taskId are required")
	}
	it, err := state.Get[state.Task](ctx, s.cfg.Store, state.TaskKey(in.Cluster, in.TaskID))
	if state.IsNotFound(err) {
		return out, &httpError{http.StatusNotFound, "task " + in.TaskID + " does not exist in cluster " + in.Cluster}
	}
	if err != nil {
		return out, err
	}
	t := it.Value
	if t.InstanceID != in.InstanceID {
		return out, &httpError{http.StatusForbidden, "task " + in.TaskID + " is not assigned to container instance " + in.InstanceID}
	}
	if t.DesiredStatus().Terminal() || t.LastStatus().Terminal() {
		return out, &httpError{http.StatusConflict, "task " + in.TaskID + " is stopping"}
	}
	td, err := s.taskDef(ctx, t.Family, t.Revision)
	if err != nil {
		return out, err
	}
	out.Containers = map[string]agentproto.ContainerSecrets{}
	for _, c := range td.ContainerDefinitions {
		var cs agentproto.ContainerSecrets
		for _, sec := range c.Secrets {
			v, err := r.Resolve(ctx, sec.ValueFrom)
			if err != nil {
				return agentproto.SecretsResponse{Error: errText(err)}, nil
			}
			cs.Env = append(cs.Env, envVar(sec.Name, v))
		}
		if rc := c.RepositoryCredentials; rc != nil && rc.CredentialsParameter != "" {
			v, err := r.Resolve(ctx, rc.CredentialsParameter)
			if err != nil {
				return agentproto.SecretsResponse{Error: errText(err)}, nil
			}
			var login agentproto.RegistryAuth
			if json.Unmarshal([]byte(v), &login) != nil || login.Username == "" || login.Password == "" {
				return agentproto.SecretsResponse{Error: fmt.Sprintf(
					"execution resource retrieval failed: unable to retrieve registry credentials: secret %s must be a JSON object with \"username\" and \"password\"",
					rc.CredentialsParameter)}, nil
			}
			cs.RegistryAuth = &login
		} else if s.cfg.Images != nil {
			ref, login, err := s.cfg.Images.ResolveImage(ctx, c.Image)
			if err != nil {
				return agentproto.SecretsResponse{Error: "unable to retrieve registry credentials for " + c.Image + ": " + errText(err)}, nil
			}
			cs.RegistryImage, cs.RegistryAuth = ref, login
		}
		if len(cs.Env) > 0 || cs.RegistryAuth != nil {
			out.Containers[c.Name] = cs
		}
	}
	return out, nil
}

// errText is a resolution error's text. Unexpected (store) errors are
// summarised: their text is not the resolver's to vouch for.
func errText(err error) string {
	if errors.Is(err, context.Canceled) {
		return "the request was cancelled"
	}
	return err.Error()
}

func envVar(name, value string) ecstypes.KeyValuePair {
	return ecstypes.KeyValuePair{Name: name, Value: value}
}
