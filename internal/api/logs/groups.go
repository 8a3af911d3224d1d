package logs

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/api/paging"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/logstypes"
)

// retentionDays are the values PutRetentionPolicy accepts.
var retentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// logGroup is LogGroup as AWS sends it: retentionInDays only when set.
type logGroup struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int32 `json:"retentionInDays,omitempty"`
	MetricFilterCount int32  `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
	LogGroupArn       string `json:"logGroupArn"`
}

type describeLogGroupsResponse struct {
	LogGroups []logGroup `json:"logGroups"`
	NextToken string     `json:"nextToken,omitempty"`
}

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return invalidParam("A resource can have no more than 50 tags.")
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 || strings.HasPrefix(k, "aws:") {
			return invalidParam("Invalid tag key: %q", k)
		}
		if len(v) > 256 {
			return invalidParam("Invalid tag value for key %q", k)
		}
	}
	return nil
}

// CreateLogGroup creates a log group.
func (a *API) CreateLogGroup(_ context.Context, c *awsproto.Call, in *logstypes.CreateLogGroupRequest) (*struct{}, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return nil, storeErr(a.store.CreateGroup(in.LogGroupName, in.Tags))
}

// DeleteLogGroup deletes a log group with its streams and events.
func (a *API) DeleteLogGroup(_ context.Context, c *awsproto.Call, in *logstypes.DeleteLogGroupRequest) (*struct{}, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	return nil, storeErr(a.store.DeleteGroup(in.LogGroupName))
}

func (a *API) renderGroup(c *awsproto.Call, g logstore.GroupInfo) logGroup {
	arn := a.groupARN(c, g.Name)
	lg := logGroup{LogGroupName: g.Name, CreationTime: g.Created, Arn: arn + ":*", LogGroupArn: arn,
		StoredBytes: g.StoredBytes, LogGroupClass: "STANDARD"}
	if g.RetentionDays > 0 {
		lg.RetentionInDays = new(g.RetentionDays)
	}
	return lg
}

// DescribeLogGroups lists log groups by name.
func (a *API) DescribeLogGroups(_ context.Context, c *awsproto.Call, in *logstypes.DescribeLogGroupsRequest) (*describeLogGroupsResponse, error) {
	limit := 50
	if in.Limit != 0 {
		if in.Limit < 1 || in.Limit > 50 {
			return nil, invalidParam("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50", in.Limit)
		}
		limit = int(in.Limit)
	}
	if in.LogGroupNamePrefix != "" && in.LogGroupNamePattern != "" {
		return nil, invalidParam("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("The specified nextToken is invalid.")
	}
	out := &describeLogGroupsResponse{LogGroups: []logGroup{}}
	pattern := strings.ToLower(in.LogGroupNamePattern)
	for _, g := range a.store.Groups(in.LogGroupNamePrefix) {
		if after != "" && g.Name <= after {
			continue
		}
		if pattern != "" && !strings.Contains(strings.ToLower(g.Name), pattern) {
			continue
		}
		if len(out.LogGroups) == limit {
			out.NextToken = paging.Encode(out.LogGroups[limit-1].LogGroupName)
			break
		}
		out.LogGroups = append(out.LogGroups, a.renderGroup(c, g))
	}
	return out, nil
}

// PutRetentionPolicy sets a group's retention; it is enforced at once.
func (a *API) PutRetentionPolicy(_ context.Context, c *awsproto.Call, in *logstypes.PutRetentionPolicyRequest) (*struct{}, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	if !slices.Contains(retentionDays, in.RetentionInDays) {
		vals := make([]string, len(retentionDays))
		for i, d := range retentionDays {
			vals[i] = strconv.Itoa(int(d))
		}
		return nil, invalidParam("1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			in.RetentionInDays, strings.Join(vals, ", "))
	}
	return nil, storeErr(a.store.SetRetention(in.LogGroupName, in.RetentionInDays))
}

// DeleteRetentionPolicy makes a group's events never expire.
func (a *API) DeleteRetentionPolicy(_ context.Context, c *awsproto.Call, in *logstypes.DeleteRetentionPolicyRequest) (*struct{}, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	return nil, storeErr(a.store.SetRetention(in.LogGroupName, 0))
}

// CreateLogStream creates a log stream.
func (a *API) CreateLogStream(_ context.Context, c *awsproto.Call, in *logstypes.CreateLogStreamRequest) (*struct{}, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	if err := logstore.CheckStreamName(in.LogStreamName); err != nil {
		return nil, invalidParam("%v", err)
	}
	return nil, storeErr(a.store.CreateStream(in.LogGroupName, in.LogStreamName))
}

// DeleteLogStream deletes a stream and its events.
func (a *API) DeleteLogStream(_ context.Context, c *awsproto.Call, in *logstypes.DeleteLogStreamRequest) (*struct{}, error) {
	if _, err := groupName(in.LogGroupName, ""); err != nil {
		return nil, err
	}
	return nil, storeErr(a.store.DeleteStream(in.LogGroupName, in.LogStreamName))
}

// logStream is LogStream as AWS sends it: the event times only once the
// stream has events.
type logStream struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp *int64 `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64 `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64 `json:"lastIngestionTime,omitempty"`
	UploadSequenceToken string `json:"uploadSequenceToken,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

type describeLogStreamsResponse struct {
	LogStreams []logStream `json:"logStreams"`
	NextToken  string      `json:"nextToken,omitempty"`
}

// DescribeLogStreams lists a group's streams by name or by last event
// time, either way round.
func (a *API) DescribeLogStreams(_ context.Context, c *awsproto.Call, in *logstypes.DescribeLogStreamsRequest) (*describeLogStreamsResponse, error) {
	name, err := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != 0 {
		if in.Limit < 1 || in.Limit > 50 {
			return nil, invalidParam("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50", in.Limit)
		}
		limit = int(in.Limit)
	}
	byTime := in.OrderBy == logstypes.OrderByLastEventTime
	if byTime && in.LogStreamNamePrefix != "" {
		return nil, invalidParam("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	after, ok := paging.Decode(in.NextToken)
	if !ok {
		return nil, invalidParam("The specified nextToken is invalid.")
	}
	streams, err := a.store.Streams(name, in.LogStreamNamePrefix)
	if err != nil {
		return nil, storeErr(err)
	}
	key := func(s logstore.StreamInfo) string {
		if byTime {
			// Sortable: the last event time, then the name.
			return strconv.FormatInt(1<<62+s.LastEvent, 10) + "\x00" + s.Name
		}
		return s.Name
	}
	sort.Slice(streams, func(i, j int) bool {
		if in.Descending {
			return key(streams[i]) > key(streams[j])
		}
		return key(streams[i]) < key(streams[j])
	})
	out := &describeLogStreamsResponse{LogStreams: []logStream{}}
	arn := a.groupARN(c, name)
	for _, s := range streams {
		k := key(s)
		if after != "" && (!in.Descending && k <= after || in.Descending && k >= after) {
			continue
		}
		if len(out.LogStreams) == limit {
			out.NextToken = paging.Encode(key(streams[slices.IndexFunc(streams, func(x logstore.StreamInfo) bool {
				return x.Name == out.LogStreams[limit-1].LogStreamName
			})]))
			break
		}
		ls := logStream{LogStreamName: s.Name, CreationTime: s.Created, Arn: arn + ":log-stream:" + s.Name, StoredBytes: s.StoredBytes}
		if s.Events > 0 {
			ls.FirstEventTimestamp, ls.LastEventTimestamp, ls.LastIngestionTime = new(s.FirstEvent), new(s.LastEvent), new(s.LastIngestion)
		}
		out.LogStreams = append(out.LogStreams, ls)
	}
	return out, nil
}

// Tags.

func (a *API) tagTarget(arn string) (string, error) {
	name, ok := groupFromARN(arn)
	if !ok {
		return "", invalidParam("The specified resource ARN %q is not a log group ARN.", arn)
	}
	return name, nil
}

// TagResource tags a log group by ARN.
func (a *API) TagResource(_ context.Context, c *awsproto.Call, in *logstypes.TagResourceRequest) (*struct{}, error) {
	name, err := a.tagTarget(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return nil, a.tag(name, in.Tags)
}

func (a *API) tag(name string, tags map[string]string) error {
	if err := checkTags(tags); err != nil {
		return err
	}
	g, err := a.store.Group(name)
	if err != nil {
		return storeErr(err)
	}
	n := len(g.Tags)
	for k := range tags {
		if _, ok := g.Tags[k]; !ok {
			n++
		}
	}
	if n > 50 {
		return core.Errorf(core.KindInvalid, logstypes.ErrCodeTooManyTagsException, "A resource can have no more than 50 tags.")
	}
	return storeErr(a.store.TagGroup(name, tags))
}

// UntagResource removes tags of a log group by ARN.
func (a *API) UntagResource(_ context.Context, c *awsproto.Call, in *logstypes.UntagResourceRequest) (*struct{}, error) {
	name, err := a.tagTarget(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return nil, storeErr(a.store.UntagGroup(name, in.TagKeys))
}

type tagsResponse struct {
	Tags map[string]string `json:"tags"`
}

// ListTagsForResource lists a log group's tags by ARN.
func (a *API) ListTagsForResource(_ context.Context, c *awsproto.Call, in *logstypes.ListTagsForResourceRequest) (*tagsResponse, error) {
	name, err := a.tagTarget(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return a.listTags(name)
}

func (a *API) listTags(name string) (*tagsResponse, error) {
	g, err := a.store.Group(name)
	if err != nil {
		return nil, storeErr(err)
	}
	if g.Tags == nil {
		g.Tags = map[string]string{}
	}
	return &tagsResponse{Tags: g.Tags}, nil
}

// TagLogGroup is the deprecated TagResource by group name.
func (a *API) TagLogGroup(_ context.Context, c *awsproto.Call, in *logstypes.TagLogGroupRequest) (*struct{}, error) {
	return nil, a.tag(in.LogGroupName, in.Tags)
}

// UntagLogGroup is the deprecated UntagResource by group name.
func (a *API) UntagLogGroup(_ context.Context, c *awsproto.Call, in *logstypes.UntagLogGroupRequest) (*struct{}, error) {
	return nil, storeErr(a.store.UntagGroup(in.LogGroupName, in.Tags))
}

// ListTagsLogGroup is the deprecated ListTagsForResource by group name.
func (a *API) ListTagsLogGroup(_ context.Context, c *awsproto.Call, in *logstypes.ListTagsLogGroupRequest) (*tagsResponse, error) {
	return a.listTags(in.LogGroupName)
}
