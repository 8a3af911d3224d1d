package registry

import (
	"context"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/minato-project/minato/internal/state"
)

// ecrHost matches the registry host of an Amazon ECR image name:
// <account>.dkr.ecr.<region>.amazonaws.com (.com.cn in China, -fips for
// FIPS endpoints).
var ecrHost = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// ParseImage reads an image name of a task definition. ok says whether it
// may name an image of minato's registry: its host is host (the
// registry's, as repositoryUri shows it), or it is an ECR-style name
// (ecrStyle), which is minato's when a repository of that name exists.
// repo is the repository name, ref ":tag" or "@digest" (":latest" when the
// name has neither).
func ParseImage(image, host string) (repo, ref string, ecrStyle, ok bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", false, false
	}
	domain := reference.Domain(named)
	switch {
	case host != "" && strings.EqualFold(domain, host):
	case ecrHost.MatchString(domain):
		ecrStyle = true
	default:
		return "", "", false, false
	}
	ref = ":latest"
	if d, isDigested := named.(reference.Digested); isDigested {
		ref = "@" + d.Digest().String()
	} else if t, isTagged := named.(reference.Tagged); isTagged {
		ref = ":" + t.Tag()
	}
	return reference.Path(named), ref, ecrStyle, true
}

// Pull is how an agent pulls an image of minato's registry.
type Pull struct {
	// Image is the repository and reference ("my-app:v1",
	// "team/api@sha256:..."); the agent prefixes the host and port of the
	// server it talks to, where the registry is served.
	Image              string
	Username, Password string // a registry token, good for TokenTTL
}

// ResolveImage says whether image (as a task definition names it) is an
// image of minato's registry, and how to pull it. An ECR-style name is
// minato's only when a repository of that name exists; a name on the
// registry's own host always is, so that a missing repository fails the
// pull with the registry's own error.
func (r *Registry) ResolveImage(ctx context.Context, image string) (Pull, bool, error) {
	repo, ref, ecrStyle, ok := ParseImage(image, r.Host())
	if !ok {
		return Pull{}, false, nil
	}
	if ecrStyle {
		if _, err := state.Get[state.ECRRepository](ctx, r.cfg.Store, state.ECRRepositoryKey(repo)); state.IsNotFound(err) {
			return Pull{}, false, nil
		} else if err != nil {
			return Pull{}, false, err
		}
	}
	tok, _ := r.IssueToken()
	return Pull{Image: repo + ref, Username: TokenUser, Password: tok}, true, nil
}
