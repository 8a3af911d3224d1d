package opsmetrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/store"
)

func errorsIsConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

var (
	descTasks = prometheus.NewDesc("minato_tasks",
		"Tasks by cluster and lastStatus.", []string{"cluster", "last_status"}, nil)
	descInstances = prometheus.NewDesc("minato_container_instances",
		"Container instances that are not INACTIVE, by cluster.", []string{"cluster"}, nil)
	descAgents = prometheus.NewDesc("minato_agents_connected",
		"Container instances whose agent is connected (to any server), by cluster.", []string{"cluster"}, nil)
	descLocalAgents = prometheus.NewDesc("minato_agents_connected_here",
		"Agents connected to this server.", nil, nil)

	descLBListenerRequests = prometheus.NewDesc("minato_lb_listener_requests_total",
		"Requests a load balancer listener answered.", []string{"listener"}, nil)
	descLBListenerErrors = prometheus.NewDesc("minato_lb_listener_errors_total",
		"Requests a listener answered with an error of its own (no rule, no routable target: ALB's HTTPCode_ELB_5XX).", []string{"listener"}, nil)
	descLBListenerDuration = prometheus.NewDesc("minato_lb_listener_request_duration_seconds",
		"Time to answer a request on a listener.", []string{"listener"}, nil)
	descLBGroupRequests = prometheus.NewDesc("minato_lb_target_group_requests_total",
		"Requests forwarded to a target group.", []string{"target_group"}, nil)
	descLBGroupErrors = prometheus.NewDesc("minato_lb_target_group_errors_total",
		"Requests to a target group whose target failed (502, 504) or answered 5xx.", []string{"target_group"}, nil)
	descLBGroupDuration = prometheus.NewDesc("minato_lb_target_group_request_duration_seconds",
		"Time to answer a request forwarded to a target group.", []string{"target_group"}, nil)
)

// stateCollector reads the state its Sources describe at each scrape.
type stateCollector struct{ s Sources }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTasks, descInstances, descAgents, descLocalAgents,
		descLBListenerRequests, descLBListenerErrors, descLBListenerDuration,
		descLBGroupRequests, descLBGroupErrors, descLBGroupDuration} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if s.Census != nil {
		var connected func(string) bool
		if s.Connected != nil {
			connected = s.Connected()
		}
		for _, cc := range s.Census() {
			for status, n := range cc.Tasks {
				ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), cc.Cluster, status)
			}
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(len(cc.Instances)), cc.Cluster)
			if connected != nil {
				n := 0
				for _, id := range cc.Instances {
					if connected(id) {
						n++
					}
				}
				ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(n), cc.Cluster)
			}
		}
	}
	if s.LocalAgents != nil {
		ch <- prometheus.MustNewConstMetric(descLocalAgents, prometheus.GaugeValue, float64(len(s.LocalAgents())))
	}
	if s.Traffic != nil {
		ls, gs := s.Traffic()
		for _, l := range ls {
			traffic(ch, l, descLBListenerRequests, descLBListenerErrors, descLBListenerDuration)
		}
		for _, g := range gs {
			traffic(ch, g, descLBGroupRequests, descLBGroupErrors, descLBGroupDuration)
		}
	}
}

func traffic(ch chan<- prometheus.Metric, t lb.TrafficStats, requests, errs, duration *prometheus.Desc) {
	ch <- prometheus.MustNewConstMetric(requests, prometheus.CounterValue, float64(t.Requests), t.ARN)
	ch <- prometheus.MustNewConstMetric(errs, prometheus.CounterValue, float64(t.Errors), t.ARN)
	buckets := make(map[float64]uint64, len(lb.LatencyBounds))
	var cum uint64
	for i, le := range lb.LatencyBounds {
		cum += t.Buckets[i]
		buckets[le] = cum
	}
	cum += t.Buckets[len(lb.LatencyBounds)]
	ch <- prometheus.MustNewConstHistogram(duration, cum, t.LatencySeconds, buckets, t.ARN)
}
