package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/testutil"
)

// Every task definition of the seed documents registers through
// `aws ecs register-task-definition --cli-input-json file://...` and reads back the same.
func TestCLISeedTaskDefinitions(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	files, err := filepath.Glob("../testdata/seeds/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("seed task definitions: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			abs, _ := filepath.Abs(f)
			raw, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			var in map[string]any
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatal(err)
			}
			wantTags := in["tags"]
			delete(in, "tags")

			var reg struct {
				TaskDefinition map[string]any `json:"taskDefinition"`
			}
			n.cliJSON(t, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+abs)
			if err := testutil.JSONSubset(in, reg.TaskDefinition); err != nil {
				t.Fatalf("register-task-definition reply differs from the input: %v", err)
			}
			family := in["family"].(string)
			arn := reg.TaskDefinition["taskDefinitionArn"].(string)
			if !strings.HasPrefix(arn, "arn:aws:ecs:"+testRegion+":000000000000:task-definition/"+family+":") {
				t.Fatalf("taskDefinitionArn %q", arn)
			}
			for _, ref := range []string{family, arn} {
				var desc struct {
					TaskDefinition map[string]any `json:"taskDefinition"`
					Tags           any            `json:"tags"`
				}
				n.cliJSON(t, &desc, "ecs", "describe-task-definition", "--task-definition", ref, "--include", "TAGS")
				if err := testutil.JSONSubset(in, desc.TaskDefinition); err != nil {
					t.Fatalf("describe-task-definition %s differs from the input: %v", ref, err)
				}
				if desc.TaskDefinition["status"] != "ACTIVE" || desc.TaskDefinition["registeredAt"] == nil {
					t.Fatalf("status/registeredAt: %v %v", desc.TaskDefinition["status"], desc.TaskDefinition["registeredAt"])
				}
				if wantTags != nil {
					if err := testutil.JSONSubset(wantTags, desc.Tags); err != nil {
						t.Fatalf("tags: %v", err)
					}
				}
			}
		})
	}
}

// An invalid definition is refused with a ClientException, through the CLI,
// and nothing is stored.
func TestCLIInvalidTaskDefinition(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	var before struct{ TaskDefinitionArns []string }
	n.cliJSON(t, &before, "ecs", "list-task-definitions")

	bad := map[string]string{
		"fargate-combo.json": `{"family":"bad","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"4096",
			"containerDefinitions":[{"name":"app","image":"app:1"}]}`,
		"fargate-bridge.json": `{"family":"bad","networkMode":"bridge","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512",
			"containerDefinitions":[{"name":"app","image":"app:1"}]}`,
		"depends-missing.json": `{"family":"bad","containerDefinitions":[{"name":"app","image":"app:1","memory":64,
			"dependsOn":[{"containerName":"ghost","condition":"START"}]}]}`,
		"no-essential.json": `{"family":"bad","containerDefinitions":[{"name":"app","image":"app:1","memory":64,"essential":false}]}`,
	}
	dir := t.TempDir()
	for name, js := range bad {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
				t.Fatal(err)
			}
			r := n.cli(t, "ecs", "register-task-definition", "--cli-input-json", "file://"+p)
			if r.exit == 0 {
				t.Fatalf("accepted: %s", r.stdout)
			}
			if !strings.Contains(r.stderr, "(ClientException)") {
				t.Fatalf("stderr lacks ClientException: %s", r.stderr)
			}
		})
	}
	var after struct{ TaskDefinitionArns []string }
	n.cliJSON(t, &after, "ecs", "list-task-definitions")
	if !slices.Equal(before.TaskDefinitionArns, after.TaskDefinitionArns) {
		t.Fatalf("state changed: %v -> %v", before.TaskDefinitionArns, after.TaskDefinitionArns)
	}
	r := n.cli(t, "ecs", "list-task-definition-families", "--status", "ALL")
	if strings.Contains(r.stdout, `"bad"`) {
		t.Fatalf("a refused family was recorded: %s", r.stdout)
	}
}

func TestCLIClusters(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	var created struct{ Cluster map[string]any }
	n.cliJSON(t, &created, "ecs", "create-cluster", "--cluster-name", "my-cluster",
		"--settings", "name=containerInsights,value=enabled", "--tags", "key=team,value=web")
	if created.Cluster["clusterArn"] != "arn:aws:ecs:"+testRegion+":000000000000:cluster/my-cluster" || created.Cluster["status"] != "ACTIVE" {
		t.Fatalf("create-cluster: %v", created.Cluster)
	}

	var list struct{ ClusterArns []string }
	n.cliJSON(t, &list, "ecs", "list-clusters")
	if len(list.ClusterArns) != 2 || !strings.HasSuffix(list.ClusterArns[0], "cluster/default") || !strings.HasSuffix(list.ClusterArns[1], "cluster/my-cluster") {
		t.Fatalf("list-clusters: %v", list.ClusterArns)
	}

	var desc struct {
		Clusters []map[string]any
		Failures []map[string]any
	}
	n.cliJSON(t, &desc, "ecs", "describe-clusters", "--clusters", "my-cluster", "nope", "--include", "SETTINGS", "TAGS")
	if len(desc.Clusters) != 1 || len(desc.Failures) != 1 || desc.Failures[0]["reason"] != "MISSING" {
		t.Fatalf("describe-clusters: %+v", desc)
	}
	if err := testutil.JSONSubset(map[string]any{
		"settings": []any{map[string]any{"name": "containerInsights", "value": "enabled"}},
		"tags":     []any{map[string]any{"key": "team", "value": "web"}},
	}, desc.Clusters[0]); err != nil {
		t.Fatalf("describe-clusters --include: %v", err)
	}
	var plain struct{ Clusters []map[string]any }
	n.cliJSON(t, &plain, "ecs", "describe-clusters", "--clusters", "my-cluster")
	if _, has := plain.Clusters[0]["tags"]; has {
		t.Fatalf("tags returned without --include TAGS: %v", plain.Clusters[0])
	}

	n.cliJSON(t, nil, "ecs", "update-cluster-settings", "--cluster", "my-cluster", "--settings", "name=containerInsights,value=disabled")
	clusterARN := created.Cluster["clusterArn"].(string)
	n.cliJSON(t, nil, "ecs", "tag-resource", "--resource-arn", clusterARN, "--tags", "key=env,value=dev")
	n.cliJSON(t, nil, "ecs", "untag-resource", "--resource-arn", clusterARN, "--tag-keys", "team")
	var tags struct{ Tags []map[string]string }
	n.cliJSON(t, &tags, "ecs", "list-tags-for-resource", "--resource-arn", clusterARN)
	if len(tags.Tags) != 1 || tags.Tags[0]["key"] != "env" || tags.Tags[0]["value"] != "dev" {
		t.Fatalf("tags after tag/untag: %v", tags.Tags)
	}
	var updated struct{ Clusters []map[string]any }
	n.cliJSON(t, &updated, "ecs", "describe-clusters", "--clusters", clusterARN, "--include", "SETTINGS")
	if err := testutil.JSONSubset([]any{map[string]any{"name": "containerInsights", "value": "disabled"}}, updated.Clusters[0]["settings"]); err != nil {
		t.Fatalf("settings after update: %v", err)
	}

	var deleted struct{ Cluster map[string]any }
	n.cliJSON(t, &deleted, "ecs", "delete-cluster", "--cluster", "my-cluster")
	if deleted.Cluster["status"] != "INACTIVE" {
		t.Fatalf("delete-cluster: %v", deleted.Cluster)
	}
	n.cliJSON(t, &list, "ecs", "list-clusters")
	if len(list.ClusterArns) != 1 {
		t.Fatalf("deleted cluster still listed: %v", list.ClusterArns)
	}
	r := n.cli(t, "ecs", "update-cluster-settings", "--cluster", "my-cluster", "--settings", "name=containerInsights,value=enabled")
	if r.exit == 0 || !strings.Contains(r.stderr, "ClusterNotFoundException") {
		t.Fatalf("update of a deleted cluster: exit %d %s", r.exit, r.stderr)
	}
	r = n.cli(t, "ecs", "create-cluster", "--cluster-name", "bad name")
	if r.exit == 0 || !strings.Contains(r.stderr, "InvalidParameterException") {
		t.Fatalf("bad cluster name: exit %d %s", r.exit, r.stderr)
	}
}

func TestCLICallerIdentityAndAuth(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	var id struct{ Account, Arn, UserId string }
	n.cliJSON(t, &id, "sts", "get-caller-identity")
	if id.Account != "000000000000" || id.Arn != "arn:aws:iam::000000000000:root" {
		t.Fatalf("get-caller-identity: %+v", id)
	}
	r := n.cliAs(t, testKeyID, "wrong-secret-wrong-secret-wrong-secret00", "ecs", "list-clusters")
	if r.exit == 0 || !strings.Contains(r.stderr, "InvalidSignatureException") {
		t.Fatalf("wrong secret: exit %d %s", r.exit, r.stderr)
	}
	r = n.cliAs(t, "AKIAUNKNOWNUNKNOWN00", testSecret, "ecs", "list-clusters")
	if r.exit == 0 || !strings.Contains(r.stderr, "UnrecognizedClientException") {
		t.Fatalf("unknown key: exit %d %s", r.exit, r.stderr)
	}
	r = n.cliAs(t, "AKIAUNKNOWNUNKNOWN00", testSecret, "sts", "get-caller-identity")
	if r.exit == 0 || !strings.Contains(r.stderr, "InvalidClientTokenId") {
		t.Fatalf("unknown key on sts: exit %d %s", r.exit, r.stderr)
	}
}
