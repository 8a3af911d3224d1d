// Command startlat measures minato's task start overhead on real Docker:
// RunTask → the task's lastStatus is RUNNING, against `docker run -d` →
// the container is running, for the same local image (minato's FROM-scratch
// test image, built locally; nothing is pulled), interleaved.
//
// minato runs as `minato up` runs it: a controlplane node and, in the same
// process, agent.Run on the Docker runtime (runtime/docker). The client is
// the AWS SDK for Go v2 against the real API with SigV4; it polls
// DescribeTasks every -poll until RUNNING. The peers are what `docker run -d`
// does through the Docker Engine API (create, then start, then inspect shows
// it running) and the docker CLI itself (`docker run -d`, process start
// included).
//
//	go run ./bench/startlat            # 50 runs each, interleaved
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/agent"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

// label marks the peer's containers, for cleanup.
const label = testimage.LabelTest

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "startlat:", err)
		os.Exit(1)
	}
}

// Result is the JSON startlat writes.
type Result struct {
	Command string          `json:"command"`
	Started time.Time       `json:"started"`
	Machine harness.Machine `json:"machine"`
	Docker  string          `json:"dockerVersion"`
	Image   string          `json:"image"`
	Runs    int             `json:"runs"`
	PollMs  float64         `json:"pollMs"`
	// Minato is RunTask → RUNNING; DockerAPI create+start → running
	// (what `docker run -d` asks of the engine); DockerCLI the docker
	// CLI's `docker run -d` wall time.
	Minato    harness.Summary `json:"minato"`
	DockerAPI harness.Summary `json:"dockerApi"`
	DockerCLI harness.Summary `json:"dockerCli"`
	// Phases of minato's start, p50 over the runs (ms): the RunTask call;
	// createdAt → pullStartedAt (assignment reaching the agent); the
	// image check; pullStoppedAt → startedAt (create and start in Docker);
	// startedAt → RUNNING seen by the client (report, commit, poll).
	Phases map[string]float64 `json:"phasesP50Ms"`
	// Ratios and overheads of the p50s and p99s.
	RatioP50API    float64 `json:"ratioP50VsDockerApi"`
	RatioP99API    float64 `json:"ratioP99VsDockerApi"`
	OverheadP50API float64 `json:"overheadP50MsVsDockerApi"`
	RatioP50CLI    float64 `json:"ratioP50VsDockerCli"`
	OverheadP50CLI float64 `json:"overheadP50MsVsDockerCli"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("startlat", flag.ContinueOnError)
	runs := fs.Int("runs", 50, "runs of each")
	warm := fs.Int("warmup", 3, "unmeasured runs of each first")
	poll := fs.Duration("poll", 5*time.Millisecond, "DescribeTasks polling interval")
	noCLI := fs.Bool("no-cli", false, "skip the docker CLI peer")
	out := fs.String("out", filepath.Join(os.TempDir(), "minato-bench", "startlat.json"), "JSON result path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	sv, err := cli.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	cli.NegotiateAPIVersion(ctx)
	image, err := harness.BuildTestImage()
	if err != nil {
		return err
	}
	fmt.Printf("startlat: Docker %s, image %s, %d runs each after %d warm-up runs\n", sv.Version, image, *runs, *warm)

	dir, err := os.MkdirTemp("", "minato-startlat-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cp, err := harness.StartControlPlane(ctx, harness.CPConfig{DataDir: filepath.Join(dir, "controlplane")})
	if err != nil {
		return err
	}
	defer cp.Stop()
	ag, err := harness.StartDockerAgent(ctx, cli, cp.Info.URL, filepath.Join(dir, "agent"), func(c *agent.Config) {
		c.AvailabilityZone, c.CleanupWait = "local-1a", 2*time.Second
	})
	if err != nil {
		return err
	}
	defer ag.Stop()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		testimage.RemoveLabelled(cctx, cli, label, "startlat")
	}()

	ecsc := harness.NewECSClient(cp.Info.URL, 8)
	if _, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("startlat"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
			Command: []string{"pause"},
		}},
	}); err != nil {
		return err
	}

	res := Result{Command: "go run ./bench/startlat " + strings.Join(args, " "), Started: time.Now().UTC(), Machine: harness.ThisMachine(),
		Docker: sv.Version, Image: image, Runs: *runs, PollMs: float64(*poll) / float64(time.Millisecond), Phases: map[string]float64{}}
	var mRec, aRec, cRec harness.Recorder
	phases := map[string][]time.Duration{}
	for i := range *warm + *runs {
		measured := i >= *warm
		// Alternate which goes first, so neither always finds Docker warm.
		order := []string{"minato", "api", "cli"}
		if i%2 == 1 {
			order = []string{"cli", "api", "minato"}
		}
		for _, who := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			switch who {
			case "minato":
				d, ph, err := startMinato(ctx, ecsc, *poll)
				if !measured {
					continue
				}
				if err != nil {
					mRec.Fail(err)
					continue
				}
				mRec.Add(d)
				for k, v := range ph {
					phases[k] = append(phases[k], v)
				}
			case "api":
				d, err := startDockerAPI(ctx, cli, image)
				if !measured {
					continue
				}
				if err != nil {
					aRec.Fail(err)
					continue
				}
				aRec.Add(d)
			case "cli":
				if *noCLI {
					continue
				}
				d, err := startDockerCLI(ctx, cli, image)
				if !measured {
					continue
				}
				if err != nil {
					cRec.Fail(err)
					continue
				}
				cRec.Add(d)
			}
		}
		if measured && (i-*warm+1)%10 == 0 {
			fmt.Printf("  %d/%d: minato p50 %.1f ms, docker API p50 %.1f ms, docker CLI p50 %.1f ms\n", i-*warm+1, *runs,
				mRec.Summary().P50Ms, aRec.Summary().P50Ms, cRec.Summary().P50Ms)
		}
	}
	res.Minato, res.DockerAPI, res.DockerCLI = mRec.Summary(), aRec.Summary(), cRec.Summary()
	for k, v := range phases {
		res.Phases[k] = harness.Summarize(v).P50Ms
	}
	if res.DockerAPI.P50Ms > 0 {
		res.RatioP50API = harness.Round(res.Minato.P50Ms/res.DockerAPI.P50Ms, 2)
		res.RatioP99API = harness.Round(res.Minato.P99Ms/res.DockerAPI.P99Ms, 2)
		res.OverheadP50API = harness.Round(res.Minato.P50Ms-res.DockerAPI.P50Ms, 1)
	}
	if res.DockerCLI.P50Ms > 0 {
		res.RatioP50CLI = harness.Round(res.Minato.P50Ms/res.DockerCLI.P50Ms, 2)
		res.OverheadP50CLI = harness.Round(res.Minato.P50Ms-res.DockerCLI.P50Ms, 1)
	}
	fmt.Printf("minato RunTask→RUNNING      p50 %7.1f ms  p99 %7.1f ms  (errors %d)\n", res.Minato.P50Ms, res.Minato.P99Ms, res.Minato.Errors)
	fmt.Printf("docker create+start→running p50 %7.1f ms  p99 %7.1f ms  (errors %d)\n", res.DockerAPI.P50Ms, res.DockerAPI.P99Ms, res.DockerAPI.Errors)
	if !*noCLI {
		fmt.Printf("docker run -d (CLI)         p50 %7.1f ms  p99 %7.1f ms  (errors %d)\n", res.DockerCLI.P50Ms, res.DockerCLI.P99Ms, res.DockerCLI.Errors)
	}
	fmt.Printf("ratio p50 %.2f (overhead %.1f ms) vs the engine API; %.2f (%.1f ms) vs the CLI\n",
		res.RatioP50API, res.OverheadP50API, res.RatioP50CLI, res.OverheadP50CLI)
	fmt.Printf("minato phases (p50 ms): %v\n", res.Phases)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println("result:", *out)
	return os.WriteFile(*out, append(b, '\n'), 0o644)
}

// startMinato runs one task and waits until DescribeTasks says RUNNING,
// then stops it (not timed) and waits until it is STOPPED.
func startMinato(ctx context.Context, c *ecs.Client, poll time.Duration) (time.Duration, map[string]time.Duration, error) {
	start := time.Now()
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("startlat"), Count: aws.Int32(1)})
	if err != nil {
		return 0, nil, err
	}
	if len(out.Tasks) != 1 {
		return 0, nil, fmt.Errorf("RunTask placed no task: %+v", out.Failures)
	}
	runTaskDone := time.Now()
	arn := out.Tasks[0].TaskArn
	var (
		d    time.Duration
		task ecstypes.Task
	)
	for {
		o, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{aws.ToString(arn)}})
		if err != nil {
			return 0, nil, err
		}
		if len(o.Tasks) == 1 {
			task = o.Tasks[0]
			st := aws.ToString(task.LastStatus)
			if st == "RUNNING" {
				d = time.Since(start)
				break
			}
			if st == "STOPPED" {
				return 0, nil, fmt.Errorf("task stopped: %s", aws.ToString(task.StoppedReason))
			}
		}
		if time.Since(start) > time.Minute {
			return 0, nil, fmt.Errorf("task not RUNNING after a minute")
		}
		time.Sleep(poll)
	}
	seen := start.Add(d)
	ph := map[string]time.Duration{"runTaskCall": runTaskDone.Sub(start)}
	if task.CreatedAt != nil && task.PullStartedAt != nil && task.PullStoppedAt != nil && task.StartedAt != nil {
		ph["createdToPullStarted"] = task.PullStartedAt.Sub(*task.CreatedAt)
		ph["imageCheck"] = task.PullStoppedAt.Sub(*task.PullStartedAt)
		ph["createAndStart"] = task.StartedAt.Sub(*task.PullStoppedAt)
		ph["startedToSeenRunning"] = seen.Sub(*task.StartedAt)
	}
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: arn}); err != nil {
		return 0, nil, err
	}
	for i := 0; i < 600; i++ {
		o, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{aws.ToString(arn)}})
		if err == nil && len(o.Tasks) == 1 && aws.ToString(o.Tasks[0].LastStatus) == "STOPPED" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d, ph, nil
}

// startDockerAPI does what `docker run -d` asks of the engine: create,
// start, and the container is running.
func startDockerAPI(ctx context.Context, cli *client.Client, image string) (time.Duration, error) {
	start := time.Now()
	cr, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Cmd: []string{"pause"}, Labels: map[string]string{label: "startlat"}},
		&container.HostConfig{Resources: container.Resources{Memory: 64 << 20}}, nil, nil, "")
	if err != nil {
		return 0, err
	}
	defer cli.ContainerRemove(context.Background(), cr.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, cr.ID, container.StartOptions{}); err != nil {
		return 0, err
	}
	for {
		in, err := cli.ContainerInspect(ctx, cr.ID)
		if err != nil {
			return 0, err
		}
		if in.State != nil && in.State.Running {
			return time.Since(start), nil
		}
		if time.Since(start) > time.Minute {
			return 0, fmt.Errorf("container not running after a minute")
		}
		time.Sleep(time.Millisecond)
	}
}

// startDockerCLI times `docker run -d` itself (it returns once the
// container started).
func startDockerCLI(ctx context.Context, cli *client.Client, image string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--memory", "64m", "--label", label+"=startlat", image, "pause").CombinedOutput()
	d := time.Since(start)
	id := strings.TrimSpace(string(out))
	if err != nil {
		return 0, fmt.Errorf("docker run: %v: %s", err, out)
	}
	defer cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
	in, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return 0, err
	}
	if in.State == nil || !in.State.Running {
		return 0, fmt.Errorf("docker run -d returned but the container is not running")
	}
	return d, nil
}
