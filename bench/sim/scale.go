package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// scaleRuns runs scenario scale: placement and mixed at every size of
// -sizes, a fraction of the full size (placement: 5,000 hosts and 50,000
// tasks; mixed: 1,000 hosts and 10,000 tasks stored). The mixed load
// keeps its rate; the ramp is skipped.
func (s *sim) scaleRuns(ctx context.Context) (*ScaleResult, error) {
	res := &ScaleResult{}
	for _, f := range strings.Split(s.o.sizes, ",") {
		size, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || size <= 0 {
			return res, fmt.Errorf("-sizes: bad size %q", f)
		}
		ph, pt := max(1, int(5000*size)), int(50000*size)
		name := fmt.Sprintf("scale-%g-placement", size)
		p, err := s.placement(ctx, name, ph, pt)
		if err != nil {
			return res, fmt.Errorf("%s: %w", name, err)
		}
		row := ScalePlacementRow{Size: size, Hosts: ph, Tasks: pt, PlacementsPerSec: p.PlacementsPerSec,
			P50Ms: p.Latency.P50Ms, P99Ms: p.Latency.P99Ms, WallPerTaskUs: p.WallPerTaskUs, CPUPerTaskMs: p.CPCPUPerTaskMs,
			RSSPerTaskKiB: p.CPRSSPerTaskKiB, Truncated: p.Truncated}
		if p.Pure != nil {
			row.PurePerSec = p.Pure.PlacementsPerSec
		}
		res.Placement = append(res.Placement, row)

		mh, mt := max(1, int(1000*size)), int(10000*size)
		name = fmt.Sprintf("scale-%g-mixed", size)
		m, err := s.mixed(ctx, name, mh, mt, s.o.duration, false)
		if err != nil {
			return res, fmt.Errorf("%s: %w", name, err)
		}
		mrow := ScaleMixedRow{Size: size, Hosts: mh, Stored: m.Stored, P50Ms: map[string]float64{}, P99Ms: map[string]float64{},
			CPUPerReqMs: m.CPCPUPerReqMs, RSSPerTaskKiB: m.CPRSSPerStoredTaskKiB, ServiceSteady: m.ServiceSteadySeconds}
		for op, sm := range m.Ops {
			mrow.P50Ms[op], mrow.P99Ms[op] = sm.P50Ms, sm.P99Ms
		}
		res.Mixed = append(res.Mixed, mrow)
	}
	for _, r := range res.Placement {
		s.logf("scale placement %5g: %6d tasks on %5d hosts: %7.0f/s, p99 %7.1f ms, %6.0f µs wall/task, %6.2f ms CPU/task, %6.2f KiB RSS/task",
			r.Size, r.Tasks, r.Hosts, r.PlacementsPerSec, r.P99Ms, r.WallPerTaskUs, r.CPUPerTaskMs, r.RSSPerTaskKiB)
	}
	for _, r := range res.Mixed {
		s.logf("scale mixed %5g: %6d stored: p50 RunTask %.1f Describe %.1f List %.1f Update %.1f ms; %.2f ms CPU/request; %.2f KiB RSS/task",
			r.Size, r.Stored, r.P50Ms["RunTask"], r.P50Ms["DescribeTasks"], r.P50Ms["ListTasks"], r.P50Ms["UpdateService"], r.CPUPerReqMs, r.RSSPerTaskKiB)
	}
	return res, nil
}
