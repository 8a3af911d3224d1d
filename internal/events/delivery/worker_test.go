package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/events"
	"github.com/minato-project/minato/internal/events/outbox"
	"github.com/minato-project/minato/internal/events/pattern"
	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// TestIndexFindsEveryMatch: matching through the index finds exactly the
// rules that testing every rule finds.
func TestIndexFindsEveryMatch(t *testing.T) {
	patterns := []string{
		`{"source":["aws.ecs"]}`,
		`{"source":["aws.ecs","my.app"],"detail-type":["ECS Task State Change"]}`,
		`{"detail":{"group":["family:a"]}}`,
		`{"detail":{"group":["family:a","family:b"],"lastStatus":["STOPPED"]}}`,
		`{"detail":{"containers":{"name":["app"]}}}`,
		`{"detail":{"containers":{"name":["side"],"exitCode":[{"anything-but":0}]}}}`,
		`{"source":[{"prefix":"aws."}]}`,
		`{"$or":[{"source":["aws.ecs"]},{"source":["my.app"]}]}`,
		`{"resources":["arn:x"]}`,
		`{"detail":{"tags":["t1"]}}`,
		`{"detail":{"missing":[{"exists":false}]}}`,
		`{"source":["other"]}`,
	}
	var rules []*rule
	for i, p := range patterns {
		rules = append(rules, &rule{rec: state.EventRule{Name: fmt.Sprint(i)}, pattern: pattern.MustCompile(p)})
	}
	ix := buildIndex(rules)
	evs := []string{
		`{"source":"aws.ecs","detail-type":"ECS Task State Change","resources":["arn:x"],"detail":{"group":"family:a","lastStatus":"STOPPED","containers":[{"name":"app","exitCode":0},{"name":"side","exitCode":2}],"tags":["t0","t1"]}}`,
		`{"source":"my.app","detail-type":"x","resources":[],"detail":{"group":"family:b","lastStatus":"RUNNING"}}`,
		`{"source":"other","detail":{}}`,
		`{"source":"aws.ec2","detail":{"group":"family:b","lastStatus":"STOPPED","containers":{"name":"side","exitCode":0}}}`,
	}
	for _, s := range evs {
		ev, err := pattern.DecodeEvent([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, r := range rules {
			if r.pattern.Match(ev) {
				want[r.rec.Name] = true
			}
		}
		got := map[string]bool{}
		ix.candidates(ev, func(r *rule) {
			if got[r.rec.Name] {
				t.Errorf("rule %s offered twice", r.rec.Name)
			}
			if r.pattern.Match(ev) {
				got[r.rec.Name] = true
			}
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("event %s: index finds %v, every rule %v", s, got, want)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientErrorDeadLetters: a target answering 400 is not retried; the
// event goes to the dead-letter log group with the reason.
func TestClientErrorDeadLetters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := bolt.Open(filepath.Join(dir, "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	logs, err := logstore.Open(filepath.Join(dir, "logs"), logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	scope := arn.Scope{Region: "us-east-1", AccountID: "000000000000"}
	st := outbox.Wrap(b, scope, nil, nil)
	put := func(key string, v any) {
		bs, _ := state.Encode(v)
		if _, err := st.Txn(ctx, nil, []store.Op{store.Put(key, bs)}); err != nil {
			t.Fatal(err)
		}
	}
	put(state.ConnectionKey("c"), state.Connection{Name: "c", AuthorizationType: "API_KEY", APIKeyName: "k", APIKeyValue: "v"})
	put(state.APIDestinationKey("d"), state.APIDestination{Name: "d", Connection: "c", Endpoint: srv.URL, Method: "POST"})
	put(state.EventRuleKey("default", "r"), state.EventRule{Name: "r", Bus: "default", State: "ENABLED", EventPattern: `{"source":["my.app"]}`,
		Targets: []eventstypes.Target{{Id: "t", Arn: "arn:aws:events:us-east-1:000000000000:api-destination/d/x"}}})
	w := &Worker{Store: st, Logs: logs, Seq: st.Seq, Scope: scope}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := outbox.Put(ctx, st, st.Seq, "default", []events.Event{{Version: "0", ID: "e1", Source: "my.app", DetailType: "x", Detail: json.RawMessage(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the dead letter", func() bool { return w.Stats().DeadLettered == 1 })
	if calls.Load() != 1 {
		t.Errorf("a 400 was tried %d times", calls.Load())
	}
	res, err := logs.Query(logstore.Query{Group: DeadLetterGroup})
	if err != nil || len(res.Events) != 1 || !strings.Contains(res.Events[0].Message, "400 Bad Request") || !strings.Contains(res.Events[0].Message, `"e1"`) {
		t.Fatalf("dead-letter group: %v %+v", err, res)
	}
	if kvs, _, _ := b.List(ctx, state.DeliveriesPrefix(), store.ListOptions{}); len(kvs) != 0 {
		t.Errorf("%d deliveries left", len(kvs))
	}
}
