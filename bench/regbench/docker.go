package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/bench/internal/harness"
)

// DockerResult is what the docker part measured, in milliseconds.
type DockerResult struct {
	ImageBytes  int64 `json:"imageBytes"`
	ImageLayers int   `json:"imageLayers"`
	Rounds      int   `json:"rounds"`
	// docker pull of the image from each server.
	PullStock  harness.Summary `json:"pullStock"`
	PullMinato harness.Summary `json:"pullMinato"`
	// docker pull from minato, then docker run -d (returns once started).
	PullRunMinato harness.Summary `json:"pullRunMinato"`
	// RunTask until DescribeTasks says RUNNING, the image not on the host;
	// and the task's own pullStartedAt → pullStoppedAt.
	RunTask  harness.Summary `json:"runTask"`
	TaskPull harness.Summary `json:"taskPull"`
}

// dockerCLI runs the docker CLI with its own DOCKER_CONFIG.
type dockerCLI struct{ env []string }

func (d dockerCLI) run(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = d.env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (d dockerCLI) timed(ctx context.Context, args ...string) (time.Duration, error) {
	start := time.Now()
	_, err := d.run(ctx, "", args...)
	return time.Since(start), err
}

// dockerRounds builds a runnable ~200 MB image, pushes it to both
// servers, and measures pulls and task starts with the image gone from
// the host each time.
func dockerRounds(ctx context.Context, c config, srv *servers) (*DockerResult, error) {
	base, err := harness.BuildTestImage()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.work, "docker-image")
	layers, err := makeLayers(dir, 1<<40, c.layers, c.layerMB)
	if err != nil {
		return nil, err
	}
	df := "FROM " + base + "\n"
	for i := range layers {
		df += fmt.Sprintf("COPY layer%d /data/layer%d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return nil, err
	}
	d := dockerCLI{env: append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(c.work, "docker-config"), "DOCKER_BUILDKIT=0")}
	local := "regbench-image:latest"
	fmt.Println("docker build of the image...")
	if _, err := d.run(ctx, "", "build", "-q", "-t", local, dir); err != nil {
		return nil, err
	}
	const repo = "docker-bench"
	if err := srv.createRepo(ctx, repo); err != nil {
		return nil, err
	}
	user, pass, err := srv.login(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := d.run(ctx, pass, "login", "--username", user, "--password-stdin", srv.minatoAddr); err != nil {
		return nil, err
	}
	refs := map[string]string{"minato": srv.minatoAddr + "/" + repo + ":latest", "stock": srv.stockAddr + "/" + repo + ":latest"}
	for _, ref := range refs {
		if _, err := d.run(ctx, "", "tag", local, ref); err != nil {
			return nil, err
		}
		if _, err := d.run(ctx, "", "push", ref); err != nil {
			return nil, err
		}
	}
	id, err := d.run(ctx, "", "image", "inspect", "--format", "{{.Id}}", local)
	if err != nil {
		return nil, err
	}
	id = strings.TrimSpace(id)
	sizeOut, _ := d.run(ctx, "", "image", "inspect", "--format", "{{.Size}}", local)
	res := &DockerResult{ImageLayers: len(layers) + 1, Rounds: c.dockerRounds}
	fmt.Sscan(strings.TrimSpace(sizeOut), &res.ImageBytes)

	// gone removes the image and every container of it, so that the next
	// pull downloads every layer again.
	gone := func() error {
		if out, err := d.run(ctx, "", "ps", "-aq", "--filter", "ancestor="+id); err == nil {
			for _, cid := range strings.Fields(out) {
				d.run(ctx, "", "rm", "-f", cid)
			}
		}
		_, err := d.run(ctx, "", "rmi", "-f", id)
		return err
	}
	if err := registerTask(ctx, srv, refs["minato"]); err != nil {
		return nil, err
	}
	rec := map[string]*harness.Recorder{"stock": {}, "minato": {}, "run": {}, "task": {}, "taskPull": {}}
	steps := []string{"stock", "minato", "run", "task"}
	for round := 0; round < c.dockerRounds; round++ {
		for _, step := range steps {
			if err := gone(); err != nil {
				return nil, err
			}
			var took time.Duration
			switch step {
			case "stock", "minato":
				took, err = d.timed(ctx, "pull", refs[step])
			case "run":
				start := time.Now()
				if _, err = d.run(ctx, "", "pull", refs["minato"]); err == nil {
					_, err = d.run(ctx, "", "run", "-d", "--label", "regbench=1", refs["minato"])
				}
				took = time.Since(start)
			case "task":
				var pullTook time.Duration
				took, pullTook, err = runTask(ctx, srv)
				rec["taskPull"].Add(pullTook)
			}
			if err != nil {
				return nil, fmt.Errorf("docker round %d, %s: %w", round, step, err)
			}
			rec[step].Add(took)
			fmt.Printf("docker round %d %-7s %6.0f ms\n", round, step, ms(took))
		}
		// The next round goes the other way round.
		for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
			steps[i], steps[j] = steps[j], steps[i]
		}
	}
	gone()
	d.run(ctx, "", "rmi", "-f", local, refs["minato"], refs["stock"])
	res.PullStock, res.PullMinato, res.PullRunMinato = rec["stock"].Summary(), rec["minato"].Summary(), rec["run"].Summary()
	res.RunTask, res.TaskPull = rec["task"].Summary(), rec["taskPull"].Summary()
	return res, nil
}

const taskFamily = "regbench"

func registerTask(ctx context.Context, srv *servers, image string) error {
	_, err := srv.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(taskFamily),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(64), Essential: aws.Bool(true),
		}},
	})
	return err
}

// runTask runs the task, waits until it is RUNNING, stops it and waits
// until it is STOPPED. It returns RunTask → RUNNING as the client saw it,
// and the task's own pull time.
func runTask(ctx context.Context, srv *servers) (time.Duration, time.Duration, error) {
	start := time.Now()
	out, err := srv.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("default"), TaskDefinition: aws.String(taskFamily)})
	if err != nil {
		return 0, 0, err
	}
	if len(out.Tasks) != 1 {
		return 0, 0, fmt.Errorf("run-task: %+v", out.Failures)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	task, err := waitTask(ctx, srv, arn, "RUNNING", 10*time.Millisecond)
	took := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	var pullTook time.Duration
	if task.PullStartedAt != nil && task.PullStoppedAt != nil {
		pullTook = task.PullStoppedAt.Sub(*task.PullStartedAt)
	}
	if _, err := srv.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("default"), Task: aws.String(arn)}); err != nil {
		return 0, 0, err
	}
	if _, err := waitTask(ctx, srv, arn, "STOPPED", 100*time.Millisecond); err != nil {
		return 0, 0, err
	}
	return took, pullTook, nil
}

func waitTask(ctx context.Context, srv *servers, arn, status string, every time.Duration) (ecstypes.Task, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := srv.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("default"), Tasks: []string{arn}})
		if err != nil {
			return ecstypes.Task{}, err
		}
		if len(out.Tasks) == 1 {
			t := out.Tasks[0]
			if aws.ToString(t.LastStatus) == status {
				return t, nil
			}
			if aws.ToString(t.LastStatus) == "STOPPED" {
				return t, fmt.Errorf("task stopped: %s", aws.ToString(t.StoppedReason))
			}
		}
		select {
		case <-ctx.Done():
			return ecstypes.Task{}, ctx.Err()
		case <-time.After(every):
		}
	}
	return ecstypes.Task{}, fmt.Errorf("task %s not %s within 5 minutes", arn, status)
}
