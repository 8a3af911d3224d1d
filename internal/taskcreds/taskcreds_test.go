package taskcreds

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time                  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func TestIssuedCredentialsAreRecognisedWhileTheTaskRuns(t *testing.T) {
	ck := &clock{now: time.Unix(1_800_000_000, 0)}
	running := true
	is := New(Config{Key: []byte("k"), Clock: ck, TTL: time.Hour, AccountID: "123456789012",
		Running: func(cluster, id string) (bool, bool) { return running && cluster == "c" && id == "t1", true }})
	c := is.Issue("c", "t1", "arn:aws:iam::123456789012:role/app")
	if !strings.HasPrefix(c.AccessKeyID, "ASIA") || len(c.SecretAccessKey) != 40 || !c.Expiration.Equal(ck.now.Add(time.Hour)) {
		t.Fatalf("credentials %+v", c)
	}
	pr, ok := is.Principal(c.AccessKeyID, c.Token)
	if !ok || pr.SecretAccessKey != c.SecretAccessKey || pr.ARN != "arn:aws:sts::123456789012:assumed-role/app/t1" || pr.Allow == nil {
		t.Fatalf("principal %+v %v", pr, ok)
	}
	other := is.Issue("c", "t1", "arn:aws:iam::123456789012:role/app")
	for name, try := range map[string][2]string{
		"another key's token": {other.AccessKeyID, c.Token},
		"a forged token":      {c.AccessKeyID, c.Token[:len(c.Token)-2] + "xx"},
		"no token":            {c.AccessKeyID, ""},
		"another issuer's":    {c.AccessKeyID, New(Config{Key: []byte("other")}).Issue("c", "t1", "r").Token},
	} {
		if _, ok := is.Principal(try[0], try[1]); ok {
			t.Errorf("%s: recognised", name)
		}
	}
	running = false
	if _, ok := is.Principal(c.AccessKeyID, c.Token); ok {
		t.Error("recognised after the task stopped")
	}
	running = true
	ck.mu.Lock()
	ck.now = ck.now.Add(time.Hour)
	ck.mu.Unlock()
	if _, ok := is.Principal(c.AccessKeyID, c.Token); ok {
		t.Error("recognised once expired")
	}
}

func TestAllowed(t *testing.T) {
	for _, tt := range []struct {
		svc, op string
		want    bool
	}{
		{"ecs", "ListTasks", true}, {"ecs", "DescribeTasks", true}, {"ecs", "RunTask", false}, {"ecs", "DeleteCluster", false},
		{"secretsmanager", "GetSecretValue", true}, {"secretsmanager", "PutSecretValue", false},
		{"ssm", "GetParameters", true}, {"ssm", "PutParameter", false},
		{"logs", "PutLogEvents", true}, {"logs", "DeleteLogGroup", false},
		{"sts", "GetCallerIdentity", true}, {"iam", "CreateRole", false},
	} {
		if got := Allowed(tt.svc, tt.op); got != tt.want {
			t.Errorf("Allowed(%s, %s) = %v", tt.svc, tt.op, got)
		}
	}
}
