package opsmetrics

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/store"
)

func TestRequestsAndPlacements(t *testing.T) {
	m := New()
	m.ObserveRequest(awsproto.RequestStats{Service: "ecs", Operation: "ListClusters", Status: 200, Duration: time.Millisecond})
	m.ObserveRequest(awsproto.RequestStats{Service: "ecs", Code: "UnknownOperationException", Status: 400})
	m.Launched(2, 1)
	want := `
# HELP minato_api_requests_total AWS API requests answered, by service, operation and AWS error code ("" on success).
# TYPE minato_api_requests_total counter
minato_api_requests_total{code="",operation="ListClusters",service="ecs"} 1
minato_api_requests_total{code="UnknownOperationException",operation="unknown",service="ecs"} 1
# HELP minato_scheduler_tasks_total Tasks the scheduler was asked to place, by result: placed, or unplaced (no instance could take them).
# TYPE minato_scheduler_tasks_total counter
minato_scheduler_tasks_total{result="placed"} 2
minato_scheduler_tasks_total{result="unplaced"} 1
`
	compare(t, m.Registry(), want, "minato_api_requests_total", "minato_scheduler_tasks_total")
}

func TestStateReadAtScrape(t *testing.T) {
	m := New()
	scrapes := 0
	m.Watch(Sources{
		Census: func() []clusterview.ClusterCensus {
			scrapes++
			return []clusterview.ClusterCensus{{Cluster: "default", Tasks: map[string]int{"RUNNING": 3, "PENDING": 1}, Instances: []string{"a", "b"}}}
		},
		Connected:   func() func(string) bool { return func(id string) bool { return id == "a" } },
		LocalAgents: func() []string { return []string{"a"} },
		Traffic: func() ([]lb.TrafficStats, []lb.TrafficStats) {
			l := lb.TrafficStats{ARN: "arn:l", Requests: 3, Errors: 1, LatencySeconds: 0.3}
			l.Buckets[0], l.Buckets[len(lb.LatencyBounds)] = 2, 1
			return []lb.TrafficStats{l}, nil
		},
		Ingested: func() (uint64, uint64) { return 5, 50 },
	})
	want := `
# HELP minato_agents_connected Container instances whose agent is connected (to any server), by cluster.
# TYPE minato_agents_connected gauge
minato_agents_connected{cluster="default"} 1
# HELP minato_lb_listener_errors_total Requests a listener answered with an error of its own (no rule, no routable target: ALB's HTTPCode_ELB_5XX).
# TYPE minato_lb_listener_errors_total counter
minato_lb_listener_errors_total{listener="arn:l"} 1
# HELP minato_log_ingested_bytes_total Bytes of the messages of the log events stored.
# TYPE minato_log_ingested_bytes_total counter
minato_log_ingested_bytes_total 50
# HELP minato_tasks Tasks by cluster and lastStatus.
# TYPE minato_tasks gauge
minato_tasks{cluster="default",last_status="PENDING"} 1
minato_tasks{cluster="default",last_status="RUNNING"} 3
`
	compare(t, m.Registry(), want, "minato_tasks", "minato_agents_connected", "minato_log_ingested_bytes_total", "minato_lb_listener_errors_total")
	if scrapes != 1 {
		t.Fatalf("the census was read %d times for one scrape", scrapes)
	}
	// The histogram is cumulative: 2 in the first bucket, 3 in all.
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "minato_lb_listener_request_duration_seconds" {
			continue
		}
		h := mf.Metric[0].GetHistogram()
		if h.GetSampleCount() != 3 || h.Bucket[0].GetCumulativeCount() != 2 || h.Bucket[len(h.Bucket)-1].GetCumulativeCount() != 2 {
			t.Fatalf("listener latency histogram: %v", h)
		}
		return
	}
	t.Fatal("no listener latency histogram")
}

// fakeStore is a store whose Txn answers err, with a Compact.
type fakeStore struct {
	store.Store
	err       error
	compacted bool
}

func (f *fakeStore) Txn(context.Context, []store.Cond, []store.Op) (int64, error) { return 1, f.err }
func (f *fakeStore) Compact(context.Context, int64) error                         { f.compacted = true; return nil }

func TestWrapStoreTimesCommitsAndKeepsCompact(t *testing.T) {
	m := New()
	f := &fakeStore{}
	st := m.WrapStore(f)
	st.Txn(context.Background(), nil, nil)
	f.err = store.ErrConflict
	st.Txn(context.Background(), nil, nil)
	c, ok := st.(interface {
		Compact(context.Context, int64) error
	})
	if !ok || c.Compact(context.Background(), 1) != nil || !f.compacted {
		t.Fatal("the wrapper lost Compact")
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "minato_store_commit_duration_seconds" {
			if len(mf.Metric) != 2 {
				t.Fatalf("%d commit series, want ok and conflict", len(mf.Metric))
			}
			return
		}
	}
	t.Fatal("no commit series")
}

// compare checks that the named families of g, in the text format, are
// want (whose families must come in the order Gather sorts them: by name).
func compare(t *testing.T, g prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if keep[mf.GetName()] {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := strings.TrimSpace(b.String())
	if w := strings.TrimSpace(want); got != w {
		t.Fatalf("got\n%s\nwant\n%s", got, w)
	}
}
