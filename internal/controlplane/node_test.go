package controlplane

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

const (
	testKeyID  = "AKIAMINATOTEST000001"
	testSecret = "controlplane/test/secret/key/0000000000"
)

// runNode runs n until the test ends and returns once it is ready.
func runNode(t *testing.T, n *Node) Info {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, func(i Info) { ready <- i }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	select {
	case info := <-ready:
		return info
	case err := <-done:
		done <- err
		t.Fatalf("Run: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the node was not ready after a minute")
	}
	return Info{}
}

func testConfig(t *testing.T) Config {
	return Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", AccessKeyID: testKeyID, SecretAccessKey: testSecret,
		AgentToken: "tok"}
}

// A node serves on a listener the caller made, with every part wired:
// the ECS API (and its default cluster), the load balancer's API, and the
// ECS API's use of the load balancer's target groups; every writer uses
// the cluster view's store.
func TestNodeOnGivenListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.APIAddr, cfg.Listener = "", ln
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.Info().APIURL, "http://"+ln.Addr().String(); got != want {
		t.Fatalf("APIURL before Run = %s, want %s", got, want)
	}
	if n.View.Wrap(n.Store) != n.Store {
		t.Fatal("the node's store is not the cluster view's store")
	}
	info := runNode(t, n)
	if info.APIURL != n.Info().APIURL || info.Region != "us-east-1" || info.AccountID != "000000000000" {
		t.Fatalf("ready with %+v", info)
	}

	resp, err := http.Get(info.APIURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
	}

	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")
	ec := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(info.APIURL), Credentials: creds})
	clusters, err := ec.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil || len(clusters.Clusters) != 1 || aws.ToString(clusters.Clusters[0].ClusterName) != "default" {
		t.Fatalf("DescribeClusters: %+v %v", clusters, err)
	}
	elb := elasticloadbalancingv2.New(elasticloadbalancingv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(info.APIURL),
		Credentials: creds})
	if _, err := elb.DescribeLoadBalancers(ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{}); err != nil {
		t.Fatalf("DescribeLoadBalancers: %v", err)
	}
	if _, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("app:1"), Memory: aws.Int32(64),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80)}}}}}); err != nil {
		t.Fatal(err)
	}
	// The ECS API asks the load balancer about the target group (a node
	// without one would say that it runs none).
	tg := "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0123456789abcdef"
	_, err = ec.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(1), LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg),
			ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}})
	if err == nil || !strings.Contains(err.Error(), "does not exist.") {
		t.Fatalf("CreateService with a missing target group: %v", err)
	}
}

// Close releases what New opened, also when Run never ran: the listener
// and the state store's lock, so that another node can open the data
// directory.
func TestNodeCloseWithoutRun(t *testing.T) {
	cfg := testConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.Listener = nil
	if _, err := New(context.Background(), cfg2); err == nil || !strings.Contains(err.Error(), "is another minato using") {
		t.Fatalf("a second node on the same data dir: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if c, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on the listener after Close: %v %v", c, err)
	}
	n2, err := New(context.Background(), cfg2)
	if err != nil {
		t.Fatalf("a node after Close: %v", err)
	}
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
}

// A New that fails closes the listener it was given and what it opened.
func TestNodeNewFailureReleases(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecretsKey.File = filepath.Join(t.TempDir(), "missing.key")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	if _, err := New(context.Background(), cfg); err == nil {
		t.Fatal("New with a missing master key file succeeded")
	}
	if c, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on the listener after a failed New: %v %v", c, err)
	}
	cfg.SecretsKey.File, cfg.Listener = "", nil
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New after a failed New (the store must be closed): %v", err)
	}
	n.Close()
}

func TestNodeRunTwice(t *testing.T) {
	n, err := New(context.Background(), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, n)
	if err := n.Run(context.Background(), nil); err == nil {
		t.Fatal("a second Run succeeded")
	}
}
