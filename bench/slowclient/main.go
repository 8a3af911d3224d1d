// Command slowclient measures whether clients that send slowly can starve
// minato's AWS API: a normal signed client (the AWS SDK for Go v2, ECS
// ListClusters and DescribeClusters) runs alone, then again while hostile
// connections stay open against the same API listener:
//
//   - slow-body connections send the headers of a DescribeClusters request
//     whose Authorization names the real access key ID (which is no secret)
//     with a current X-Amz-Date but a made-up signature, declare a 1,000-byte
//     body and send it at one byte a second;
//   - slowloris connections send the headers themselves at one byte a second.
//
// Every hostile connection the server closes or answers is dialled again at
// once, so that their number stays what was asked for. They come from
// -attacker-addr (127.0.0.2 by default: another host than the client's, as
// an attacker is; 127.0.0.1 puts them on the client's own address).
//
// The normal client is an open loop at -rate calls/s without retries
// (an error is an error); latency counts from each call's scheduled time,
// and a call not answered in 10 s fails.
//
//	go run ./bench/slowclient
//
// The control plane is a controlplane node — what `minato server` runs — in a
// child process (bench/internal/harness), on a fresh data dir.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/minato-project/minato/bench/internal/harness"
)

func main() {
	harness.ChildMain()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "slowclient:", err)
		os.Exit(1)
	}
}

// Result is the JSON slowclient writes.
type Result struct {
	Command  string          `json:"command"`
	Label    string          `json:"label,omitempty"`
	Started  time.Time       `json:"started"`
	Machine  harness.Machine `json:"machine"`
	Rate     int             `json:"rate"`
	Duration string          `json:"duration"`
	Runs     []Run           `json:"runs"`
}

// Run is one stretch of the normal client, with or without hostile
// connections.
type Run struct {
	Name         string `json:"name"`
	SlowBody     int    `json:"slowBody"`
	Slowloris    int    `json:"slowloris"`
	AttackerAddr string `json:"attackerAddr,omitempty"`
	// Calls of the normal client; SuccessPct of them answered without error.
	Calls      int             `json:"calls"`
	SuccessPct float64         `json:"successPct"`
	Latency    harness.Summary `json:"latency"`
	// Errors are the failed calls by AWS error code ("timeout", "other").
	Errors map[string]int `json:"errors,omitempty"`
	// Hostile says what became of the hostile connections during the run.
	Hostile map[string]HostileStats `json:"hostile,omitempty"`
	// CP is the control plane's /proc reading at the end of the run.
	CP harness.ProcStat `json:"controlPlane"`
}

// HostileStats counts one kind of hostile connection.
type HostileStats struct {
	// OpenAvg is how many were connected, on average over the run.
	OpenAvg float64 `json:"openAvg"`
	// Dials made during the run; Answered got a reply from the server,
	// Closed were closed by it without one.
	Dials    int64 `json:"dials"`
	Answered int64 `json:"answered"`
	Closed   int64 `json:"closed"`
	// HeldSecondsP50 is the median time the server kept a connection
	// before answering or closing it.
	HeldSecondsP50 float64 `json:"heldSecondsP50"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slowclient", flag.ContinueOnError)
	slowBody := fs.Int("slow-body", 200, "slow-body connections")
	slowloris := fs.Int("slowloris", 200, "slowloris connections")
	attacker := fs.String("attacker-addr", "127.0.0.2", "local address the hostile connections come from")
	rate := fs.Int("rate", 20, "calls/s of the normal client")
	dur := fs.Duration("duration", 30*time.Second, "length of each run")
	rounds := fs.Int("rounds", 1, "rounds of (control, hostile), interleaved")
	label := fs.String("label", "", "a label stored in the result")
	out := fs.String("out", filepath.Join(os.TempDir(), "minato-bench", "slowclient.json"), "JSON result path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "minato-slowclient-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cluster, err := harness.StartCluster(ctx, harness.ClusterConfig{Dir: dir})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	u, err := url.Parse(cluster.CP.URL)
	if err != nil {
		return err
	}
	client := cluster.ECS(64)

	res := Result{Command: "go run ./bench/slowclient " + strings.Join(args, " "), Label: *label, Started: time.Now(),
		Machine: harness.ThisMachine(), Rate: *rate, Duration: dur.String()}
	for round := range *rounds {
		for _, hostile := range []bool{false, true} {
			r := Run{Name: "control"}
			var h *attack
			if hostile {
				r = Run{Name: "hostile", SlowBody: *slowBody, Slowloris: *slowloris, AttackerAddr: *attacker}
				h, err = startAttack(ctx, u.Host, *attacker, *slowBody, *slowloris)
				if err != nil {
					return err
				}
			}
			fmt.Printf("round %d: %s run for %s...\n", round+1, r.Name, *dur)
			load(ctx, client, *rate, *dur, &r)
			if h != nil {
				r.Hostile = h.stop()
			}
			r.CP = cluster.CPProc()
			res.Runs = append(res.Runs, r)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	printResult(res)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Println("result:", *out)
	return nil
}

// load runs the normal client: an open loop of rate calls/s for d,
// alternating ListClusters and DescribeClusters of the default cluster.
func load(ctx context.Context, c *ecs.Client, rate int, d time.Duration, r *Run) {
	var rec harness.Recorder
	var mu sync.Mutex
	r.Errors = map[string]int{}
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Until(at))
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var err error
			if i%2 == 0 {
				_, err = c.ListClusters(cctx, &ecs.ListClustersInput{})
			} else {
				_, err = c.DescribeClusters(cctx, &ecs.DescribeClustersInput{Clusters: []string{"default"}})
			}
			if err == nil {
				rec.Add(time.Since(at))
				return
			}
			rec.Fail(err)
			mu.Lock()
			r.Errors[errorCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	r.Latency = rec.Summary()
	r.Calls = r.Latency.Count + r.Latency.Errors
	if r.Calls > 0 {
		r.SuccessPct = harness.Round(100*float64(r.Latency.Count)/float64(r.Calls), 2)
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// attack is a set of hostile connections, each kept open by its own
// goroutine, which dials again whenever the server lets go of it.
type attack struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	kinds   map[string]*kindStats
	stopS   chan struct{}
	samples atomic.Int64
}

type kindStats struct {
	open, dials, answered, closed atomic.Int64
	openSum                       atomic.Int64 // summed over samples
	mu                            sync.Mutex
	held                          []time.Duration
}

// startAttack opens the hostile connections to addr from local and returns
// once every one has sent its first bytes.
func startAttack(ctx context.Context, addr, local string, slowBody, slowloris int) (*attack, error) {
	ctx, cancel := context.WithCancel(ctx)
	a := &attack{cancel: cancel, stopS: make(chan struct{}),
		kinds: map[string]*kindStats{"slowBody": {}, "slowloris": {}}}
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	host, _, _ := net.SplitHostPort(addr)
	for range slowBody {
		a.wg.Go(func() { a.keep(ctx, &d, addr, a.kinds["slowBody"], slowBodyHead(host)) })
	}
	for range slowloris {
		a.wg.Go(func() {
			a.keep(ctx, &d, addr, a.kinds["slowloris"], "POST / HTTP/1.1\r\nHost: "+host+"\r\nX-Amz-Target: Slow")
		})
	}
	want := int64(slowBody + slowloris)
	deadline := time.Now().Add(time.Minute)
	for a.kinds["slowBody"].dials.Load()+a.kinds["slowloris"].dials.Load() < want {
		if time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("hostile connections: %d of %d dialled in a minute", a.kinds["slowBody"].dials.Load()+a.kinds["slowloris"].dials.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, k := range a.kinds {
		k.dials.Store(0)
		k.answered.Store(0)
		k.closed.Store(0)
	}
	go a.sample()
	return a, nil
}

// slowBodyHead is the head of a DescribeClusters request that passes every
// check a server can make without the body: the real access key ID, a
// current date, a well-formed credential scope; only the signature is
// made up.
func slowBodyHead(host string) string {
	now := time.Now().UTC()
	return "POST / HTTP/1.1\r\nHost: " + host + "\r\n" +
		"Content-Type: application/x-amz-json-1.1\r\n" +
		"X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters\r\n" +
		"X-Amz-Date: " + now.Format("20060102T150405Z") + "\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=" + harness.AccessKeyID + "/" + now.Format("20060102") + "/" + harness.Region +
		"/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("0", 64) + "\r\n" +
		"Content-Length: 1000\r\n\r\n"
}

// keep keeps one hostile connection open: it sends head, then one byte a
// second, and dials again when the server answers or closes it.
func (a *attack) keep(ctx context.Context, d *net.Dialer, addr string, k *kindStats, head string) {
	for ctx.Err() == nil {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		k.dials.Add(1)
		k.open.Add(1)
		began := time.Now()
		answered := make(chan bool, 1)
		go func() {
			var b [1]byte
			n, _ := conn.Read(b[:])
			answered <- n > 0
		}()
		_, err = io.WriteString(conn, head)
		tick := time.NewTicker(time.Second)
		var got bool
		gone := false
		for !gone && err == nil {
			select {
			case got = <-answered:
				gone = true
			case <-tick.C:
				_, err = conn.Write([]byte{'x'})
			case <-ctx.Done():
				gone = true
			}
		}
		tick.Stop()
		conn.Close()
		if err != nil {
			got = <-answered
		}
		k.open.Add(-1)
		if ctx.Err() != nil {
			return
		}
		if got {
			k.answered.Add(1)
		} else {
			k.closed.Add(1)
		}
		k.mu.Lock()
		k.held = append(k.held, time.Since(began))
		k.mu.Unlock()
	}
}

// sample adds up the open connections once a second.
func (a *attack) sample() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.stopS:
			return
		case <-t.C:
			for _, k := range a.kinds {
				k.openSum.Add(k.open.Load())
			}
			a.samples.Add(1)
		}
	}
}

// stop closes every hostile connection and returns what became of them.
func (a *attack) stop() map[string]HostileStats {
	close(a.stopS)
	samples := a.samples.Load()
	a.cancel()
	a.wg.Wait()
	out := map[string]HostileStats{}
	for name, k := range a.kinds {
		s := HostileStats{Dials: k.dials.Load(), Answered: k.answered.Load(), Closed: k.closed.Load()}
		if samples > 0 {
			s.OpenAvg = harness.Round(float64(k.openSum.Load())/float64(samples), 1)
		}
		k.mu.Lock()
		sort.Slice(k.held, func(i, j int) bool { return k.held[i] < k.held[j] })
		s.HeldSecondsP50 = harness.Round(harness.Percentile(k.held, 0.5).Seconds(), 2)
		k.mu.Unlock()
		out[name] = s
	}
	return out
}

func printResult(res Result) {
	fmt.Printf("\nnormal client: %d calls/s for %s each run (no retries)\n", res.Rate, res.Duration)
	fmt.Printf("%-9s %-22s %6s %8s %8s %8s %8s  %s\n", "run", "hostile", "calls", "ok %", "p50 ms", "p99 ms", "max ms", "errors")
	for _, r := range res.Runs {
		hostile := "none"
		if r.Name == "hostile" {
			hostile = fmt.Sprintf("%d body+%d loris", r.SlowBody, r.Slowloris)
		}
		errs := "none"
		if len(r.Errors) > 0 {
			errs = fmt.Sprint(r.Errors)
		}
		fmt.Printf("%-9s %-22s %6d %8.2f %8.1f %8.1f %8.1f  %s\n", r.Name, hostile, r.Calls, r.SuccessPct,
			r.Latency.P50Ms, r.Latency.P99Ms, r.Latency.MaxMs, errs)
	}
	for _, r := range res.Runs {
		if r.Name != "hostile" {
			continue
		}
		fmt.Printf("hostile connections from %s:", r.AttackerAddr)
		for _, name := range []string{"slowBody", "slowloris"} {
			s := r.Hostile[name]
			fmt.Printf("  %s: %.0f open on average, %d dials, %d answered, %d closed, held %.1f s (median);",
				name, s.OpenAvg, s.Dials, s.Answered, s.Closed, s.HeldSecondsP50)
		}
		fmt.Printf("  control plane RSS %.0f MiB\n", r.CP.RSSMiB)
	}
}
