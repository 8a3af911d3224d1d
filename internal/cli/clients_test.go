package cli

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// awsClient is one AWS client installed on this machine.
type awsClient struct {
	name string
	// argv runs ecs list-clusters; profile "" means none (the
	// environment), endpoint "" means the client finds it itself.
	argv func(profile, endpoint string) []string
	// readsEndpointSettings: the client reads AWS_ENDPOINT_URL and a
	// profile's endpoint_url. Older ones ignore both and go to AWS.
	readsEndpointSettings bool
}

var boto3Script = `
import json, sys, boto3
profile, endpoint = sys.argv[1], sys.argv[2]
s = boto3.Session(profile_name=profile or None)
kw = {"endpoint_url": endpoint} if endpoint else {}
print(json.dumps(s.client("ecs", **kw).list_clusters()["clusterArns"]))
`

func boto3Client(name, python string) (awsClient, string, error) {
	out, err := exec.Command(python, "-c", "import boto3; print(boto3.__version__)").CombinedOutput()
	if err != nil {
		return awsClient{}, "", err
	}
	v := strings.TrimSpace(string(out))
	return awsClient{
		name:                  name + "-" + v,
		argv:                  func(p, e string) []string { return []string{python, "-c", boto3Script, p, e} },
		readsEndpointSettings: versionAtLeast(v, 1, 28),
	}, v, nil
}

func awsCLIClient(name, bin string, major int) (awsClient, string, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return awsClient{}, "", err
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "aws-cli/"), " ")
	if !strings.HasPrefix(v, strconv.Itoa(major)+".") {
		return awsClient{}, v, &exec.Error{Name: bin, Err: os.ErrNotExist}
	}
	since := map[int]int{1: 29, 2: 13}[major] // the first minor that reads endpoint settings
	return awsClient{
		name: name + "-" + v,
		argv: func(p, e string) []string {
			argv := []string{bin}
			if p != "" {
				argv = append(argv, "--profile", p)
			}
			if e != "" {
				argv = append(argv, "--endpoint-url", e)
			}
			return append(argv, "ecs", "list-clusters", "--output", "json")
		},
		readsEndpointSettings: versionAtLeast(v, major, since),
	}, v, nil
}

// versionAtLeast reports whether version "M.m.p" is at least major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	M, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (M > major || M == major && m >= minor)
}

// installedClients finds boto3 (python3 on PATH), the aws CLI v1 (the aws
// on PATH, pyenv's here) and the aws CLI v2 (/usr/bin/aws, Debian's).
// A missing one is a skipped subtest, or a failure under CI=true.
// Debian's own boto3 (/usr/bin/python3) is tried too when it is there.
func installedClients(t *testing.T) map[string]func(t *testing.T) awsClient {
	found := map[string]func(t *testing.T) awsClient{}
	need := func(what string, c awsClient, v string, err error, how string) {
		found[what] = func(t *testing.T) awsClient {
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is required under CI=true: %v (%s) %s", what, err, how, v)
				}
				t.Skipf("%s not found (%v; %s); run with CI=true to require it", what, err, how)
			}
			t.Logf("%s %s", c.name, map[bool]string{true: "reads AWS_ENDPOINT_URL and endpoint_url", false: "predates AWS_ENDPOINT_URL: --endpoint-url"}[c.readsEndpointSettings])
			return c
		}
	}
	if py, err := exec.LookPath("python3"); err != nil {
		need("boto3", awsClient{}, "", err, "pip install boto3")
	} else {
		c, v, err := boto3Client("boto3", py)
		need("boto3", c, v, err, "pip install boto3")
	}
	if bin, err := exec.LookPath("aws"); err != nil {
		need("awscli-v1", awsClient{}, "", err, "pip install awscli")
	} else {
		c, v, err := awsCLIClient("awscli", bin, 1)
		need("awscli-v1", c, v, err, "pip install awscli, first on PATH")
	}
	c, v, err := awsCLIClient("awscli", "/usr/bin/aws", 2)
	need("awscli-v2", c, v, err, "apt-get install awscli")
	if c, _, err := boto3Client("debian-boto3", "/usr/bin/python3"); err == nil {
		need("debian-boto3", c, "", nil, "")
	}
	return found
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// trap is a proxy that answers nobody: the clients are given it as their
// HTTP(S) proxy for everything but loopback, so a request that would
// leave for AWS ends here, and is counted, instead.
func trap(t *testing.T) (url string, hits *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	hits = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String(), hits
}

// block returns the indented lines printed under header, up to the next
// blank line, without their indentation.
func block(t *testing.T, out, header string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "  "+header+"\n")
	if !ok {
		t.Fatalf("the ready message has no %q block:\n%s", header, out)
	}
	body, _, _ := strings.Cut(rest, "\n\n")
	var b strings.Builder
	for _, l := range strings.Split(body, "\n") {
		b.WriteString(strings.TrimPrefix(l, "  ") + "\n")
	}
	return b.String()
}

// What `minato up` and `minato server --write-aws-profile` print works
// as printed, with boto3, the aws CLI v1 and the aws CLI v2: the exports
// pasted into a shell, the profile pasted into ~/.aws, and the profile
// the node wrote into the same files (keeping the pasted one). Clients
// that predate AWS_ENDPOINT_URL get --endpoint-url, as the message says.
// No request leaves loopback: every client has a trap as its proxy, and
// each answer names the account of the node that was meant to give it.
func TestReadyMessageWorksWithRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the aws CLI and python several times; not in -short")
	}
	clients := installedClients(t)
	home := t.TempDir()
	awsDir := filepath.Join(home, ".aws")
	config, creds := filepath.Join(awsDir, "config"), filepath.Join(awsDir, "credentials")
	const region = "eu-west-3"

	up := startMain(t, "up", "--no-agent", "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0",
		"--account-id", "000000000001", "--region", region, "--log-level", "warn")
	up.waitFor("aws --profile minato ecs list-clusters", 60*time.Second)
	printed := up.out.String()
	endpoint := regexp.MustCompile(`(?m)^  API +(\S+)$`).FindStringSubmatch(printed)
	if endpoint == nil {
		t.Fatalf("no API URL in:\n%s", printed)
	}
	var exports []string
	for _, l := range strings.Split(printed, "\n") {
		if strings.HasPrefix(l, "  export ") {
			exports = append(exports, strings.TrimSpace(l))
		}
	}
	for _, want := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"} {
		if !strings.Contains(strings.Join(exports, "\n"), "export "+want+"=") {
			t.Fatalf("the ready message exports no %s:\n%s", want, printed)
		}
	}
	if err := os.MkdirAll(awsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte("[default]\noutput = json\n\n"+block(t, printed, "# ~/.aws/config")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte(block(t, printed, "# ~/.aws/credentials")), 0o600); err != nil {
		t.Fatal(err)
	}

	// A second node writes its own profile into the same files.
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	srv := startMain(t, "server", "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0", "--account-id", "000000000002",
		"--region", region, "--write-aws-profile", "written", "--log-level", "warn")
	srv.waitFor("(or set MINATO_AGENT_TOKEN instead of --token)", 60*time.Second)
	srvEndpoint := regexp.MustCompile(`(?m)^  API +(\S+)$`).FindStringSubmatch(srv.out.String())
	if !strings.Contains(srv.out.String(), `Profile "written" written`) || srvEndpoint == nil {
		t.Fatalf("server output:\n%s", srv.out)
	}
	for _, f := range []string{config, creds} {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), "minato]") || !strings.Contains(string(b), "written]") {
			t.Fatalf("%s lacks a profile:\n%s", f, b)
		}
	}

	// The per-service form docs/getting-started.md shows, as a third profile.
	appendFile(t, config, "\n[profile persvc]\nregion = "+region+"\nservices = minato-services\n\n"+
		"[services minato-services]\necs =\n  endpoint_url = "+endpoint[1]+"\n")
	appendFile(t, creds, "\n[persvc]\n"+strings.SplitN(block(t, printed, "# ~/.aws/credentials"), "\n", 2)[1])

	proxy, hits := trap(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
		"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYENV_") {
			env = append(env, kv)
		}
	}
	noFiles := []string{"AWS_CONFIG_FILE=" + filepath.Join(home, "none", "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none", "credentials")}
	files := []string{"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + creds}

	run := func(t *testing.T, env []string, argv []string, wantAccount string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Dir = env, home
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(argv, " "), err, so.String(), se.String())
		}
		want := "arn:aws:ecs:" + region + ":" + wantAccount + ":cluster/default"
		if !strings.Contains(so.String(), want) {
			t.Fatalf("the answer is not minato's (%s):\n%s\n%s", want, so.String(), se.String())
		}
	}
	for _, what := range []string{"boto3", "awscli-v1", "awscli-v2", "debian-boto3"} {
		get, ok := clients[what]
		if !ok {
			continue
		}
		t.Run(what, func(t *testing.T) {
			c := get(t)
			explicit := func(e string) string {
				if c.readsEndpointSettings {
					return ""
				}
				return e
			}
			t.Run("exports", func(t *testing.T) {
				// The export lines as printed, run by a shell.
				script := strings.Join(exports, "\n") + "\nexec \"$@\"\n"
				run(t, append(slices.Clone(env), noFiles...), append([]string{"/bin/sh", "-c", script, "sh"}, c.argv("", explicit(endpoint[1]))...), "000000000001")
			})
			t.Run("pasted-profile", func(t *testing.T) {
				run(t, append(slices.Clone(env), files...), c.argv("minato", explicit(endpoint[1])), "000000000001")
			})
			t.Run("written-profile", func(t *testing.T) {
				run(t, append(slices.Clone(env), files...), c.argv("written", explicit(srvEndpoint[1])), "000000000002")
			})
			// The per-service settings (documented, not printed).
			t.Run("service-endpoint-variable", func(t *testing.T) {
				if !c.readsEndpointSettings {
					t.Skip("predates AWS_ENDPOINT_URL_<SERVICE>")
				}
				var script []string
				for _, e := range exports {
					if !strings.HasPrefix(e, "export AWS_ENDPOINT_URL=") {
						script = append(script, e)
					}
				}
				script = append(script, "export AWS_ENDPOINT_URL_ECS="+endpoint[1], `exec "$@"`)
				run(t, append(slices.Clone(env), noFiles...), append([]string{"/bin/sh", "-c", strings.Join(script, "\n"), "sh"}, c.argv("", "")...), "000000000001")
			})
			t.Run("services-section", func(t *testing.T) {
				if !c.readsEndpointSettings {
					t.Skip("predates the services section")
				}
				run(t, append(slices.Clone(env), files...), c.argv("persvc", ""), "000000000001")
			})
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d connections went to the proxy: a client tried to leave loopback", n)
	}
}
