package ecs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

var ciRegisteredAt = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// ciID returns a container instance ID in ECS's form.
func ciID(i int) string { return fmt.Sprintf("%032x", i) }

// ciRegister stores a container instance record the way the agent's
// registration does, and returns it.
func ciRegister(t *testing.T, st store.Store, cluster string, i int, change func(*state.ContainerInstance)) state.ContainerInstance {
	t.Helper()
	id := ciID(i)
	ci := state.ContainerInstance{
		ID: id, Cluster: cluster, EC2InstanceID: "mi-" + id[15:], Status: instanceActive,
		AgentVersion: "0.1.0", DockerVer: "DockerVersion: 27.3.1",
		Registered:   state.Resources{CPU: 2048, MemoryMiB: 3904, Ports: []int{22, 2375, 2376}, PortsUDP: nil},
		DynamicPorts: [2]int{32768, 60999},
		Attributes: []ecstypes.Attribute{
			{Name: "ecs.os-type", Value: "linux"},
			{Name: "ecs.cpu-architecture", Value: "x86_64"},
			{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.44"},
		},
		RegisteredAt: ciRegisteredAt,
		Version:      1,
	}
	if change != nil {
		change(&ci)
	}
	ciPut(t, st, state.ContainerInstanceKey(cluster, id), ci)
	return ci
}

// ciPlaceTask stores a task on an instance with the given statuses.
func ciPlaceTask(t *testing.T, st store.Store, cluster, instance, id, last, desired, group string) {
	t.Helper()
	ciPut(t, st, state.TaskKey(cluster, id), state.Task{
		ID: id, Cluster: cluster, InstanceID: instance, Family: "web", Revision: 1,
		Task: ecstypes.Task{LastStatus: last, DesiredStatus: desired, Group: group},
	})
}

func ciPut(t *testing.T, st store.Store, key string, v any) {
	t.Helper()
	b, err := state.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put(key, b)}); err != nil {
		t.Fatal(err)
	}
}

func ciRecord(t *testing.T, st store.Store, cluster, id string) state.ContainerInstance {
	t.Helper()
	it, err := state.Get[state.ContainerInstance](context.Background(), st, state.ContainerInstanceKey(cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	return it.Value
}

func ciWantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if errCode(err) != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func ciResource(rs []ecstypes.Resource, name string) ecstypes.Resource {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return ecstypes.Resource{}
}

func TestDescribeContainerInstances(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	busy := ciRegister(t, st, "default", 1, func(ci *state.ContainerInstance) {
		ci.Used = state.Resources{CPU: 512, MemoryMiB: 1024, Ports: []int{8080, 22}, PortsUDP: []int{53}}
		ci.Tags = []ecstypes.Tag{{Key: "team", Value: "web"}}
		ci.StatusReason = "reason"
	})
	idle := ciRegister(t, st, "default", 2, nil)
	ciPlaceTask(t, st, "default", busy.ID, "t1", "RUNNING", "RUNNING", "family:web")
	ciPlaceTask(t, st, "default", busy.ID, "t2", "PENDING", "RUNNING", "family:web")
	ciPlaceTask(t, st, "default", busy.ID, "t3", "PROVISIONING", "RUNNING", "")
	ciPlaceTask(t, st, "default", busy.ID, "t4", "RUNNING", "STOPPED", "") // being stopped: not counted as running
	ciPlaceTask(t, st, "default", busy.ID, "t5", "STOPPED", "STOPPED", "")
	ciPlaceTask(t, st, "default", idle.ID, "t6", "STOPPED", "STOPPED", "")
	a.agents.Touch(busy.ID)

	euCall := &awsproto.Call{Region: "eu-west-1", Principal: call.Principal}
	busyARN := "arn:aws:ecs:eu-west-1:000000000000:container-instance/default/" + busy.ID
	otherCluster := "arn:aws:ecs:eu-west-1:000000000000:container-instance/other/" + idle.ID
	out, err := a.DescribeContainerInstances(ctx, euCall, &ecstypes.DescribeContainerInstancesRequest{
		ContainerInstances: []string{busyARN, idle.ID, "nope", otherCluster, busy.ID},
		Include:            []ecstypes.ContainerInstanceField{"TAGS", "CONTAINER_INSTANCE_HEALTH"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 2 {
		t.Fatalf("described %d instances, want 2 (duplicates once): %+v", len(out.ContainerInstances), out.ContainerInstances)
	}
	wantFailures := []ecstypes.Failure{
		{Arn: "arn:aws:ecs:eu-west-1:000000000000:container-instance/default/nope", Reason: "MISSING"},
		{Arn: otherCluster, Reason: "MISSING"},
	}
	if !slices.Equal(out.Failures, wantFailures) {
		t.Fatalf("failures = %+v, want %+v", out.Failures, wantFailures)
	}
	b := out.ContainerInstances[0]
	if b.ContainerInstanceArn != busyARN || b.Ec2InstanceId != busy.EC2InstanceID || b.Status != "ACTIVE" ||
		b.StatusReason != "reason" || !b.AgentConnected || b.Version != 1 || !b.RegisteredAt.Time().Equal(ciRegisteredAt) {
		t.Fatalf("busy instance: %+v", b)
	}
	if b.VersionInfo == nil || b.VersionInfo.AgentVersion != "0.1.0" || b.VersionInfo.DockerVersion != "DockerVersion: 27.3.1" {
		t.Fatalf("versionInfo = %+v", b.VersionInfo)
	}
	if b.RunningTasksCount != 1 || b.PendingTasksCount != 2 {
		t.Fatalf("running %d pending %d, want 1 and 2", b.RunningTasksCount, b.PendingTasksCount)
	}
	reg, rem := b.RegisteredResources, b.RemainingResources
	if r := ciResource(reg, "CPU"); r.Type != "INTEGER" || r.IntegerValue != 2048 {
		t.Fatalf("registered CPU = %+v", r)
	}
	if r := ciResource(reg, "MEMORY"); r.Type != "INTEGER" || r.IntegerValue != 3904 {
		t.Fatalf("registered MEMORY = %+v", r)
	}
	if r := ciResource(reg, "PORTS"); r.Type != "STRINGSET" || !slices.Equal(r.StringSetValue, []string{"22", "2375", "2376"}) {
		t.Fatalf("registered PORTS = %+v", r)
	}
	if r := ciResource(reg, "PORTS_UDP"); r.Type != "STRINGSET" || r.StringSetValue == nil || len(r.StringSetValue) != 0 {
		t.Fatalf("registered PORTS_UDP = %+v (want an empty, present set)", r)
	}
	if r := ciResource(rem, "CPU"); r.IntegerValue != 1536 {
		t.Fatalf("remaining CPU = %+v", r)
	}
	if r := ciResource(rem, "MEMORY"); r.IntegerValue != 2880 {
		t.Fatalf("remaining MEMORY = %+v", r)
	}
	if r := ciResource(rem, "PORTS"); !slices.Equal(r.StringSetValue, []string{"22", "2375", "2376", "8080"}) {
		t.Fatalf("remaining PORTS = %+v", r)
	}
	if r := ciResource(rem, "PORTS_UDP"); !slices.Equal(r.StringSetValue, []string{"53"}) {
		t.Fatalf("remaining PORTS_UDP = %+v", r)
	}
	if len(b.Attributes) != 3 || b.Attributes[0] != (ecstypes.Attribute{Name: "ecs.os-type", Value: "linux"}) {
		t.Fatalf("attributes = %+v", b.Attributes)
	}
	if !slices.Equal(b.Tags, []ecstypes.Tag{{Key: "team", Value: "web"}}) {
		t.Fatalf("tags = %+v", b.Tags)
	}
	if h := b.HealthStatus; h == nil || h.OverallStatus != "OK" || len(h.Details) != 1 || h.Details[0].Type != "AGENT_CONNECTIVITY" {
		t.Fatalf("health = %+v", b.HealthStatus)
	}
	i := out.ContainerInstances[1]
	if i.AgentConnected || i.RunningTasksCount != 0 || i.PendingTasksCount != 0 || i.Tags == nil || len(i.Tags) != 0 {
		t.Fatalf("idle instance: %+v", i)
	}
	if i.HealthStatus.OverallStatus != "IMPAIRED" {
		t.Fatalf("idle health = %+v", i.HealthStatus)
	}

	// Without include: neither tags nor health.
	plain, err := a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: []string{busy.ID}})
	if err != nil || len(plain.ContainerInstances) != 1 || plain.ContainerInstances[0].Tags != nil || plain.ContainerInstances[0].HealthStatus != nil {
		t.Fatalf("plain describe: %+v %v", plain, err)
	}
	if !strings.HasPrefix(plain.ContainerInstances[0].ContainerInstanceArn, "arn:aws:ecs:us-east-1:") {
		t.Fatalf("ARN not in the caller's region: %s", plain.ContainerInstances[0].ContainerInstanceArn)
	}

	_, err = a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: []string{}})
	ciWantCode(t, "empty list", err, ecstypes.ErrCodeClientException)
	_, err = a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{})
	ciWantCode(t, "absent list", err, ecstypes.ErrCodeInvalidParameterException)
	many := make([]string, 101)
	for i := range many {
		many[i] = ciID(i)
	}
	_, err = a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: many})
	ciWantCode(t, "101 instances", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{Cluster: "none", ContainerInstances: []string{busy.ID}})
	ciWantCode(t, "unknown cluster", err, ecstypes.ErrCodeClusterNotFoundException)
	_, err = a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: []string{"arn:aws:ecs:us-east-1:000000000000:task/default/x"}})
	ciWantCode(t, "task ARN", err, ecstypes.ErrCodeInvalidParameterException)
}

func TestListContainerInstances(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	if _, err := a.CreateCluster(ctx, call, &ecstypes.CreateClusterRequest{ClusterName: "prod"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		ciRegister(t, st, "prod", i, func(ci *state.ContainerInstance) {
			ci.Attributes = append(ci.Attributes, ecstypes.Attribute{Name: "stack", Value: map[bool]string{true: "blue", false: "green"}[i%2 == 1]})
			switch i {
			case 4:
				ci.Status = instanceDraining
			case 5:
				ci.Status = instanceInactive
			}
		})
	}
	ciRegister(t, st, "default", 9, nil)
	ciPlaceTask(t, st, "prod", ciID(3), "t1", "RUNNING", "RUNNING", "service:api")
	a.agents.Touch(ciID(2))

	arns := func(in *ecstypes.ListContainerInstancesRequest) []string {
		t.Helper()
		in.Cluster = "prod"
		out, err := a.ListContainerInstances(ctx, call, in)
		if err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
		var ids []string
		for _, s := range out.ContainerInstanceArns {
			if !strings.HasPrefix(s, "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/") {
				t.Fatalf("bad ARN %s", s)
			}
			ids = append(ids, state.LastSegment(s))
		}
		return ids
	}
	ids := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, ciID(i))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   ecstypes.ListContainerInstancesRequest
		want []string
	}{
		{"default: all but INACTIVE", ecstypes.ListContainerInstancesRequest{}, ids(1, 2, 3, 4)},
		{"ACTIVE", ecstypes.ListContainerInstancesRequest{Status: "ACTIVE"}, ids(1, 2, 3)},
		{"DRAINING", ecstypes.ListContainerInstancesRequest{Status: "DRAINING"}, ids(4)},
		{"REGISTERING", ecstypes.ListContainerInstancesRequest{Status: "REGISTERING"}, nil},
		{"attribute filter", ecstypes.ListContainerInstancesRequest{Filter: "attribute:stack == blue"}, ids(1, 3)},
		{"filter and status", ecstypes.ListContainerInstancesRequest{Filter: "attribute:stack == green", Status: "ACTIVE"}, ids(2)},
		{"agentConnected", ecstypes.ListContainerInstancesRequest{Filter: "agentConnected == true"}, ids(2)},
		{"runningTasksCount", ecstypes.ListContainerInstancesRequest{Filter: "runningTasksCount > 0"}, ids(3)},
		{"task group", ecstypes.ListContainerInstancesRequest{Filter: "task:group == service:api"}, ids(3)},
		{"ec2InstanceId", ecstypes.ListContainerInstancesRequest{Filter: "ec2InstanceId in ['mi-" + ciID(1)[15:] + "']"}, ids(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := arns(&tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	// Pagination.
	var all []string
	token := ""
	for range 10 {
		out, err := a.ListContainerInstances(ctx, call, &ecstypes.ListContainerInstancesRequest{Cluster: "prod", MaxResults: new(int32(3)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.ContainerInstanceArns {
			all = append(all, state.LastSegment(s))
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if !slices.Equal(all, ids(1, 2, 3, 4)) {
		t.Fatalf("paged listing = %v", all)
	}

	for name, in := range map[string]*ecstypes.ListContainerInstancesRequest{
		"bad filter":   {Cluster: "prod", Filter: "attribute:stack =="},
		"maxResults 0": {Cluster: "prod", MaxResults: new(int32(0))},
		"bad token":    {Cluster: "prod", NextToken: "garbage!"},
		"bad status":   {Cluster: "prod", Status: "INACTIVE"},
	} {
		_, err := a.ListContainerInstances(ctx, call, in)
		ciWantCode(t, name, err, ecstypes.ErrCodeInvalidParameterException)
	}
	_, err := a.ListContainerInstances(ctx, call, &ecstypes.ListContainerInstancesRequest{Cluster: "gone"})
	ciWantCode(t, "unknown cluster", err, ecstypes.ErrCodeClusterNotFoundException)
	out, err := a.ListContainerInstances(ctx, call, &ecstypes.ListContainerInstancesRequest{})
	if err != nil || len(out.ContainerInstanceArns) != 1 || !strings.Contains(out.ContainerInstanceArns[0], "/default/") {
		t.Fatalf("default cluster listing: %+v %v", out, err)
	}
}

func TestUpdateContainerInstancesState(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	one := ciRegister(t, st, "default", 1, nil)
	gone := ciRegister(t, st, "default", 2, func(ci *state.ContainerInstance) { ci.Status = instanceInactive })
	ciPlaceTask(t, st, "default", one.ID, "t1", "RUNNING", "RUNNING", "")

	out, err := a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{
		ContainerInstances: []string{"arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + one.ID, "missing", gone.ID},
		Status:             "DRAINING",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 1 || out.ContainerInstances[0].Status != "DRAINING" || out.ContainerInstances[0].Version != 2 ||
		out.ContainerInstances[0].RunningTasksCount != 1 {
		t.Fatalf("drained: %+v", out.ContainerInstances)
	}
	if len(out.Failures) != 2 || out.Failures[0].Reason != "MISSING" || out.Failures[1].Reason != "INACTIVE" ||
		!strings.HasSuffix(out.Failures[1].Arn, "/default/"+gone.ID) {
		t.Fatalf("failures: %+v", out.Failures)
	}
	if got := ciRecord(t, st, "default", one.ID); got.Status != instanceDraining || got.Version != 2 {
		t.Fatalf("stored: %+v", got)
	}
	if got := ciRecord(t, st, "default", gone.ID); got.Status != instanceInactive {
		t.Fatalf("a deregistered instance was changed: %+v", got)
	}
	// Draining again changes nothing; back to ACTIVE bumps the version.
	if _, err := a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: []string{one.ID}, Status: "DRAINING"}); err != nil {
		t.Fatal(err)
	}
	if got := ciRecord(t, st, "default", one.ID); got.Version != 2 {
		t.Fatalf("no-op drain bumped the version: %+v", got)
	}
	back, err := a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: []string{one.ID}, Status: "ACTIVE"})
	if err != nil || back.ContainerInstances[0].Status != "ACTIVE" || back.ContainerInstances[0].Version != 3 {
		t.Fatalf("reactivate: %+v %v", back, err)
	}

	_, err = a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: []string{one.ID}, Status: "REGISTERING"})
	ciWantCode(t, "REGISTERING", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: []string{one.ID}})
	ciWantCode(t, "no status", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: []string{}, Status: "ACTIVE"})
	ciWantCode(t, "empty list", err, ecstypes.ErrCodeClientException)
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = one.ID
	}
	_, err = a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: eleven, Status: "ACTIVE"})
	ciWantCode(t, "11 instances", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{Cluster: "none", ContainerInstances: []string{one.ID}, Status: "ACTIVE"})
	ciWantCode(t, "unknown cluster", err, ecstypes.ErrCodeClusterNotFoundException)
}

func TestDeregisterContainerInstance(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	busy := ciRegister(t, st, "default", 1, nil)
	done := ciRegister(t, st, "default", 2, nil)
	ciPlaceTask(t, st, "default", busy.ID, "t1", "RUNNING", "STOPPED", "") // stopping, not yet STOPPED
	ciPlaceTask(t, st, "default", done.ID, "t2", "STOPPED", "STOPPED", "")
	a.agents.Touch(busy.ID)

	_, err := a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{ContainerInstance: busy.ID})
	ciWantCode(t, "deregister with a task", err, ecstypes.ErrCodeInvalidParameterException)
	if !strings.Contains(err.Error(), "Found running tasks on the instance.") {
		t.Fatalf("message: %v", err)
	}
	if got := ciRecord(t, st, "default", busy.ID); got.Status != instanceActive {
		t.Fatalf("refused deregistration changed the instance: %+v", got)
	}

	out, err := a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{ContainerInstance: busy.ID, Force: new(true)})
	if err != nil || out.ContainerInstance.Status != "INACTIVE" || out.ContainerInstance.AgentConnected || out.ContainerInstance.Version != 2 {
		t.Fatalf("forced deregistration: %+v %v", out, err)
	}
	out, err = a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{
		ContainerInstance: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + done.ID,
	})
	if err != nil || out.ContainerInstance.Status != "INACTIVE" {
		t.Fatalf("deregistration of an instance whose tasks are STOPPED: %+v %v", out, err)
	}
	// Again: the INACTIVE instance is returned as it is.
	again, err := a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{ContainerInstance: done.ID})
	if err != nil || again.ContainerInstance.Version != out.ContainerInstance.Version {
		t.Fatalf("second deregistration: %+v %v", again, err)
	}

	d, err := a.DescribeContainerInstances(ctx, call, &ecstypes.DescribeContainerInstancesRequest{ContainerInstances: []string{busy.ID, done.ID}})
	if err != nil || len(d.ContainerInstances) != 2 || d.ContainerInstances[0].Status != "INACTIVE" || d.ContainerInstances[1].Status != "INACTIVE" {
		t.Fatalf("describe after deregistration: %+v %v", d, err)
	}
	l, err := a.ListContainerInstances(ctx, call, &ecstypes.ListContainerInstancesRequest{})
	if err != nil || len(l.ContainerInstanceArns) != 0 {
		t.Fatalf("deregistered instances are listed: %+v %v", l, err)
	}

	_, err = a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{ContainerInstance: "missing"})
	ciWantCode(t, "missing instance", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{})
	ciWantCode(t, "no instance", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.DeregisterContainerInstance(ctx, call, &ecstypes.DeregisterContainerInstanceRequest{Cluster: "none", ContainerInstance: busy.ID})
	ciWantCode(t, "unknown cluster", err, ecstypes.ErrCodeClusterNotFoundException)
}

func TestPutAndDeleteAttributes(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	one := ciRegister(t, st, "default", 1, nil)
	two := ciRegister(t, st, "default", 2, nil)
	gone := ciRegister(t, st, "default", 3, func(ci *state.ContainerInstance) { ci.Status = instanceInactive })
	twoARN := "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + two.ID
	attr := func(name, value, id string) ecstypes.Attribute {
		return ecstypes.Attribute{Name: name, Value: value, TargetType: "container-instance", TargetId: id}
	}
	custom := func(ci state.ContainerInstance) map[string]string {
		out := map[string]string{}
		for _, at := range ci.Attributes {
			if !builtinAttribute(at.Name) {
				out[at.Name] = at.Value
			}
		}
		return out
	}

	in := []ecstypes.Attribute{
		attr("stack", "prod", one.ID),
		{Name: "zone", Value: "a b@c:/d\\e", TargetId: twoARN}, // ARN: targetType not needed
		attr("flag", "", one.ID),                               // no value
	}
	out, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: in})
	if err != nil || !slices.Equal(out.Attributes, in) {
		t.Fatalf("put: %+v %v", out, err)
	}
	if got := custom(ciRecord(t, st, "default", one.ID)); len(got) != 2 || got["stack"] != "prod" || got["flag"] != "" {
		t.Fatalf("instance one: %v", got)
	}
	if got := custom(ciRecord(t, st, "default", two.ID)); got["zone"] != "a b@c:/d\\e" {
		t.Fatalf("instance two: %v", got)
	}
	// Replacing a value.
	if _, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{attr("stack", "dev", one.ID)}}); err != nil {
		t.Fatal(err)
	}
	if got := custom(ciRecord(t, st, "default", one.ID)); got["stack"] != "dev" || len(got) != 2 {
		t.Fatalf("after replace: %v", got)
	}

	// A missing target fails the whole call: nothing is applied.
	_, err = a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{attr("new", "x", one.ID), attr("new", "x", "missing")}})
	ciWantCode(t, "missing target", err, ecstypes.ErrCodeTargetNotFoundException)
	if got := custom(ciRecord(t, st, "default", one.ID)); got["new"] != "" {
		t.Fatalf("partially applied: %v", got)
	}
	_, err = a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{attr("new", "x", gone.ID)}})
	ciWantCode(t, "deregistered target", err, ecstypes.ErrCodeTargetNotFoundException)
	_, err = a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{
		{Name: "new", TargetId: "arn:aws:ecs:us-east-1:000000000000:container-instance/other/" + one.ID}}})
	ciWantCode(t, "target of another cluster", err, ecstypes.ErrCodeTargetNotFoundException)

	for name, attrs := range map[string][]ecstypes.Attribute{
		"empty":             {},
		"short id, no type": {{Name: "a", Value: "b", TargetId: one.ID}},
		"no target":         {{Name: "a", Value: "b"}},
		"bad name":          {attr("has space", "v", one.ID)},
		"long name":         {attr(strings.Repeat("n", 129), "v", one.ID)},
		"bad value":         {attr("a", "semi;colon", one.ID)},
		"leading space":     {attr("a", " v", one.ID)},
		"trailing space":    {attr("a", "v ", one.ID)},
		"long value":        {attr("a", strings.Repeat("v", 129), one.ID)},
		"bad target type":   {{Name: "a", TargetType: "task", TargetId: one.ID}},
		"11 in one call":    slices.Repeat([]ecstypes.Attribute{attr("a", "v", one.ID)}, 11),
	} {
		_, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: attrs})
		ciWantCode(t, name, err, ecstypes.ErrCodeInvalidParameterException)
	}
	_, err = a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Cluster: "none", Attributes: []ecstypes.Attribute{attr("a", "v", one.ID)}})
	ciWantCode(t, "unknown cluster", err, ecstypes.ErrCodeClusterNotFoundException)

	// Custom attribute limit: one has 2 custom attributes and 3 of the agent's.
	var eight []ecstypes.Attribute
	for i := range 8 {
		eight = append(eight, attr(fmt.Sprintf("c%d", i), "v", one.ID))
	}
	if _, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: eight}); err != nil {
		t.Fatalf("up to 10 custom attributes: %v", err)
	}
	_, err = a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{attr("eleventh", "v", one.ID)}})
	ciWantCode(t, "11th custom attribute", err, ecstypes.ErrCodeAttributeLimitExceededException)
	if _, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{
		attr("c0", "changed", one.ID), attr("ecs.extra", "builtin-like", one.ID)}}); err != nil {
		t.Fatalf("replacing at the limit, or adding an ecs.* attribute: %v", err)
	}

	// DeleteAttributes: by name; the value does not matter; absent names are fine.
	del, err := a.DeleteAttributes(ctx, call, &ecstypes.DeleteAttributesRequest{Attributes: []ecstypes.Attribute{
		attr("stack", "whatever", one.ID), attr("not-there", "", one.ID), {Name: "zone", TargetId: twoARN}}})
	if err != nil || len(del.Attributes) != 3 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if got := custom(ciRecord(t, st, "default", one.ID)); got["stack"] != "" || len(got) != 9 {
		t.Fatalf("after delete, one: %v", got)
	}
	if got := custom(ciRecord(t, st, "default", two.ID)); len(got) != 0 {
		t.Fatalf("after delete, two: %v", got)
	}
	if _, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{attr("eleventh", "v", one.ID)}}); err != nil {
		t.Fatalf("room again after a delete: %v", err)
	}
	_, err = a.DeleteAttributes(ctx, call, &ecstypes.DeleteAttributesRequest{Attributes: []ecstypes.Attribute{attr("a", "", "missing")}})
	ciWantCode(t, "delete on a missing target", err, ecstypes.ErrCodeTargetNotFoundException)
	_, err = a.DeleteAttributes(ctx, call, &ecstypes.DeleteAttributesRequest{Attributes: []ecstypes.Attribute{}})
	ciWantCode(t, "delete nothing", err, ecstypes.ErrCodeInvalidParameterException)
	_, err = a.DeleteAttributes(ctx, call, &ecstypes.DeleteAttributesRequest{Attributes: slices.Repeat([]ecstypes.Attribute{attr("a", "", one.ID)}, 11)})
	ciWantCode(t, "delete 11", err, ecstypes.ErrCodeInvalidParameterException)
}

func TestListAttributes(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		ciRegister(t, st, "default", i, func(ci *state.ContainerInstance) {
			ci.Attributes = append(ci.Attributes, ecstypes.Attribute{Name: "stack", Value: fmt.Sprint("s", i%2)})
			if i == 3 {
				ci.Status = instanceInactive
			}
		})
	}
	list := func(in ecstypes.ListAttributesRequest) []string {
		t.Helper()
		in.TargetType = "container-instance"
		var got []string
		for range 50 {
			out, err := a.ListAttributes(ctx, call, &in)
			if err != nil {
				t.Fatalf("%+v: %v", in, err)
			}
			if in.MaxResults != nil && len(out.Attributes) > int(*in.MaxResults) {
				t.Fatalf("page of %d, maxResults %d", len(out.Attributes), *in.MaxResults)
			}
			for _, at := range out.Attributes {
				if at.TargetType != "container-instance" || !strings.HasPrefix(at.TargetId, "arn:aws:ecs:us-east-1:000000000000:container-instance/default/") {
					t.Fatalf("attribute %+v", at)
				}
				got = append(got, state.LastSegment(at.TargetId)[31:]+" "+at.Name+"="+at.Value)
			}
			if in.NextToken = out.NextToken; in.NextToken == "" {
				return got
			}
		}
		t.Fatal("pagination does not end")
		return nil
	}
	all := []string{
		"1 com.amazonaws.ecs.capability.docker-remote-api.1.44=", "1 ecs.cpu-architecture=x86_64", "1 ecs.os-type=linux", "1 stack=s1",
		"2 com.amazonaws.ecs.capability.docker-remote-api.1.44=", "2 ecs.cpu-architecture=x86_64", "2 ecs.os-type=linux", "2 stack=s0",
	}
	if got := list(ecstypes.ListAttributesRequest{}); !slices.Equal(got, all) {
		t.Fatalf("all attributes:\n%v\nwant\n%v", got, all)
	}
	for _, n := range []int32{1, 2, 3, 4, 7, 8, 100} {
		if got := list(ecstypes.ListAttributesRequest{MaxResults: new(n)}); !slices.Equal(got, all) {
			t.Fatalf("pages of %d:\n%v", n, got)
		}
	}
	if got := list(ecstypes.ListAttributesRequest{AttributeName: "stack"}); !slices.Equal(got, []string{"1 stack=s1", "2 stack=s0"}) {
		t.Fatalf("by name: %v", got)
	}
	if got := list(ecstypes.ListAttributesRequest{AttributeName: "stack", AttributeValue: "s0", MaxResults: new(int32(1))}); !slices.Equal(got, []string{"2 stack=s0"}) {
		t.Fatalf("by name and value: %v", got)
	}
	if got := list(ecstypes.ListAttributesRequest{AttributeName: "ecs.os-type", AttributeValue: "windows"}); len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}

	for name, in := range map[string]*ecstypes.ListAttributesRequest{
		"no targetType":       {},
		"bad targetType":      {TargetType: "task"},
		"value without name":  {TargetType: "container-instance", AttributeValue: "linux"},
		"maxResults 101":      {TargetType: "container-instance", MaxResults: new(int32(101))},
		"token without name":  {TargetType: "container-instance", NextToken: "eyJhIjoieCJ9"}, // {"a":"x"}
		"token of other data": {TargetType: "container-instance", NextToken: "garbage!"},
	} {
		_, err := a.ListAttributes(ctx, call, in)
		ciWantCode(t, name, err, ecstypes.ErrCodeInvalidParameterException)
	}
	_, err := a.ListAttributes(ctx, call, &ecstypes.ListAttributesRequest{Cluster: "none", TargetType: "container-instance"})
	ciWantCode(t, "unknown cluster", err, ecstypes.ErrCodeClusterNotFoundException)
}

// Concurrent drains and attribute puts on one instance all land.
func TestInstanceWritesDoNotLoseUpdates(t *testing.T) {
	a, st := newAPI(t)
	ctx := context.Background()
	one := ciRegister(t, st, "default", 1, nil)
	done := make(chan error)
	for i := range 8 {
		go func() {
			_, err := a.PutAttributes(ctx, call, &ecstypes.PutAttributesRequest{Attributes: []ecstypes.Attribute{
				{Name: fmt.Sprint("k", i), Value: "v", TargetType: "container-instance", TargetId: one.ID}}})
			done <- err
		}()
	}
	go func() {
		_, err := a.UpdateContainerInstancesState(ctx, call, &ecstypes.UpdateContainerInstancesStateRequest{ContainerInstances: []string{one.ID}, Status: "DRAINING"})
		done <- err
	}()
	for range 9 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got := ciRecord(t, st, "default", one.ID)
	if got.Status != instanceDraining || len(got.Attributes) != 3+8 {
		t.Fatalf("lost an update: %+v", got)
	}
}
