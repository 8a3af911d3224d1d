package awsproto

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

const (
	sigAlgorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
	scopeDateFormat  = "20060102"
	scopeTerminator  = "aws4_request"
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	maxPresignExpiry = 7 * 24 * time.Hour
	// DefaultMaxClockSkew is how far X-Amz-Date may be from the server's
	// clock, as AWS allows.
	DefaultMaxClockSkew = 15 * time.Minute
)

// sdkIgnoredHeaders are the headers the SDK signer never signs (its
// v4Internal.IgnoredHeaders). A request that signed one of them cannot be
// reproduced by the SDK signer; botocore and the Go SDK never sign them.
var sdkIgnoredHeaders = map[string]bool{
	"authorization": true, "user-agent": true, "x-amzn-trace-id": true,
	"expect": true, "transfer-encoding": true,
}

// sigRequest is what a request says about its own signature.
type sigRequest struct {
	presigned     bool
	accessKeyID   string
	scopeDate     string
	region        string
	service       string
	signedHeaders []string // lower case, as the client listed them
	signature     string
	amzDateRaw    string
	amzDate       time.Time
	expires       time.Duration // presigned X-Amz-Expires; 0 if absent
	sessionToken  string        // X-Amz-Security-Token; "" if absent
}

// parseAuth reads the SigV4 parameters from the Authorization header or the
// presigned query parameters. It returns nil, nil if the request carries no
// signature at all.
func parseAuth(r *http.Request) (*sigRequest, *wireError) {
	sr, werr := parseAuthParams(r)
	if sr != nil {
		sr.sessionToken = r.Header.Get("X-Amz-Security-Token")
		if sr.sessionToken == "" {
			sr.sessionToken = r.URL.Query().Get("X-Amz-Security-Token")
		}
	}
	return sr, werr
}

func parseAuthParams(r *http.Request) (*sigRequest, *wireError) {
	if hs := r.Header.Values("Authorization"); len(hs) > 1 {
		// Which of two signatures would count is anybody's guess: a proxy
		// may pass on the first, the signer here would check another.
		return nil, errIncomplete("The request carries more than one Authorization header; send exactly one.")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return parseAuthHeader(h, r.Header)
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "" || q.Get("X-Amz-Signature") != "" || q.Get("X-Amz-Credential") != "" {
		return parsePresigned(q)
	}
	return nil, nil
}

func parseAuthHeader(h string, hdr http.Header) (*sigRequest, *wireError) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != sigAlgorithm {
		return nil, errIncomplete(fmt.Sprintf("Unsupported Authorization algorithm %q; only %s is supported.", alg, sigAlgorithm))
	}
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, errIncomplete(fmt.Sprintf("'%s' not a valid key=value pair (missing equal-sign) in Authorization header.", part))
		}
		params[k] = v
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	amzDate := hdr.Get("X-Amz-Date")
	if amzDate == "" {
		missing = append(missing, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	if len(missing) > 0 {
		return nil, errIncomplete(strings.Join(missing, " "))
	}
	sr := &sigRequest{signature: params["Signature"], amzDateRaw: amzDate}
	if err := sr.setCredential(params["Credential"]); err != nil {
		return nil, err
	}
	if err := sr.setSignedHeaders(params["SignedHeaders"]); err != nil {
		return nil, err
	}
	if err := sr.setDate(); err != nil {
		return nil, err
	}
	return sr, nil
}

func parsePresigned(q url.Values) (*sigRequest, *wireError) {
	if alg := q.Get("X-Amz-Algorithm"); alg != sigAlgorithm {
		return nil, errIncomplete(fmt.Sprintf("X-Amz-Algorithm must be %s, not %q.", sigAlgorithm, alg))
	}
	var missing []string
	for _, k := range []string{"X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(k) == "" {
			missing = append(missing, fmt.Sprintf("AWS query-string parameters must include '%s'.", k))
		}
	}
	if len(missing) > 0 {
		return nil, errIncomplete(strings.Join(missing, " "))
	}
	sr := &sigRequest{presigned: true, signature: q.Get("X-Amz-Signature"), amzDateRaw: q.Get("X-Amz-Date")}
	if err := sr.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	if err := sr.setSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return nil, err
	}
	if err := sr.setDate(); err != nil {
		return nil, err
	}
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n < 0 {
			return nil, errIncomplete(fmt.Sprintf("X-Amz-Expires must be a non-negative integer, not %q.", e))
		}
		sr.expires = time.Duration(n) * time.Second
		if sr.expires > maxPresignExpiry {
			return nil, errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
	}
	return sr, nil
}

func (sr *sigRequest) setCredential(c string) *wireError {
	parts := strings.Split(c, "/")
	if len(parts) != 5 {
		return errIncomplete(fmt.Sprintf("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", c))
	}
	if parts[4] != scopeTerminator {
		return errIncomplete(fmt.Sprintf("Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, parts[4]))
	}
	for _, p := range parts[:4] {
		if p == "" {
			return errIncomplete(fmt.Sprintf("Credential has an empty element: '%s'", c))
		}
	}
	sr.accessKeyID, sr.scopeDate, sr.region, sr.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (sr *sigRequest) setSignedHeaders(s string) *wireError {
	for _, h := range strings.Split(s, ";") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			return errIncomplete(fmt.Sprintf("SignedHeaders has an empty element: '%s'", s))
		}
		sr.signedHeaders = append(sr.signedHeaders, h)
	}
	return nil
}

func (sr *sigRequest) setDate() *wireError {
	t, err := time.Parse(amzDateFormat, sr.amzDateRaw)
	if err != nil {
		return errIncomplete(fmt.Sprintf("X-Amz-Date must be in the ISO8601 basic format yyyyMMdd'T'HHmmss'Z', got '%s'.", sr.amzDateRaw))
	}
	sr.amzDate = t
	return nil
}

// checkTime applies AWS's validity window: X-Amz-Date within maxSkew of now
// or, for presigned requests with X-Amz-Expires, now within
// [date-maxSkew, date+expires].
func checkTime(sr *sigRequest, now time.Time, maxSkew time.Duration, p Protocol) *wireError {
	now = now.UTC()
	f := func(t time.Time) string { return t.UTC().Format(amzDateFormat) }
	mins := strconv.Itoa(int(maxSkew / time.Minute))
	if sr.amzDate.After(now.Add(maxSkew)) {
		return errSignature(p, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s min.)",
			sr.amzDateRaw, f(now.Add(maxSkew)), f(now), mins))
	}
	if sr.presigned && sr.expires > 0 {
		if end := sr.amzDate.Add(sr.expires); now.After(end) {
			return errSignature(p, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s + %d sec.)",
				f(end), f(now), sr.amzDateRaw, int64(sr.expires/time.Second)))
		}
		return nil
	}
	if sr.amzDate.Before(now.Add(-maxSkew)) {
		return errSignature(p, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s min.)",
			sr.amzDateRaw, f(now.Add(-maxSkew)), f(now), mins))
	}
	return nil
}

// checkScope checks the credential scope against the request: its date is
// X-Amz-Date's and, if the request's headers name the service it is for
// (svc, the JSON target's signing name), its service is that one.
func checkScope(sr *sigRequest, p Protocol, svc string) *wireError {
	if sr.scopeDate != sr.amzDate.Format(scopeDateFormat) {
		return errSignature(p, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			sr.scopeDate, sr.amzDate.Format(scopeDateFormat), sr.amzDateRaw))
	}
	if svc != "" && sr.service != svc {
		return errWrongService(p, svc)
	}
	return nil
}

// verifySignature rebuilds the request the client signed, signs it again
// with the SDK signer and compares. body is the whole request body. The
// header part of the signature (checkTime, checkScope) is checked before.
func (s *Server) verifySignature(ctx context.Context, reqID string, r *http.Request, body []byte, sr *sigRequest, pr Principal, p Protocol) *wireError {
	id := slog.String(keyRequestID, reqID)
	payloadHash, werr := payloadHash(r, body, p)
	if werr != nil {
		return werr
	}
	req, reason := rebuildSigned(r, sr)
	if reason != "" {
		s.log.LogAttrs(ctx, levelDebug, "signature not reproducible", id, attrReason(reason))
		return errSignature(p, "")
	}
	got, gotHeaders, err := s.sign(ctx, req, sr, pr, payloadHash, nil)
	if err != nil {
		s.log.LogAttrs(ctx, levelError, "signing failed", id, attrErr(err))
		return errSignature(p, "")
	}
	if gotHeaders != strings.Join(sr.signedHeaders, ";") {
		s.log.LogAttrs(ctx, levelDebug, "signed headers differ", id,
			attrReason("client signed "+strings.Join(sr.signedHeaders, ";")+", signer produced "+gotHeaders))
		return errSignature(p, "")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(sr.signature))) != 1 {
		if s.log.Enabled(ctx, levelDebug) {
			// Sign once more with logging, to show the canonical request.
			req, _ = rebuildSigned(r, sr)
			var canon string
			logger := logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
				canon = fmt.Sprintf(format, v...)
			})
			_, _, _ = s.sign(ctx, req, sr, pr, payloadHash, logger)
			s.log.LogAttrs(ctx, levelDebug, "signature mismatch", id, attrReason(redactToken(canon)))
		}
		return errSignature(p, "")
	}
	return nil
}

// sign signs req as the client should have and returns the signature and the
// signed-headers list the signer produced.
func (s *Server) sign(ctx context.Context, req *http.Request, sr *sigRequest, pr Principal, payloadHash string, logger logging.Logger) (sig, signedHeaders string, err error) {
	creds := aws.Credentials{AccessKeyID: pr.AccessKeyID, SecretAccessKey: pr.SecretAccessKey}
	opts := func(o *v4.SignerOptions) {
		o.DisableHeaderHoisting = true
		if logger != nil {
			o.Logger, o.LogSigning = logger, true
		}
	}
	if sr.presigned {
		signedURL, _, err := s.signer.PresignHTTP(ctx, creds, req, payloadHash, sr.service, sr.region, sr.amzDate, opts)
		if err != nil {
			return "", "", err
		}
		u, err := url.Parse(signedURL)
		if err != nil {
			return "", "", err
		}
		q := u.Query()
		return q.Get("X-Amz-Signature"), q.Get("X-Amz-SignedHeaders"), nil
	}
	if err := s.signer.SignHTTP(ctx, creds, req, payloadHash, sr.service, sr.region, sr.amzDate, opts); err != nil {
		return "", "", err
	}
	auth := req.Header.Get("Authorization")
	_, rest, _ := strings.Cut(auth, " ")
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Signature":
			sig = v
		case "SignedHeaders":
			signedHeaders = v
		}
	}
	return sig, signedHeaders, nil
}

// rebuildSigned returns a request holding exactly what the client signed:
// method, host, path, query (less X-Amz-Signature when presigned) and the
// signed headers. reason is non-empty if the SDK signer cannot reproduce it.
func rebuildSigned(r *http.Request, sr *sigRequest) (*http.Request, string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rawQuery := r.URL.RawQuery
	if sr.presigned {
		q := r.URL.Query()
		q.Del("X-Amz-Signature")
		rawQuery = q.Encode()
	}
	u := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: rawQuery}
	req := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: make(http.Header)}
	for _, h := range sr.signedHeaders {
		switch {
		case h == "host":
			// The signer signs req.Host.
		case h == "content-length":
			// The signer signs req.ContentLength when it is positive, and
			// only then; a request without a signed content-length (botocore)
			// must look bodiless to it.
			if r.ContentLength <= 0 {
				return nil, "content-length signed but the request has none"
			}
			req.ContentLength = r.ContentLength
		case sdkIgnoredHeaders[h]:
			return nil, "the client signed " + h + ", which the SDK signer never signs"
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return nil, "signed header " + h + " is missing"
			}
			req.Header[textproto.CanonicalMIMEHeaderKey(h)] = vals
		}
	}
	return req, ""
}

// payloadHash is the hex SHA-256 of the body, or the client's
// X-Amz-Content-Sha256 when that is UNSIGNED-PAYLOAD. A declared hash that
// differs from the body is a signature error.
func payloadHash(r *http.Request, body []byte, p Protocol) (string, *wireError) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	declared := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case declared == "":
		return actual, nil
	case strings.EqualFold(declared, actual):
		return declared, nil
	case declared == unsignedPayload:
		return unsignedPayload, nil
	default:
		return "", errSignature(p, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
}

// redactToken hides session tokens in a logged canonical request.
func redactToken(canon string) string {
	lines := strings.Split(canon, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "x-amz-security-token:") {
			lines[i] = "x-amz-security-token:REDACTED"
		}
		if strings.Contains(l, "X-Amz-Security-Token=") {
			q, err := url.ParseQuery(l)
			if err == nil {
				q.Set("X-Amz-Security-Token", "REDACTED")
				lines[i] = q.Encode()
			}
		}
	}
	return strings.Join(lines, "\n")
}
