// Command logbench measures minato's awslogs path on real Docker: one
// chatty container's lines through Docker's json-file log, the agent's
// collector, the agent channel and the log store (fsync before ack).
//
//   - ingest: a container prints -lines numbered lines as fast as it can;
//     lines/s from the first line written to the last one stored
//     (DescribeLogStreams storedBytes reaching the total), with the CPU
//     time minato (control plane and agent, this process) and dockerd
//     spent meanwhile, as a share of the machine's cores.
//   - latency: a container prints -rate lines/s for -duration; each line
//     carries the time it was written; a reader polls FilterLogEvents as
//     `aws logs tail --follow` does (startTime = newest timestamp seen,
//     interleaved, dedupe by eventId) but every -poll instead of the CLI's
//     5 s, and records written → seen. With -cli it also runs the real
//     `aws logs tail --follow` and records written → printed.
//
// minato runs as `minato up` runs it: a controlplane node and agent.Run in
// this process, on the local Docker engine.
//
//	go run ./bench/logbench
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/client"

	"github.com/minato-project/minato/bench/internal/harness"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintln(os.Stderr, "logbench: got", s)
		cancel()
	}()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "logbench:", err)
		os.Exit(1)
	}
}

// Result is the JSON logbench writes.
type Result struct {
	Command string          `json:"command"`
	Started time.Time       `json:"started"`
	Machine harness.Machine `json:"machine"`
	Docker  string          `json:"dockerVersion"`
	Ingest  Ingest          `json:"ingest"`
	Latency Latency         `json:"latency"`
}

// Ingest is the throughput run.
type Ingest struct {
	Lines int `json:"lines"`
	// WriteLinesPerSec is how fast the container wrote them;
	// LinesPerSec how fast they were stored (first written → last stored).
	WriteLinesPerSec float64 `json:"writeLinesPerSec"`
	LinesPerSec      float64 `json:"linesPerSec"`
	Seconds          float64 `json:"seconds"`
	// CPU shares of the machine (1.0 = every core busy) over the run.
	MinatoCPUShare  float64 `json:"minatoCpuShare"`
	DockerdCPUShare float64 `json:"dockerdCpuShare"`
	MinatoCPUPerM   float64 `json:"minatoCpuSecondsPerMillionLines"`
}

// Latency is the tail latency run.
type Latency struct {
	Rate      int             `json:"linesPerSec"`
	Seconds   float64         `json:"seconds"`
	PollMs    float64         `json:"pollMs"`
	Lines     int             `json:"lines"`
	Filter    harness.Summary `json:"filterLogEventsPolling"`
	CLITail   harness.Summary `json:"awsLogsTailFollow"`
	CLIPrints int             `json:"awsLogsTailLines"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("logbench", flag.ContinueOnError)
	lines := fs.Int("lines", 1_000_000, "lines of the ingest run")
	rate := fs.Int("rate", 1000, "lines/s of the latency run")
	dur := fs.Duration("duration", 30*time.Second, "length of the latency run")
	poll := fs.Duration("poll", 100*time.Millisecond, "FilterLogEvents polling interval of the latency run")
	withCLI := fs.Bool("cli", true, "also measure the real `aws logs tail --follow` (/usr/bin/aws)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the ingest run")
	out := fs.String("out", filepath.Join(os.TempDir(), "minato-bench", "logbench.json"), "JSON result path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer dc.Close()
	sv, err := dc.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	image, err := harness.BuildTestImage()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "minato-logbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cp, err := harness.StartControlPlane(ctx, harness.CPConfig{DataDir: filepath.Join(dir, "controlplane")})
	if err != nil {
		return err
	}
	defer cp.Stop()
	ag, err := harness.StartDockerAgent(ctx, dc, cp.Info.URL, filepath.Join(dir, "agent"), nil)
	if err != nil {
		return err
	}
	defer ag.Stop()
	ecsc := harness.NewECSClient(cp.Info.URL, 8)
	logs := cwl.New(cwl.Options{Region: harness.Region, BaseEndpoint: aws.String(cp.Info.URL),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")})
	register := func(family, group string, cmd ...string) error {
		_, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{
				Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(256), Essential: aws.Bool(true), Command: cmd,
				LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{
					"awslogs-group": group, "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}},
			}},
		})
		return err
	}
	runTask := func(family string) (string, error) {
		out, err := ecsc.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(family)})
		if err != nil {
			return "", err
		}
		if len(out.Tasks) != 1 {
			return "", fmt.Errorf("RunTask: %+v", out.Failures)
		}
		return aws.ToString(out.Tasks[0].TaskArn), nil
	}
	res := Result{Command: "go run ./bench/logbench " + strings.Join(args, " "), Started: time.Now().UTC(), Machine: harness.ThisMachine(), Docker: sv.Version}
	fmt.Printf("logbench: Docker %s, %d CPUs (%s)\n", sv.Version, res.Machine.CPUs, res.Machine.CPUModel)

	// Ingest.
	if err := register("ingest", "/bench/ingest", "lines", strconv.Itoa(*lines), "0"); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	want := expectedBytes(*lines)
	dockerd := pidOf("dockerd")
	cpu0, d0 := harness.Self().CPUSeconds, procCPU(dockerd)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	arn, err := runTask("ingest")
	if err != nil {
		return fmt.Errorf("run task: %w", err)
	}
	stream := "ecs/app/" + arn[strings.LastIndex(arn, "/")+1:]
	var stored int64
	var doneAt time.Time
	for {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %d bytes (%d stored): %w", want, stored, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
		ds, err := logs.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/bench/ingest"), LogStreamNamePrefix: aws.String(stream)})
		if err != nil || len(ds.LogStreams) == 0 {
			continue
		}
		//lint:ignore SA1019 minato reports a stream's storedBytes (AWS reports 0)
		stored = aws.ToInt64(ds.LogStreams[0].StoredBytes)
		if stored >= want {
			doneAt = time.Now()
			break
		}
	}
	cpu1, d1 := harness.Self().CPUSeconds, procCPU(dockerd)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	first, last, err := firstLast(ctx, logs, "/bench/ingest", stream)
	if err != nil {
		return fmt.Errorf("first and last line: %w", err)
	}
	secs := doneAt.Sub(first).Seconds()
	cores := float64(res.Machine.CPUs)
	res.Ingest = Ingest{Lines: *lines, Seconds: harness.Round(secs, 2),
		WriteLinesPerSec: harness.Round(float64(*lines)/last.Sub(first).Seconds(), 0),
		LinesPerSec:      harness.Round(float64(*lines)/secs, 0),
		MinatoCPUShare:   harness.Round((cpu1-cpu0)/secs/cores, 3),
		DockerdCPUShare:  harness.Round((d1-d0)/secs/cores, 3),
		MinatoCPUPerM:    harness.Round((cpu1-cpu0)/float64(*lines)*1e6, 2),
	}
	fmt.Printf("ingest: %d lines in %.2fs: %.0f lines/s stored (container wrote %.0f lines/s); CPU minato %.0f%%, dockerd %.0f%% of %d cores\n",
		*lines, secs, res.Ingest.LinesPerSec, res.Ingest.WriteLinesPerSec, 100*res.Ingest.MinatoCPUShare, 100*res.Ingest.DockerdCPUShare, res.Machine.CPUs)
	ecsc.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)})

	// Latency.
	n := int(float64(*rate) * dur.Seconds())
	if err := register("tail", "/bench/tail", "lines", strconv.Itoa(n), strconv.Itoa(*rate)); err != nil {
		return err
	}
	var cliLat []time.Duration
	cliDone := make(chan struct{})
	var cliCmd *exec.Cmd
	if *withCLI {
		cliCmd = exec.Command("/usr/bin/aws", "--endpoint-url", cp.Info.URL, "logs", "tail", "/bench/tail", "--follow", "--format", "short")
		cliCmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+harness.SecretAccessKey,
			"AWS_SESSION_TOKEN=", "AWS_DEFAULT_REGION="+harness.Region, "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PAGER=")
		stdout, err := cliCmd.StdoutPipe()
		if err != nil {
			return err
		}
		// The group must exist before tail starts.
		logs.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("/bench/tail")})
		if err := cliCmd.Start(); err != nil {
			return err
		}
		go func() {
			defer close(cliDone)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				now := time.Now()
				if w, ok := writtenAt(sc.Text()); ok {
					cliLat = append(cliLat, now.Sub(w))
				}
			}
		}()
	} else {
		close(cliDone)
	}
	if _, err := runTask("tail"); err != nil {
		return err
	}
	var lat []time.Duration
	seen := map[string]bool{}
	start := int64(0)
	deadline := time.Now().Add(*dur + 20*time.Second)
	for len(lat) < n && time.Now().Before(deadline) && ctx.Err() == nil {
		in := &cwl.FilterLogEventsInput{LogGroupName: aws.String("/bench/tail"), StartTime: aws.Int64(start)}
		for {
			out, err := logs.FilterLogEvents(ctx, in)
			if err != nil {
				break
			}
			now := time.Now()
			for _, e := range out.Events {
				id := aws.ToString(e.EventId)
				if seen[id] {
					continue
				}
				seen[id] = true
				start = max(start, aws.ToInt64(e.Timestamp))
				if w, ok := writtenAt(aws.ToString(e.Message)); ok {
					lat = append(lat, now.Sub(w))
				}
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		time.Sleep(*poll)
	}
	if *withCLI {
		time.Sleep(6 * time.Second) // one more of the CLI's 5 s polls
		cliCmd.Process.Kill()
		cliCmd.Wait()
		<-cliDone
	}
	res.Latency = Latency{Rate: *rate, Seconds: dur.Seconds(), PollMs: float64(*poll) / 1e6, Lines: len(lat),
		Filter: harness.Summarize(lat), CLITail: harness.Summarize(cliLat), CLIPrints: len(cliLat)}
	fmt.Printf("latency: %d lines at %d/s; written → FilterLogEvents (polled every %v): p50 %.0f ms, p99 %.0f ms\n",
		len(lat), *rate, *poll, res.Latency.Filter.P50Ms, res.Latency.Filter.P99Ms)
	if *withCLI {
		fmt.Printf("latency: written → printed by aws logs tail --follow (its own 5 s poll): %d lines, p50 %.0f ms, p99 %.0f ms\n",
			len(cliLat), res.Latency.CLITail.P50Ms, res.Latency.CLITail.P99Ms)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Printf("result: %s\n", *out)
	return os.WriteFile(*out, append(b, '\n'), 0o644)
}

var stampRE = regexp.MustCompile(`line \d+ t=(\d+)`)

// writtenAt reads the time a testapp line was written from its text.
func writtenAt(s string) (time.Time, bool) {
	m := stampRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(m[1], 10, 64)
	return time.Unix(0, ns), err == nil
}

// expectedBytes is the stored size of testapp's lines 1..n: "line I
// t=NANOS" with 19-digit nanosecond stamps.
func expectedBytes(n int) int64 {
	var total int64
	for i := 1; i <= n; i++ {
		total += int64(len("line ") + len(strconv.Itoa(i)) + len(" t=") + 19)
	}
	return total
}

// firstLast returns when the first and last line of a stream were written.
func firstLast(ctx context.Context, logs *cwl.Client, group, stream string) (time.Time, time.Time, error) {
	var ts [2]time.Time
	for i, head := range []bool{true, false} {
		out, err := logs.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(head), Limit: aws.Int32(1)})
		if err != nil {
			return ts[0], ts[1], err
		}
		if len(out.Events) != 1 {
			return ts[0], ts[1], fmt.Errorf("no events in %s", stream)
		}
		w, ok := writtenAt(aws.ToString(out.Events[0].Message))
		if !ok {
			return ts[0], ts[1], fmt.Errorf("not a testapp line: %q", aws.ToString(out.Events[0].Message))
		}
		ts[i] = w
	}
	return ts[0], ts[1], nil
}

func pidOf(name string) int {
	out, err := exec.Command("pidof", name).Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	return pid
}

func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	s, _ := harness.ReadProc(pid)
	return s.CPUSeconds
}
