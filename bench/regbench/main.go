// Command regbench measures minato's embedded registry against the stock
// CNCF distribution registry server, built from the same module
// (bench/regbench/stockregistry), side by side on this machine:
//
//  1. The registry protocol as docker speaks it, with a Go client: push
//     (per layer POST, one PATCH streaming it, PUT with the digest; then
//     the manifest) and pull (manifest, then every blob, digests checked)
//     of a multi-layer image of random, incompressible layers (~200 MB).
//     Every round pushes new layers, so neither server can skip a write;
//     rounds are interleaved and alternate which server goes first.
//  2. docker pull of a ~200 MB runnable image (the test app plus random
//     layers, built locally with docker build; nothing is pulled from the
//     internet) from each server.
//  3. minato's agent: RunTask of a task whose image is in minato's
//     registry and not on the host, until the task is RUNNING (the pull,
//     with a token the agent gets from the server, included), against
//     docker pull + docker run -d of the same image from minato.
//
// Both servers run as child processes: minato as `minato up` runs (with
// its agent on the local Docker Engine), the stock server with no
// authentication, no access log and error-level logging (its best case);
// their data directories are on the same disk.
//
//	go run ./bench/regbench                      # 5 protocol rounds, 3 docker rounds
//	go run ./bench/regbench -rounds 3 -docker-rounds 0
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
	"syscall"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "regbench:", err)
		os.Exit(1)
	}
}

// Result is the JSON regbench writes.
type Result struct {
	Command string          `json:"command"`
	Started time.Time       `json:"started"`
	Machine harness.Machine `json:"machine"`
	Image   struct {
		Layers  int   `json:"layers"`
		Bytes   int64 `json:"bytes"`
		Rounds  int   `json:"rounds"`
		PushPar int   `json:"pushParallel"`
		PullPar int   `json:"pullParallel"`
	} `json:"image"`
	// Protocol push and pull times, milliseconds, per server.
	Push map[string]harness.Summary `json:"push"`
	Pull map[string]harness.Summary `json:"pull"`
	// Docker pulls and the agent's RunTask → RUNNING.
	Docker *DockerResult `json:"docker,omitempty"`
}

type config struct {
	rounds, layers, layerMB, pushPar, pullPar, dockerRounds int
	out, work                                               string
	keep                                                    bool
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("regbench", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.rounds, "rounds", 5, "protocol push+pull rounds per server")
	fs.IntVar(&c.layers, "layers", 8, "layers of the image")
	fs.IntVar(&c.layerMB, "layer-mb", 25, "MiB per layer")
	fs.IntVar(&c.pushPar, "push-parallel", 5, "layers pushed at once (docker's default is 5)")
	fs.IntVar(&c.pullPar, "pull-parallel", 3, "layers pulled at once (docker's default is 3)")
	fs.IntVar(&c.dockerRounds, "docker-rounds", 3, "docker pull and RunTask rounds (0: skip)")
	fs.StringVar(&c.out, "out", filepath.Join(os.TempDir(), "minato-bench", "regbench.json"), "JSON result file")
	fs.StringVar(&c.work, "work", "", "working directory for both servers' data and the layers (default: a new temporary directory)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.work == "" {
		dir, err := os.MkdirTemp("", "regbench-")
		if err != nil {
			return err
		}
		c.work = dir
	}
	if !c.keep {
		defer os.RemoveAll(c.work)
	}
	res := Result{Command: "go run ./bench/regbench " + joinArgs(args), Started: time.Now().UTC(), Machine: harness.ThisMachine()}
	res.Image.Layers, res.Image.Bytes, res.Image.Rounds = c.layers, int64(c.layers)*int64(c.layerMB)<<20, c.rounds
	res.Image.PushPar, res.Image.PullPar = c.pushPar, c.pullPar

	bins, err := buildBinaries(ctx, c.work)
	if err != nil {
		return err
	}
	srv, err := startServers(ctx, c.work, bins)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("minato %s (pid %d), stock distribution %s (pid %d)\n", srv.minatoAddr, srv.minato.Process.Pid, srv.stockAddr, srv.stock.Process.Pid)

	res.Push, res.Pull, err = protocolRounds(ctx, c, srv)
	if err != nil {
		return err
	}
	if c.dockerRounds > 0 {
		if res.Docker, err = dockerRounds(ctx, c, srv); err != nil {
			return err
		}
	}
	report(res)
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(c.out, b, 0o644); err != nil {
		return err
	}
	fmt.Println("result:", c.out)
	return nil
}

func joinArgs(args []string) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// buildBinaries builds minato and the stock registry server.
func buildBinaries(ctx context.Context, work string) (map[string]string, error) {
	out := map[string]string{
		"minato": filepath.Join(work, "bin", "minato"),
		"stock":  filepath.Join(work, "bin", "stockregistry"),
	}
	for name, pkg := range map[string]string{"minato": "./cmd/minato", "stock": "./bench/regbench/stockregistry"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out[name], pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return out, nil
}

func report(r Result) {
	mb := float64(r.Image.Bytes) / (1 << 20)
	fmt.Printf("\nimage: %d layers, %.0f MiB of random data; %d rounds each, interleaved\n", r.Image.Layers, mb, r.Image.Rounds)
	fmt.Printf("%-28s %10s %10s %10s %10s\n", "", "p50 ms", "mean ms", "MiB/s p50", "ratio p50")
	for _, op := range []struct {
		name string
		m    map[string]harness.Summary
	}{{"push", r.Push}, {"pull", r.Pull}} {
		st := op.m["stock"]
		for _, s := range []string{"stock", "minato"} {
			x := op.m[s]
			fmt.Printf("%-28s %10.0f %10.0f %10.1f %10.2f\n", op.name+" "+s, x.P50Ms, x.MeanMs, mb/(x.P50Ms/1000), x.P50Ms/st.P50Ms)
		}
	}
	if d := r.Docker; d != nil {
		fmt.Printf("\ndocker image: %.0f MiB in %d layers; %d rounds\n", float64(d.ImageBytes)/(1<<20), d.ImageLayers, d.Rounds)
		fmt.Printf("%-40s %10s %10s\n", "", "p50 ms", "mean ms")
		for _, row := range []struct {
			name string
			s    harness.Summary
		}{
			{"docker pull from stock", d.PullStock},
			{"docker pull from minato", d.PullMinato},
			{"docker pull (minato) + docker run -d", d.PullRunMinato},
			{"minato RunTask -> RUNNING (pulls)", d.RunTask},
			{"  of which pullStartedAt -> pullStoppedAt", d.TaskPull},
		} {
			fmt.Printf("%-40s %10.0f %10.0f\n", row.name, row.s.P50Ms, row.s.MeanMs)
		}
	}
}
