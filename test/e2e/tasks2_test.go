package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// An awsvpc task (here the seed's Fargate shape) gets its own address,
// reported in its attachment and on its containers, and answers there.
func TestAwsvpcFargateTask(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	image := testimage.Build(t, "")
	ctx := context.Background()
	_, err := n.ecs().RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("my-task"), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("my-container"), Image: aws.String(image),
				PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp}}},
			{Name: aws.String("sidecar"), Image: aws.String(image), Essential: aws.Bool(false), Command: []string{"serve"},
				Environment: []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("9090")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("my-task"), LaunchType: types.LaunchTypeFargate}); err == nil {
		t.Fatal("RunTask of an awsvpc task without networkConfiguration was accepted")
	}
	out, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("my-task"), LaunchType: types.LaunchTypeFargate,
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: []string{"subnet-12345"}, AssignPublicIp: types.AssignPublicIpEnabled}}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	task := waitTaskStatus(t, n, arn, "RUNNING", 60*time.Second)
	if task.LaunchType != types.LaunchTypeFargate || aws.ToString(task.PlatformVersion) == "" {
		t.Fatalf("launch type %s platform %s", task.LaunchType, aws.ToString(task.PlatformVersion))
	}
	ip := ""
	for _, att := range task.Attachments {
		for _, d := range att.Details {
			if aws.ToString(d.Name) == "privateIPv4Address" {
				ip = aws.ToString(d.Value)
			}
		}
	}
	if net.ParseIP(ip) == nil {
		t.Fatalf("no privateIPv4Address in attachments: %+v", task.Attachments)
	}
	for _, c := range task.Containers {
		if len(c.NetworkInterfaces) != 1 || aws.ToString(c.NetworkInterfaces[0].PrivateIpv4Address) != ip {
			t.Fatalf("container %s networkInterfaces: %+v", aws.ToString(c.Name), c.NetworkInterfaces)
		}
	}
	getOK(t, "http://"+ip+":8080/health")
	// The two containers share the task's network namespace: the app
	// reaches the sidecar on localhost (once the sidecar listens: the app
	// answers 502 until then).
	body := getOK(t, "http://"+ip+":8080/fetch?url="+"http://127.0.0.1:9090/health")
	var fetched struct{ Status int }
	json.Unmarshal(body, &fetched)
	if fetched.Status != 200 {
		t.Fatalf("app could not reach the sidecar on localhost: %s", body)
	}
	if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	waitTaskStatus(t, n, arn, "STOPPED", 60*time.Second)
	waitFor(t, 20*time.Second, "the pause container to go", func() (bool, string) {
		for _, c := range containersOfTask(t, taskID(arn)) {
			if c.Labels["minato.pause"] == "true" {
				return false, c.State
			}
		}
		return true, ""
	})
}

// StopTask sends SIGTERM, then SIGKILL after the container's stopTimeout;
// overrides change the command and environment of one run.
func TestStopTimeoutAndOverrides(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t)
	registerApp(t, n, "stubborn", func(c *types.ContainerDefinition) {
		c.StopTimeout = aws.Int32(3)
		c.Environment = []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("base")}}
	})
	ctx := context.Background()
	out, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("stubborn"), Overrides: &types.TaskOverride{
		ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Command: []string{"--ignore-sigterm", "serve"},
			Environment: []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("override")}}}}}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	task := waitTaskStatus(t, n, arn, "RUNNING", 60*time.Second)
	port := aws.ToInt32(task.Containers[0].NetworkBindings[0].HostPort)
	var env map[string]string
	json.Unmarshal(getOK(t, fmt.Sprintf("http://127.0.0.1:%d/env", port)), &env)
	if env["MODE"] != "override" {
		t.Fatalf("environment override not applied: MODE=%q", env["MODE"])
	}
	start := time.Now()
	if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	task = waitTaskStatus(t, n, arn, "STOPPED", 60*time.Second)
	took := time.Since(start)
	if took < 3*time.Second {
		t.Fatalf("a container ignoring SIGTERM stopped after %v, before its 3s stopTimeout", took)
	}
	if code := aws.ToInt32(task.Containers[0].ExitCode); code != 137 {
		t.Fatalf("exit code %d, want 137 (SIGKILL)", code)
	}
}

// Stopped containers are removed after the cleanup wait.
func TestStoppedContainersCleanedUp(t *testing.T) {
	e2eTest(t)
	n := startDockerNode(t, "--container-cleanup-wait", "2s")
	registerApp(t, n, "brief", func(c *types.ContainerDefinition) { c.Command = []string{"exit", "0"} })
	out, err := n.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("brief")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	waitTaskStatus(t, n, arn, "STOPPED", 60*time.Second)
	waitFor(t, 30*time.Second, "the stopped container to be removed", func() (bool, string) {
		cs := containersOfTask(t, taskID(arn))
		return len(cs) == 0, fmt.Sprint(len(cs))
	})
	// The task itself stays describable.
	if task := describeTask(t, n, arn); aws.ToString(task.LastStatus) != "STOPPED" {
		t.Fatalf("task after cleanup: %s", aws.ToString(task.LastStatus))
	}
}

// The agent channel works over TLS when the server has a certificate.
func TestAgentOverTLS(t *testing.T) {
	e2eTest(t)
	testimage.RequireDocker(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	n := newNode(t, "--no-agent", "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	n.startTLS(certFile)
	t.Cleanup(func() { n.stop() })
	a := startAgentURL(t, n, "https://"+n.addr, "--ca-file", certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFileT(t, certFile)))
	c := ecs.New(ecs.Options{BaseEndpoint: aws.String("https://" + n.addr), Region: testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{a.instanceID()}})
	if err != nil || len(out.ContainerInstances) != 1 || !out.ContainerInstances[0].AgentConnected {
		t.Fatalf("instance registered over TLS: %+v %v", out, err)
	}
	// Without the CA the agent refuses the server.
	bad := &agentProc{t: t, dataDir: t.TempDir()}
	token := readFileT(t, filepath.Join(n.dataDir, "agent-token"))
	bad.out = &syncBuffer{}
	bad.proc = startProc(t, exec.Command(minatoBin, "agent", "--server", "https://"+n.addr, "--token", token[:len(token)-1], "--data-dir", bad.dataDir), bad.out)
	t.Cleanup(bad.kill)
	waitFor(t, 60*time.Second, "the agent without the CA to refuse the server", func() (bool, string) {
		out := bad.out.String()
		return strings.Contains(out, "register failed") && strings.Contains(out, "x509"), out
	})
	bad.kill()
	if agentInstanceID(bad.dataDir) != "" {
		t.Fatal("an agent without the CA registered")
	}
}

func (n *node) startTLS(caFile string) {
	n.t.Helper()
	n.out = &syncBuffer{}
	cmd := exec.Command(minatoBin, append([]string{"up", "--data-dir", n.dataDir, "--api-addr", n.addr}, n.args...)...)
	cmd.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+testKeyID, "MINATO_SECRET_ACCESS_KEY="+testSecret)
	n.proc = startProc(n.t, cmd, n.out)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFileT(n.t, caFile)))
	n.waitReady(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "https://"+n.addr)
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "minato-e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
