// Package logs serves the Amazon CloudWatch Logs API (JSON 1.1, target
// prefix Logs_20140328) over internal/logstore: log groups and streams,
// PutLogEvents, GetLogEvents and FilterLogEvents with CloudWatch's
// validation, error names and pagination tokens, retention and tags.
// aws logs tail (which polls FilterLogEvents) works against it.
package logs

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/logstypes"
)

// API is the CloudWatch Logs service.
type API struct {
	store   *logstore.Store
	clock   core.Clock
	log     *slog.Logger
	region  string
	account string
}

// Config is what the API needs.
type Config struct {
	Store  *logstore.Store
	Clock  core.Clock
	Logger *slog.Logger
	// Region and AccountID are used in ARNs when a request carries none;
	// default us-east-1 and 000000000000.
	Region    string
	AccountID string
}

// New returns the API.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, region: cfg.Region, account: cfg.AccountID}
	if a.clock == nil {
		a.clock = core.SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.region == "" {
		a.region = "us-east-1"
	}
	if a.account == "" {
		a.account = "000000000000"
	}
	return a
}

// Service returns the JSON 1.1 service to register with the protocol
// server.
func (a *API) Service() awsproto.JSONService {
	return awsproto.JSONService{
		SigningName:       logstypes.SigningName,
		TargetPrefix:      logstypes.TargetPrefix,
		InternalErrorCode: logstypes.ErrCodeServiceUnavailableException,
		Ops: map[string]awsproto.JSONHandler{
			"CreateLogGroup":        awsproto.Op(a.CreateLogGroup),
			"DeleteLogGroup":        awsproto.Op(a.DeleteLogGroup),
			"DescribeLogGroups":     awsproto.Op(a.DescribeLogGroups),
			"PutRetentionPolicy":    awsproto.Op(a.PutRetentionPolicy),
			"DeleteRetentionPolicy": awsproto.Op(a.DeleteRetentionPolicy),
			"CreateLogStream":       awsproto.Op(a.CreateLogStream),
			"DeleteLogStream":       awsproto.Op(a.DeleteLogStream),
			"DescribeLogStreams":    awsproto.Op(a.DescribeLogStreams),
			"PutLogEvents":          awsproto.Op(a.PutLogEvents),
			"GetLogEvents":          awsproto.Op(a.GetLogEvents),
			"FilterLogEvents":       awsproto.Op(a.FilterLogEvents),
			"TagResource":           awsproto.Op(a.TagResource),
			"UntagResource":         awsproto.Op(a.UntagResource),
			"ListTagsForResource":   awsproto.Op(a.ListTagsForResource),
			"TagLogGroup":           awsproto.Op(a.TagLogGroup),
			"UntagLogGroup":         awsproto.Op(a.UntagLogGroup),
			"ListTagsLogGroup":      awsproto.Op(a.ListTagsLogGroup),
		},
	}
}

// Implemented lists the operations this package serves, for the
// compatibility matrix.
func (a *API) Implemented() []string {
	svc := a.Service()
	out := make([]string, 0, len(svc.Ops))
	for name := range svc.Ops {
		out = append(out, name)
	}
	return out
}

func (a *API) now() time.Time { return a.clock.Now() }

// scope returns the region and account of a request's ARNs.
func (a *API) scope(c *awsproto.Call) (region, account string) {
	region, account = a.region, a.account
	if c != nil && c.Region != "" {
		region = c.Region
	}
	if c != nil && c.Principal.AccountID != "" {
		account = c.Principal.AccountID
	}
	return region, account
}

func (a *API) groupARN(c *awsproto.Call, name string) string {
	r, acct := a.scope(c)
	return "arn:aws:logs:" + r + ":" + acct + ":log-group:" + name
}

// groupName resolves a logGroupName or logGroupIdentifier (a name or an
// ARN) to a name.
func groupName(name, ident string) (string, error) {
	if name != "" && ident != "" {
		return "", invalidParam("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	}
	if name == "" {
		name = ident
		if n, ok := groupFromARN(ident); ok {
			name = n
		}
	}
	if name == "" {
		return "", invalidParam("Either the logGroupName or the logGroupIdentifier must be specified.")
	}
	if err := logstore.CheckGroupName(name); err != nil {
		return "", invalidParam("%v", err)
	}
	return name, nil
}

// groupFromARN returns the group name of a log group ARN
// (arn:aws:logs:region:account:log-group:NAME, with or without :*).
func groupFromARN(arn string) (string, bool) {
	if !strings.HasPrefix(arn, "arn:") {
		return "", false
	}
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) < 7 || parts[2] != "logs" || !strings.HasPrefix(parts[5], "log-group") {
		return "", false
	}
	rest := parts[6]
	rest = strings.TrimSuffix(rest, ":*")
	if i := strings.Index(rest, ":log-stream:"); i >= 0 {
		rest = rest[:i]
	}
	return rest, rest != ""
}

// Errors, named as the CloudWatch Logs model names them.

func invalidParam(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, logstypes.ErrCodeInvalidParameterException, format, args...)
}

func errGroupNotFound() error {
	return core.Errorf(core.KindNotFound, logstypes.ErrCodeResourceNotFoundException, "The specified log group does not exist.")
}

func errStreamNotFound() error {
	return core.Errorf(core.KindNotFound, logstypes.ErrCodeResourceNotFoundException, "The specified log stream does not exist.")
}

// storeErr maps logstore's errors to the API's.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, logstore.ErrGroupNotFound):
		return errGroupNotFound()
	case errors.Is(err, logstore.ErrStreamNotFound):
		return errStreamNotFound()
	case errors.Is(err, logstore.ErrGroupExists):
		return core.Errorf(core.KindConflict, logstypes.ErrCodeResourceAlreadyExistsException, "The specified log group already exists")
	case errors.Is(err, logstore.ErrStreamExists):
		return core.Errorf(core.KindConflict, logstypes.ErrCodeResourceAlreadyExistsException, "The specified log stream already exists")
	}
	return err
}

// Notes are shown beside each operation in docs/compatibility.md.
var Notes = map[string]string{
	"CreateLogGroup":      "kmsKeyId and logGroupClass are accepted and ignored (every group is STANDARD, stored unencrypted on the node's disk).",
	"DescribeLogGroups":   "logGroupNamePrefix, logGroupNamePattern, pagination. Groups of every region are one namespace.",
	"PutRetentionPolicy":  "Enforced: expired events are hidden at once and their segments removed within a minute.",
	"DescribeLogStreams":  "orderBy LogStreamName/LastEventTime, descending, prefix, pagination.",
	"PutLogEvents":        "Durable (fsync) before the reply. sequenceToken is ignored, as AWS now does; too old/new events are rejected in rejectedLogEventsInfo.",
	"GetLogEvents":        "startTime/endTime, startFromHead, nextForwardToken/nextBackwardToken (the same token back at the end of the stream).",
	"FilterLogEvents":     "Terms, quoted phrases, ?alternatives, -exclusions, %regex%, JSON and space-delimited patterns; events interleaved by time; searchedLogStreams is not returned.",
	"TagResource":         "Log group ARNs.",
	"ListTagsForResource": "Log group ARNs.",
	"TagLogGroup":         "Deprecated by AWS; served.",
}
