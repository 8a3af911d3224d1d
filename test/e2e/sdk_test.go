package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

func registerSimple(ctx context.Context, c *ecs.Client, family string) (*ecs.RegisterTaskDefinitionOutput, error) {
	return c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("app:1"), Memory: aws.Int32(64),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	})
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSDKTaskDefinitionRevisionsAndPagination(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	c, ctx := n.ecs(), ctxT(t)
	for i := 1; i <= 12; i++ {
		out, err := registerSimple(ctx, c, "web")
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(&out.TaskDefinition.Revision); got != int32(i) {
			t.Fatalf("revision %d, want %d", got, i)
		}
	}
	for _, f := range []string{"api", "api-worker", "batch"} {
		if _, err := registerSimple(ctx, c, f); err != nil {
			t.Fatal(err)
		}
	}

	// Paginate all 15 ARNs five at a time with the SDK's paginator.
	var all []string
	p := ecs.NewListTaskDefinitionsPaginator(c, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(5)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, out.TaskDefinitionArns...)
	}
	if len(all) != 15 || pages != 3 {
		t.Fatalf("got %d ARNs in %d pages, want 15 in 3", len(all), pages)
	}
	if !strings.HasSuffix(all[0], "task-definition/api:1") || !strings.HasSuffix(all[14], "task-definition/web:12") {
		t.Fatalf("order: first %s last %s", all[0], all[14])
	}
	desc, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web"), Sort: types.SortOrderDesc, MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.TaskDefinitionArns) != 2 || !strings.HasSuffix(desc.TaskDefinitionArns[0], "web:12") || desc.NextToken == nil {
		t.Fatalf("DESC page: %v next=%v", desc.TaskDefinitionArns, desc.NextToken)
	}
	desc2, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web"), Sort: types.SortOrderDesc, MaxResults: aws.Int32(2), NextToken: desc.NextToken})
	if err != nil || len(desc2.TaskDefinitionArns) != 2 || !strings.HasSuffix(desc2.TaskDefinitionArns[0], "web:10") {
		t.Fatalf("DESC second page: %v %v", desc2, err)
	}

	fams, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("api")})
	if err != nil || strings.Join(fams.Families, ",") != "api,api-worker" {
		t.Fatalf("families with prefix api: %v %v", fams, err)
	}

	// Deregister: the bare family then resolves to the newest ACTIVE revision.
	if _, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:12")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil || d.TaskDefinition.Revision != 11 {
		t.Fatalf("latest ACTIVE web: %+v %v", d, err)
	}
	d, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:12")})
	if err != nil || d.TaskDefinition.Status != types.TaskDefinitionStatusInactive || d.TaskDefinition.DeregisteredAt == nil {
		t.Fatalf("web:12 after deregister: %+v %v", d.TaskDefinition, err)
	}
	inactive, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusInactive})
	if err != nil || len(inactive.TaskDefinitionArns) != 1 {
		t.Fatalf("INACTIVE list: %v %v", inactive, err)
	}
	if _, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web")}); apiErrorCode(err) != "ClientException" {
		t.Fatalf("deregister without revision: %v", err)
	}

	del, err := c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web:12", "web:11"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.TaskDefinitions) != 1 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || len(del.Failures) != 1 {
		t.Fatalf("DeleteTaskDefinitions: %+v", del)
	}

	if _, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope:1")}); apiErrorCode(err) != "ClientException" {
		t.Fatalf("describe missing: %v", err)
	}
	if _, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("garbage")}); apiErrorCode(err) != "InvalidParameterException" {
		t.Fatalf("bad nextToken: %v", err)
	}
}

func TestSDKTaskDefinitionTags(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	c, ctx := n.ecs(), ctxT(t)
	out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("tagged"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("a"), Memory: aws.Int32(32)}},
		Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.TaskDefinition.TaskDefinitionArn
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: arn, Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "env" {
		t.Fatalf("tags: %+v %v", d.Tags, err)
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:000000000000:task-definition/none:1"),
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); apiErrorCode(err) != "ResourceNotFoundException" {
		t.Fatalf("tag missing resource: %v", err)
	}
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}}); apiErrorCode(err) != "InvalidParameterException" {
		t.Fatalf("reserved tag key: %v", err)
	}
}

// Everything acknowledged survives kill -9, including writes in flight at
// the moment of the kill that had been answered.
func TestCrashRecovery(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	c, ctx := n.ecs(), ctxT(t)
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("durable"),
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	seed, _ := filepath.Abs("../testdata/seeds/seed001-my-app.json")
	raw, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	var in ecs.RegisterTaskDefinitionInput
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}

	// Writers register revisions until the process dies under them.
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				out, err := registerSimple(context.Background(), c, fmt.Sprintf("crash-%d", w))
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[aws.ToString(out.TaskDefinition.TaskDefinitionArn)] = true
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 40 {
			break
		}
	}
	n.kill()
	close(stop)
	wg.Wait()

	n.start()
	c = n.ecs()
	for arn := range acked {
		if _, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)}); err != nil {
			t.Fatalf("acknowledged %s lost after kill -9: %v", arn, err)
		}
	}
	d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"durable"}, Include: []types.ClusterField{types.ClusterFieldTags}})
	if err != nil || len(d.Clusters) != 1 || len(d.Clusters[0].Tags) != 1 {
		t.Fatalf("cluster after kill -9: %+v %v", d, err)
	}
	// Revisions continue where they were: no number is handed out twice.
	for w := range 4 {
		out, err := registerSimple(ctx, c, fmt.Sprintf("crash-%d", w))
		if err != nil {
			t.Fatal(err)
		}
		if acked[aws.ToString(out.TaskDefinition.TaskDefinitionArn)] {
			t.Fatalf("revision %s handed out twice", aws.ToString(out.TaskDefinition.TaskDefinitionArn))
		}
	}
	// The seed definition registers after the restart too.
	if _, err := c.RegisterTaskDefinition(ctx, &in); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged registrations survived kill -9", len(acked))
}

func TestGracefulStopAndRestart(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	c, ctx := n.ecs(), ctxT(t)
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := n.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, n.out)
	}
	n.start()
	out, err := n.ecs().ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(out.ClusterArns) != 2 {
		t.Fatalf("after restart: %v %v", out, err)
	}
	// A second node on the same data dir is refused while the first runs.
	cmd := exec.Command(minatoBin, "up", "--data-dir", n.dataDir, "--api-addr", freeAddr(t))
	cmd.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+testKeyID, "MINATO_SECRET_ACCESS_KEY="+testSecret)
	out2, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "another minato") {
		t.Fatalf("second node on the same data dir: err=%v\n%s", err, out2)
	}
}

func TestUnsignedAndMalformedRequests(t *testing.T) {
	e2eTest(t)
	n := startNode(t)
	post := func(target, body string, header map[string]string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", n.url()+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	status, body := post("AmazonEC2ContainerServiceV20141113.ListClusters", "{}", nil)
	if status < 400 || body["__type"] != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: %d %v", status, body)
	}
	status, body = post("AmazonEC2ContainerServiceV20141113.ListClusters", "{}", map[string]string{
		"Authorization": "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20200101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
		"X-Amz-Date":    "20200101T000000Z",
	})
	if status < 400 || (body["__type"] != "InvalidSignatureException" && body["__type"] != "SignatureDoesNotMatch") {
		t.Fatalf("stale signature: %d %v", status, body)
	}
	if resp, err := http.Get(n.url() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
}
