// Command lbroll counts the requests a rolling deployment drops: a service
// of three tasks behind minato's load balancer, on real Docker, under
// continuous load while `update-service --force-new-deployment` replaces
// every task. Every non-2xx answer and every socket error counts.
//
// The load is keep-alive clients sending short requests (/sleep?ms=20)
// and a few sending slow ones (/sleep?ms=3000), so that requests are in
// flight whenever a task is deregistered. It runs twice, one after the
// other on the same node: once as ECS does it (targets deregistered and
// drained before their tasks stop; the target group's deregistration
// delay 10 s), and once as a control with a deregistration delay of 0,
// which stops tasks with requests still in flight. The control must show
// errors: that proves the count can see them.
//
//	go run ./bench/lbroll
//
// minato runs as a user runs it: the minato binary, built from this tree,
// `minato up` on a fresh data dir, driven with the AWS SDK for Go v2.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/minato-project/minato/bench/internal/harness"
)

const (
	keyID  = "AKIDLBROLLBENCH00000"
	secret = "lbroll-bench-secret-key-0000000000000000"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lbroll:", err)
		os.Exit(1)
	}
}

// Run is one rolling deployment under load.
type Run struct {
	Name string `json:"name"`
	// DeregistrationDelay is the target group's delay (s).
	DeregistrationDelay int `json:"deregistrationDelaySeconds"`
	Requests            int `json:"requests"`
	// Failed are answers that were not 2xx, by status, and socket errors
	// ("error").
	Failed      map[string]int  `json:"failed"`
	FailedTotal int             `json:"failedTotal"`
	Latency     harness.Summary `json:"latency"`
	DeploySec   float64         `json:"deploymentSeconds"`
}

// Result is the JSON lbroll writes.
type Result struct {
	Command string          `json:"command"`
	Started time.Time       `json:"started"`
	Machine harness.Machine `json:"machine"`
	Clients int             `json:"clients"`
	Path    string          `json:"path"`
	// SlowClients send SlowPath at the same time: long requests that are
	// in flight whenever a task is deregistered.
	SlowClients int    `json:"slowClients"`
	SlowPath    string `json:"slowPath"`
	Runs        []Run  `json:"runs"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lbroll", flag.ContinueOnError)
	clients := fs.Int("clients", 8, "concurrent keep-alive clients")
	sleepMs := fs.Int("sleep-ms", 20, "each request asks the app to take this long (/sleep?ms=), so that requests are always in flight")
	slowClients := fs.Int("slow-clients", 8, "clients of slow requests besides, which are in flight when a task is deregistered")
	slowMs := fs.Int("slow-ms", 3000, "how long a slow request takes")
	out := fs.String("out", filepath.Join(os.TempDir(), "minato-bench", "lbroll.json"), "where to write the JSON result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "lbroll-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	image, err := harness.BuildTestImage()
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "minato")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/minato")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build minato (run from the repository root): %w", err)
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	node := exec.Command(bin, "up", "--data-dir", filepath.Join(dir, "data"), "--api-addr", apiAddr,
		"--dynamic-ports", "64000-65535", "--stop-timeout", "5s")
	node.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+keyID, "MINATO_SECRET_ACCESS_KEY="+secret)
	logf, err := os.Create(filepath.Join(os.TempDir(), "minato-bench-lbroll.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	node.Stdout, node.Stderr = logf, logf
	if err := node.Start(); err != nil {
		return err
	}
	defer func() {
		node.Process.Signal(syscall.SIGTERM)
		node.Wait()
	}()
	url := "http://" + apiAddr
	if err := waitReady(ctx, url); err != nil {
		return err
	}
	creds := credentials.NewStaticCredentialsProvider(keyID, secret, "")
	ecsc := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})
	elbc := elb.New(elb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})

	td, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("lbroll"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	})
	if err != nil {
		return err
	}
	res := Result{Command: strings.TrimSpace("go run ./bench/lbroll " + strings.Join(args, " ")), Started: time.Now().UTC(), Machine: harness.ThisMachine(),
		Clients: *clients, Path: fmt.Sprintf("/sleep?ms=%d", *sleepMs),
		SlowClients: *slowClients, SlowPath: fmt.Sprintf("/sleep?ms=%d", *slowMs)}
	for i, delay := range []int{10, 0} {
		name := "drain"
		if delay == 0 {
			name = "control"
		}
		r, err := rollUnderLoad(ctx, ecsc, elbc, aws.ToString(td.TaskDefinition.TaskDefinitionArn), fmt.Sprintf("%s%d", name, i), delay, res)
		if err != nil {
			return fmt.Errorf("%s run: %w", name, err)
		}
		r.Name = name
		res.Runs = append(res.Runs, r)
		fmt.Printf("%-8s deregistration delay %2ds: %6d requests, %4d failed %v, p50 %.2f ms, p99 %.2f ms, deployment %.1f s\n",
			name, delay, r.Requests, r.FailedTotal, r.Failed, r.Latency.P50Ms, r.Latency.P99Ms, r.DeploySec)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Println("result:", *out)
	if res.Runs[0].FailedTotal != 0 {
		return errors.New("the rolling deployment with draining dropped requests")
	}
	if res.Runs[1].FailedTotal == 0 {
		return errors.New("the control run without draining dropped nothing: the count cannot be trusted")
	}
	return nil
}

// rollUnderLoad creates a load balancer and a 3-task service behind it,
// replaces every task with a forced deployment under load, and counts.
func rollUnderLoad(ctx context.Context, ecsc *ecs.Client, elbc *elb.Client, td, name string, delay int, res Result) (Run, error) {
	lbOut, err := elbc.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String(name), Subnets: []string{"subnet-1"}})
	if err != nil {
		return Run{}, err
	}
	tgOut, err := elbc.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-minato"),
		HealthCheckPath: aws.String("/health"), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		return Run{}, err
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := elbc.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(tg),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(strconv.Itoa(delay))}}}); err != nil {
		return Run{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return Run{}, err
	}
	_, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	if _, err := elbc.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: lbOut.LoadBalancers[0].LoadBalancerArn,
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(int32(port)),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}); err != nil {
		return Run{}, err
	}
	if _, err := ecsc.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String(name), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(3), HealthCheckGracePeriodSeconds: aws.Int32(30),
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080)}}}); err != nil {
		return Run{}, err
	}
	if err := waitRolled(ctx, ecsc, elbc, name, tg, 3*time.Minute); err != nil {
		return Run{}, err
	}

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	l := newLoad()
	l.add(base+res.Path, res.Clients)
	l.add(base+res.SlowPath, res.SlowClients)
	time.Sleep(2 * time.Second)
	start := time.Now()
	if _, err := ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String(name), ForceNewDeployment: true}); err != nil {
		l.finish()
		return Run{}, err
	}
	// Let the new deployment show up before waiting for it to finish.
	time.Sleep(time.Second)
	err = waitRolled(ctx, ecsc, elbc, name, tg, 5*time.Minute)
	deploy := time.Since(start)
	time.Sleep(2 * time.Second)
	r := l.finish()
	if err != nil {
		return Run{}, err
	}
	r.DeregistrationDelay, r.DeploySec = delay, deploy.Seconds()
	if _, err := ecsc.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String(name), Force: aws.Bool(true)}); err != nil {
		return Run{}, err
	}
	return r, nil
}

// waitRolled waits until the service has one COMPLETED deployment with
// three running tasks and its target group three healthy targets.
func waitRolled(ctx context.Context, ecsc *ecs.Client, elbc *elb.Client, svc, tg string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		s, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{svc}})
		if err == nil && len(s.Services) == 1 {
			sv := s.Services[0]
			h, herr := elbc.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
			healthy := 0
			if herr == nil {
				for _, d := range h.TargetHealthDescriptions {
					if d.TargetHealth != nil && d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
						healthy++
					}
				}
			}
			last = fmt.Sprintf("deployments %d running %d healthy targets %d", len(sv.Deployments), sv.RunningCount, healthy)
			if len(sv.Deployments) == 1 && sv.Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted &&
				sv.RunningCount == 3 && healthy == 3 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("service %s did not settle: %s", svc, last)
}

type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	run  Run
	lat  []time.Duration
}

func newLoad() *load {
	return &load{stop: make(chan struct{}), run: Run{Failed: map[string]int{}}}
}

// add starts clients that send GET url one after the other until finish.
func (l *load) add(url string, clients int) {
	for i := 0; i < clients; i++ {
		l.wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				t0 := time.Now()
				resp, err := c.Get(url)
				key := ""
				if err != nil {
					key = "error"
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						key = strconv.Itoa(resp.StatusCode)
					}
				}
				d := time.Since(t0)
				l.mu.Lock()
				l.run.Requests++
				if key != "" {
					l.run.Failed[key]++
					l.run.FailedTotal++
				} else {
					l.lat = append(l.lat, d)
				}
				l.mu.Unlock()
			}
		})
	}
}

func (l *load) finish() Run {
	close(l.stop)
	l.wg.Wait()
	l.run.Latency = harness.Summarize(l.lat)
	return l.run
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("minato up did not become ready")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
