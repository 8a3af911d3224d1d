package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// secRecorder runs the aws CLI and keeps every reply it gets (stdout and
// stderr), so that a test can search all of them for a secret value.
type secRecorder struct {
	n    *node
	seen bytes.Buffer
}

func (r *secRecorder) run(t *testing.T, args ...string) cliResult {
	t.Helper()
	res := r.n.cli(t, args...)
	r.seen.WriteString(res.stdout)
	r.seen.WriteString(res.stderr)
	return res
}

func (r *secRecorder) json(t *testing.T, v any, args ...string) {
	t.Helper()
	res := r.run(t, args...)
	if res.exit != 0 {
		t.Fatalf("aws %s: exit %d\n%s", strings.Join(args, " "), res.exit, res.stderr)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(res.stdout), v); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, res.stdout)
		}
	}
}

// secTaskDef is the seed's Terraform task definition (terraform/ecs_service.tf)
// as RegisterTaskDefinition JSON: Fargate, awsvpc, five secrets from one
// JSON secret by its ARN with the ":key::" suffix; and, as Copilot's
// manifest does, one more from an SSM parameter by name. The image is the
// local test image, and logConfiguration is left out (the logs tests cover
// awslogs).
func secTaskDef(family, image, secretARN, ssmName string, keys map[string]string) string {
	var secrets []map[string]string
	for _, name := range []string{"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"} {
		secrets = append(secrets, map[string]string{"name": name, "valueFrom": secretARN + ":" + keys[name] + "::"})
	}
	secrets = append(secrets, map[string]string{"name": "COPILOT_DB_PASSWORD", "valueFrom": ssmName})
	td := map[string]any{
		"family":                  family,
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []string{"FARGATE"},
		"cpu":                     "256",
		"memory":                  "512",
		"executionRoleArn":        "arn:aws:iam::000000000000:role/ecs-execution-role",
		"containerDefinitions": []map[string]any{{
			"name":         family,
			"image":        image,
			"essential":    true,
			"portMappings": []map[string]any{{"containerPort": 3000, "protocol": "tcp"}},
			"environment":  []map[string]string{{"name": "NODE_ENV", "value": "production"}, {"name": "PORT", "value": "3000"}},
			"secrets":      secrets,
		}},
	}
	b, _ := json.MarshalIndent(td, "", "  ")
	return string(b)
}

func secWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type secTask struct {
	TaskArn       string
	LastStatus    string
	StopCode      string
	StoppedReason string
	Attachments   []struct {
		Details []struct{ Name, Value string }
	}
	Containers []struct {
		Name      string
		RuntimeId string
	}
}

func (r *secRecorder) describeTask(t *testing.T, arn string) secTask {
	t.Helper()
	var out struct{ Tasks []secTask }
	r.json(t, &out, "ecs", "describe-tasks", "--cluster", "default", "--tasks", arn)
	if len(out.Tasks) != 1 {
		t.Fatalf("describe-tasks %s: %+v", arn, out)
	}
	return out.Tasks[0]
}

func (r *secRecorder) runTask(t *testing.T, family string) string {
	t.Helper()
	var run struct {
		Tasks []struct{ TaskArn string }
	}
	r.json(t, &run, "ecs", "run-task", "--cluster", "default", "--task-definition", family, "--launch-type", "FARGATE",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-12345],assignPublicIp=DISABLED}")
	if len(run.Tasks) != 1 {
		t.Fatalf("run-task %s: %+v", family, run)
	}
	return run.Tasks[0].TaskArn
}

// The seed's Secrets Manager wiring under `minato up` with the aws CLI:
// the container sees the five values of the JSON secret (and a parameter)
// in its environment; a missing key or secret stops the task before any
// container starts, with ECS's stop code and reason. The known value is
// then searched for in the store file, the data dir, the server's debug
// log and every reply the CLI got: it must not be there.
func TestSecretsSeedTaskDefinition(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	r := &secRecorder{n: n}
	image := testimage.Build(t, "")
	const password = "Pw-canary-5e1f0c7a9d"
	const ssmValue = "ssm-canary-b72d44e1"
	secretJSON := `{"host":"db.internal.example","port":5432,"dbname":"appdb","username":"app_user","password":"` + password + `"}`

	var created struct{ ARN, Name string }
	r.json(t, &created, "secretsmanager", "create-secret", "--name", "db-credentials", "--secret-string", secretJSON)
	r.json(t, nil, "ssm", "put-parameter", "--name", "/copilot/app/test/secrets/db-password", "--type", "SecureString", "--value", ssmValue)

	keys := map[string]string{"DB_HOST": "host", "DB_PORT": "port", "DB_NAME": "dbname", "DB_USER": "username", "DB_PASSWORD": "password"}
	td := secWriteFile(t, "td.json", secTaskDef("myapp-prod-app", image, created.ARN, "/copilot/app/test/secrets/db-password", keys))
	r.json(t, nil, "ecs", "register-task-definition", "--cli-input-json", "file://"+td)

	// valueFrom stays as given in DescribeTaskDefinition.
	var desc struct {
		TaskDefinition struct {
			ContainerDefinitions []struct {
				Secrets []struct{ Name, ValueFrom string }
			}
		}
	}
	r.json(t, &desc, "ecs", "describe-task-definition", "--task-definition", "myapp-prod-app")
	if s := desc.TaskDefinition.ContainerDefinitions[0].Secrets; len(s) != 6 || s[0].ValueFrom != created.ARN+":host::" {
		t.Fatalf("secrets as described: %+v", s)
	}

	arn := r.runTask(t, "myapp-prod-app")
	waitTaskStatus(t, n, arn, "RUNNING", 90*time.Second)
	task := r.describeTask(t, arn)
	ip := ""
	for _, a := range task.Attachments {
		for _, d := range a.Details {
			if d.Name == "privateIPv4Address" {
				ip = d.Value
			}
		}
	}
	body := getOK(t, "http://"+ip+":3000/env")
	var env map[string]string
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("/env: %v: %s", err, body)
	}
	want := map[string]string{"DB_HOST": "db.internal.example", "DB_PORT": "5432", "DB_NAME": "appdb", "DB_USER": "app_user",
		"DB_PASSWORD": password, "COPILOT_DB_PASSWORD": ssmValue, "NODE_ENV": "production", "PORT": "3000"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("container env %s = %q, want %q", k, env[k], v)
		}
	}

	// A missing JSON key, and a missing secret: the task stops before any
	// of its containers exists.
	keys["DB_PASSWORD"] = "passwd"
	td2 := secWriteFile(t, "td2.json", secTaskDef("missing-key", image, created.ARN, "/copilot/app/test/secrets/db-password", keys))
	r.json(t, nil, "ecs", "register-task-definition", "--cli-input-json", "file://"+td2)
	missingARN := strings.TrimSuffix(created.ARN, created.ARN[len(created.ARN)-7:]) + "-absent"
	keys["DB_PASSWORD"] = "password"
	td3 := secWriteFile(t, "td3.json", secTaskDef("missing-secret", image, missingARN, "/copilot/app/test/secrets/db-password", keys))
	r.json(t, nil, "ecs", "register-task-definition", "--cli-input-json", "file://"+td3)
	for _, tc := range []struct{ family, names string }{
		{"missing-key", "did not contain json key passwd"},
		{"missing-secret", missingARN},
	} {
		arn := r.runTask(t, tc.family)
		waitTaskStatus(t, n, arn, "STOPPED", 60*time.Second)
		task := r.describeTask(t, arn)
		if task.StopCode != "TaskFailedToStart" ||
			!strings.HasPrefix(task.StoppedReason, "ResourceInitializationError: unable to pull secrets or registry auth: ") ||
			!strings.Contains(task.StoppedReason, tc.names) {
			t.Errorf("%s: stopCode %q stoppedReason %q", tc.family, task.StopCode, task.StoppedReason)
		}
		for _, c := range containersOfTask(t, taskID(arn)) {
			if c.Labels["minato.pause"] != "true" {
				t.Errorf("%s: container %s was created", tc.family, c.Names)
			}
		}
	}

	// A service of the seed's definition reaches a steady state; its
	// events are replies too.
	r.json(t, nil, "ecs", "create-service", "--cluster", "default", "--service-name", "myapp", "--task-definition", "myapp-prod-app",
		"--desired-count", "1", "--launch-type", "FARGATE",
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-12345],assignPublicIp=DISABLED}")
	waitStable(t, n, "myapp", 90*time.Second)
	r.json(t, nil, "ecs", "describe-services", "--cluster", "default", "--services", "myapp")
	var tasks struct{ TaskArns []string }
	r.json(t, &tasks, "ecs", "list-tasks", "--cluster", "default", "--desired-status", "STOPPED")
	r.json(t, nil, append([]string{"ecs", "describe-tasks", "--cluster", "default", "--tasks"}, tasks.TaskArns...)...)
	r.json(t, nil, "secretsmanager", "describe-secret", "--secret-id", "db-credentials")
	r.json(t, nil, "secretsmanager", "list-secrets")
	r.json(t, nil, "ssm", "describe-parameters")
	r.json(t, nil, "ssm", "get-parameter", "--name", "/copilot/app/test/secrets/db-password")
	r.json(t, nil, "ssm", "get-parameter-history", "--name", "/copilot/app/test/secrets/db-password")
	r.json(t, nil, "secretsmanager", "delete-secret", "--secret-id", "db-credentials", "--recovery-window-in-days", "7")
	if res := r.run(t, "secretsmanager", "get-secret-value", "--secret-id", "db-credentials"); res.exit == 0 ||
		!strings.Contains(res.stderr, "InvalidRequestException") {
		t.Errorf("get-secret-value of a deleted secret: %+v", res)
	}

	secNoLeak(t, n, r.seen.String(), password, ssmValue)
}

// secNoLeak fails if a value is in the replies, the server's log or any
// file of the data dir (the state store among them). The node is stopped
// first, so that everything is on disk.
func secNoLeak(t *testing.T, n *node, replies string, values ...string) {
	t.Helper()
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	log := n.out.String()
	if !strings.Contains(log, "aws request") {
		t.Fatal("the server log holds no request lines: is it the debug log?")
	}
	files := 0
	for _, v := range values {
		if strings.Contains(replies, v) {
			t.Errorf("an API reply holds the secret value %q", v)
		}
		if strings.Contains(log, v) {
			t.Errorf("the server log holds the secret value %q", v)
		}
	}
	filepath.WalkDir(n.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		files++
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the secret value %q", p, v)
			}
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(n.dataDir, "state.db")); err != nil || files < 2 {
		t.Fatalf("searched %d files; state.db: %v", files, err)
	}
}
