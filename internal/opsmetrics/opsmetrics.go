// Package opsmetrics is minato's Prometheus /metrics for operators: the
// API's requests, store commits, placements, controller passes, agents,
// tasks, load balancer traffic and log ingest, on a registry of its own.
//
// What happens on a request path (an API call, a commit, a placement) is
// counted as it happens, through the hooks the other packages offer
// (awsproto.Config.Observe, tasks.Config.Launched, ...). What describes
// state (tasks by status, connected agents, load balancer counters, log
// ingest) is read from its owner when /metrics is scraped, so that it
// costs nothing between scrapes.
package opsmetrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/clusterview"
	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/store"
)

// Path is where a server serves the metrics.
const Path = "/metrics"

// Metrics holds a server's metrics. Its methods are safe for concurrent
// use.
type Metrics struct {
	reg *prometheus.Registry

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	storeCommit *prometheus.HistogramVec
	placements  *prometheus.CounterVec
	passes      *prometheus.HistogramVec
}

// New makes the metrics, with the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minato_api_requests_total",
		Help: "AWS API requests answered, by service, operation and AWS error code (\"\" on success).",
	}, []string{"service", "operation", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "minato_api_request_duration_seconds",
		Help:    "Time to answer an AWS API request, by service and operation.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"service", "operation"})
	m.storeCommit = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "minato_store_commit_duration_seconds",
		Help:    "Time to commit a transaction to the state store (durable), by result: ok, conflict or error.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"result"})
	m.placements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minato_scheduler_tasks_total",
		Help: "Tasks the scheduler was asked to place, by result: placed, or unplaced (no instance could take them).",
	}, []string{"result"})
	m.passes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "minato_controller_pass_duration_seconds",
		Help:    "Time of one pass of a controller loop over what changed, by controller.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"controller"})
	m.reg.MustRegister(m.apiRequests, m.apiDuration, m.storeCommit, m.placements, m.passes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both results exist from the start, so that a rate over them is
	// defined before the first failure.
	m.placements.WithLabelValues("placed")
	m.placements.WithLabelValues("unplaced")
	return m
}

// Registry returns the registry the metrics are kept in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text (or OpenMetrics)
// format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest counts an answered API request (awsproto.Config.Observe).
func (m *Metrics) ObserveRequest(r awsproto.RequestStats) {
	svc, op := r.Service, r.Operation
	if svc == "" {
		svc = "unknown"
	}
	if op == "" {
		op = "unknown"
	}
	m.apiRequests.WithLabelValues(svc, op, r.Code).Inc()
	m.apiDuration.WithLabelValues(svc, op).Observe(r.Duration.Seconds())
}

// Launched counts a placement (tasks.Config.Launched).
func (m *Metrics) Launched(placed, unplaced int) {
	m.placements.WithLabelValues("placed").Add(float64(placed))
	m.placements.WithLabelValues("unplaced").Add(float64(unplaced))
}

// Pass returns the observer of a controller's passes.
func (m *Metrics) Pass(controller string) func(time.Duration) {
	h := m.passes.WithLabelValues(controller)
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

// Sources are what the metrics that describe state are read from at each
// scrape. A nil field leaves its metrics out.
type Sources struct {
	// Census counts the clusters' tasks and instances.
	Census func() []clusterview.ClusterCensus
	// Connected says whether an agent is connected to any server, as of
	// the call that returned it (one per scrape).
	Connected func() func(instanceID string) bool
	// LocalAgents returns the agents connected to this server.
	LocalAgents func() []string
	// Traffic returns the load balancer's counters.
	Traffic func() (listeners, groups []lb.TrafficStats)
	// Ingested returns the log events and bytes stored.
	Ingested func() (events, bytes uint64)
}

// Watch registers the metrics read from s.
func (m *Metrics) Watch(s Sources) {
	m.reg.MustRegister(&stateCollector{s: s})
	if s.Ingested != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "minato_log_ingested_events_total", Help: "Log events stored (PutLogEvents and the agents' log shipping).",
		}, func() float64 { e, _ := s.Ingested(); return float64(e) }))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "minato_log_ingested_bytes_total", Help: "Bytes of the messages of the log events stored.",
		}, func() float64 { _, b := s.Ingested(); return float64(b) }))
	}
}

// WrapStore returns st with the duration of every Txn observed. It keeps
// st's Compact, if it has one.
func (m *Metrics) WrapStore(st store.Store) store.Store {
	t := &timedStore{Store: st, h: m.storeCommit}
	if c, ok := st.(compactor); ok {
		return &timedCompactingStore{timedStore: t, c: c}
	}
	return t
}

type compactor interface {
	Compact(ctx context.Context, rev int64) error
}

type timedStore struct {
	store.Store
	h *prometheus.HistogramVec
}

func (t *timedStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	start := time.Now()
	rev, err := t.Store.Txn(ctx, conds, ops)
	result := "ok"
	switch {
	case err == nil:
	case errorsIsConflict(err):
		result = "conflict"
	default:
		result = "error"
	}
	t.h.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return rev, err
}

type timedCompactingStore struct {
	*timedStore
	c compactor
}

func (t *timedCompactingStore) Compact(ctx context.Context, rev int64) error {
	return t.c.Compact(ctx, rev)
}
