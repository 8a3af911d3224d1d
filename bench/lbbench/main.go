// Command lbbench measures minato's load balancer data plane against nginx
// on the same machine: a tiny static backend on loopback (test/testapp's
// /health, "ok\n"), minato's plane started in this process with one
// listener -> one target group -> the backend, and nginx started from a
// generated configuration in a temporary directory proxying the same
// backend with a keep-alive upstream. wrk drives each of them, and the
// backend directly, interleaved round by round:
//
//   - throughput: wrk -t2 -c64 (requests/s, p50, p99)
//   - latency:    wrk -t1 -c1 (p50, p99: the latency one request adds)
//
// It prints the medians over the rounds, the ratio minato/nginx and the
// p50 each proxy adds to the direct path, and writes every run as JSON.
//
//	go run ./bench/lbbench [-rounds 3] [-duration 10s] [-cpuprofile lb.pprof]
//
// It needs wrk and nginx on PATH (Debian: apt-get install -y wrk nginx).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/lb"
)

type run struct {
	Target string  `json:"target"` // direct, minato, nginx
	Mode   string  `json:"mode"`   // throughput, latency
	Round  int     `json:"round"`
	RPS    float64 `json:"rps"`
	P50us  float64 `json:"p50us"`
	P99us  float64 `json:"p99us"`
	Errors int     `json:"errors"`
	// ProxyCPUus is the CPU time the proxy (minato's process or nginx's
	// master and workers) spent per request; BackendCPUus the backend's.
	ProxyCPUus   float64 `json:"proxyCpuUsPerRequest,omitempty"`
	BackendCPUus float64 `json:"backendCpuUsPerRequest"`
	Command      string  `json:"command"`
}

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	duration := flag.Duration("duration", 10*time.Second, "length of each wrk run")
	conns := flag.Int("c", 64, "wrk connections for the throughput runs")
	threads := flag.Int("t", 2, "wrk threads for the throughput runs")
	out := flag.String("out", filepath.Join(os.TempDir(), "minato-bench", "lb.json"), "JSON result")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (the plane) during minato's throughput runs")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	serve := flag.String("serve", "", "only serve: proxy this listen address to -backend until killed (for strace, perf, pprof by hand)")
	backendAddr := flag.String("backend", "", "with -serve: the backend's host:port")
	flag.Parse()
	if *serve != "" {
		plane := lb.New(lb.Options{Logger: slog.New(slog.DiscardHandler)})
		if errs := plane.Update(benchConfig(*serve, *backendAddr, 0)); errs != nil {
			fmt.Fprintln(os.Stderr, "lbbench:", errs)
			os.Exit(1)
		}
		fmt.Println("serving", plane.ListenerAddr("l"), "->", *backendAddr)
		select {}
	}
	if err := mainErr(*rounds, *duration, *conns, *threads, *out, *cpuprofile, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "lbbench:", err)
		os.Exit(1)
	}
}

func mainErr(rounds int, duration time.Duration, conns, threads int, out, cpuprofile string, keep bool) error {
	for _, bin := range []string{"wrk", "nginx", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not on PATH (apt-get install -y wrk nginx): %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "lbbench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The backend: test/testapp in its own process.
	bin := filepath.Join(dir, "testapp")
	build := exec.Command("go", "build", "-o", bin, "./test/testapp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building test/testapp (run from the repository root): %w", err)
	}
	bport, err := freePort()
	if err != nil {
		return err
	}
	backend := exec.CommandContext(ctx, bin, "serve")
	backend.Env = append(os.Environ(), "PORT="+strconv.Itoa(bport))
	backend.Stdout, backend.Stderr = io.Discard, os.Stderr
	if err := backend.Start(); err != nil {
		return err
	}
	defer func() { backend.Process.Kill(); backend.Wait() }()
	backendAddr := "127.0.0.1:" + strconv.Itoa(bport)
	if err := waitHTTP("http://" + backendAddr + "/health"); err != nil {
		return fmt.Errorf("backend: %w", err)
	}

	// minato's plane, in this process.
	plane := lb.New(lb.Options{Logger: slog.New(slog.DiscardHandler)})
	defer plane.Close()
	if errs := plane.Update(benchConfig("127.0.0.1:0", backendAddr, bport)); errs != nil {
		return fmt.Errorf("plane: %v", errs)
	}
	minatoAddr := plane.ListenerAddr("l").String()
	deadline := time.Now().Add(30 * time.Second)
	for plane.Health("tg")[0].State != lb.StateHealthy {
		if time.Now().After(deadline) {
			return fmt.Errorf("target never healthy: %+v", plane.Health("tg"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// nginx, from a generated configuration, in the foreground.
	nport, err := freePort()
	if err != nil {
		return err
	}
	nginxAddr := "127.0.0.1:" + strconv.Itoa(nport)
	conf := fmt.Sprintf(nginxConf, dir, dir, dir, dir, dir, dir, dir, backendAddr, nginxAddr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	ngx := exec.CommandContext(ctx, "nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	ngx.Stdout, ngx.Stderr = os.Stderr, os.Stderr
	if err := ngx.Start(); err != nil {
		return err
	}
	defer func() { ngx.Process.Signal(os.Interrupt); ngx.Wait() }()
	if err := waitHTTP("http://" + nginxAddr + "/health"); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}

	targets := []struct{ name, addr string }{{"direct", backendAddr}, {"minato", minatoAddr}, {"nginx", nginxAddr}}
	modes := []struct {
		name       string
		t, c       int
		wantThrput bool
	}{{"throughput", threads, conns, true}, {"latency", 1, 1, false}}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s; %d rounds of %s per run\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), rounds, duration)
	var runs []run
	for r := 1; r <= rounds; r++ {
		for _, m := range modes {
			// Rotate the order each round so no target always runs first.
			for i := range targets {
				tg := targets[(i+r)%len(targets)]
				profile := cpuprofile != "" && tg.name == "minato" && m.wantThrput && r == rounds
				proxyPids := map[string][]int{"minato": {os.Getpid()}, "nginx": nginxPids(ngx.Process.Pid)}[tg.name]
				p0, b0 := cpuSeconds(proxyPids), cpuSeconds([]int{backend.Process.Pid})
				res, err := wrk(tg.addr, m.t, m.c, duration, profile, cpuprofile)
				if err != nil {
					return fmt.Errorf("wrk %s %s: %w", tg.name, m.name, err)
				}
				if n := res.RPS * duration.Seconds(); n > 0 {
					if proxyPids != nil {
						res.ProxyCPUus = (cpuSeconds(proxyPids) - p0) / n * 1e6
					}
					res.BackendCPUus = (cpuSeconds([]int{backend.Process.Pid}) - b0) / n * 1e6
				}
				res.Target, res.Mode, res.Round = tg.name, m.name, r
				fmt.Printf("round %d %-10s %-7s %9.0f req/s  p50 %7.1f µs  p99 %8.1f µs  errors %d  CPU/req: proxy %5.1f µs, backend %5.1f µs\n",
					r, m.name, tg.name, res.RPS, res.P50us, res.P99us, res.Errors, res.ProxyCPUus, res.BackendCPUus)
				runs = append(runs, res)
			}
		}
	}

	med := func(target, mode string, f func(run) float64) float64 {
		var xs []float64
		for _, r := range runs {
			if r.Target == target && r.Mode == mode {
				xs = append(xs, f(r))
			}
		}
		slices.Sort(xs)
		if len(xs) == 0 {
			return 0
		}
		return xs[len(xs)/2]
	}
	rps := func(r run) float64 { return r.RPS }
	p50 := func(r run) float64 { return r.P50us }
	p99 := func(r run) float64 { return r.P99us }
	fmt.Printf("\nmedians over %d rounds\n", rounds)
	cpu := func(r run) float64 { return r.ProxyCPUus }
	fmt.Printf("%-10s %-7s %10s %10s %10s %14s\n", "mode", "target", "req/s", "p50 µs", "p99 µs", "proxy CPU/req")
	for _, m := range modes {
		for _, tg := range targets {
			fmt.Printf("%-10s %-7s %10.0f %10.1f %10.1f %11.1f µs\n", m.name, tg.name, med(tg.name, m.name, rps),
				med(tg.name, m.name, p50), med(tg.name, m.name, p99), med(tg.name, m.name, cpu))
		}
	}
	summary := map[string]float64{
		"throughputRatioMinatoOverNginx": med("minato", "throughput", rps) / med("nginx", "throughput", rps),
		"addedP50usMinato":               med("minato", "latency", p50) - med("direct", "latency", p50),
		"addedP50usNginx":                med("nginx", "latency", p50) - med("direct", "latency", p50),
	}
	// The same ratio round by round: the two runs of a round are
	// neighbours in time, so they saw about the same machine.
	var paired []float64
	for r := 1; r <= rounds; r++ {
		var m, n float64
		for _, x := range runs {
			if x.Round == r && x.Mode == "throughput" && x.Target == "minato" {
				m = x.RPS
			}
			if x.Round == r && x.Mode == "throughput" && x.Target == "nginx" {
				n = x.RPS
			}
		}
		if n > 0 {
			paired = append(paired, m/n)
		}
	}
	slices.Sort(paired)
	if len(paired) > 0 {
		summary["throughputRatioMedianOfRounds"] = paired[len(paired)/2]
	}
	fmt.Printf("\nthroughput minato/nginx: %.2f of the medians; per round %.2f, median %.2f (goal >= 0.75)\n",
		summary["throughputRatioMinatoOverNginx"], paired, summary["throughputRatioMedianOfRounds"])
	fmt.Printf("added p50 at c=1: minato %+.1f µs, nginx %+.1f µs (goal minato < 150 µs)\n",
		summary["addedP50usMinato"], summary["addedP50usNginx"])

	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(map[string]any{"runs": runs, "summary": summary,
			"cpus": runtime.NumCPU(), "go": runtime.Version(), "duration": duration.String()}, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", out)
	}
	return nil
}

// benchConfig is one listener -> one target group -> the backend, with
// ALB's usual health check.
func benchConfig(listen, backendAddr string, bport int) *lb.Config {
	return &lb.Config{
		TargetGroups: map[string]*lb.TargetGroup{"tg": {
			ARN: "tg", Name: "bench", Protocol: "HTTP", Port: bport, TargetType: "ip", InUse: true,
			HealthCheck: lb.HealthCheck{Enabled: true, Protocol: "HTTP", Port: lb.HealthCheckPortTrafficPort, Path: "/health",
				Interval: 5 * time.Second, Timeout: 2 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200"},
			Algorithm: lb.AlgorithmRoundRobin,
			Targets:   []lb.Target{{ID: "127.0.0.1", Port: bport, Addr: backendAddr, RegisteredAt: time.Now()}},
		}},
		Listeners: []lb.Listener{{ARN: "l", Addr: listen, Protocol: "HTTP", Rules: []lb.Rule{{
			IsDefault: true,
			Actions:   []lb.Action{{Type: lb.ActionForward, Forward: &lb.Forward{TargetGroups: []lb.WeightedTargetGroup{{ARN: "tg", Weight: 1}}}}},
		}}}},
	}
}

const nginxConf = `# generated by bench/lbbench
daemon off;
master_process on;
worker_processes auto;
pid %s/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %s/client_body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    error_log %s/error.log warn;
    upstream backend {
        server %s;
        keepalive 256;
    }
    server {
        listen %s;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
        }
    }
}
`

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reLatency = regexp.MustCompile(`(?m)^\s+(50|99)\.000%\s+([0-9.]+)(us|ms|s)\b|^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\b`)
	reErrors  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk runs wrk against addr's /health and parses its summary.
func wrk(addr string, threads, conns int, d time.Duration, profile bool, profilePath string) (run, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency", "http://" + addr + "/health"}
	res := run{Command: "wrk " + strings.Join(args, " ")}
	if profile {
		f, err := os.Create(profilePath)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	outb, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("%v: %s", err, outb)
	}
	outs := string(outb)
	m := reRPS.FindStringSubmatch(outs)
	if m == nil {
		return res, errors.New("no Requests/sec in: " + outs)
	}
	res.RPS, _ = strconv.ParseFloat(m[1], 64)
	for _, lm := range reLatency.FindAllStringSubmatch(outs, -1) {
		pct, num, unit := lm[1], lm[2], lm[3]
		if pct == "" {
			pct, num, unit = lm[4], lm[5], lm[6]
		}
		v, _ := strconv.ParseFloat(num, 64)
		switch unit {
		case "ms":
			v *= 1e3
		case "s":
			v *= 1e6
		}
		if pct == "50" {
			res.P50us = v
		} else {
			res.P99us = v
		}
	}
	for _, em := range reErrors.FindAllStringSubmatch(outs, -1) {
		for _, s := range em[1:] {
			n, _ := strconv.Atoi(s)
			res.Errors += n
		}
	}
	return res, nil
}

// nginxPids are nginx's master and its workers.
func nginxPids(master int) []int {
	pids := []int{master}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// cpuSeconds is the user+system CPU time the processes used so far.
func cpuSeconds(pids []int) float64 {
	var s float64
	for _, pid := range pids {
		if st, err := harness.ReadProc(pid); err == nil {
			s += st.CPUSeconds
		}
	}
	return s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(url string) error {
	c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, bufio.NewReader(resp.Body))
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
