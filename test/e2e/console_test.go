package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds headless Chromium: under CI=true its absence fails
// the test, elsewhere it skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (install Debian's chromium; .ci/run does) and CI=true requires the browser tests")
	}
	t.Skip("no Chromium found: install Debian's chromium (apt-get install chromium) to run the console's browser tests")
	return ""
}

// browser is one headless Chromium tab, driven through chromedp, that
// keeps a screenshot of the page for any step that fails.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
	mu        sync.Mutex
	dialogs   []string // messages of the confirm dialogs it accepted
	shots     int
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 1600))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	// Every confirm dialog is accepted, and its message kept.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// fail keeps a screenshot and the page's HTML, and fails the test naming
// where they are.
func (b *browser) fail(step string, err error) {
	b.t.Helper()
	if b.artifacts == "" {
		dir := os.Getenv("MINATO_TEST_ARTIFACTS")
		if dir == "" {
			dir = os.TempDir()
		}
		os.MkdirAll(dir, 0o755)
		b.artifacts, _ = os.MkdirTemp(dir, "minato-console-"+b.t.Name()+"-")
	}
	b.shots++
	base := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s", b.shots, regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(step, "-")))
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(90)); serr == nil {
		os.WriteFile(base+".png", png, 0o644)
	}
	html, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
	os.WriteFile(base+".html", []byte(html), 0o644)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	b.t.Fatalf("console step %q failed at %s: %v\nscreenshot and HTML: %s.png, %s.html", step, loc, err, base, base)
}

// do runs a step's actions with a deadline.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

// until waits for a JavaScript condition on the page. It evaluates it
// again and again, through the navigations a click may start.
func (b *browser) until(step, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if b.ctx.Err() != nil {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	if last == nil {
		last = fmt.Errorf("%s did not hold within %v", expr, timeout)
	}
	b.fail(step, last)
}

// text is the text of the first element sel matches ("" if none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return s
}

func (b *browser) confirmed(substr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.dialogs {
		if strings.Contains(m, substr) {
			return true
		}
	}
	return false
}

// js quotes s as a JavaScript string.
func js(s string) string { return fmt.Sprintf("%q", s) }

// contains is a JavaScript condition: sel's text contains s.
func contains(sel, s string) string {
	return fmt.Sprintf(`(document.querySelector(%s)||{textContent:""}).textContent.includes(%s)`, js(sel), js(s))
}

// TestConsoleBrowser drives the web console in headless Chromium against
// a real minato with real tasks on Docker: sign-in (key pair, token URL,
// sign-out), every page, live updates without reload, the live log tail,
// and every action through its confirm dialog.
func TestConsoleBrowser(t *testing.T) {
	e2eTest(t)
	b := newBrowser(t)
	n := startDockerNode(t)
	ctx := context.Background()
	consoleURL := regexp.MustCompile(`Console +(\S+)`).FindStringSubmatch(n.out.String())
	if consoleURL == nil || !strings.Contains(consoleURL[1], "/console/?token=") {
		t.Fatalf("minato up printed no console URL:\n%s", n.out.String())
	}

	logged := func(c *types.ContainerDefinition) {
		c.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/ecs/web", "awslogs-region": testRegion, "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}
	}
	registerApp(t, n, "web", logged)
	registerApp(t, n, "web", func(c *types.ContainerDefinition) {
		logged(c)
		c.Environment = []types.KeyValuePair{{Name: aws.String("VERSION"), Value: aws.String("2")}}
	})
	registerApp(t, n, "crash", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "3"} })
	alb := createALB(t, n, "con", 0)
	createLBService(t, n, "web", "web:1", alb.tgARN, 2)
	if _, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.New(secretsmanager.Options{BaseEndpoint: aws.String(n.url()), Region: testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")})
	const secretValue = "console-e2e-secret-VALUE"
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String(secretValue)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "web's two tasks healthy behind the load balancer", func() (bool, string) {
		svc := describeService(t, n, "web")
		return svc.RunningCount == 2, fmt.Sprint(svc.RunningCount, firstEvents(svc, 2))
	})
	waitHealthy(t, n, alb.tgARN, 2)

	// Sign in with the key pair.
	base := n.url() + "/console/"
	b.do("sign-in page", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("#login-key")))
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#access_key_id"), testKeyID), chromedp.SendKeys(chromedp.CSS("#secret_access_key"), testSecret),
		chromedp.Click(chromedp.CSS("#login-key button")))
	// The overview: what is going wrong first (the crashed task and why).
	b.until("overview shows the crashed task first", contains("#problems", "crash")+" && "+contains("#problems", "exited 3"), 60*time.Second)
	if p := b.text("#content"); strings.Index(p, "crash") > strings.Index(p, "Clusters") {
		t.Fatalf("the problems are not at the top:\n%s", p)
	}
	// Clusters → services → service.
	b.do("cluster", chromedp.Click(chromedp.CSS(`#clusters a[href="/console/clusters/default/"]`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-service="web"]`)))
	b.do("service", chromedp.Click(chromedp.CSS(`tr[data-service="web"] a`)), chromedp.WaitVisible(chromedp.CSS("#deployments")))
	b.until("service page", contains("#deployments", "PRIMARY")+" && "+contains("#events", "has started 2 tasks")+" && "+contains("#svc-running", "2"), 30*time.Second)

	// Live: a change made elsewhere (the SDK) shows without a reload.
	b.do("mark the page", chromedp.Evaluate[chromedp.Void]("window.__noReload = true"))
	if _, err := n.ecs().UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	b.until("the desired count updates live", `window.__noReload === true && `+contains("#svc-desired", "1")+` && `+contains("#svc-running", "1"), 60*time.Second)

	// Action: desired count, through its confirm dialog.
	b.do("set desired count", chromedp.SetValue(chromedp.CSS("#desired_count"), "2"), chromedp.Click(chromedp.CSS("#desired-count-form button")))
	b.until("desired count set", contains("#flash", "Desired count of web set to 2"), 30*time.Second)
	if !b.confirmed("Set the desired count of web to 2?") {
		t.Fatalf("no confirm dialog before the update: %v", b.dialogs)
	}
	b.until("two tasks run again (live)", contains("#svc-running", "2"), 60*time.Second)

	// Action: roll back a deployment in progress. web:2 starts rolling;
	// the console rolls the service back to web:1.
	if _, err := n.ecs().UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatal(err)
	}
	b.until("the new deployment shows live", contains("#svc-taskdef", "web:2")+` && `+contains("#rollback-form", "Roll back to web:1"), 30*time.Second)
	b.do("roll back", chromedp.Click(chromedp.CSS("#rollback-form button")))
	b.until("rolled back", contains("#flash", "rolling back to web:1")+` && `+contains("#svc-taskdef", "web:1"), 30*time.Second)
	if !b.confirmed("Roll web back to web:1?") {
		t.Fatalf("no confirm dialog before the rollback: %v", b.dialogs)
	}
	waitFor(t, 120*time.Second, "the rollback to complete", func() (bool, string) {
		svc := describeService(t, n, "web")
		return len(svc.Deployments) == 1 && strings.HasSuffix(aws.ToString(svc.TaskDefinition), "web:1") && svc.RunningCount == 2,
			fmt.Sprint(len(svc.Deployments), aws.ToString(svc.TaskDefinition), svc.RunningCount)
	})
	b.until("one COMPLETED deployment shows", `document.querySelectorAll("#deployments tr[data-deployment]").length === 1 && `+contains("#deployments", "web:1"), 60*time.Second)

	// Action: force a new deployment.
	b.do("force a new deployment", chromedp.Click(chromedp.CSS("#force-deployment-form button")))
	b.until("forced", contains("#flash", "A new deployment of web was started"), 30*time.Second)
	if !b.confirmed("Force a new deployment of web?") {
		t.Fatalf("no confirm dialog before forcing a deployment: %v", b.dialogs)
	}
	b.until("the forced deployment shows", `document.querySelectorAll("#deployments tr[data-deployment]").length >= 2 || `+contains("#events", "deployment"), 30*time.Second)
	waitStable(t, n, "web", 120*time.Second)

	// A task: containers, ports, its logs (live tail), then stop it.
	tasks := serviceTasks(t, n, "web")
	var running []types.Task
	for _, tk := range tasks {
		if aws.ToString(tk.LastStatus) == "RUNNING" {
			running = append(running, tk)
		}
	}
	if len(running) < 2 {
		t.Fatalf("%d running tasks", len(running))
	}
	tailed, stopped := taskID(aws.ToString(running[0].TaskArn)), taskID(aws.ToString(running[1].TaskArn))
	b.do("logs page", chromedp.Navigate(base+"clusters/default/tasks/"+tailed+"/logs/app"), chromedp.WaitVisible(chromedp.CSS("#log")))
	b.until("the log shows the app's start", contains("#log", "testapp: serving on"), 60*time.Second)
	if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(tailed)}); err != nil {
		t.Fatal(err)
	}
	b.until("the live tail shows the app's exit", contains("#log", "exiting"), 60*time.Second)

	b.do("task page", chromedp.Navigate(base+"clusters/default/tasks/"+stopped), chromedp.WaitVisible(chromedp.CSS("#containers")))
	b.until("task details", contains("#task-status", "RUNNING")+` && `+contains(`#containers tr[data-container="app"] .ports`, "→8080/tcp")+
		` && document.querySelector('#containers a[href$="/logs/app"]') !== null`, 30*time.Second)
	b.do("stop the task", chromedp.Click(chromedp.CSS("#stop-task-form button")))
	b.until("the task stops (live)", contains("#flash", "is stopping")+` && `+contains("#task-status", "STOPPED")+` && `+contains("#task-stopcode", "UserInitiated"), 60*time.Second)
	if !b.confirmed("Stop task " + stopped + "?") {
		t.Fatalf("no confirm dialog before stopping the task: %v", b.dialogs)
	}
	// The crashed task's page says why it stopped, with the exit code.
	crash, err := n.ecs().ListTasks(ctx, &ecs.ListTasksInput{Family: aws.String("crash"), DesiredStatus: types.DesiredStatusStopped})
	if err != nil || len(crash.TaskArns) == 0 {
		t.Fatalf("crashed task: %v %v", crash, err)
	}
	b.do("crashed task", chromedp.Navigate(base+"clusters/default/tasks/"+taskID(crash.TaskArns[0])), chromedp.WaitVisible(chromedp.CSS("#containers")))
	b.until("exit code", contains("#task-stopcode", "EssentialContainerExited")+` && `+contains(`#containers .exit`, "3"), 30*time.Second)

	// Container instances, load balancers, task definitions, secrets.
	b.do("instances", chromedp.Navigate(base+"clusters/default/instances"), chromedp.WaitVisible(chromedp.CSS("#instances")))
	b.until("instance resources", contains("#instances", "connected")+` && `+contains("#instances", "CPU")+` && `+contains("#instances", "MEMORY"), 30*time.Second)
	b.do("load balancers", chromedp.Navigate(base+"loadbalancers"), chromedp.WaitVisible(chromedp.CSS(`section[data-lb="con-alb"]`)))
	b.until("listener, rule and healthy targets", contains(`section[data-lb="con-alb"]`, "forward to con-tg")+` && `+
		contains(`table[data-tg="con-tg"]`, "healthy"), 60*time.Second)
	b.do("task definitions", chromedp.Navigate(base+"taskdefs"), chromedp.WaitVisible(chromedp.CSS("#taskdefs")),
		chromedp.Click(chromedp.CSS(`#taskdefs a[href="/console/taskdefs/web:2"]`)), chromedp.WaitVisible(chromedp.CSS("#taskdef-json")))
	b.until("task definition JSON", contains("#taskdef-json", `"family": "web"`)+` && `+contains("#taskdef-json", `"VERSION"`), 30*time.Second)
	b.do("secrets", chromedp.Navigate(base+"secrets"), chromedp.WaitVisible(chromedp.CSS("#secrets")))
	if s := b.text("body"); !strings.Contains(s, "app/db") || strings.Contains(s, secretValue) {
		t.Fatalf("the secrets page shows %q", s)
	}

	// Sign out; the URL minato up printed signs in again with its token.
	b.do("sign out", chromedp.Click(chromedp.CSS(`form[action="/console/logout"] button`)), chromedp.WaitVisible(chromedp.CSS("#login-token")))
	b.do("token URL", chromedp.Navigate(consoleURL[1]), chromedp.WaitVisible(chromedp.CSS("#clusters")))
	if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); strings.Contains(loc, "token=") {
		t.Fatalf("the token stays in the address bar: %s", loc)
	}
}
