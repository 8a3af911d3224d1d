// Package registry is minato's embedded OCI image registry and the ECR
// rules around it: what `docker push` and `docker pull` talk to, what the
// ECR API's image operations read and change, and where lifecycle policies
// run.
//
// The engine is the CNCF distribution library (distribution/v3): its HTTP
// API handlers (registry/handlers) on its filesystem storage driver under
// the data directory, content-addressed. minato adds, around it:
//
//   - front.go: every request must carry a registry token (docker login
//     --username AWS with the password GetAuthorizationToken issued);
//     otherwise 401 with a Basic challenge, as ECR answers. Tokens are
//     HMAC-signed with a key kept in the data directory and expire after
//     twelve hours (token.go): checking one reads nothing.
//   - middleware.go: distribution registry middleware with ECR's rules. A
//     repository exists only once CreateRepository made it (a push to any
//     other name is NAME_UNKNOWN); an IMMUTABLE repository's tags never
//     move (TAG_INVALID), checked and set under one lock per tag.
//   - durable.go: the filesystem driver fsyncs file data but not the
//     directories a rename or a new blob changes; durable records them and
//     syncs them before a push is acknowledged (front.go holds the manifest
//     put's answer until then), so that what a push was acknowledged for
//     survives a crash (kill -9, power loss).
//   - images.go: the image operations of the ECR API (list, describe, get,
//     put, delete, untag) over the same storage. The storage is the one
//     source of truth of images; nothing about an image is copied into
//     the state store.
//   - lifecycle.go and lifecyclepolicy/: lifecycle policies, evaluated by
//     a pure package, run shortly after each push and on a schedule.
//   - gc.go: online garbage collection of blobs no manifest references,
//     safe beside concurrent pushes and pulls (the argument is there).
//   - resolve.go: which task images are minato's registry's (their host,
//     or an ECR-style name of a repository that exists), and the token an
//     agent pulls them with.
//
// The registry is served on the API listener under /v2/, so a repository's
// URI is the API's host and port followed by the repository name.
package registry
