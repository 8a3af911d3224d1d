package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/minato-project/minato/internal/controlplane"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/testutil/minicluster"
)

// env is a whole node (minicluster) with a fake agent, and a browser-like
// HTTP client that does not follow redirects.
type env struct {
	t    *testing.T
	mc   *minicluster.Cluster
	info controlplane.Info
	base string
	hc   *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mc := minicluster.New(t, minicluster.Options{Controller: true})
	info := mc.Node.Info()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &env{t: t, mc: mc, info: info, base: info.APIURL, hc: hc}
}

func (e *env) token() string {
	u, err := url.Parse(e.info.ConsoleURL)
	if err != nil || u.Query().Get("token") == "" {
		e.t.Fatalf("console URL %q carries no token", e.info.ConsoleURL)
	}
	return u.Query().Get("token")
}

func (e *env) do(req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) get(path string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	return e.do(req)
}

func (e *env) post(path string, form url.Values, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(req)
}

func (e *env) signIn() {
	e.t.Helper()
	resp, body := e.post("/console/login", url.Values{"access_key_id": {e.info.Key.AccessKeyID}, "secret_access_key": {e.info.Key.SecretAccessKey}})
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *env) csrf(page string) string {
	e.t.Helper()
	resp, body := e.get(page)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		e.t.Fatalf("%s: %s, no CSRF token in:\n%s", page, resp.Status, body)
	}
	return m[1]
}

// service creates a service of n tasks on a fake agent and waits until
// they run.
func (e *env) service(name string, n int32) {
	e.t.Helper()
	e.mc.AddAgent("az-1", "app:1")
	e.mc.Register(name, "app:1", func(cd *ecstypes.ContainerDefinition) {
		cd.PortMappings = []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}
	})
	if _, err := e.mc.ECS.CreateService(context.Background(), minicluster.Call, &ecstypes.CreateServiceRequest{
		ServiceName: name, TaskDefinition: name + ":1", DesiredCount: &n}); err != nil {
		e.t.Fatal(err)
	}
	e.mc.Eventually(30*time.Second, "the service's tasks to run", func() (bool, string) {
		s := e.mc.Service(name)
		return s.RunningCount == n, s.Status
	})
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.get("/console/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?next=") {
		t.Fatalf("unsigned request: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	for _, bad := range []url.Values{
		{"access_key_id": {e.info.Key.AccessKeyID}, "secret_access_key": {e.info.Key.SecretAccessKey + "x"}},
		{"access_key_id": {"AKIAOTHER"}, "secret_access_key": {e.info.Key.SecretAccessKey}},
		{"access_key_id": {""}, "secret_access_key": {""}},
		{"token": {e.token() + "x"}},
		{"token": {e.info.Key.SecretAccessKey}},
	} {
		resp, body := e.post("/console/login", bad)
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "not valid") {
			t.Fatalf("bad credentials %v: %s cookies %v", bad, resp.Status, resp.Cookies())
		}
	}
	// A sign-in from another origin is refused, even with good credentials.
	if resp, _ := e.post("/console/login", url.Values{"token": {e.token()}}, "Origin", "http://evil.example"); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("cross-origin sign-in: %s", resp.Status)
	}
	// A token in the URL signs in and is dropped from the address.
	resp, _ = e.get("/console/?token=" + url.QueryEscape(e.token()))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("token URL: %s %q", resp.Status, resp.Header.Get("Location"))
	}
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/console/" {
		t.Fatalf("session cookie: %+v", cs)
	}
	if strings.Contains(cs[0].Value, e.token()) || strings.Contains(cs[0].Value, e.info.Key.SecretAccessKey) {
		t.Fatal("the session cookie carries a credential")
	}
	if resp, body := e.get("/console/"); resp.StatusCode != 200 || !strings.Contains(body, "Clusters") {
		t.Fatalf("signed in: %s", resp.Status)
	}
	// A tampered cookie is refused.
	u, _ := url.Parse(e.base + "/console/")
	tampered := *cs[0]
	tampered.Value = strings.Replace(tampered.Value, ".", "9.", 1)
	e.hc.Jar.SetCookies(u, []*http.Cookie{&tampered})
	if resp, _ := e.get("/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tampered cookie: %s", resp.Status)
	}
	// A wrong token in the URL is refused; a sign-in never sends the
	// browser off the console.
	if resp, _ := e.get("/console/?token=nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token URL: %s", resp.Status)
	}
	resp, _ = e.post("/console/login", url.Values{"token": {e.token()}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("next off the console: %s %q", resp.Status, resp.Header.Get("Location"))
	}
	// Signing out ends the session.
	if resp, _ := e.post("/console/logout", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out without the CSRF token: %s", resp.Status)
	}
	resp, _ = e.post("/console/logout", url.Values{"csrf": {e.csrf("/console/")}})
	if c := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("sign-out: %s %v", resp.Status, c)
	}
	if resp, _ := e.get("/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %s", resp.Status)
	}
	// Streams are refused without a session (no redirect).
	if resp, _ := e.get("/console/live"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("live without a session: %s", resp.Status)
	}
}

func TestActionsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	e.service("web", 2)
	e.signIn()
	page := "/console/clusters/default/services/web"
	csrf := e.csrf(page)
	action := page + "/desired-count"
	for name, c := range map[string]struct {
		form   url.Values
		header []string
	}{
		"no token":     {url.Values{"desired_count": {"3"}}, nil},
		"wrong token":  {url.Values{"desired_count": {"3"}, "csrf": {csrf + "0"}}, nil},
		"other origin": {url.Values{"desired_count": {"3"}, "csrf": {csrf}}, []string{"Origin", "http://evil.example"}},
	} {
		if resp, _ := e.post(action, c.form, c.header...); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %s", name, resp.Status)
		}
	}
	if s := e.mc.Service("web"); s.DesiredCount != 2 {
		t.Fatalf("a refused action changed the service: desired %d", s.DesiredCount)
	}
	// The API's own validation answers a bad value.
	resp, _ := e.post(action, url.Values{"desired_count": {"-1"}, "csrf": {csrf}, "back": {page}})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Path != page || !strings.Contains(loc.Query().Get("error"), "desiredCount") {
		t.Fatalf("invalid count: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	resp, _ = e.post(action, url.Values{"desired_count": {"3"}, "csrf": {csrf}, "back": {page}})
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || loc.Query().Get("done") == "" {
		t.Fatalf("update: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	e.mc.Eventually(30*time.Second, "three tasks", func() (bool, string) {
		s := e.mc.Service("web")
		return s.DesiredCount == 3 && s.RunningCount == 3, ""
	})
	// Stop a task through the console: it stops as StopTask stops it.
	tasks, err := e.mc.ECS.ListTasks(context.Background(), minicluster.Call, &ecstypes.ListTasksRequest{ServiceName: "web"})
	if err != nil || len(tasks.TaskArns) == 0 {
		t.Fatal(err)
	}
	id := tasks.TaskArns[0][strings.LastIndex(tasks.TaskArns[0], "/")+1:]
	tpage := "/console/clusters/default/tasks/" + id
	if resp, body := e.get(tpage); resp.StatusCode != 200 || !strings.Contains(body, "stop-task-form") {
		t.Fatalf("task page: %s", resp.Status)
	}
	if resp, _ := e.post(tpage+"/stop", url.Values{"csrf": {csrf}, "back": {tpage}, "reason": {"from the test"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop: %s", resp.Status)
	}
	tk := e.mc.WaitTask(tasks.TaskArns[0], "STOPPED")
	if tk.StopCode != ecstypes.TaskStopCodeUserInitiated || tk.StoppedReason != "from the test" {
		t.Fatalf("stopped task: %s %q", tk.StopCode, tk.StoppedReason)
	}
	// Force a new deployment: a second deployment appears.
	if resp, _ := e.post(page+"/force-deployment", url.Values{"csrf": {csrf}, "back": {page}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("force: %s", resp.Status)
	}
	e.mc.Eventually(30*time.Second, "a forced deployment", func() (bool, string) {
		return strings.Contains(eventsOf(e.mc.Service("web")), "deployment"), eventsOf(e.mc.Service("web"))
	})
}

func eventsOf(s ecstypes.Service) string {
	var b strings.Builder
	for _, ev := range s.Events {
		b.WriteString(ev.Message + "\n")
	}
	return b.String()
}

func TestNeverShowsSecrets(t *testing.T) {
	e := newEnv(t)
	const value = "the-secret-VALUE-9f8e7d"
	sm := secretsmanager.New(secretsmanager.Options{BaseEndpoint: aws.String(e.base), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(e.info.Key.AccessKeyID, e.info.Key.SecretAccessKey, "")})
	if _, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("db/password"),
		SecretString: aws.String(value), Description: aws.String("the database")}); err != nil {
		t.Fatal(err)
	}
	e.mc.Register("withsecret", "app:1", func(cd *ecstypes.ContainerDefinition) {
		cd.Secrets = []ecstypes.Secret{{Name: "DB_PASSWORD", ValueFrom: "db/password"}}
	})
	e.signIn()
	resp, body := e.get("/console/secrets")
	if resp.StatusCode != 200 || !strings.Contains(body, "db/password") || !strings.Contains(body, "the database") {
		t.Fatalf("secrets page: %s\n%s", resp.Status, body)
	}
	for _, p := range []string{"/console/", "/console/secrets", "/console/taskdefs", "/console/taskdefs/withsecret:1", "/console/login", "/console/loadbalancers"} {
		_, body := e.get(p)
		for _, secret := range []string{value, e.info.Key.SecretAccessKey, e.token()} {
			if strings.Contains(body, secret) {
				t.Fatalf("%s shows a secret value", p)
			}
		}
	}
}

func TestPages(t *testing.T) {
	e := newEnv(t)
	e.service("web", 2)
	e.signIn()
	tasks, _ := e.mc.ECS.ListTasks(context.Background(), minicluster.Call, &ecstypes.ListTasksRequest{ServiceName: "web"})
	id := tasks.TaskArns[0][strings.LastIndex(tasks.TaskArns[0], "/")+1:]
	for path, want := range map[string][]string{
		"/console/":                                {"Clusters", `href="/console/clusters/default/services/web"`, "2 / 2", "no-problems"},
		"/console/clusters/default/":               {"Cluster default", id},
		"/console/clusters/default/services/web":   {"Deployments", "PRIMARY", "rollout-state", "web:1", id, "desired-count-form", "Events"},
		"/console/clusters/default/tasks/" + id:    {"RUNNING", "app:1", "Containers", "8080"},
		"/console/clusters/default/instances":      {"connected", "CPU", "MEMORY"},
		"/console/taskdefs":                        {"web:1"},
		"/console/taskdefs/web:1":                  {`&#34;family&#34;: &#34;web&#34;`, "containerDefinitions"},
		"/console/loadbalancers":                   {"Load balancers"},
		"/console/clusters/nope/services/web":      {"ClusterNotFoundException"},
		"/console/clusters/default/services/nope2": {"ServiceNotFoundException"},
	} {
		resp, body := e.get(path)
		if strings.Contains(path, "nope") {
			if resp.StatusCode < 400 {
				t.Errorf("%s: %s", path, resp.Status)
			}
		} else if resp.StatusCode != 200 {
			t.Errorf("%s: %s\n%s", path, resp.Status, body)
			continue
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q:\n%s", path, w, body)
			}
		}
	}
	// A live update asks for the content alone.
	req, _ := http.NewRequest("GET", e.base+"/console/clusters/default/services/web", nil)
	req.Header.Set("X-Console-Partial", "1")
	if _, body := e.do(req); strings.Contains(body, "<html") || !strings.Contains(body, "Deployments") {
		t.Fatalf("partial render:\n%s", body)
	}
}

// TestLiveStream: a change to a service reaches an open stream, and
// closed streams give their slot back (a leak would exhaust the bound).
func TestLiveStream(t *testing.T) {
	e := newEnv(t)
	e.service("web", 1)
	e.signIn()
	for i := range 70 { // more than the bound (64)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/console/live", nil)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
		if i == 0 {
			got := make(chan string, 1)
			go func() {
				buf := make([]byte, 4096)
				var acc string
				for {
					n, err := resp.Body.Read(buf)
					acc += string(buf[:n])
					if strings.Contains(acc, "event: change") || err != nil {
						got <- acc
						return
					}
				}
			}()
			n := int32(2)
			if _, err := e.mc.ECS.UpdateService(context.Background(), minicluster.Call, &ecstypes.UpdateServiceRequest{Service: "web", DesiredCount: &n}); err != nil {
				t.Fatal(err)
			}
			select {
			case s := <-got:
				if !strings.Contains(s, "event: change") {
					t.Fatalf("stream ended without a change: %q", s)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no change event after UpdateService")
			}
		}
		cancel()
		resp.Body.Close()
	}
}
