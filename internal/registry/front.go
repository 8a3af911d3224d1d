package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
)

// maxManifestBytes is the largest manifest the registry takes, as
// distribution's own limit.
const maxManifestBytes = 4 << 20

// transferDeadline bounds one authenticated blob transfer. The API
// listener's own deadlines (a minute to read a request, ninety seconds to
// answer) suit API calls, not layers of hundreds of megabytes.
const transferDeadline = time.Hour

// routeKind is the kind of a registry API path.
type routeKind int

const (
	routeOther routeKind = iota
	routeBase
	routeManifest
	routeBlob
	routeUpload
	routeTags
)

// route is what the front needs to know of a request's path.
type route struct {
	kind routeKind
	repo string
	ref  string // manifest reference, blob digest or upload ID
}

// parseRoute reads a /v2/ path. Names may hold slashes (and even
// "manifests"), so the last marker wins, as in distribution's router,
// whose name pattern is greedy too.
func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}
	}
	if rest == "" {
		return route{kind: routeBase}
	}
	if repo, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{kind: routeTags, repo: repo}
	}
	for _, m := range []struct {
		marker string
		kind   routeKind
	}{{"/manifests/", routeManifest}, {"/blobs/uploads/", routeUpload}, {"/blobs/", routeBlob}} {
		if i := strings.LastIndex(rest, m.marker); i > 0 {
			ref := rest[i+len(m.marker):]
			if !strings.Contains(ref, "/") {
				return route{kind: m.kind, repo: rest[:i], ref: ref}
			}
		}
	}
	return route{}
}

// front is what every registry request passes before distribution's
// handlers: the token check, the locks that make ECR's rules and garbage
// collection safe, and the deadlines of long transfers.
func (r *Registry) front(app http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if msg := r.authenticate(req); msg != "" {
			challenge(w, req, msg)
			return
		}
		rt := parseRoute(req.URL.Path)
		if rt.repo != "" {
			// distribution answers a repository its middleware refuses
			// with its error twice in one body, which docker cannot read;
			// so the front answers it (and the middleware need not ask).
			if _, err := r.repository(req.Context(), rt.repo); err != nil {
				_ = errcode.ServeJSON(w, err)
				return
			}
			req = req.WithContext(context.WithValue(req.Context(), repoChecked{}, rt.repo))
		}
		switch {
		case rt.kind == routeManifest && req.Method == http.MethodPut:
			r.putManifest(app, w, req, rt)
			return
		case rt.kind == routeBlob && req.Method == http.MethodHead:
			// docker checks whether a layer exists before it uploads it:
			// the check and the garbage collector's sweep must not
			// interleave (gc.go).
			leave := r.gc.enter()
			defer leave()
			r.gc.touch(rt.ref)
		case rt.kind == routeUpload:
			r.gc.touch(req.URL.Query().Get("digest")) // an upload's last request names the digest
			r.gc.touch(req.URL.Query().Get("mount"))  // a mount from another repository
			fallthrough
		case rt.kind == routeBlob:
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(transferDeadline))
			_ = rc.SetWriteDeadline(time.Now().Add(transferDeadline))
		}
		app.ServeHTTP(w, req)
	})
}

// putManifest serves a manifest push: the body is read first, so that
// no lock waits on a slow client, then the put runs holding the tag's lock
// (an immutable tag is checked and set in one step) and the garbage
// collector's shared lock (gc.go). A push that succeeds wakes the
// repository's lifecycle policy.
func (r *Registry) putManifest(app http.Handler, w http.ResponseWriter, req *http.Request, rt route) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestBytes+1))
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeManifestInvalid.WithDetail("reading the manifest: "+err.Error()))
		return
	}
	if len(body) > maxManifestBytes {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeManifestInvalid.WithMessage(
			fmt.Sprintf("manifest too big: a manifest may have at most %d bytes", maxManifestBytes)))
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if !strings.Contains(rt.ref, ":") { // a tag, not a digest
		unlock := r.tags.lock(rt.repo + ":" + rt.ref)
		defer unlock()
	}
	leave := r.gc.enter()
	bw := &bufferedWriter{ResponseWriter: w, status: http.StatusOK}
	app.ServeHTTP(bw, req)
	leave()
	// The answer is held until what the push wrote is durable: a 201 is
	// the push's acknowledgement.
	if bw.status == http.StatusCreated {
		if err := r.durable.Flush(); err != nil {
			r.log.Error("registry: the pushed manifest could not be made durable", "repository", rt.repo, "err", err)
			w.Header().Del("Location")
			w.Header().Del("Docker-Content-Digest")
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail("storage: "+err.Error()))
			return
		}
		r.pushed(rt.repo)
	}
	w.WriteHeader(bw.status)
	_, _ = w.Write(bw.body.Bytes())
}

// authenticate checks the request's token and returns what to answer when
// it is not good ("" when it is).
func (r *Registry) authenticate(req *http.Request) string {
	user, pass, ok := req.BasicAuth()
	if !ok {
		return msgNoToken
	}
	if user != TokenUser {
		return msgTokenInvalid
	}
	switch r.tokens.verify(pass, r.clock.Now()) {
	case nil:
		return ""
	case ErrTokenExpired:
		return msgTokenExpired
	}
	return msgTokenInvalid
}

// challenge answers 401 with the Basic challenge ECR sends, so that
// docker asks for (or uses) the login of this registry.
func challenge(w http.ResponseWriter, req *http.Request, msg string) {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="%s://%s/",service="ecr.amazonaws.com"`, scheme, req.Host))
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	_ = errcode.ServeJSON(w, errcode.ErrorCodeUnauthorized.WithMessage(msg))
}

// repoChecked is the context key of the repository the front found.
type repoChecked struct{}

// bufferedWriter holds a response's status and body (a manifest put's
// answer is small) until the caller sends them.
type bufferedWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
