package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secFail runs the aws CLI, requires it to fail with code and returns its
// stderr.
func (n *node) secFail(t *testing.T, code string, args ...string) string {
	t.Helper()
	res := n.cli(t, args...)
	if res.exit == 0 || !strings.Contains(res.stderr, "("+code+")") {
		t.Fatalf("aws %s: want %s, got exit %d\n%s%s", strings.Join(args, " "), code, res.exit, res.stdout, res.stderr)
	}
	return res.stderr
}

// The Secrets Manager API with the aws CLI: create, read by name, ARN and
// partial ARN, versions and stages, update, describe, list, tags, delete
// with a recovery window, restore, and AWS's error names.
func TestSecretsManagerCLI(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	var c struct{ ARN, Name, VersionId string }
	n.cliJSON(t, &c, "secretsmanager", "create-secret", "--name", "prod/db-credentials", "--description", "database login",
		"--secret-string", `{"username":"admin","password":"pw-1"}`, "--tags", "Key=env,Value=prod")
	if !regexp.MustCompile(`^arn:aws:secretsmanager:ap-northeast-1:000000000000:secret:prod/db-credentials-[A-Za-z0-9]{6}$`).MatchString(c.ARN) || c.VersionId == "" {
		t.Fatalf("create-secret: %+v", c)
	}
	n.secFail(t, "ResourceExistsException", "secretsmanager", "create-secret", "--name", "prod/db-credentials", "--secret-string", "x")
	n.secFail(t, "ResourceNotFoundException", "secretsmanager", "get-secret-value", "--secret-id", "nope")
	n.secFail(t, "InvalidParameterException", "secretsmanager", "create-secret", "--name", "bad name")

	type value struct {
		ARN, Name, VersionId, SecretString string
		VersionStages                      []string
	}
	partial := "arn:aws:secretsmanager:ap-northeast-1:000000000000:secret:prod/db-credentials"
	for _, id := range []string{"prod/db-credentials", c.ARN, partial} {
		var v value
		n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", id)
		if v.SecretString != `{"username":"admin","password":"pw-1"}` || v.ARN != c.ARN || !slices.Equal(v.VersionStages, []string{"AWSCURRENT"}) {
			t.Fatalf("get-secret-value %s: %+v", id, v)
		}
	}

	var p struct {
		VersionId     string
		VersionStages []string
	}
	n.cliJSON(t, &p, "secretsmanager", "put-secret-value", "--secret-id", "prod/db-credentials", "--secret-string", `{"username":"admin","password":"pw-2"}`)
	var v value
	n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "prod/db-credentials", "--version-stage", "AWSPREVIOUS")
	if v.VersionId != c.VersionId || !strings.Contains(v.SecretString, "pw-1") {
		t.Fatalf("AWSPREVIOUS: %+v", v)
	}
	// Roll back: AWSCURRENT to the first version.
	n.cliJSON(t, nil, "secretsmanager", "update-secret-version-stage", "--secret-id", "prod/db-credentials", "--version-stage", "AWSCURRENT",
		"--move-to-version-id", c.VersionId, "--remove-from-version-id", p.VersionId)
	n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "prod/db-credentials")
	if v.VersionId != c.VersionId {
		t.Fatalf("after rollback: %+v", v)
	}
	var u struct{ VersionId string }
	n.cliJSON(t, &u, "secretsmanager", "update-secret", "--secret-id", c.ARN, "--description", "rotated", "--secret-string", `{"username":"admin","password":"pw-3"}`)
	if u.VersionId == "" {
		t.Fatalf("update-secret: %+v", u)
	}

	var d struct {
		Name, Description  string
		Tags               []struct{ Key, Value string }
		VersionIdsToStages map[string][]string
	}
	n.cliJSON(t, &d, "secretsmanager", "describe-secret", "--secret-id", "prod/db-credentials")
	if d.Description != "rotated" || len(d.Tags) != 1 || len(d.VersionIdsToStages) != 2 || !slices.Equal(d.VersionIdsToStages[u.VersionId], []string{"AWSCURRENT"}) {
		t.Fatalf("describe-secret: %+v", d)
	}
	var ids struct{ Versions []struct{ VersionId string } }
	n.cliJSON(t, &ids, "secretsmanager", "list-secret-version-ids", "--secret-id", "prod/db-credentials", "--include-deprecated")
	if len(ids.Versions) != 3 {
		t.Fatalf("list-secret-version-ids: %+v", ids)
	}

	n.cliJSON(t, nil, "secretsmanager", "create-secret", "--name", "other", "--secret-string", "plain")
	n.cliJSON(t, nil, "secretsmanager", "tag-resource", "--secret-id", "other", "--tags", "Key=team,Value=a", "Key=x,Value=y")
	n.cliJSON(t, nil, "secretsmanager", "untag-resource", "--secret-id", "other", "--tag-keys", "x")
	var l struct {
		SecretList []struct {
			Name string
			Tags []struct{ Key, Value string }
		}
	}
	n.cliJSON(t, &l, "secretsmanager", "list-secrets", "--filters", "Key=tag-key,Values=team")
	if len(l.SecretList) != 1 || l.SecretList[0].Name != "other" || len(l.SecretList[0].Tags) != 1 {
		t.Fatalf("list-secrets by tag: %+v", l)
	}
	// batch-get-secret-value is newer than the aws CLI v2.9 here: the SDK
	// tests cover it.

	// Delete with a recovery window: the secret cannot be used, then is
	// restored.
	n.secFail(t, "InvalidParameterException", "secretsmanager", "delete-secret", "--secret-id", "other", "--recovery-window-in-days", "3")
	var del struct{ Name, DeletionDate string }
	n.cliJSON(t, &del, "secretsmanager", "delete-secret", "--secret-id", "other", "--recovery-window-in-days", "7")
	if del.DeletionDate == "" {
		t.Fatalf("delete-secret: %+v", del)
	}
	msg := n.secFail(t, "InvalidRequestException", "secretsmanager", "get-secret-value", "--secret-id", "other")
	if !strings.Contains(msg, "marked for deletion") {
		t.Fatalf("message: %s", msg)
	}
	n.cliJSON(t, nil, "secretsmanager", "restore-secret", "--secret-id", "other")
	n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "other")
	if v.SecretString != "plain" {
		t.Fatalf("after restore: %+v", v)
	}
	n.cliJSON(t, nil, "secretsmanager", "delete-secret", "--secret-id", "other", "--force-delete-without-recovery")
	n.secFail(t, "ResourceNotFoundException", "secretsmanager", "describe-secret", "--secret-id", "other")
	n.cliJSON(t, nil, "secretsmanager", "create-secret", "--name", "other", "--secret-string", "again")
}

// Parameter Store with the aws CLI: the calls ECS users make.
func TestSSMParametersCLI(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	type put struct {
		Version int
		Tier    string
	}
	var pr put
	n.cliJSON(t, &pr, "ssm", "put-parameter", "--name", "/myapp/prod/db/password", "--type", "SecureString", "--value", "ssm-pw-1")
	if pr.Version != 1 || pr.Tier != "Standard" {
		t.Fatalf("put-parameter: %+v", pr)
	}
	n.cliJSON(t, nil, "ssm", "put-parameter", "--name", "/myapp/prod/db/host", "--type", "String", "--value", "db.internal")
	n.cliJSON(t, nil, "ssm", "put-parameter", "--name", "/myapp/prod/hosts", "--type", "StringList", "--value", "a,b")
	n.cliJSON(t, nil, "ssm", "put-parameter", "--name", "/myapp/dev/db/host", "--type", "String", "--value", "localhost")
	n.secFail(t, "ParameterAlreadyExists", "ssm", "put-parameter", "--name", "/myapp/prod/db/host", "--type", "String", "--value", "x")
	n.cliJSON(t, &pr, "ssm", "put-parameter", "--name", "/myapp/prod/db/host", "--value", "db2.internal", "--overwrite")
	if pr.Version != 2 {
		t.Fatalf("overwrite: %+v", pr)
	}
	n.secFail(t, "ParameterNotFound", "ssm", "get-parameter", "--name", "/myapp/nope")
	n.secFail(t, "ValidationException", "ssm", "put-parameter", "--name", "/aws/reserved", "--type", "String", "--value", "x")

	type param struct {
		Name, Type, Value, ARN string
		Version                int
	}
	var g struct{ Parameter param }
	n.cliJSON(t, &g, "ssm", "get-parameter", "--name", "/myapp/prod/db/password")
	if g.Parameter.Value == "ssm-pw-1" || g.Parameter.Type != "SecureString" {
		t.Fatalf("SecureString without --with-decryption: %+v", g)
	}
	n.cliJSON(t, &g, "ssm", "get-parameter", "--name", "/myapp/prod/db/password", "--with-decryption")
	if g.Parameter.Value != "ssm-pw-1" || g.Parameter.ARN != "arn:aws:ssm:ap-northeast-1:000000000000:parameter/myapp/prod/db/password" {
		t.Fatalf("get-parameter --with-decryption: %+v", g)
	}
	var gs struct {
		Parameters        []param
		InvalidParameters []string
	}
	n.cliJSON(t, &gs, "ssm", "get-parameters", "--names", "/myapp/prod/db/host", "/myapp/prod/hosts", "/myapp/nope")
	if len(gs.Parameters) != 2 || gs.Parameters[0].Value != "db2.internal" || gs.Parameters[0].Version != 2 || gs.Parameters[1].Value != "a,b" ||
		!slices.Equal(gs.InvalidParameters, []string{"/myapp/nope"}) {
		t.Fatalf("get-parameters: %+v", gs)
	}
	var bp struct{ Parameters []param }
	n.cliJSON(t, &bp, "ssm", "get-parameters-by-path", "--path", "/myapp", "--recursive", "--with-decryption")
	if len(bp.Parameters) != 4 {
		t.Fatalf("get-parameters-by-path --recursive: %+v", bp)
	}
	n.cliJSON(t, &bp, "ssm", "get-parameters-by-path", "--path", "/myapp/prod")
	if len(bp.Parameters) != 1 || bp.Parameters[0].Name != "/myapp/prod/hosts" {
		t.Fatalf("get-parameters-by-path one level: %+v", bp)
	}
	n.cliJSON(t, nil, "ssm", "delete-parameter", "--name", "/myapp/dev/db/host")
	n.secFail(t, "ParameterNotFound", "ssm", "delete-parameter", "--name", "/myapp/dev/db/host")
}

// rotate-key re-wraps every value with a new master key; after a restart
// every secret and parameter reads as before. A node started with another
// key refuses to start rather than serve unreadable secrets.
func TestSecretsKeyRotation(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	n.cliJSON(t, nil, "secretsmanager", "create-secret", "--name", "a", "--secret-string", "value-a")
	n.cliJSON(t, nil, "secretsmanager", "put-secret-value", "--secret-id", "a", "--secret-string", "value-a2")
	n.cliJSON(t, nil, "secretsmanager", "create-secret", "--name", "b", "--secret-binary", "fileb://"+secWriteFile(t, "bin", "\x00\x01binary"))
	n.cliJSON(t, nil, "ssm", "put-parameter", "--name", "/p/secure", "--type", "SecureString", "--value", "value-p")
	n.cliJSON(t, nil, "ssm", "put-parameter", "--name", "plain", "--type", "String", "--value", "value-plain")
	keyFile := filepath.Join(n.dataDir, "secrets.key")
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}

	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(minatoBin, "rotate-key", "--data-dir", n.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "5 values re-wrapped") {
		t.Fatalf("rotate-key: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(keyFile)
	if string(after) == string(before) {
		t.Fatal("the key file did not change")
	}
	n.start()
	check := func() {
		t.Helper()
		var v struct{ SecretString, SecretBinary string }
		n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "a")
		if v.SecretString != "value-a2" {
			t.Fatalf("a: %+v", v)
		}
		n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "a", "--version-stage", "AWSPREVIOUS")
		if v.SecretString != "value-a" {
			t.Fatalf("a previous: %+v", v)
		}
		n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "b")
		if v.SecretBinary == "" {
			t.Fatalf("b: %+v", v)
		}
		var g struct {
			Parameters []struct{ Name, Value string }
		}
		n.cliJSON(t, &g, "ssm", "get-parameters", "--names", "/p/secure", "plain", "--with-decryption")
		if len(g.Parameters) != 2 || g.Parameters[0].Value != "value-p" || g.Parameters[1].Value != "value-plain" {
			t.Fatalf("parameters: %+v", g)
		}
	}
	check()
	// New values are sealed with the new key; a second rotation keeps all.
	n.cliJSON(t, nil, "secretsmanager", "put-secret-value", "--secret-id", "a", "--secret-string", "value-a3")
	n.stop()
	if out, err := exec.Command(minatoBin, "rotate-key", "--data-dir", n.dataDir).CombinedOutput(); err != nil {
		t.Fatalf("second rotate-key: %v\n%s", err, out)
	}
	// While a node runs, rotate-key refuses (the store is locked).
	n.start()
	if out, err := exec.Command(minatoBin, "rotate-key", "--data-dir", n.dataDir).CombinedOutput(); err == nil {
		t.Fatalf("rotate-key ran beside a running node:\n%s", out)
	}
	var v struct{ SecretString string }
	n.cliJSON(t, &v, "secretsmanager", "get-secret-value", "--secret-id", "a", "--version-stage", "AWSPREVIOUS")
	if v.SecretString != "value-a2" {
		t.Fatalf("a after second rotation: %+v", v)
	}
	n.stop()

	// Another master key: the node does not start, and says why.
	cmd := exec.Command(minatoBin, "up", "--no-agent", "--data-dir", n.dataDir, "--api-addr", freeAddr(t))
	cmd.Env = append(os.Environ(), "MINATO_MASTER_KEY=0707070707070707070707070707070707070707070707070707070707070707",
		"MINATO_ACCESS_KEY_ID="+testKeyID, "MINATO_SECRET_ACCESS_KEY="+testSecret)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not loaded") {
		t.Fatalf("a node with another master key: %v\n%s", err, out)
	}
}
