// Command eventbench measures minato's event path: task changes committed
// through the outbox store (each writes its ECS Task State Change in the
// same bbolt transaction), matched by the delivery worker against -rules
// rules, and delivered to an HTTP API destination.
//
// Matching: the cost of matching one ECS Task State Change against the
// rules, per event, through the worker's index and testing every rule.
//
// End to end: -rate task changes/s for -duration from 16 writers, -batch
// changes per transaction; each change's event matches exactly one rule,
// whose target is a local HTTP receiver; latency is commit to received
// (the worker, store and receiver in this process).
//
// Run: go run ./bench/eventbench
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/events/delivery"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func main() {
	rules := flag.Int("rules", 1000, "rules on the default bus")
	rate := flag.Int("rate", 1000, "task changes per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	batch := flag.Int("batch", 5, "task changes per transaction (an agent's report carries several; tasks.ApplyReports commits them in one Txn)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*rules, *rate, *batch, *duration); err != nil {
		log.Fatal(err)
	}
}

func run(nRules, rate, batch int, duration time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eventbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	scope := arn.Scope{Region: "us-east-1", AccountID: "000000000000"}
	st := outbox.Wrap(b, scope, nil, nil)

	var mu sync.Mutex
	committed := map[string]time.Time{}
	var lat []time.Duration
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		id := strings.Trim(string(body), `"`)
		id = id[strings.LastIndexByte(id, '/')+1:]
		mu.Lock()
		if at, ok := committed[id]; ok {
			lat = append(lat, now.Sub(at))
			delete(committed, id)
		}
		mu.Unlock()
		got.Add(1)
	}))
	defer recv.Close()

	// The connection, the destination and the rules.
	put := func(key string, v any) error {
		bs, err := state.Encode(v)
		if err != nil {
			return err
		}
		_, err = st.Txn(ctx, nil, []store.Op{store.Put(key, bs)})
		return err
	}
	now := time.Now()
	if err := put(state.ConnectionKey("c"), state.Connection{ID: "1", Name: "c", AuthorizationType: "API_KEY", APIKeyName: "x", APIKeyValue: "y"}); err != nil {
		return err
	}
	if err := put(state.APIDestinationKey("d"), state.APIDestination{ID: "1", Name: "d", Connection: "c", Endpoint: recv.URL, Method: "POST", RateLimitPerSecond: 300000}); err != nil {
		return err
	}
	target := eventstypes.Target{Id: "hook", Arn: "arn:aws:events:us-east-1:000000000000:api-destination/d/1", InputPath: "$.detail.taskArn"}
	for i := range nRules {
		p := fmt.Sprintf(`{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"group":["family:svc-%d"],"lastStatus":["STOPPED"],"containers":{"exitCode":[{"anything-but":0}]}}}`, i)
		if err := put(state.EventRuleKey("default", fmt.Sprint("r", i)), state.EventRule{Name: fmt.Sprint("r", i), Bus: "default", EventPattern: p,
			State: "ENABLED", Targets: []eventstypes.Target{target}, CreatedAt: now, EnabledAt: now}); err != nil {
			return err
		}
	}

	// Matching cost, measured on the worker's own code path.
	sample := sampleEvent(scope, 7)
	perEvent, perEventNoIndex, matched := delivery.MatchCost(ctx, st, sample, 20000)
	fmt.Printf("matching: %d rules, %.1f µs/event (source index), %.1f µs/event (no index), %d rule(s) matched\n",
		nRules, perEvent.Seconds()*1e6, perEventNoIndex.Seconds()*1e6, matched)

	w := &delivery.Worker{Store: st, Seq: st.Seq, Scope: scope, MaxBackoff: time.Second}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()

	// The writers: task records go PROVISIONING -> STOPPED (exit 3).
	total := int(duration.Seconds() * float64(rate))
	start := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	const writers = 4
	for wr := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := wr * batch; first < total; first += writers * batch {
				due := start.Add(time.Duration(float64(first) / float64(rate) * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				var ops []store.Op
				var ids []string
				for i := first; i < min(first+batch, total); i++ {
					id := fmt.Sprintf("t%08d", i)
					t := state.Task{ID: id, Cluster: "default", Family: "svc", Revision: 1, ContainerIDs: []string{"c"},
						Task: ecstypes.Task{Group: fmt.Sprintf("family:svc-%d", i%nRules), LastStatus: "STOPPED", DesiredStatus: "STOPPED", Version: 3,
							Containers: []ecstypes.Container{{Name: "app", ExitCode: new(int32(3)), LastStatus: "STOPPED"}}}}
					bs, _ := state.Encode(t)
					ops = append(ops, store.Put(state.TaskKey("default", id), bs))
					ids = append(ids, id)
				}
				mu.Lock()
				for _, id := range ids {
					committed[id] = time.Now()
				}
				mu.Unlock()
				if _, err := st.Txn(ctx, nil, ops); err != nil {
					log.Fatal(err)
				}
				sent.Add(int64(len(ops)))
			}
		}()
	}
	wg.Wait()
	sendTime := time.Since(start)
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < int64(total) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("end to end: %d changes in %.1fs (%.0f/s offered %d/s), %d delivered; latency p50 %v p90 %v p99 %v max %v\n",
		sent.Load(), sendTime.Seconds(), float64(sent.Load())/sendTime.Seconds(), rate, got.Load(),
		q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), q(0.99).Round(time.Millisecond), q(1).Round(time.Millisecond))
	return nil
}

func sampleEvent(scope arn.Scope, group int) []byte {
	m := map[string]any{"version": "0", "id": "x", "detail-type": "ECS Task State Change", "source": "aws.ecs", "account": scope.AccountID,
		"time": "2026-12-07T00:00:00Z", "region": scope.Region, "resources": []string{"arn:aws:ecs:us-east-1:000000000000:task/default/x"},
		"detail": map[string]any{"group": fmt.Sprintf("family:svc-%d", group), "lastStatus": "STOPPED",
			"containers": []any{map[string]any{"name": "app", "exitCode": 3}}}}
	b, _ := json.Marshal(m)
	return b
}
